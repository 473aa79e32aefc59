"""GSOS (paper Algorithm 2) and the simultaneous baseline, as one loop over groups.

Simultaneous TPE is GSOS with a single group holding every hyperparameter, so both share
the code that records, times and resumes iterations.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gsos.space import SearchSpace, Value
from gsos.tpe import OBSERVED, TPESettings, run_tpe

STRATEGIES = ("gsos", "simultaneous")


@dataclass(frozen=True)
class Group:
    name: str
    params: tuple[str, ...]
    iterations: int


def split_iterations(total: int, shares: Sequence[float]) -> list[int]:
    """Largest-remainder split of ``total`` by ``shares``: sums exactly to ``total``."""
    if total < len(shares):
        raise ValueError(f"{total} iterations cannot give each of {len(shares)} groups one")
    weights = np.asarray(shares, dtype=float)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    for i, c in enumerate(counts):  # every group gets at least one iteration
        if c == 0:
            j = int(np.argmax(counts))
            counts[j] -= 1
            counts[i] = 1
    return [int(c) for c in counts]


def group_iterations(total: int, groups: Sequence[Mapping[str, Any]]) -> list[int]:
    """Each group's budget: explicit ``iterations`` (must add up to ``total``) or ``share``."""
    explicit = [g.get("iterations") for g in groups]
    if all(n is None for n in explicit):
        return split_iterations(total, [g["share"] for g in groups])
    if any(n is None for n in explicit):
        raise ValueError("give every group 'iterations' or every group 'share', not a mix")
    if sum(explicit) != total:
        raise ValueError(
            f"the groups' iterations {explicit} add up to {sum(explicit)}, "
            f"but hpo.iterations is {total}; make them equal"
        )
    return [int(n) for n in explicit]


def check_partition(space: SearchSpace, groups: Sequence[Sequence[str]]) -> None:
    """Groups must cover every hyperparameter exactly once."""
    seen: dict[str, int] = {}
    for gi, names in enumerate(groups):
        for n in names:
            if n not in space.params:
                raise ValueError(f"group {gi + 1} names {n!r}, which is not in search_space")
            if n in seen:
                raise ValueError(
                    f"{n!r} is in group {seen[n] + 1} and group {gi + 1}; each belongs to one"
                )
            seen[n] = gi
    missing = [n for n in space.names if n not in seen]
    if missing:
        raise ValueError(f"no group holds {missing}; every hyperparameter must be in one group")


def build_groups(
    strategy: str, space: SearchSpace, iterations: int, gsos_groups: Sequence[Mapping[str, Any]]
) -> list[Group]:
    if strategy == "simultaneous":
        return [Group("all", tuple(space.names), iterations)]
    if strategy != "gsos":
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    check_partition(space, [g["params"] for g in gsos_groups])
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
