"""TPE with learning-curve extrapolation (seed 002; Domhan et al., IJCAI 2015).

hyperopt's TPE proposes as for simultaneous TPE; every trial then trains with its validation
curve watched: from ``min_epochs`` on, after each epoch the curve is extrapolated to the
trial's last epoch (:mod:`gsos.training.curves`), and the trial stops when the probability that it
ends above the best validation accuracy so far falls below ``threshold``. A stopped trial is
recorded as ``stopped``, with its epochs, the accuracy it had and the accuracy it was
predicted to reach; TPE is told the predicted one, as Domhan et al. tell their optimiser. Its
cost is the epochs it trained. Only trials that ran to the end can be a run's best.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gsos.search.optimizers.base import Budget, Evaluation, Optimizer, Outcome, View
from gsos.search.optimizers.hyperopt_search import HyperoptSearch, TPESettings
from gsos.training.curves import extrapolate


def stopper(best: float, target_epochs: int, threshold: float, min_epochs: int):
    """The after_epoch callback of one trial, judged against ``best`` (fixed when asked)."""

    def after_epoch(curve: list[dict[str, Any]]) -> dict[str, Any] | None:
        if len(curve) < min_epochs:
            return None
        epochs = [p["epoch"] for p in curve]
        acc = [p["val_accuracy"] for p in curve]
        prediction = extrapolate(epochs, acc, target_epochs)
        p = prediction.probability_above(best)
        if p >= threshold:
            return None
        return {
            "predicted_final_accuracy": prediction.mean,
            "predicted_sd": prediction.sd,
            "stop_probability": p,
            "stop_reason": (
                f"after epoch {epochs[-1]} of {target_epochs}: P(final > best {best:.4f}) = "
                f"{p:.3f} < {threshold}"
            ),
        }

    return after_epoch


def budget_stop(epochs: int, target_epochs: int, min_epochs: int):
    """Stop a trial after ``epochs`` epochs: the cost budget ends there. Its predicted final
    accuracy is extrapolated where the curve is long enough."""

    def after_epoch(curve: list[dict[str, Any]]) -> dict[str, Any] | None:
        if len(curve) < epochs:
            return None
        predicted = None
        if len(curve) >= min_epochs:
            e = [p["epoch"] for p in curve]
            predicted = extrapolate(e, [p["val_accuracy"] for p in curve], target_epochs).mean
        return {
            "predicted_final_accuracy": predicted,
            "stop_reason": f"the cost budget ran out after epoch {epochs} of {target_epochs}",
        }

    return after_epoch


def first_stop(watchers):
    """One after_epoch callback from several: the first that says stop."""

    def after_epoch(curve: list[dict[str, Any]]) -> dict[str, Any] | None:
        for watch in watchers:
            stop = watch(curve)
            if stop is not None:
                return stop
        return None

    return after_epoch


class TPEWithCurves(Optimizer):
    def __init__(
        self,
        view: View,
        seed: int,
        budget: Budget,
        tpe: TPESettings,
        threshold: float = 0.05,
        min_epochs: int = 2,
    ):
        self.tpe = HyperoptSearch(view, seed, budget, "tpe", tpe)
        self.threshold, self.min_epochs = threshold, min_epochs
        self.best: float | None = None

    def ask(self) -> Evaluation | None:
        spent = self.tpe.spent
        left = None if spent.budget.cost is None else spent.budget.cost - spent.cost
        if left is not None and left < 1 - 1e-9:
            return None  # less than one epoch of training left
        ev = self.tpe.ask()
        if ev is None:
            return ev
        watchers = []
        if left is not None and ev.budget > left + 1e-9:  # the last trial: as far as the budget
            watchers.append(budget_stop(int(left + 1e-9), ev.budget, self.min_epochs))
        if self.best is not None:
            watchers.append(stopper(self.best, ev.budget, self.threshold, self.min_epochs))
        if not watchers:
            return ev
        return dataclasses.replace(ev, after_epoch=first_stop(watchers))

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        self.tpe.tell(evaluation, outcome)
        if outcome.status == "ok" and outcome.val_accuracy is not None:
            self.best = max(self.best or 0.0, float(outcome.val_accuracy))


def make_tpe_lc(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    o = settings.get("tpe_lc", {})
    return TPEWithCurves(
        view,
        seed,
        budget,
        TPESettings.from_config(settings.get("tpe", {})),
        threshold=float(o.get("threshold", 0.05)),
        min_epochs=int(o.get("min_epochs", 2)),
    )
