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


def pipeline(run_dir: Path | None = None) -> tuple[pd.DataFrame, float, Path]:
    """The README's run command (``gsos run --cores all``: the workflow, then its report) on
    a fresh clone of this checkout (or an existing run in ``run_dir``), its wall time end to
    end, the folder it ran in, and the jobs' time split by what it was spent on:
    start-up (imports, data, warm-up), the optimiser (TPE etc.), training, evaluation, the
    per-epoch validation of learning curves, aggregation (tables, figures, report), Table 5
    and data preparation."""
    total = float("nan")
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp()) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(run_dir)], check=True)
        (run_dir / ".venv").symlink_to(ROOT / ".venv")
        env = {"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(Path.home())}
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
