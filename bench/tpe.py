"""TPE's overhead in this project's runner against raw `hyperopt.fmin` (CPU time)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    TARGETS,
)

from gsos.search.space import SearchSpace

# --- d. TPE's overhead in our runner -----------------------------------------------------------


def tpe_overhead(cfg: dict, iterations: int, repeats: int) -> pd.DataFrame:
    """The project's runner (records written and fsynced) minus objective time, against raw
    hyperopt fmin minus objective time, on the same objective and seed, in process CPU time:
    nothing here sleeps, and wall-clock on a shared 2-core machine swings by ±40 %."""
    from functools import partial

    from gsos.search._hyperopt import hyperopt
    from gsos.search.optimizers.base import Budget, View
    from gsos.search.optimizers.hyperopt_search import HyperoptSearch, TPESettings
    from gsos.search.runner import Runner

    h = hyperopt()
    space = SearchSpace.from_config(cfg["search_space"])
    n_startup = int(cfg["tpe"]["n_startup_jobs"])

    def accuracy(p):
        return 1 / (1 + abs(np.log10(p["lr"]) + 3)) - p["dropout_rate"] / 10

    def run_ours(r: int) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            spent = 0.0

            def evaluate(ev, trial_seed, resume, save):
                nonlocal spent
                t = time.process_time()
                out = {"status": "ok", "val_accuracy": accuracy(ev.params), "test_accuracy": 0.0}
                spent += time.process_time() - t
                return out

            t0 = time.process_time()
            search = HyperoptSearch(
                View.of(space),
                r,
                Budget(evaluations=iterations),
                "tpe",
                TPESettings(n_startup_jobs=n_startup),
            )
            Runner(
                search,
                evaluate,
                Path(tmp) / "records.jsonl",
                seed=r,
                n_train=1,
                base_record={"run_key": "bench"},
                log=lambda m: None,
            ).run()
            return time.process_time() - t0 - spent

    def run_fmin(r: int) -> float:
        spent = 0.0

        def fn(params):
            nonlocal spent
            t = time.process_time()
            loss = 1 - accuracy({k: space.params[k].cast(v) for k, v in params.items()})
            spent += time.process_time() - t
            return {"loss": loss, "status": h.STATUS_OK}

        t0 = time.process_time()
        h.fmin(
            fn,
            space.hyperopt_space(),
            algo=partial(h.tpe.suggest, n_startup_jobs=n_startup),
            max_evals=iterations,
            trials=h.Trials(),
            rstate=np.random.default_rng(r),
            show_progressbar=False,
        )
        return time.process_time() - t0 - spent

    run_ours(99), run_fmin(99)  # warm both up before measuring
    rows = []
    for r in range(repeats):  # alternate which goes first, so order cannot bias the ratio
        first, second = (run_fmin, run_ours) if r % 2 else (run_ours, run_fmin)
        a, b = first(r), second(r)
        ours_s, raw_s = (b, a) if r % 2 else (a, b)
        rows.append(
            {"repeat": r, "ours_seconds": ours_s, "fmin_seconds": raw_s, "ratio": ours_s / raw_s}
        )
    df = pd.DataFrame(rows)
    return pd.DataFrame(
        [
            {
                "iterations": iterations,
                "repeats": repeats,
                "ours_seconds_median": df["ours_seconds"].median(),
                "fmin_seconds_median": df["fmin_seconds"].median(),
                "overhead_ratio_median": df["ratio"].median(),
                "overhead_ratio_min": df["ratio"].min(),
                "overhead_ratio_max": df["ratio"].max(),
                "target": TARGETS["tpe_overhead"],
            }
        ]
    )
