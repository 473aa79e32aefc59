"""Optuna samplers behind the ask/tell interface: grid search and a genetic algorithm.

An in-memory study is asked for one trial at a time with the view's distributions and told
each result before the next ask, so a sampler's choices depend only on its seed and what it
was told. Optuna does not save its samplers' random state with the trials, so a killed run
is resumed by asking and telling again (the runner's replay), never by adding old trials.
A failed trial is told as failed (Optuna's samplers leave it out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gsos.search.optimizers.base import Budget, CountingBudget, Evaluation, Optimizer, Outcome, View
from gsos.search.space import Param, Value


def distribution(p: Param) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    assert p.kind == "choice" or (p.low is not None and p.high is not None)
    if p.kind == "choice":
        return CategoricalDistribution(list(p.values))
    if p.kind == "int":
        return IntDistribution(int(p.low), int(p.high))
    return FloatDistribution(p.low, p.high, log=p.kind == "loguniform")


class OptunaSearch(Optimizer):
    def __init__(
        self,
        view: View,
        budget: Budget,
        sampler: Any,
        distributions: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.view = view
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self.dists = dict(
            distributions or {n: distribution(view.space.params[n]) for n in view.names}
        )
        self.spent = CountingBudget(budget)
        self.limit = limit  # a grid's size: no trial beyond it

    def ask(self) -> Evaluation | None:
        if not self.spent.fits() or (
            self.limit is not None and self.spent.evaluations >= self.limit
        ):
            return None
        trial = self.study.ask(self.dists)
        values = {n: self.view.space.params[n].cast(trial.params[n]) for n in self.view.names}
        params = self.view.full(values)
        return Evaluation(
            params=params, budget=int(params["epoch"]), raw=dict(values), handle=trial
        )

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        from optuna.trial import TrialState

        self.spent.spend_on(outcome)
        loss = outcome.loss
        if loss is None:
            self.study.tell(evaluation.handle, state=TrialState.FAIL)
        else:
            self.study.tell(evaluation.handle, loss)


def grid_values(p: Param, points: int) -> list[Value]:
    """A hyperparameter's grid: every choice, else ``points`` evenly spaced values
    (log-spaced for a log-uniform range; distinct rounded values for an integer range)."""
    import numpy as np

    if p.kind == "choice":
        return list(p.values)
    assert p.low is not None and p.high is not None
    if points == 1:
        return [p.cast(p.default)]
    if p.kind == "int":
        return sorted({int(round(v)) for v in np.linspace(p.low, p.high, points)})
    if p.kind == "loguniform":
        values = np.exp(np.linspace(math.log(p.low), math.log(p.high), points))
    else:
        values = np.linspace(p.low, p.high, points)
    values[0], values[-1] = p.low, p.high  # exactly the ends, not a rounding off them
    return [float(v) for v in values]


def grid(view: View, points: Mapping[str, int], default_points: int = 3) -> dict[str, list[Value]]:
    return {
        n: grid_values(view.space.params[n], int(points.get(n, default_points))) for n in view.names
    }


def grid_size(values: Mapping[str, Sequence[Value]]) -> int:
    return math.prod(len(v) for v in values.values())


def make_grid(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    """Grid search: the product of the per-hyperparameter grids, visited in a seeded random
    order (Optuna's GridSampler); a run ends early when the grid is exhausted."""
    from optuna.distributions import CategoricalDistribution
    from optuna.samplers import GridSampler

    values = grid(view, settings.get("grid", {}).get("points", {}))
    dists = {n: CategoricalDistribution(v) for n, v in values.items()}
    return OptunaSearch(view, budget, GridSampler(values, seed=seed), dists, grid_size(values))


def make_ga(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    """A genetic algorithm: Optuna's NSGA-II with one objective is an elitist GA over mixed
    spaces (tournament selection, uniform crossover, per-gene mutation)."""
    from optuna.samplers import NSGAIISampler

    o = settings.get("ga", {})
    sampler = NSGAIISampler(  # its default crossover is the uniform one
        population_size=int(o.get("population_size", 20)),
        crossover_prob=float(o.get("crossover_prob", 0.9)),
        swapping_prob=float(o.get("swapping_prob", 0.5)),
        mutation_prob=o.get("mutation_prob"),
        seed=seed,
    )
    return OptunaSearch(view, budget, sampler)
