"""Seed 003's method on the L2 weight decay: a GP of the lower level's value function and an
augmented Lagrangian over (weights, λ) (:mod:`gsos.training.value_function` has the math).

Why this shape. The method needs its hyperparameter inside the training objective, which
``weight_decay`` is ((λ/2)·||w||², as torch.optim adds it); the learning rate and the dropout
rate are not (``bilevel`` descends those by hypergradients instead). It runs in two phases,
each evaluation one record:

1. ``n_init`` ordinary trainings at λ values stratified on the log scale of the
   ``weight_decay`` range (seeded: one uniform draw per equal stratum), each to the
   ``lower_epochs`` that stand for "near convergence", reporting its final full training
   objective: the points (log λ, v) the GP of v(λ) = min_w L_train(w, λ) is fitted to.
2. Outer steps of the augmented Lagrangian, each an evaluation that continues the previous
   step's saved state (model, optimiser, data order; the first continues the phase-1
   training with the lowest validation loss, at its λ): ``inner_steps`` optimiser steps on w
   for L_val(w) + μ·max(0, g) + (ρ/2)·max(0, g)², g = L_train(w, λ) − v̂(λ), then the
   recorded constraint. This optimiser's ``tell`` takes the gradient step on log λ and the
   multiplier update μ ← max(0, μ + ρ·g) from that record, so its state depends only on its
   seed and what it was told (resume by replay). Every ``refit_every`` outer steps one more
   ordinary training at the current λ adds a point to v̂ (the paper refits v̂ where λ moved).

Everything but ``weight_decay`` stays at its default (or, inside a GSOS group, at the
current configuration), as for ``bilevel``. Cost-matched: a training costs its epochs, an
outer step its inner steps' minibatches (training and validation images alike); the last
outer step takes only the steps the budget has left, so the run ends at its budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gsos.search.optimizers.base import (
    Budget,
    CountingBudget,
    Evaluation,
    Optimizer,
    Outcome,
    View,
    settings_from,
)
from gsos.training.value_function import (
    AdamState,
    ValueGP,
    lambda_gradient,
    lambda_step,
    multiplier_update,
)

SEARCHED = "weight_decay"
MAX_FAILURES = 3  # outer steps in a row that fail before the search gives up


@dataclass(frozen=True)
class Settings:
    n_init: int = 5
    lower_epochs: int | None = None  # None: the epoch range's high (near convergence)
    inner_steps: int = 20
    rho: float = 10.0
    lambda_step: float = 0.05
    refit_every: int = 5

    @classmethod
    def from_config(cls, o: Mapping[str, Any]) -> Settings:
        return settings_from(cls, o)


class ValueFunctionBilevel(Optimizer):
    def __init__(self, view: View, seed: int, budget: Budget, settings: Settings):
        if SEARCHED not in view.names:
            raise ValueError(
                f"bilevel_vf searches {SEARCHED} (L2 inside the training objective); this "
                f"search holds {list(view.names)}"
            )
        space = view.space
        p = space.params[SEARCHED]
        assert p.low is not None and p.high is not None
        if p.low <= 0:
            raise ValueError(f"bilevel_vf needs {SEARCHED} > 0 (it works on log λ)")
        self.bounds = (math.log(p.low), math.log(p.high))
        defaults = space.defaults()
        others = [n for n in view.names if n != SEARCHED]
        self.view = View(space, (SEARCHED,), {**view.fixed, **{n: defaults[n] for n in others}})
        self.settings = settings
        self.epochs = self._lower_epochs(settings.lower_epochs)
        self.spent = CountingBudget(budget)
        rng = np.random.default_rng(seed)  # stratified log-λ draws, one per stratum
        lo, hi = self.bounds
        n = max(1, settings.n_init)
        self.planned = [lo + (hi - lo) * (i + rng.random()) / n for i in range(n)]
        rng.shuffle(self.planned)
        self._asked_init = 0  # phase-1 trainings told so far (the next one's index)
        self.points: list[tuple[float, float]] = []  # (log λ, v)
        self.starts: list[tuple[float, int, float]] = []  # (val objective, iteration, log λ)
        self.gp: ValueGP | None = None
        self.t: float | None = None  # log λ of the augmented Lagrangian
        self.mu = 0.0
        self.adam = AdamState()
        self.al_from: int | None = None  # the state the next outer step continues
        self.since_refit = 0
        self.step_cost: float | None = None  # one inner step, in full-training-set epochs
        self.failures = 0
        self.done = False

    def _lower_epochs(self, given: int | None) -> int:
        if given is not None:
            return given
        if "epoch" in self.view.space.params:
            high = self.view.space.params["epoch"].high
            assert high is not None
            return int(high)
        return int(self.view.fixed["epoch"])

    def _params(self, t: float) -> dict[str, Any]:
        lo, hi = self.view.space.params[SEARCHED].low, self.view.space.params[SEARCHED].high
        assert lo is not None and hi is not None
        lam = min(max(math.exp(t), lo), hi)
        return self.view.full({SEARCHED: lam, "epoch": self.epochs})

    def _fits(self, cost: float) -> bool:
        return self.spent.fits(cost if self.spent.budget.cost is not None else 0.0)

    def _lower(self, t: float, phase: str) -> Evaluation:
        return Evaluation(
            params=self._params(t),
            budget=self.epochs,
            keep_state=phase == "init",  # an initial training may be where the AL starts
            raw={"phase": phase, "log_lambda": t},
            value_function={"phase": "lower"},
        )

    def ask(self) -> Evaluation | None:
        if self.done:
            return None
        if self.al_from is None and self._asked_init < len(self.planned):
            if self._fits(float(self.epochs)):
                return self._lower(self.planned[self._asked_init], "init")
            self._asked_init = len(self.planned)  # the budget ends phase 1
        if self.al_from is None and not self._start():
            self.done = True
            return None
        assert self.t is not None and self.gp is not None
        if self.since_refit >= self.settings.refit_every and self._fits(float(self.epochs)):
            return self._lower(self.t, "refit")
        steps = self.settings.inner_steps
        if self.spent.budget.cost is not None:
            assert self.step_cost is not None
            left = self.spent.budget.cost - self.spent.cost
            steps = min(steps, int(math.floor(left / self.step_cost + 1e-9)))
        if steps < 1 or not self.spent.fits():
            self.done = True
            return None
        vhat, slope = self.gp.value_and_slope(self.t)
        return Evaluation(
            params=self._params(self.t),
            budget=self.epochs,
            continues=self.al_from,
            keep_state=True,
            raw={"phase": "al", "log_lambda": self.t, "mu": self.mu, "vhat": vhat, "slope": slope},
            value_function={
                "phase": "al",
                "steps": steps,
                "mu": self.mu,
                "rho": self.settings.rho,
                "vhat": vhat,
            },
        )

    def _start(self) -> bool:
        """Phase 2 begins at the initial training with the lowest validation loss."""
        if not self.starts or self.gp is None or self.step_cost is None:
            return False
        _, iteration, t = min(self.starts)
        self.al_from, self.t = iteration, t
        return True

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        self.spent.spend_on(outcome)
        phase = evaluation.raw["phase"]
        vf = outcome.value_function or {}
        ok = outcome.status == "ok" and vf.get("train_objective") is not None
        if phase in ("init", "refit"):
            if phase == "init":
                self._asked_init += 1
            else:
                self.since_refit = 0
            if not ok:
                return
            self.step_cost = vf["images_per_step"] / vf["n_train"]
            t = float(evaluation.raw["log_lambda"])
            if all(abs(t - s) > 1e-12 for s, _ in self.points):
                self.points.append((t, float(vf["train_objective"])))
                self.gp = ValueGP([s for s, _ in self.points], [v for _, v in self.points])
            if phase == "init" and not outcome.repeat and vf.get("val_objective") is not None:
                self.starts.append((float(vf["val_objective"]), outcome.iteration, t))
            return
        self.since_refit += 1
        if not ok or vf.get("violation") is None:
            self.failures += 1  # the next step continues the last good state again
            self.done = self.failures >= MAX_FAILURES
            return
        self.failures = 0
        g = float(vf["violation"])
        assert self.t is not None
        grad = lambda_gradient(
            self.mu,
            self.settings.rho,
            g,
            float(vf["dtrain_dlog_lambda"]),
            float(evaluation.raw["slope"]),
        )
        self.t = lambda_step(self.t, grad, self.adam, self.settings.lambda_step, self.bounds)
        self.mu = multiplier_update(self.mu, self.settings.rho, g)
        self.al_from = outcome.iteration

    def live_states(self) -> set[int]:
        if self.al_from is None:
            return {i for _, i, _ in self.starts}
        return {self.al_from}


def make_bilevel_vf(
    view: View, seed: int, budget: Budget, settings: Mapping[str, Any]
) -> Optimizer:
    return ValueFunctionBilevel(
        view, seed, budget, Settings.from_config(settings.get("bilevel_vf", {}))
    )
