"""``gsos <command>``: the one command each Snakemake rule runs.

This module only parses arguments and dispatches: each verb's work lives with its stage
(``gsos.data``, ``gsos.search``, ``gsos.reports``). Heavy libraries (torch, hyperopt, pandas)
are imported inside the commands that use them, so a command that writes a JSON file starts
in a fraction of a second.

``--log FILE`` (every rule passes it): everything a command prints, and any traceback, goes
to FILE; the console gets only what a person running the workflow needs: progress lines
and, when the command fails, one line saying why (and where the details are).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path


def cmd_download(a: argparse.Namespace) -> None:
    from gsos.data.download import download_to_file

    source = json.loads(a.settings)["source"]
    record = download_to_file(a.name, source, a.resources, a.out, say=CONSOLE)
    print(f"{a.name}: {len(record['files'])} file(s) verified and unpacked", file=sys.stderr)


def cmd_prepare(a: argparse.Namespace) -> None:
    from gsos.data.prepare import prepare_to_files

    m = prepare_to_files(
        a.name, json.loads(a.settings), a.resources, a.data, a.manifest, a.download, CONSOLE
    )
    skipped = m.get("skipped", {}).get("count", 0)
    print(
        f"{a.name}: {m['n_images']} images, {m['n_classes']} classes, {skipped} file(s) skipped",
        file=sys.stderr,
    )


def cmd_groups(a: argparse.Namespace) -> None:
    from gsos.search.groups import write_groups

    write_groups(json.loads(a.settings), a.out)


def cmd_hpo(a: argparse.Namespace) -> None:
    from gsos.search.run import run_job

    s = run_job(
        dataset=a.dataset,
        strategy=a.strategy,
        seed=a.seed,
        settings=json.loads(a.settings),
        data_path=a.data,
        manifest_path=a.manifest,
        records_path=a.records,
        summary_path=a.summary,
        groups_path=a.groups,
        match_summary=a.match_summary,
        cost_epochs=a.cost_epochs,
        threads=a.threads,
        jobs_per_gpu=a.jobs_per_gpu,
        gpu_wait_minutes=a.gpu_wait_minutes,
        oom_wait_minutes=a.oom_wait_minutes,
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
    from gsos.search.measured import write_measured

    out = write_measured(
        a.dataset, json.loads(a.settings), a.pilots, a.weights_file, a.workers, a.out
    )
    groups = "; ".join(f"{g['name']} {g['params']} ({g['iterations']})" for g in out["groups"])
    print(f"{a.dataset}: {groups}", file=sys.stderr)


def cmd_tables(a: argparse.Namespace) -> None:
    from gsos.reports.paper import write_paper_tables

    write_paper_tables(a.records, a.outdir, a.comparisons)


def cmd_published(a: argparse.Namespace) -> None:
    from gsos.reports.paper import write_published_tables

    write_published_tables(a.records, a.outdir)


def cmd_comparisons(a: argparse.Namespace) -> None:
    from gsos.reports.comparisons import write_comparisons

    write_comparisons(a.records, a.measured or [], a.out)


def cmd_summary(a: argparse.Namespace) -> None:
    from gsos.reports.summary import write_summary

    write_summary(a.records, a.measured or [], a.anytime, json.loads(a.regime), a.outdir)


def cmd_strategies(a: argparse.Namespace) -> None:
    from gsos.reports.strategies import write_strategies

    write_strategies(a.records, a.measured or [], a.outdir)


def cmd_studies(a: argparse.Namespace) -> None:
    from gsos.reports.studies import write_studies

    n = write_studies(a.records, a.pilots or [], json.loads(a.settings), a.out)
    runs = len(a.records) + len(a.pilots or [])
    print(f"{runs} runs, {n} trials as Optuna studies in {a.out}", file=sys.stderr)


def cmd_dashboard(a: argparse.Namespace) -> None:
    from gsos.config import load_layers, recorded_run_config
    from gsos.reports.dashboard import serve

    cfg = load_layers(a.configfile, a.config)
    recorded = recorded_run_config(cfg["experiment"], a.directory)
    if recorded is not None:  # the config the run uses (its --config included)
        cfg = recorded[0]
    serve(cfg, a.directory, a.host, a.port, a.poll, say=CONSOLE)


def cmd_run(snakemake_args: list[str]) -> None:
    from gsos.launch import run

    raise SystemExit(run(snakemake_args, say=lambda m: print(m, file=sys.stderr)))


def cmd_gpu_check(a: argparse.Namespace) -> None:
    from gsos.training.smoke import gpu_check, summary

    results = gpu_check(a.device)
    if not all(r["ok"] for r in results):
        raise SystemExit(summary(results))
    print(summary(results))


def cmd_check_config(a: argparse.Namespace) -> None:
    from gsos.config import load_layers

    cfg = load_layers(a.files, check_files=True)
    print(
        f"config ok: experiment {cfg['experiment']!r}, datasets {cfg['run']['datasets']}, "
        f"strategies {cfg['run']['strategies']}, seeds {cfg['run']['seeds']}"
    )


def cmd_status(a: argparse.Namespace) -> None:
    from gsos.config import load_layers, recorded_run_config
    from gsos.reports.status import status

    cfg = load_layers(a.configfile, a.config)
    recorded = recorded_run_config(cfg["experiment"], a.directory) if not a.as_given else None
    if recorded is not None:
        cfg, path = recorded
        print(f"(the config the run recorded: {path}; --as-given for the files and --config)")
    print(status(cfg, a.directory, a.stale_after))


def cmd_table5(a: argparse.Namespace) -> None:
    from gsos.reports.table5 import write_table5

    write_table5(json.loads(a.settings), a.out)


def cmd_importance(a: argparse.Namespace) -> None:
    from gsos.reports.importance import write_importance

    write_importance(a.records, json.loads(a.settings), a.groups, a.out, a.workers)


def cmd_measured_table(a: argparse.Namespace) -> None:
    from gsos.reports.importance import write_measured_table

    write_measured_table(a.groups, a.out)


def cmd_figure1(a: argparse.Namespace) -> None:
    from gsos.reports.figures import write_figure1

    write_figure1(a.groups, a.importance, a.note or "", a.measured or [], a.out)


def cmd_figure2(a: argparse.Namespace) -> None:
    from gsos.reports.figures import write_figure2

    write_figure2(a.records, a.out, a.convergence)


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
    s.add_argument(
        "--gpu-wait-minutes",
        type=float,
        default=0.0,
        help="how long to wait for a free GPU slot (0: as long as it takes)",
    )
    s.add_argument(
        "--oom-wait-minutes",
        type=float,
        default=10.0,
        help="after a neighbour's out-of-memory error, how long to wait for the memory",
    )
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

    s = sub.add_parser("tables", help="Tables 3 and 4, headline, paired tests, runs")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument(
        "--comparisons", type=Path, help="the report's comparisons.csv (Holm-adjusted p)"
    )
    s.add_argument("--outdir", type=Path, required=True)
    s.set_defaults(func=cmd_tables)

    s = sub.add_parser("comparisons", help="every comparison the report states, one family (Holm)")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--measured", type=Path, nargs="*", help="measured groups files (pilot cost)")
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_comparisons)

    s = sub.add_parser("published", help="published numbers beside this experiment's")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--outdir", type=Path, required=True)
    s.set_defaults(func=cmd_published)

    s = sub.add_parser("summary", help="the answer first: verdicts, costs and caveats")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--measured", type=Path, nargs="*", help="measured groups files (pilot cost)")
    s.add_argument("--anytime", type=Path, help="the anytime figure to show beside it")
    s.add_argument("--regime", default="{}", help="search space, model, datasets (JSON)")
    s.add_argument("--outdir", type=Path, required=True)
    s.set_defaults(func=cmd_summary)

    s = sub.add_parser("strategies", help="every strategy: table, ranks, anytime curves")
    s.add_argument("--records", type=Path, nargs="+", required=True)
    s.add_argument("--measured", type=Path, nargs="*", help="measured groups files (pilot cost)")
    s.add_argument("--outdir", type=Path, required=True)
    s.set_defaults(func=cmd_strategies)

    s = sub.add_parser("studies", help="every run as an Optuna study, in one journal file")
    s.add_argument("--records", type=Path, nargs="+", required=True, help="runs' records")
    s.add_argument("--pilots", type=Path, nargs="*", help="pilot runs' records")
    s.add_argument("--settings", required=True, help="experiment and config, as JSON")
    s.add_argument("--out", type=Path, required=True)
    s.set_defaults(func=cmd_studies)

    s = sub.add_parser(
        "dashboard",
        help="optuna-dashboard on this machine for an experiment, live while its runs go",
        description="Serves every run of the experiment (finished or still going) as an "
        "Optuna study in optuna-dashboard, read from the runs' journals; stop it with Ctrl-C.",
    )
    s.add_argument("--configfile", type=Path, nargs="*", default=[], help="as given to snakemake")
    s.add_argument("--config", nargs="*", help="KEY=VALUE, as given to snakemake")
    s.add_argument("--directory", type=Path, default=Path("."), help="where the workflow runs")
    s.add_argument("--host", default="127.0.0.1", help="address to serve on (this machine)")
    s.add_argument("--port", type=int, default=8080, help="0: any free port")
    s.add_argument("--poll", type=float, default=1.0, help="seconds between looks at the journals")
    s.set_defaults(func=cmd_dashboard)

    s = sub.add_parser(
        "run",
        help="check the config, run the workflow (snakemake's arguments), then its report",
        description="Takes snakemake's arguments, e.g. gsos run --cores all --configfile mine.yaml",
    )
    s.add_argument("snakemake_args", nargs="*", help="passed to snakemake unchanged")

    s = sub.add_parser(
        "gpu-check",
        help="go or no-go for the GPU path on this machine (~1 min on a GPU): torch sees the "
        "GPUs, binding, precision, training, continuations, bilevel_vf, data shares",
    )
    s.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    s.set_defaults(func=cmd_gpu_check)

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
        "--as-given",
        action="store_true",
        help="the config as the files and --config give it, not the one the run recorded",
    )
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
    s.add_argument("--workers", type=int, default=1, help="processes for the bootstrap refits")
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


def heartbeat(label: str, say: Callable[[str], None], every: float) -> None:
    """A console line every ``every`` seconds while a long job runs (an HPO job says more
    with its own progress lines), so no job runs minutes with nothing on the console."""
    import threading
    import time

    if every <= 0:
        return
    start = time.monotonic()

    def beat() -> None:
        while True:
            time.sleep(every)
            say(f"[{label}] still running, {time.monotonic() - start:.0f} s")

    threading.Thread(target=beat, daemon=True).start()


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
    if type(e).__name__ in (
        "TooManyFailures",
        "ReplayMismatch",
        "RecordWriteError",
        "DevicePoisoned",
        "NoFreeGPU",
        "GPUUnusable",
        "NeighbourOOM",
    ):
        return str(e)
    if isinstance(e, RuntimeError) and "device: cuda" in str(e):
        return str(e)
    return None


def main(argv: list[str] | None = None) -> None:
    global CONSOLE
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:  # everything after it is snakemake's, options included
        cmd_run(argv[1:])
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
    if args.command not in ("hpo", "run", "check-config", "status", "gpu-check", "dashboard"):
        every = float(os.environ.get("GSOS_PROGRESS_SECONDS", "0") or 0)
        target = getattr(args, "out", None) or getattr(args, "outdir", None) or ""
        heartbeat(f"{args.command} {target}".strip(), CONSOLE, every)
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
