"""TPE (the paper's tool) and random search, both hyperopt's, driven one suggestion at a time.

Driving ``tpe.suggest`` ourselves instead of ``fmin`` lets each iteration be timed, recorded
and replayed: suggestion seeds come from ``numpy.random.default_rng(seed)`` exactly as
``fmin(rstate=...)`` draws them, so with the same seed this proposes what ``fmin`` proposes
(a test pins that). Random search is hyperopt's ``rand.suggest``, the very sampler of TPE's
random start, so the two differ only in the model.

Note on the "0.25 quantile": hyperopt's TPE puts min(ceil(gamma*sqrt(N)), 25) of the N
observations in the good set, not a plain 25 % of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from gsos.search._hyperopt import hyperopt
from gsos.search.optimizers.base import (
    Budget,
    CountingBudget,
    Evaluation,
    Optimizer,
    Outcome,
    View,
    settings_from,
)
from gsos.search.space import _scalar


@dataclass(frozen=True)
class TPESettings:
    n_startup_jobs: int = 15
    gamma: float = 0.25
    n_ei_candidates: int = 24

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TPESettings:
        return settings_from(cls, cfg)

    def algo(self) -> Callable[..., Any]:
        tpe = hyperopt().tpe

        return partial(
            tpe.suggest,
            n_startup_jobs=self.n_startup_jobs,
            gamma=self.gamma,
            n_EI_candidates=self.n_ei_candidates,
        )


def _insert_done(trials: Any, domain: Any, hp_vals: Mapping[str, Any], result: dict) -> None:
    """Add a finished trial to hyperopt's ``trials``."""
    base = hyperopt().base

    (tid,) = trials.new_trial_ids(1)
    misc = {
        "tid": tid,
        "cmd": domain.cmd,
        "workdir": domain.workdir,
        "idxs": {k: [tid] for k in hp_vals},
        "vals": {k: [v] for k, v in hp_vals.items()},
    }
    (doc,) = trials.new_trial_docs([tid], [None], [result], [misc])
    doc["state"] = base.JOB_STATE_DONE
    trials.insert_trial_docs([doc])
    trials.refresh()


class HyperoptSearch(Optimizer):
    """One hyperopt search over ``view``; ``algo`` is 'tpe' or 'random'."""

    def __init__(
        self,
        view: View,
        seed: int,
        budget: Budget,
        algo: str = "tpe",
        tpe: TPESettings | None = None,
    ):
        h = hyperopt()
        Trials, base, rand = h.Trials, h.base, h.rand
        self.view = view
        self.hspace = view.space.hyperopt_space(view.names)
        self.domain = base.Domain(lambda _: 0.0, self.hspace)
        self.trials = Trials()
        self.rng = np.random.default_rng(seed)
        self.algo = (tpe or TPESettings()).algo() if algo == "tpe" else rand.suggest
        self.spent = CountingBudget(budget)

    def ask(self) -> Evaluation | None:
        if not self.spent.fits():
            return None
        new_ids = self.trials.new_trial_ids(1)
        self.trials.refresh()
        (doc,) = self.algo(new_ids, self.domain, self.trials, self.rng.integers(2**31 - 1))
        hp_vals = {k: _scalar(v) for k, v in doc["misc"]["vals"].items()}
        params = self.view.full(self.view.space.decode(self.hspace, hp_vals))
        return Evaluation(params=params, budget=int(params["epoch"]), raw=hp_vals)

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        h = hyperopt()
        STATUS_FAIL, STATUS_OK = h.STATUS_FAIL, h.STATUS_OK  # noqa: N806 - hyperopt's names
        self.spent.spend_on(outcome)
        loss = outcome.loss
        result = (
            {"status": STATUS_OK, "loss": loss} if loss is not None else {"status": STATUS_FAIL}
        )
        _insert_done(self.trials, self.domain, evaluation.raw, result)


def make_tpe(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    return HyperoptSearch(
        view, seed, budget, "tpe", TPESettings.from_config(settings.get("tpe", {}))
    )


def make_random(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    return HyperoptSearch(view, seed, budget, "random")
