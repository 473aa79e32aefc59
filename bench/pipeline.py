"""Where the default pipeline's time goes, from a run's benchmark files and records."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import (
    ROOT,
)

# --- c. where the default pipeline's time goes -------------------------------------------------


def pipeline(
    run_dir: Path | None = None, commit: str | None = None
) -> tuple[pd.DataFrame, float, Path]:
    """The README's run command (``gsos run --cores all``: the workflow, then its report) on
    a fresh clone of this checkout (or an existing run in ``run_dir``), its wall time end to
    end, the folder it ran in, and the jobs' time split by what it was spent on:
    start-up (imports, data, warm-up), the optimiser (TPE etc.), training, evaluation, the
    per-epoch validation of learning curves, aggregation (tables, figures, report), Table 5
    and data preparation. ``commit``: run that commit's code instead of this checkout's
    head (the old code, for a comparison in one bench run)."""
    total = float("nan")
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp()) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(run_dir)], check=True)
        if commit is not None:
            subprocess.run(["git", "-C", str(run_dir), "checkout", "-q", commit], check=True)
        (run_dir / ".venv").symlink_to(ROOT / ".venv")
        env = {
            "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin",
            "HOME": str(Path.home()),
            # the clone's own code, in every job too (the venv's editable install points at
            # this checkout)
            "PYTHONPATH": str(run_dir / "src"),
        }
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "gsos", "run", "--cores", "all"],
            cwd=run_dir,
            env=env,
            check=True,
            capture_output=True,
        )
        total = time.perf_counter() - t0
    bench = run_dir / "benchmarks" / "default"
    rows = {
        k: 0.0
        for k in (
            "start-up",
            "optimiser",
            "training",
            "evaluation",
            "learning curves",
            "aggregation",
            "table 5",
            "data preparation",
        )
    }
    for tsv in sorted((bench / "hpo").rglob("*.tsv")):
        wall = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
        rel = tsv.relative_to(bench / "hpo").with_suffix("")
        records = [
            json.loads(x)
            for x in (run_dir / "results" / "default" / "runs" / rel / "records.jsonl").open()
        ]
        train = sum(r.get("train_seconds") or 0 for r in records)
        curves = sum(r.get("curve_seconds") or 0 for r in records)
        evaluate = sum(r["eval_seconds"] for r in records) - train - curves
        suggest = sum(r["suggest_seconds"] for r in records)
        rows["training"] += train
        rows["evaluation"] += evaluate
        rows["learning curves"] += curves
        rows["optimiser"] += suggest
        rows["start-up"] += wall - records[-1]["elapsed_seconds"]
    for tsv in bench.glob("*.tsv"):
        wall = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
        rows["table 5" if tsv.stem == "table5" else "aggregation"] += wall
    for tsv in (bench / "prepare_data").glob("*.tsv"):
        rows["data preparation"] += float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
    df = pd.DataFrame({"part": list(rows), "job_seconds": list(rows.values())})
    df["share_of_job_seconds"] = df["job_seconds"] / df["job_seconds"].sum()
    return df, total, run_dir


# --- d. the default run's time and results, old code beside new, in one bench run ------------


def commit_of(ref: str) -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout.strip()


def results_of(run_dir: Path) -> pd.DataFrame:
    """Per strategy, the default run's mean best test accuracy and its interval, from the
    report's own strategies table."""
    t = pd.read_csv(run_dir / "reports" / "default" / "strategies.csv")
    return t.set_index("strategy")[
        ["test accuracy (mean)", "test accuracy CI low", "test accuracy CI high"]
    ]


def verdicts_of(run_dir: Path) -> pd.Series:
    """Every comparison the report states or not (its comparisons table), by key."""
    t = pd.read_csv(run_dir / "reports" / "default" / "comparisons.csv")
    return t.set_index("key")["stated"].astype(str)


def side_by_side(before: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The README's run command with the code of ``before``, then with this checkout's head,
    one after the other on this machine: each one's time split (:func:`pipeline`) and wall
    time, and whether the results agree: each strategy's mean best test accuracy inside the
    other run's interval, and the same comparisons stated."""
    rows, runs = [], {}
    for label, commit in (("before", commit_of(before)), ("after", commit_of("HEAD"))):
        df, total, ran_in = pipeline(commit=commit)
        df.insert(0, "code", f"{label} ({commit})")
        df["pipeline_wall_seconds"] = total
        rows.append(df)
        runs[label] = ran_in
    old, new = results_of(runs["before"]), results_of(runs["after"])
    m = "test accuracy (mean)"
    lo, hi = "test accuracy CI low", "test accuracy CI high"
    agree = pd.DataFrame({
        "before": old[m], "before_ci_low": old[lo], "before_ci_high": old[hi],
        "after": new[m], "after_ci_low": new[lo], "after_ci_high": new[hi],
    })  # fmt: skip
    agree["after_inside_before_ci"] = agree["after"].between(agree["before_ci_low"],
                                                             agree["before_ci_high"])  # fmt: skip
    agree["before_inside_after_ci"] = agree["before"].between(agree["after_ci_low"],
                                                              agree["after_ci_high"])  # fmt: skip
    v_old, v_new = verdicts_of(runs["before"]), verdicts_of(runs["after"])
    stated = v_old.index[(v_old == "True")].union(v_new.index[(v_new == "True")])
    agree["verdicts_same"] = bool((v_old.reindex(v_new.index) == v_new).all())
    agree["verdicts_stated"] = "; ".join(f"{k}: {v_old.get(k)} -> {v_new.get(k)}" for k in stated)
    times = pd.concat(rows, ignore_index=True)
    times.attrs["after_run"] = str(runs["after"])  # the miniature and limit parts read it
    return times, agree.reset_index()
