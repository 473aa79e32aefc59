"""Paper Table 5: hyperopt TPE's own time, without model evaluation, for d = 1..12.

As in the paper's appendix: d hyperparameters each uniform on [0, 1e6], 100 iterations of
``fmin`` with TPE, an objective that sleeps ``eval_seconds`` and returns a random loss.
T_tpe is the wall-clock of ``fmin`` minus the time spent inside the objective. Repeats give
a median and spread (the paper reports one number per d).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd
from hyperopt import STATUS_OK, Trials, fmin, hp, tpe


def tpe_process_time(
    d: int, iterations: int, eval_seconds: float, seed: int, n_startup_jobs: int
) -> float:
    space = {f"x{i}": hp.uniform(f"x{i}", 0.0, 1e6) for i in range(d)}
    loss_rng = np.random.default_rng(seed + 10_000)
    in_objective = 0.0

    def objective(_: dict) -> dict:
        nonlocal in_objective
        t0 = time.perf_counter()
        time.sleep(eval_seconds)
        loss = float(loss_rng.random())
        in_objective += time.perf_counter() - t0
        return {"loss": loss, "status": STATUS_OK}

    t0 = time.perf_counter()
    fmin(
        objective,
        space,
        algo=partial(tpe.suggest, n_startup_jobs=n_startup_jobs),
        max_evals=iterations,
        trials=Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return time.perf_counter() - t0 - in_objective


def table5(
    dims: Sequence[int],
    iterations: int,
    eval_seconds: float,
    repeats: int,
    n_startup_jobs: int,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per d: median, min and max of T_tpe over repeats (interleaved over d)."""
    times: dict[int, list[float]] = {d: [] for d in dims}
    for r in range(repeats):  # interleave so drift on a shared machine hits every d alike
        for d in dims:
            times[d].append(tpe_process_time(d, iterations, eval_seconds, seed + r, n_startup_jobs))
    rows = [
        {
            "n_hyperparameters": d,
            "repeats": repeats,
            "median_seconds": float(np.median(t)),
            "min_seconds": float(np.min(t)),
            "max_seconds": float(np.max(t)),
        }
        for d, t in times.items()
    ]
    return pd.DataFrame(rows)
