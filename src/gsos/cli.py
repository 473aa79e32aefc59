"""``gsos <command>``: the one command each Snakemake rule runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from gsos.data import atomic_write_text


def _write_table(df: pd.DataFrame, csv: Path, floatfmt: str = ".4f") -> None:
    from gsos.tables import to_markdown

    csv = Path(csv)
    atomic_write_text(csv, df.to_csv(index=False))
    atomic_write_text(csv.with_suffix(".md"), to_markdown(df, floatfmt))


def cmd_download(a: argparse.Namespace) -> None:
    from gsos.download import download

    record = download(json.loads(a.settings)["source"], Path(a.resources) / a.name)
    atomic_write_text(a.out, json.dumps(record, indent=2) + "\n")
    print(f"{a.name}: {len(record['files'])} file(s) verified and unpacked", file=sys.stderr)


def cmd_prepare(a: argparse.Namespace) -> None:
    from gsos.data import prepare_dataset, save_prepared

    tensors, manifest = prepare_dataset(a.name, json.loads(a.settings), Path(a.resources))
    if a.download:
        manifest["source"]["files"] = json.loads(Path(a.download).read_text())["files"]
    save_prepared(a.data, a.manifest, tensors, manifest)
    skipped = manifest.get("skipped", {}).get("count", 0)
    print(
        f"{a.name}: {manifest['n_images']} images, {manifest['n_classes']} classes, "
        f"{skipped} file(s) skipped",
        file=sys.stderr,
    )


def cmd_groups(a: argparse.Namespace) -> None:
    from gsos.space import SearchSpace
    from gsos.strategies import build_groups

    s = json.loads(a.settings)
    space = SearchSpace.from_config(s["search_space"])
    groups = build_groups("gsos", space, int(s["hpo"]["iterations"]), s["gsos"]["groups"])
    out = {
        "source": "config gsos.groups",
        "note": s["gsos"].get("note", ""),
        "groups": [
            {**g.__dict__, "params": list(g.params), "share": c.get("share")}
            for g, c in zip(groups, s["gsos"]["groups"], strict=True)
        ],
    }
    atomic_write_text(a.out, json.dumps(out, indent=2) + "\n")


def load_groups(path: Path, strategy: str, settings: dict[str, Any]) -> list:
    from gsos.space import SearchSpace
    from gsos.strategies import Group, build_groups

    if strategy == "simultaneous":
        space = SearchSpace.from_config(settings["search_space"])
        return build_groups("simultaneous", space, int(settings["hpo"]["iterations"]), [])
    spec = json.loads(Path(path).read_text())["groups"]
    return [Group(g["name"], tuple(g["params"]), int(g["iterations"])) for g in spec]


def cmd_hpo(a: argparse.Namespace) -> None:
    from gsos.hpo import run_hpo

    settings = json.loads(a.settings)
    s = run_hpo(
        dataset=a.dataset,
        strategy=a.strategy,
        seed=a.seed,
        settings=settings,
        groups=load_groups(a.groups, a.strategy, settings),
        data_path=a.data,
        manifest_path=a.manifest,
        records_path=a.records,
        summary_path=a.summary,
        threads=a.threads,
    )
    print(
        f"best val {s['best_val_accuracy']} (test {s['test_accuracy']}) at iteration "
        f"{s['best_iteration']}; total {s['total_seconds']:.1f} s",
        file=sys.stderr,
    )


def read_runs(paths: list[Path]) -> list[list[dict]]:
    from gsos.records import read_records

    runs = [read_records(p) for p in paths]
    empty = [str(p) for p, r in zip(paths, runs, strict=True) if not r]
    if empty:
        raise SystemExit(f"no records in {empty}")
    return runs


def cmd_tables(a: argparse.Namespace) -> None:
    from gsos import tables as T

    runs = T.runs_frame(read_runs(a.records))
    out = Path(a.outdir)
    _write_table(runs, out / "runs.csv")
    t3 = T.table3(runs)
    _write_table(t3, out / "table3.csv")
    _write_table(T.table4(t3), out / "table4.csv", ".5f")
    _write_table(T.headline(t3), out / "headline.csv", ".2f")
    _write_table(T.check_published_table4(), out / "table4_published_check.csv", ".5f")
    _write_table(T.check_published_headline(), out / "headline_published_check.csv", ".4f")


def cmd_table5(a: argparse.Namespace) -> None:
    from gsos.tables import published
    from gsos.tpe_bench import table5

    s = json.loads(a.settings)
    df = table5(s["dims"], s["iterations"], s["eval_seconds"], s["repeats"], s["n_startup_jobs"])
    pub = published("table5").rename(columns={"tpe_process_time_seconds": "published_seconds"})
    df = df.merge(pub, on="n_hyperparameters", how="left")
    _write_table(df, a.out, ".3f")


def cmd_figure1(a: argparse.Namespace) -> None:
    from gsos.figures import figure1
    from gsos.tables import published

    spec = json.loads(Path(a.groups).read_text())
    figure1(published("importance_weights"), spec["groups"], a.out, spec.get("note", ""))


def cmd_figure2(a: argparse.Namespace) -> None:
    from gsos.figures import figure2

    rows = [
        {k: r[k] for k in ("dataset", "strategy", "seed", "iteration", "status", "val_accuracy")}
        for run in read_runs(a.records)
        for r in run
    ]
    figure2(pd.DataFrame(rows), a.out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gsos", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("download", help="download, verify and unpack one dataset")
    s.add_argument("--name", required=True)
    s.add_argument("--settings", required=True, help="the dataset's config entry, as JSON")
    s.add_argument("--resources", type=Path, default=Path("resources"))
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_download)

    s = sub.add_parser("prepare", help="prepare one dataset into tensors + manifest")
    s.add_argument("--name", required=True)
    s.add_argument("--settings", required=True, help="the dataset's config entry, as JSON")
    s.add_argument("--resources", type=Path, default=Path("resources"))
    s.add_argument("--download", type=Path, help="the download record, for source checksums")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--manifest", type=Path, required=True)
    s.set_defaults(func=cmd_prepare)

    s = sub.add_parser("groups", help="write the GSOS groups and their iteration budgets")
    s.add_argument("--settings", required=True)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_groups)

    s = sub.add_parser("hpo", help="run one strategy on one dataset with one seed")
    for name in ("dataset", "strategy", "settings"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--seed", type=int, required=True)
    for name in ("groups", "data", "manifest", "records", "summary"):
        s.add_argument(f"--{name}", type=Path, required=True)
    s.add_argument("--threads", type=int, default=1)
    s.set_defaults(func=cmd_hpo)

    s = sub.add_parser("tables", help="Tables 3 and 4, headline averages, published checks")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--outdir", type=Path, required=True)
    s.set_defaults(func=cmd_tables)

    s = sub.add_parser("table5", help="TPE process time micro-benchmark (paper Table 5)")
    s.add_argument("--settings", required=True)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_table5)

    s = sub.add_parser("figure1", help="importance weights and groups")
    s.add_argument("--groups", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_figure1)

    s = sub.add_parser("figure2", help="accuracy against iteration, density-coloured")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_figure2)
    return p


def main(argv: list[str] | None = None) -> None:
    from gsos.config import ConfigError
    from gsos.data import DataError

    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (DataError, ConfigError) as e:  # a user's input to fix: the message, no traceback
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
