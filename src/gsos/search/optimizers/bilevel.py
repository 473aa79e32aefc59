"""Gradient-based bilevel HPO of the continuous hyperparameters (seed 003), by hypergradients.

Which method, and why. Seed 003 approximates the lower level's optimal value function
v(λ) = min_w L_train(w, λ) by Gaussian-process regression over sampled λ and solves the single
level problem min L_val(w, λ) s.t. L_train(w, λ) <= v(λ) by an augmented Lagrangian. That
needs λ inside the training objective, as its regularisation weight is. Of the paper's
continuous hyperparameters, the learning rate is not in the training objective at all (v does
not depend on it: it changes which minimum training reaches, not the objective), and the
dropout rate is only through the expected loss under dropout; and each GP point is a full
training run, each augmented-Lagrangian step a joint update of weights and λ. At this
budget (tens of trainings a run) and with these hyperparameters, a faithful version cannot
run. So this is the hypergradient alternative the shared notes describe (Maclaurin et al.
2015; Franceschi et al. 2017): every evaluation trains the configuration as any trial does,
then measures d(validation loss)/d(log lr, logit dropout) through a few unrolled training
steps with concrete dropout (:mod:`gsos.training.hypergrad`); the hyperparameters then take an Adam
step on those gradients. The other hyperparameters stay at their defaults, or at the current
configuration when this is the inner optimiser of a GSOS group whose members are all
continuous. Deterministic and resumable: the hypergradients are recorded and replayed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gsos.search.optimizers.base import Budget, CountingBudget, Evaluation, Optimizer, Outcome, View

CONTINUOUS = {"lr": "log_lr", "dropout_rate": "dropout_logit"}  # searched -> coordinate


class Hypergradient(Optimizer):
    """Adam on (log lr, logit dropout rate), one step per evaluation's hypergradient."""

    def __init__(
        self,
        view: View,
        budget: Budget,
        step_size: float = 0.3,
        start_dropout: float = 0.05,
        measure: Mapping[str, Any] | None = None,
    ):
        searched = [n for n in view.names if n in CONTINUOUS]
        others = [n for n in view.names if n not in CONTINUOUS]
        if not searched:
            raise ValueError(
                f"bilevel searches the continuous hyperparameters {sorted(CONTINUOUS)}; "
                f"this search holds none of them ({list(view.names)})"
            )
        space = view.space
        defaults = space.defaults()
        self.view = View(space, tuple(searched), {**view.fixed, **{n: defaults[n] for n in others}})
        self.spent = CountingBudget(budget)
        self.step_size = step_size
        self.measure = dict(measure or {})
        start = {**defaults, **view.fixed}  # a GSOS group starts from the current configuration
        drop = min(max(float(start["dropout_rate"]), start_dropout), 0.95)
        self.z = {
            "log_lr": math.log(float(start["lr"])),
            "dropout_logit": math.log(drop / (1 - drop)),
        }
        self.m = dict.fromkeys(self.z, 0.0)
        self.v = dict.fromkeys(self.z, 0.0)
        self.t = 0
        self.last_cost = 0.0

    def _values(self) -> dict[str, float]:
        """The searched hyperparameters at the current point, inside their ranges."""
        out = {}
        for name, coord in CONTINUOUS.items():
            if name not in self.view.names:
                continue
            p = self.view.space.params[name]
            assert p.low is not None and p.high is not None
            x = math.exp(self.z[coord]) if coord == "log_lr" else 1 / (1 + math.exp(-self.z[coord]))
            out[name] = min(max(x, p.low), p.high)
        return out

    def ask(self) -> Evaluation | None:
        # a cost budget ends before an evaluation that would overrun it (its cost taken to be
        # the last one's: every evaluation trains the same epochs plus the unrolled steps)
        if not self.spent.fits(self.last_cost if self.spent.budget.cost is not None else 0.0):
            return None
        params = self.view.full(self._values())
        return Evaluation(
            params=params,
            budget=int(params["epoch"]),
            raw=dict(self.z),
            hypergradient=self.measure,
        )

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        self.spent.spend_on(outcome)
        if not outcome.repeat:
            self.last_cost = outcome.cost
        grad = outcome.hypergradient or {}
        if any(grad.get(CONTINUOUS[n]) is None for n in self.view.names):
            self.z["log_lr"] -= math.log(2)  # failed or diverged: a smaller learning rate
            self._clip()
            return
        self.t += 1
        b1, b2 = 0.9, 0.999
        for name in self.view.names:  # Adam, on the searched coordinates only
            k = CONTINUOUS[name]
            g = float(grad[k])
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g**2
            m_hat, v_hat = self.m[k] / (1 - b1**self.t), self.v[k] / (1 - b2**self.t)
            self.z[k] -= self.step_size * m_hat / (math.sqrt(v_hat) + 1e-8)
        self._clip()

    def _clip(self) -> None:
        """Coordinates inside the space (the dropout logit inside rates of 0.001..0.95)."""
        lr = self.view.space.params["lr"]
        assert lr.low is not None and lr.high is not None
        self.z["log_lr"] = min(max(self.z["log_lr"], math.log(lr.low)), math.log(lr.high))
        self.z["dropout_logit"] = min(max(self.z["dropout_logit"], -6.9), 2.9)


def make_bilevel(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    """Seedless by design: a descent from the defaults; its runs differ by training noise."""
    o = settings.get("bilevel", {})
    return Hypergradient(
        view,
        budget,
        step_size=float(o.get("step_size", 0.3)),
        start_dropout=float(o.get("start_dropout", 0.05)),
        measure={k: o[k] for k in ("unroll_steps", "temperature", "val_images") if k in o},
    )
