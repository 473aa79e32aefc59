"""CMA-ES (Hansen) on the unit-box encoding, through pycma, the reference implementation.

pycma asks for a whole population and is told all its fitnesses at once; here its
population is handed out one member per ``ask`` and told back when the last member is in.
Choices and integers are decoded from their coordinate (:mod:`gsos.search.optimizers.encoding`),
so CMA-ES adapts them like every other coordinate (Optuna's CMA-ES samples categorical
hyperparameters at random instead, which is not CMA-ES for 6 of the paper's 10). A failed
trial counts as zero accuracy. pycma draws from numpy's global random state, which it
seeds itself; it runs on a private copy of that state, so nothing else can shift its
stream. When pycma's own stopping rules fire before the budget is spent, it restarts with
a new seed and the same settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gsos.search.optimizers.base import (
    Budget,
    CountingBudget,
    Evaluation,
    IsolatedNumpyRandom,
    Optimizer,
    Outcome,
    View,
    np_seed,
)
from gsos.search.optimizers.encoding import Box
from gsos.search.seeds import derive_seed


class CMAES(Optimizer):
    def __init__(
        self, view: View, seed: int, budget: Budget, sigma0: float = 0.3, popsize: int = 0
    ):
        self.view, self.box, self.seed = view, Box(view), seed
        self.sigma0, self.popsize = sigma0, popsize
        self.spent = CountingBudget(budget)
        self.restarts = 0
        self.random = IsolatedNumpyRandom(seed)
        self.es = self._start()
        self.population: list[np.ndarray] = []
        self.told: dict[int, float] = {}
        self.next = 0

    def _start(self) -> Any:
        import cma

        opts = {
            "bounds": [0.0, 1.0],
            "seed": np_seed(derive_seed(self.seed, self.restarts)),
            "verbose": -9,
            "verb_disp": 0,
            "verb_log": 0,
            "verb_filenameprefix": "",
        }
        if self.popsize:
            opts["popsize"] = self.popsize
        with self.random:
            return cma.CMAEvolutionStrategy([0.5] * self.box.dim, self.sigma0, opts)

    def ask(self) -> Evaluation | None:
        if not self.spent.fits():
            return None
        if self.next >= len(self.population):
            with self.random:
                if self.es.stop():
                    self.restarts += 1
                    self.es = self._start()
                self.population = [np.asarray(x, dtype=float) for x in self.es.ask()]
            self.told, self.next = {}, 0
        ev = self.box.evaluation(self.population[self.next], self.next)
        self.next += 1
        return ev

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        self.spent.spend_on(outcome)
        self.told[evaluation.handle] = outcome.loss_or_worst
        if len(self.told) == len(self.population):
            with self.random:
                self.es.tell(self.population, [self.told[i] for i in range(len(self.population))])


def make_cmaes(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    opts = settings.get("cmaes", {})
    return CMAES(view, seed, budget, float(opts.get("sigma0", 0.3)), int(opts.get("popsize", 0)))
