"""``gsos <command>``: the one command each Snakemake rule runs.

Heavy libraries (torch, hyperopt, pandas) are imported inside the commands that use them,
so a command that writes a JSON file starts in a fraction of a second.

``--log FILE`` (every rule passes it): everything a command prints, and any traceback, goes
to FILE; the console gets only what a person running the workflow needs: progress lines
and, when the command fails, one line saying why (and where the details are).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsos.atomic import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd


def _write_table(
    df: pd.DataFrame,
    csv: Path,
    floatfmt: str = ".4f",
    title: str = "",
    shown: pd.DataFrame | None = None,
) -> None:
    """One table as CSV (every number) and Markdown, LaTeX and HTML (``shown``, a compact
    form when given; the report shows the HTML)."""
    from gsos.tables import to_html, to_latex, to_markdown

    csv = Path(csv)
    shown = df if shown is None else shown
    atomic_write_text(csv, df.to_csv(index=False))
    atomic_write_text(csv.with_suffix(".md"), to_markdown(shown, floatfmt))
    atomic_write_text(csv.with_suffix(".tex"), to_latex(shown, floatfmt))
    atomic_write_text(csv.with_suffix(".html"), to_html(shown, floatfmt, title or csv.stem))


def cmd_download(a: argparse.Namespace) -> None:
    from gsos.download import download

    record = download(json.loads(a.settings)["source"], Path(a.resources) / a.name, say=CONSOLE)
    atomic_write_text(a.out, json.dumps(record, indent=2) + "\n")
    print(f"{a.name}: {len(record['files'])} file(s) verified and unpacked", file=sys.stderr)


def cmd_prepare(a: argparse.Namespace) -> None:
    from gsos.data import prepare_dataset, save_prepared

    tensors, manifest = prepare_dataset(
        a.name, json.loads(a.settings), Path(a.resources), say=CONSOLE
    )
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
    from gsos.groups import build_groups

    s = json.loads(a.settings)
    groups = build_groups(list(s["search_space"]), int(s["hpo"]["iterations"]), s["groups"])
    out = {
        "source": "config gsos.groups",
        "groups": [
            {**g.__dict__, "params": list(g.params), "share": c.get("share")}
            for g, c in zip(groups, s["groups"], strict=True)
        ],
    }
    atomic_write_text(a.out, json.dumps(out, indent=2) + "\n")


def load_groups(path: Path | None) -> tuple[list, list[float] | None, int | None]:
    """A groups file's groups, their shares (None when budgets were explicit) and the
    patience of adaptive budgets (None otherwise)."""
    from gsos.groups import Group

    if path is None:
        return [], None, None
    content = json.loads(Path(path).read_text())
    spec = content["groups"]
    groups = [Group(g["name"], tuple(g["params"]), int(g["iterations"])) for g in spec]
    shares = [g.get("share") for g in spec]
    shares_ = None if any(x is None for x in shares) else [float(x) for x in shares]
    return groups, shares_, content.get("patience")


def cost_budget(a: argparse.Namespace) -> float | None:
    """A multi-fidelity run's training budget in full-training-set epochs."""
    if a.match_summary is not None:
        s = json.loads(Path(a.match_summary).read_text())
        return float(s["sample_epochs_total"]) / float(s["n_train"])
    return a.cost_epochs


def cmd_hpo(a: argparse.Namespace) -> None:
    from gsos.hpo import run_hpo

    settings = json.loads(a.settings)
    groups, shares, patience = load_groups(a.groups)
    s = run_hpo(
        dataset=a.dataset,
        strategy=a.strategy,
        seed=a.seed,
        settings=settings,
        groups=groups,
        shares=shares,
        patience=patience,
        cost_epochs=cost_budget(a),
        data_path=a.data,
        manifest_path=a.manifest,
        records_path=a.records,
        summary_path=a.summary,
        threads=a.threads,
        jobs_per_gpu=a.jobs_per_gpu,
        log=lambda m: print(m, file=sys.stderr, flush=True),
        console=CONSOLE if a.progress else None,
        progress_seconds=a.progress_seconds,
    )
    print(
        f"best val {s['best_val_accuracy']} (test {s['test_accuracy']}) at iteration "
        f"{s['best_iteration']}; total {s['total_seconds']:.1f} s",
        file=sys.stderr,
    )


