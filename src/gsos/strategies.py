"""GSOS (paper Algorithm 2) and the simultaneous baseline, as one loop over groups.

Simultaneous TPE is GSOS with a single group holding every hyperparameter, so both share
the code that records, times and resumes iterations.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gsos.groups import Group, check_partition, group_iterations, split_iterations
from gsos.space import SearchSpace, Value
from gsos.tpe import OBSERVED, TPESettings, run_tpe

STRATEGIES = ("gsos", "simultaneous")


def build_groups(
    strategy: str, space: SearchSpace, iterations: int, gsos_groups: Sequence[Mapping[str, Any]]
) -> list[Group]:
    if strategy == "simultaneous":
        return [Group("all", tuple(space.names), iterations)]
    if strategy != "gsos":
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    check_partition(space.names, [g["params"] for g in gsos_groups])
    counts = group_iterations(iterations, gsos_groups)
    return [
        Group(g["name"], tuple(g["params"]), c) for g, c in zip(gsos_groups, counts, strict=True)
    ]


def derive_seed(*parts: int) -> int:
    """An independent 31-bit seed for a (run seed, purpose, index) tuple."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] & 0x7FFFFFFF)


def best_record(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Highest validation accuracy among finished trials; the earliest wins a tie."""
    ok = [r for r in records if r["status"] == "ok"]
    return max(ok, key=lambda r: (r["val_accuracy"], -r["iteration"])) if ok else None


def run_strategy(
    space: SearchSpace,
    groups: Sequence[Group],
    seed: int,
    train: Callable[[dict[str, Value], int], dict[str, Any]],
    settings: TPESettings | None = None,
    history: Sequence[Mapping[str, Any]] = (),
    clock_offset: float = 0.0,
) -> Iterator[dict[str, Any]]:
    """Yield the record of each iteration as it finishes.

    ``train(params, trial_seed)`` returns the trial's outcome (status, loss, accuracies...).
    Group k searches its own hyperparameters with a fresh TPE (its own seed) while every
    other hyperparameter stays at the current configuration, which starts at the defaults
    and takes each group's best values when the group ends. ``history`` (records of a killed
    run) is replayed without retraining; ``clock_offset`` continues its elapsed time.
    """
    settings = settings or TPESettings()
    current = space.defaults()
    start = time.perf_counter() - clock_offset
    iteration = 0
    for gi, group in enumerate(groups):
        done = [r for r in history if r["group"] == group.name]
        fixed = {k: v for k, v in current.items() if k not in group.params}
        iteration_base = iteration
        trial_numbers = itertools.count(iteration_base + len(done) + 1)

        def objective(
            params: dict[str, Value], _numbers: Iterator[int] = trial_numbers
        ) -> dict[str, Any]:
            t0 = time.perf_counter()
            out = train(params, derive_seed(seed, 2, next(_numbers)))
            return {**out, "loss": trial_objective(out), "eval_seconds": time.perf_counter() - t0}

        group_records = list(done)
        for step in run_tpe(
            space,
            group.params,
            fixed,
            group.iterations,
            derive_seed(seed, 1, gi),
            objective,
            settings,
            history=done,
        ):
            iteration = iteration_base + len(group_records) + 1
            record = {
                "iteration": iteration,
                "group": group.name,
                "group_index": gi + 1,
                "group_iteration": len(group_records) + 1,
                "seed": seed,
                **step,
                "elapsed_seconds": time.perf_counter() - start,
            }
            group_records.append(record)
            yield record
        iteration = iteration_base + group.iterations
        best = best_record(group_records)
        if best is not None:
            current.update({k: best["params"][k] for k in group.params})


def trial_objective(outcome: Mapping[str, Any]) -> float | None:
    """The loss TPE minimises: 1 - validation accuracy (the paper selects by accuracy).

    A diverged trial gives TPE its near-chance accuracy, as the paper's runs would have.
    """
    if outcome.get("status") not in OBSERVED:
        return None
    return 1.0 - float(outcome["val_accuracy"])


__all__ = [
    "Group",
    "STRATEGIES",
    "best_record",
    "build_groups",
    "check_partition",
    "derive_seed",
    "run_strategy",
    "split_iterations",
    "trial_objective",
]
