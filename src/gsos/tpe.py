"""A TPE loop on hyperopt that we drive one suggestion at a time.

Driving ``tpe.suggest`` ourselves (instead of ``fmin``) lets each iteration be timed,
recorded as it finishes, and replayed: suggestion seeds come from
``numpy.random.default_rng(seed)`` exactly as ``fmin(rstate=...)`` draws them, so with the
same seed this runner proposes the same points as ``fmin`` (a test pins that), and a run
rebuilt from its records continues with the same random stream.

Note on the "0.25 quantile": hyperopt's TPE puts min(ceil(gamma*sqrt(N)), 25) of the N
observations in the good set, not a plain 25 % of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, base, tpe

from gsos.space import SearchSpace, Value, _scalar

# Trial statuses TPE learns from; 'fail' (an exception) carries no loss and is skipped.
OBSERVED = ("ok", "diverged")

Objective = Callable[[dict[str, Value]], dict[str, Any]]


@dataclass(frozen=True)
class TPESettings:
    n_startup_jobs: int = 15
    gamma: float = 0.25
    n_ei_candidates: int = 24

    def algo(self) -> Callable[..., Any]:
        return partial(
            tpe.suggest,
            n_startup_jobs=self.n_startup_jobs,
            gamma=self.gamma,
            n_EI_candidates=self.n_ei_candidates,
        )


def _insert_done(
    trials: Trials, domain: base.Domain, hp_vals: Mapping[str, Any], result: dict
) -> None:
    """Add a finished trial (from a record) to ``trials``."""
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


def hyperopt_result(outcome: Mapping[str, Any]) -> dict[str, Any]:
    if outcome.get("status") in OBSERVED and outcome.get("loss") is not None:
        return {"status": STATUS_OK, "loss": float(outcome["loss"])}
    return {"status": STATUS_FAIL}


def run_tpe(
    space: SearchSpace,
    names: Sequence[str],
    fixed: Mapping[str, Value],
    n_iter: int,
    seed: int,
    objective: Objective,
    settings: TPESettings = TPESettings(),
    history: Sequence[Mapping[str, Any]] = (),
) -> Iterator[dict[str, Any]]:
    """Yield one dict per iteration: params, hp_vals, suggest_seconds and the objective's output.

    ``names`` are searched; every other parameter stays at ``fixed``. ``history`` holds the
    dicts of iterations already done (from a resumed run's records); they are not re-run.
    """
    hspace = space.hyperopt_space(names)
    domain = base.Domain(lambda _: 0.0, hspace)
    trials = Trials()
    rng = np.random.default_rng(seed)
    algo = settings.algo()
    for done in history:
        rng.integers(2**31 - 1)  # keep the suggestion stream where it was
        _insert_done(trials, domain, done["hp_vals"], hyperopt_result(done))
    for _ in range(len(history), n_iter):
        t0 = time.perf_counter()
        new_ids = trials.new_trial_ids(1)
        trials.refresh()
        (doc,) = algo(new_ids, domain, trials, rng.integers(2**31 - 1))
        suggest_seconds = time.perf_counter() - t0
        hp_vals = {k: _scalar(v) for k, v in doc["misc"]["vals"].items()}
        params = {**fixed, **space.decode(hspace, hp_vals)}
        params = {n: params[n] for n in space.names}
        outcome = objective(params)
        _insert_done(trials, domain, hp_vals, hyperopt_result(outcome))
        yield {"params": params, "hp_vals": hp_vals, "suggest_seconds": suggest_seconds, **outcome}