def cmd_measure(a: argparse.Namespace) -> None:
    from gsos.measured import measure

    runs = read_runs(a.pilots) if a.pilots else []
    out = measure(a.dataset, json.loads(a.settings), runs, a.weights_file, a.workers)
    atomic_write_text(a.out, json.dumps(out, indent=2, default=str) + "\n")
    groups = "; ".join(f"{g['name']} {g['params']} ({g['iterations']})" for g in out["groups"])
    print(f"{a.dataset}: {groups}", file=sys.stderr)


def read_runs(paths: list[Path]) -> list[list[dict]]:
    from gsos.records import read_records

    runs = [read_records(p) for p in paths]
    empty = [str(p) for p, r in zip(paths, runs, strict=True) if not r]
    if empty:
        raise SystemExit(f"no records in {empty}")
    return runs


def cmd_tables(a: argparse.Namespace) -> None:
    from gsos import tables as T
    from gsos.compare import compact

    runs = T.runs_frame(read_runs(a.records))
    out = Path(a.outdir)
    t3 = T.table3(runs)
    t4 = T.table4(t3, runs)
    shown = {"table3": ".4f", "table4": ".4f", "headline": ".4f", "paired_tests": ".4f"}
    for name, df, fmt, title in [
        ("runs", runs, ".4f", "Every run of GSOS and simultaneous TPE"),
        ("table3", t3, ".4f", "Table 3: mean over runs [95 % BCa bootstrap interval]"),
        ("table4", t4, ".4f", "Table 4: GSOS against simultaneous per dataset [95 % interval]"),
        ("headline", T.headline(runs), ".4f", "GSOS against simultaneous over all datasets"),
        ("paired_tests", T.paired_tests(runs), ".4f", "Paired tests: GSOS - simultaneous"),
        ("table3_vs_published", T.table3_vs_published(t3), ".4f", "Table 3 beside published"),
        ("table4_vs_published", T.table4_vs_published(t4), ".5f", "Table 4 beside published"),
        (
            "headline_vs_published",
            T.headline_vs_published(t3),
            ".2f",
            "The paper's headline averages, computed its way over its datasets, beside published",
        ),
        (
            "table4_published_check",
            T.check_published_table4(),
            ".5f",
            "Published Table 3 aggregated by this project, beside published Table 4",
        ),
        (
            "headline_published_check",
            T.check_published_headline(),
            ".4f",
            "Published Table 3 aggregated by this project, beside the published headlines",
        ),
    ]:
        df = T.present(df)
        view = compact(df, shown[name]) if name in shown else None
        _write_table(df, out / f"{name}.csv", fmt, title, shown=view)


def cmd_strategies(a: argparse.Namespace) -> None:
    import pandas as pd

    from gsos import compare
    from gsos.figures import anytime, learning_curves, ranks_plot

    runs = read_runs(a.records)
    out = Path(a.outdir)
    charges: dict[tuple[str, str], float] = {}  # pilots charged to a dataset's gsos_measured
    for path in a.measured or []:
        g = json.loads(Path(path).read_text())
        if g["pilot_cost_charged"]:
            charges[(g["dataset"], "gsos_measured")] = float(g["pilot_cost"]["sample_epochs"])
    table = compare.strategies_table(runs, charges)
    _write_table(
        table,
        out / "strategies.csv",
        ".4f",
        "Every strategy at equal cost: final accuracy, cost, and cost to come within 1 % "
        "of the best",
        shown=compare.compact(table),
    )
    ranks = compare.ranks_table(runs)
    _write_table(
        ranks,
        out / "ranks.csv",
        ".2f",
        "Average rank by final best validation accuracy (1 = best)",
        shown=compare.compact(ranks, ".2f"),
    )
    curves = []
    for records in runs:
        c = compare.curve(records)
        first = records[0]
        key = (first["dataset"], first["strategy"])
        if key in charges:  # a run starts having spent its share of the pilots
            n = sum(1 for r in runs if (r[0]["dataset"], r[0]["strategy"]) == key)
            c["sample_epochs"] += charges[key] / n
        curves.append(
            c.assign(dataset=first["dataset"], strategy=first["strategy"], seed=first["seed"])
        )
    anytime(pd.concat(curves, ignore_index=True), out / "anytime.png")
    ranks_plot(ranks, out / "ranks.png")
    learning_curves(runs, out / "learning_curves.png")


