"""Paper Table 5: hyperopt TPE's own time, without model evaluation, for d = 1..12.

As in the paper's appendix: d hyperparameters each uniform on [0, 1e6], 100 iterations of
``fmin`` with TPE, an objective that sleeps ``eval_seconds`` and returns a random loss.
T_tpe is the wall-clock of ``fmin`` minus the time spent inside the objective. Repeats give
a median and spread (the paper reports one number per d). Optuna's TPE sampler is measured
in the same run, interleaved with hyperopt, as a peer row.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsos.search._hyperopt import hyperopt

_h = hyperopt()
STATUS_OK, Trials, fmin, hp, tpe = _h.STATUS_OK, _h.Trials, _h.fmin, _h.hp, _h.tpe


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


def optuna_process_time(
    d: int, iterations: int, eval_seconds: float, seed: int, n_startup_jobs: int
) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loss_rng = np.random.default_rng(seed + 10_000)
    in_objective = 0.0

    def objective(trial: optuna.Trial) -> float:
        nonlocal in_objective
        for i in range(d):
            trial.suggest_float(f"x{i}", 0.0, 1e6)
        t0 = time.perf_counter()
        time.sleep(eval_seconds)
        loss = float(loss_rng.random())
        in_objective += time.perf_counter() - t0
        return loss

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_jobs)
    t0 = time.perf_counter()
    optuna.create_study(sampler=sampler).optimize(objective, n_trials=iterations)
    return time.perf_counter() - t0 - in_objective


LIBRARIES = {"hyperopt": tpe_process_time, "optuna": optuna_process_time}


def table5(
    dims: Sequence[int],
    iterations: int,
    eval_seconds: float,
    repeats: int,
    n_startup_jobs: int,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per library and d: median, min and max of T_tpe over repeats.

    Repeats, dimensions and libraries are interleaved, so drift on a shared machine hits
    every row alike.
    """
    times: dict[tuple[str, int], list[float]] = {(lib, d): [] for lib in LIBRARIES for d in dims}
    for r in range(repeats):
        for d in dims:
            for lib, measure in LIBRARIES.items():
                times[(lib, d)].append(
                    measure(d, iterations, eval_seconds, seed + r, n_startup_jobs)
                )
    rows = [
        {
            "library": lib,
            "n_hyperparameters": d,
            "repeats": repeats,
            "median_seconds": float(np.median(t)),
            "min_seconds": float(np.min(t)),
            "max_seconds": float(np.max(t)),
        }
        for (lib, d), t in times.items()
    ]
    return pd.DataFrame(rows)


def plot_table5(df: pd.DataFrame, png) -> None:
    """T_tpe against d: each library's median with its min-max range, and the paper's values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gsos.reports.figures import save

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for lib, g in df.groupby("library"):
        err = [g["median_seconds"] - g["min_seconds"], g["max_seconds"] - g["median_seconds"]]
        ax.errorbar(
            g["n_hyperparameters"],
            g["median_seconds"],
            yerr=err,
            marker="o",
            capsize=3,
            label=f"{lib} (this machine, median of {int(g['repeats'].iloc[0])})",
        )
    pub = df[df["library"] == "hyperopt"].dropna(subset=["published_seconds"])
    if len(pub):
        ax.plot(
            pub["n_hyperparameters"],
            pub["published_seconds"],
            "k--",
            marker="s",
            label="published (paper Table 5)",
        )
    ax.set_xlabel("number of hyperparameters d")
    ax.set_ylabel("TPE process time (s)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.set_title("Table 5: TPE time excluding model evaluation", fontsize=10)
    save(fig, png)


def write_table5(settings: Mapping[str, Any], out: Path) -> None:
    """The ``table5`` verb: time both TPEs, beside the published Table 5; table and plot."""
    from gsos.reports.formats import write_table
    from gsos.reports.paper import published

    s = settings
    df = table5(s["dims"], s["iterations"], s["eval_seconds"], s["repeats"], s["n_startup_jobs"])
    pub = published("table5").rename(columns={"tpe_process_time_seconds": "published_seconds"})
    pub["library"] = "hyperopt"  # the paper timed hyperopt
    df = df.merge(pub, on=["library", "n_hyperparameters"], how="left")
    df["difference_seconds"] = df["median_seconds"] - df["published_seconds"]
    write_table(df, Path(out), ".3f", "Table 5: TPE process time excluding model evaluation")
    plot_table5(df, Path(out).with_name("table5.png"))
