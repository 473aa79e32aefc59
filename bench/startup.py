"""Start-up: `snakemake -n` on a fresh clone and `python -m gsos --help`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    ROOT,
)


def startup(repeats: int = 5) -> pd.DataFrame:
    """Wall time of the commands a person waits on before any work: ``snakemake -n`` on a
    fresh clone (it plans the whole default run) and ``python -m gsos --help``, medians over
    repeats. With SLURM's client tools on PATH, snakemake's SLURM plugin asks sacct/squeue
    at import, so that case is measured apart (it waits much longer when no controller
    answers)."""
    import shutil

    run_dir = Path(tempfile.mkdtemp()) / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(run_dir)], check=True)
    venv_bin = str(ROOT / ".venv" / "bin")
    home = str(Path.home())
    basic = run_dir.parent / "bin"  # a shell and `which`, and no SLURM tools
    basic.mkdir()
    for tool in ("sh", "bash", "which", "env", "git"):
        if shutil.which(tool):
            (basic / tool).symlink_to(shutil.which(tool) or "")
    cases = [
        ("snakemake -n", [sys.executable, "-m", "snakemake", "-n", "-q"], f"{venv_bin}:{basic}")
    ]
    if shutil.which("sinfo"):
        cases.append(
            (
                "snakemake -n (SLURM tools on PATH)",
                [sys.executable, "-m", "snakemake", "-n", "-q"],
                f"{venv_bin}:{os.environ.get('PATH', '')}",
            )
        )
    cases.append(("python -m gsos --help", [sys.executable, "-m", "gsos", "--help"], venv_bin))
    rows = []
    for name, cmd, path in cases:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(
                cmd, cwd=run_dir, env={"PATH": path, "HOME": home}, check=True, capture_output=True
            )
            times.append(time.perf_counter() - t0)
        rows.append(
            {
                "command": name,
                "seconds_median": float(np.median(times)),
                "seconds_min": min(times),
                "seconds_max": max(times),
                "repeats": repeats,
                "target_seconds": 2.0 if name.startswith("snakemake") else 1.5,
            }
        )
    return pd.DataFrame(rows)