def cmd_check_config(a: argparse.Namespace) -> None:
    cfg = _config(a.files)
    print(
        f"config ok: experiment {cfg['experiment']!r}, datasets {cfg['run']['datasets']}, "
        f"strategies {cfg['run']['strategies']}, seeds {cfg['run']['seeds']}"
    )


def _config(files: list[Path], cli: list[str] | None = None) -> dict[str, Any]:
    """The config as the workflow layers it (defaults, then each file, then KEY=VALUE)."""
    import yaml

    from gsos.config import load_config, load_schema

    root = Path(__file__).resolve().parents[2]
    overrides = {}
    for item in cli or []:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value) if value.strip().startswith(("{", "[")) else value
    return load_config(
        root / "config" / "config.yaml",
        files,
        overrides,
        load_schema(root / "workflow" / "schemas" / "config.schema.yaml"),
    )


def cmd_status(a: argparse.Namespace) -> None:
    from gsos.status import status

    print(status(_config(a.configfile, a.config), a.directory, a.stale_after))


def cmd_table5(a: argparse.Namespace) -> None:
    from gsos.tables import published
    from gsos.tpe_bench import plot_table5, table5

    s = json.loads(a.settings)
    df = table5(s["dims"], s["iterations"], s["eval_seconds"], s["repeats"], s["n_startup_jobs"])
    pub = published("table5").rename(columns={"tpe_process_time_seconds": "published_seconds"})
    pub["library"] = "hyperopt"  # the paper timed hyperopt
    df = df.merge(pub, on=["library", "n_hyperparameters"], how="left")
    df["difference_seconds"] = df["median_seconds"] - df["published_seconds"]
    _write_table(df, a.out, ".3f", "Table 5: TPE process time excluding model evaluation")
    plot_table5(df, Path(a.out).with_name("table5.png"))


def cmd_importance(a: argparse.Namespace) -> None:
    """Figure 1's table: the published weights and this project's estimates from its
    simultaneous runs, each with a bootstrap interval, and the assumed groups."""
    import pandas as pd

    from gsos.compare import compact
    from gsos.importance import estimate
    from gsos.space import SearchSpace
    from gsos.tables import published

    s = json.loads(a.settings)
    space = SearchSpace.from_config(s["search_space"])
    records = [r for run in read_runs(a.records) for r in run]
    weights = published("importance_weights").set_index("hyperparameter")
    spec = json.loads(Path(a.groups).read_text())["groups"]
    group_of = {p: g["name"] for g in spec for p in g["params"]}
    df = pd.DataFrame(
        {
            "hyperparameter": space.names,
            "assumed group": [group_of[n] for n in space.names],
            "published weight": [weights["published_weight"].get(n) for n in space.names],
        }
    )
    for estimator, title in (("n_rrelieff", "N-RReliefF"), ("fanova", "fANOVA")):
        e = estimate(records, space, estimator, int(s.get("bootstrap", 20)), seed=0)
        df[f"{title} weight"] = [e["weights"][n] for n in space.names]
        df[f"{title} weight CI low"] = [e["ci_low"][n] for n in space.names]
        df[f"{title} weight CI high"] = [e["ci_high"][n] for n in space.names]
        df[f"{title} Kendall tau (bootstrap)"] = e["kendall_tau"]
    df["trials"] = e["n_trials"]
    _write_table(
        df,
        a.out,
        ".3f",
        "Importance: published weights and this project's estimates [95 % CI]",
        shown=compact(df, ".3f"),
    )


