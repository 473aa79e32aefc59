"""Particle swarm optimisation on the unit-box encoding, through pymoo's PSO.

pymoo is maintained and seeded (its random state is a ``numpy.random.Generator`` of its
own); pyswarms, the other common choice, is neither. pymoo asks for a whole swarm and is
told all its fitnesses at once; here the swarm is handed out one particle per ``ask`` and
told back when the last particle is in. Choices and integers are decoded from their
coordinate (:mod:`gsos.search.optimizers.encoding`). A failed trial counts as zero accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gsos.search.optimizers.base import Budget, CountingBudget, Evaluation, Optimizer, Outcome, View
from gsos.search.optimizers.encoding import Box


class ParticleSwarm(Optimizer):
    def __init__(
        self,
        view: View,
        seed: int,
        budget: Budget,
        pop_size: int = 20,
        w: float = 0.9,
        c1: float = 2.0,
        c2: float = 2.0,
        adaptive: bool = True,
    ):
        from pymoo.algorithms.soo.nonconvex.pso import PSO
        from pymoo.core.problem import Problem

        self.view, self.box = view, Box(view)
        self.spent = CountingBudget(budget)
        d = self.box.dim
        self.problem = Problem(n_var=d, n_obj=1, xl=np.zeros(d), xu=np.ones(d))
        self.algorithm = PSO(pop_size=pop_size, w=w, c1=c1, c2=c2, adaptive=adaptive)
        self.algorithm.setup(self.problem, seed=seed, termination=("n_gen", 10**9))
        self.swarm: Any = None
        self.told: dict[int, float] = {}
        self.next = 0

    def ask(self) -> Evaluation | None:
        if not self.spent.fits():
            return None
        if self.swarm is None or self.next >= len(self.swarm):
            self.swarm, self.told, self.next = self.algorithm.ask(), {}, 0
        ev = self.box.evaluation(self.swarm[self.next].X, self.next)
        self.next += 1
        return ev

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        self.spent.spend_on(outcome)
        self.told[evaluation.handle] = outcome.loss_or_worst
        if len(self.told) == len(self.swarm):
            f = np.array([[self.told[i]] for i in range(len(self.swarm))])
            Evaluator().eval(StaticProblem(self.problem, F=f), self.swarm)
            self.algorithm.tell(infills=self.swarm)


def make_pso(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    o = settings.get("pso", {})
    return ParticleSwarm(
        view,
        seed,
        budget,
        pop_size=int(o.get("pop_size", 20)),
        w=float(o.get("w", 0.9)),
        c1=float(o.get("c1", 2.0)),
        c2=float(o.get("c2", 2.0)),
        adaptive=bool(o.get("adaptive", True)),
    )