def cmd_measured_table(a: argparse.Namespace) -> None:
    """Every dataset's measured groups: the weights with intervals, the groups, and how
    stable the ranking was, beside the published weights."""
    import pandas as pd

    from gsos.compare import compact
    from gsos.tables import published

    published_w = published("importance_weights").set_index("hyperparameter")["published_weight"]
    rows = []
    for path in a.groups:
        g = json.loads(Path(path).read_text())
        group_of = {p: x["name"] for x in g["groups"] for p in x["params"]}
        for name, w in g["weights"].items():
            rows.append(
                {
                    "dataset": g["dataset"],
                    "hyperparameter": name,
                    "measured group": group_of[name],
                    "weight": w,
                    "weight CI low": g.get("ci_low", {}).get(name),
                    "weight CI high": g.get("ci_high", {}).get(name),
                    "published weight": published_w.get(name),
                    "estimator": g.get("estimator"),
                    "measured on": ", ".join(g["measured_on"]["datasets"]) or "file",
                    "Kendall tau (bootstrap)": g.get("kendall_tau"),
                    "top-3 agreement (bootstrap)": g.get("top_agreement"),
                    "pilot trials": g["pilot_cost"]["trials"],
                    "pilot cost (sample-epochs)": g["pilot_cost"]["sample_epochs"],
                    "pilot cost charged to this dataset": g["pilot_cost_charged"],
                }
            )
    df = pd.DataFrame(rows).astype({"weight CI low": float, "weight CI high": float})
    _write_table(
        df,
        a.out,
        ".3f",
        "Measured importance and groups per dataset [95 % CI]",
        shown=compact(df, ".3f"),
    )


def cmd_figure1(a: argparse.Namespace) -> None:
    import pandas as pd

    from gsos.figures import figure1

    spec = json.loads(Path(a.groups).read_text())
    measured = {}
    for path in a.measured or []:
        g = json.loads(Path(path).read_text())
        measured[g["dataset"]] = {p: x["name"] for x in g["groups"] for p in x["params"]}
    note = (a.note or "") + (
        " Estimates come from this project's simultaneous runs (bars: 95 % bootstrap"
        " intervals); they are not the paper's numbers."
    )
    figure1(pd.read_csv(a.importance), spec["groups"], a.out, note.strip(), measured)


def cmd_figure2(a: argparse.Namespace) -> None:
    import pandas as pd

    from gsos.figures import convergence, figure2

    keys = (
        "dataset",
        "strategy",
        "seed",
        "iteration",
        "status",
        "val_accuracy",
        "elapsed_seconds",
        "sample_epochs",
        "group",
    )
    trials = pd.DataFrame(
        [{k: r.get(k) for k in keys} for run in read_runs(a.records) for r in run]
    )
    figure2(trials, a.out)
    convergence(trials, a.convergence)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gsos", description=(__doc__ or "").split("\n\n")[0].strip())
    p.add_argument(
        "--log", type=Path, help="write details here; the console gets progress and errors"
    )
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
    for name in ("data", "manifest", "records", "summary"):
        s.add_argument(f"--{name}", type=Path, required=True)
    s.add_argument("--groups", type=Path, help="the groups file (GSOS family only)")
    cost = s.add_mutually_exclusive_group()
    cost.add_argument("--cost-epochs", type=float, help="multi-fidelity budget (epochs)")
    cost.add_argument(
        "--match-summary", type=Path, help="spend the training cost this run's summary spent"
    )
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--jobs-per-gpu", type=int, default=1, help="HPO jobs sharing one GPU")
    s.add_argument("--progress", action="store_true", help="progress lines on the console")
    s.add_argument("--progress-seconds", type=float, default=10.0)
    s.set_defaults(func=cmd_hpo)

    s = sub.add_parser(
        "measure", help="importance from pilot runs (or a weights file) -> a dataset's groups"
    )
    s.add_argument("--dataset", required=True)
    s.add_argument("--settings", required=True, help="search_space, hpo, pilot, measured_groups")
    s.add_argument("--pilots", type=Path, nargs="*", default=[], help="pilot runs' records")
    s.add_argument("--weights-file", type=Path, help="measured_groups.source: file")
    s.add_argument("--workers", type=int, default=1, help="processes for the bootstrap refits")
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_measure)

    s = sub.add_parser("tables", help="Tables 3 and 4, headline averages, published checks")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--outdir", type=Path, required=True)
    s.set_defaults(func=cmd_tables)

    s = sub.add_parser("strategies", help="every strategy: table, ranks, anytime curves")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--measured", type=Path, nargs="*", help="measured groups files (pilot cost)")
    s.add_argument("--outdir", type=Path, required=True)
    s.set_defaults(func=cmd_strategies)

    s = sub.add_parser(
        "check-config", help="layer and validate config files as the workflow does; all problems"
    )
    s.add_argument("files", type=Path, nargs="*", help="config files over the defaults, in order")
    s.set_defaults(func=cmd_check_config)

    s = sub.add_parser(
        "status", help="every run of an experiment: done, running, stopped or waiting, and how far"
    )
    s.add_argument("--configfile", type=Path, nargs="*", default=[], help="as given to snakemake")
    s.add_argument("--config", nargs="*", help="KEY=VALUE, as given to snakemake")
    s.add_argument("--directory", type=Path, default=Path("."), help="where the workflow runs")
    s.add_argument(
        "--stale-after",
        type=float,
        default=120.0,
        help="a journal unchanged for this many seconds counts as stopped, not running",
    )
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("table5", help="TPE process time micro-benchmark (paper Table 5)")
    s.add_argument("--settings", required=True)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_table5)

    s = sub.add_parser("importance", help="N-RReliefF and fANOVA weights from run records")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--settings", required=True, help="config with search_space, as JSON")
    s.add_argument("--groups", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_importance)

    s = sub.add_parser("measured-table", help="every dataset's measured importance and groups")
    s.add_argument("--groups", type=Path, nargs="+", required=True)
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_measured_table)

    s = sub.add_parser("figure1", help="importance weights and groups")
    s.add_argument("--groups", type=Path, required=True)
    s.add_argument("--importance", type=Path, required=True)
    s.add_argument("--note", help="what the groups rest on (config gsos.note)")
    s.add_argument("--measured", type=Path, nargs="*", help="measured groups files, per dataset")
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_figure1)

    s = sub.add_parser("figure2", help="accuracy against iteration, density-coloured")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--convergence", type=Path, required=True, help="best-so-far curves (PNG)")
    s.set_defaults(func=cmd_figure2)
    return p


class Console:
    """Where a command's messages for a person go: the console, and the log as well."""

    def __init__(self, stream=None, log=None):
        self.stream = stream if stream is not None else sys.stderr
        self.log = log

    def __call__(self, message: str) -> None:
        print(message, file=self.stream, flush=True)
        if self.log is not None and self.log is not self.stream:
            print(message, file=self.log, flush=True)


CONSOLE = Console()


def _user_error(e: BaseException) -> str | None:
    """The message of an error that a user fixes (bad input, a full disk), else None."""
    from gsos.config import ConfigError
    from gsos.errors import DataError

    if isinstance(e, DataError | ConfigError):
        return str(e)
    if type(e).__name__ in ("TooManyFailures", "ReplayMismatch", "RecordWriteError"):
        return str(e)
    if isinstance(e, RuntimeError) and "device: cuda" in str(e):
        return str(e)
    return None


def main(argv: list[str] | None = None) -> None:
    global CONSOLE
    args = parser().parse_args(argv)
    if args.log is None:
        try:
            args.func(args)
        except Exception as e:
            message = _user_error(e)
            if message is None:
                raise
            raise SystemExit(f"error: {message}") from None
        return
    args.log.parent.mkdir(parents=True, exist_ok=True)
    console = os.fdopen(os.dup(2), "w", buffering=1)
    log = open(args.log, "a", buffering=1)  # noqa: SIM115 - for the life of the process
    os.dup2(log.fileno(), 2)  # native libraries' messages too
    sys.stderr = log
    CONSOLE = Console(console, log)
    try:
        args.func(args)
    except BaseException as e:
        import traceback

        traceback.print_exc(file=log)
        if isinstance(e, SystemExit) and e.code in (0, None):
            raise
        try:
            message = _user_error(e)
        except Exception:  # noqa: BLE001 - the one line must reach the console regardless
            message = None
        if message is None:
            first = (str(e).strip().splitlines() or [""])[0]
            message = f"{type(e).__name__}: {first}" if first else type(e).__name__
        CONSOLE(f"error: {message} (log: {args.log})")
        log.flush()
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
