"""FABOLAS (Klein, Falkner, Bartels, Hennig, Hutter, 2017), from emukit's implementation.

FABOLAS models the validation loss and the cost of a configuration x trained on a share s of
the training data, each with a Gaussian process over (x, s): a Matérn-5/2 kernel over x times
a kernel over s of basis functions, φ(s) = (1, (1 − s)²) for the loss (it falls as the data
grow) and (1, s) for the cost (it grows with them), s on the log scale between ``s_min`` and
all the data. It proposes the (x, s) that most reduces the entropy of the distribution of the
best configuration *on all the data* per unit of predicted cost (continuous-fidelity entropy
search, the GP hyperparameters integrated out by MCMC), so cheap small shares are evaluated
as long as they still say something about the full-data optimum.

Built from ``emukit.examples.fabolas``: its model (``FabolasModel``), its acquisition
(``ContinuousFidelityEntropySearch``, marginalised by ``IntegratedHyperParameterAcquisition``,
divided by the cost model's prediction) and its random-search acquisition optimiser, as its
``FabolasLoop`` wires them, and its ``fmin_fabolas`` initial design (a Latin hypercube of
configurations on the subsets 1/512 … 1/4 of the data, cycled, raised to ``s_min``). Driven
one ask/tell at a time here instead of ``fmin_fabolas``'s loop, with two differences from
emukit's loop, both the paper's: the loss model's basis is (1 − s)² (the loop uses s for
both), and the Latin hypercube is seeded (emukit's draws from the operating system). GPy and
emukit draw from numpy's global random state; they run on a private copy of it
(:class:`~gsos.search.optimizers.base.IsolatedNumpyRandom`), so the same seed and the same
outcomes give the same proposals, and a run replays. Their imports happen here only.

Configurations are points of the unit box (:mod:`gsos.search.optimizers.encoding`; choices and
integers are bins of a coordinate), epochs stay searched; an evaluation trains the
configuration afresh on the first ``s`` of one fixed order of the training split (the data
fidelity of ``hyperband_data``) and costs s × epochs. Cost-matched: the last evaluation's
share is cut to what the budget has left, so the run ends at its budget. Slow by design: a
proposal with the paper's settings takes minutes (README).
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
    settings_from,
)
from gsos.search.optimizers.encoding import Box


@dataclass(frozen=True)
class Settings:
    """emukit's defaults (``fmin_fabolas``, ``FabolasLoop``, ``EntropySearch``,
    ``IntegratedHyperParameterAcquisition``) but for ``min_fraction``."""

    n_init: int = 20
    min_fraction: float = 1 / 64
    marginalize: bool = True
    hyper_samples: int = 10
    num_eval_points: int = 2000
    representer_points: int = 50
    innovations: int = 100
    burn_in: int = 50
    mcmc_steps: int = 100
    gp_restarts: int = 3

    @classmethod
    def from_config(cls, o: Mapping[str, Any]) -> Settings:
        return settings_from(cls, o)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """GPy prints 'reconstraining parameters' and warns of overflows in its optimiser."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield


def initial_design(n: int, dim: int, s_min: float, seed: int) -> list[tuple[np.ndarray, float]]:
    """``fmin_fabolas``'s: a Latin hypercube of n configurations, each on one of the subsets
    1/512, 1/256, …, 1/4 of the data in turn (raised to ``s_min``)."""
    from scipy.stats import qmc

    points = qmc.LatinHypercube(d=dim, seed=np.random.default_rng(seed)).random(n)
    subsets = [max(2.0**-i, s_min) for i in range(9, 1, -1)]
    return [(points[i], subsets[i % len(subsets)]) for i in range(n)]


def sampler_with_steps(sampler: Any, steps: int) -> Any:
    """emukit's ensemble sampler of representer points, with ``steps`` MCMC steps after the
    burn-in (emukit fixes them at 100, its default here; fewer make a proposal cheaper)."""
    get_samples = sampler.get_samples

    def limited(n_samples: int, log_p_function: Any, burn_in_steps: int = 50) -> Any:
        return get_samples(n_samples, log_p_function, burn_in_steps, n_steps=steps)

    sampler.get_samples = limited
    return sampler


class Fabolas(Optimizer):
    def __init__(self, view: View, seed: int, budget: Budget, settings: Settings):
        self.view, self.box, self.settings = view, Box(view), settings
        if settings.representer_points < 2 * self.box.dim:
            raise ValueError(
                f"fabolas.representer_points must be at least twice the searched "
                f"hyperparameters ({2 * self.box.dim}): emcee's ensemble needs that many walkers"
            )
        self.s_min = settings.min_fraction
        self.spent = CountingBudget(budget)
        self.random = IsolatedNumpyRandom(seed)
        self.design = initial_design(settings.n_init, self.box.dim, self.s_min, seed)
        self.x: list[np.ndarray] = []  # [u, s] of every evaluation told
        self.loss: list[float] = []
        self.cost_x: list[np.ndarray] = []  # the cost model's (repeats carry no cost)
        self.cost: list[float] = []

    def _propose(self) -> tuple[np.ndarray, float]:
        """The next (u, s): the initial design, then entropy search per unit cost."""
        told = len(self.x)
        if told < len(self.design):
            return self.design[told]
        with self.random, quiet():
            x = self._acquire()
        return np.clip(x[:-1], 0.0, 1.0), float(min(max(x[-1], self.s_min), 1.0))

    def _acquire(self) -> np.ndarray:
        from emukit.core import ContinuousParameter, ParameterSpace
        from emukit.core.acquisition import (
            IntegratedHyperParameterAcquisition,
            acquisition_per_expected_cost,
        )
        from emukit.core.optimization import RandomSearchAcquisitionOptimizer
        from emukit.examples.fabolas.continuous_fidelity_entropy_search import (
            ContinuousFidelityEntropySearch,
        )
        from emukit.examples.fabolas.fabolas_model import FabolasModel, linear, quad

        o, d = self.settings, self.box.dim
        space = ParameterSpace(
            [ContinuousParameter(f"u{i}", 0.0, 1.0) for i in range(d)]
            + [ContinuousParameter("s", self.s_min, 1.0)]
        )
        x, y = np.array(self.x), np.array(self.loss)[:, None]
        loss = FabolasModel(x, y, self.s_min, 1.0, basis_func=quad)
        cost = FabolasModel(
            np.array(self.cost_x), np.array(self.cost)[:, None], self.s_min, 1.0, linear
        )
        for model in (loss, cost):  # emukit's FabolasModel restarts 3 times
            model.n_restarts = o.gp_restarts
            model.optimize()

        def entropy_search(model: Any) -> Any:
            search = ContinuousFidelityEntropySearch(
                model,
                space=space,
                target_fidelity_index=d,
                num_samples=o.innovations,
                num_representer_points=o.representer_points,
                burn_in_steps=o.burn_in,
            )
            search.sampler = sampler_with_steps(search.sampler, o.mcmc_steps)
            return search

        search = (
            IntegratedHyperParameterAcquisition(loss, entropy_search, n_samples=o.hyper_samples)
            if o.marginalize
            else entropy_search(loss)
        )
        acquisition = acquisition_per_expected_cost(search, cost)
        optimizer = RandomSearchAcquisitionOptimizer(space, num_eval_points=o.num_eval_points)
        best, _ = optimizer.optimize(acquisition)
        return np.asarray(best, dtype=float).reshape(-1)

    def ask(self) -> Evaluation | None:
        left = None
        if self.spent.budget.cost is not None:
            left = self.spent.budget.cost - self.spent.cost
            if left < self.s_min - 1e-12:  # not one epoch on the smallest share
                return None
        elif not self.spent.fits():
            return None
        u, s = self._propose()
        params = self.view.full(self.box.decode(u))
        epochs = int(params["epoch"])
        if left is not None and s * epochs > left:  # the last evaluation: what is left
            s = math.floor(left / epochs * 1e9) / 1e9
        raw = {**{n: float(x) for n, x in zip(self.view.names, u, strict=True)}, "s": s}
        return Evaluation(params=params, budget=epochs, data_fraction=s, raw=raw, handle=u)

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        self.spent.spend_on(outcome)
        point = np.append(np.asarray(evaluation.handle, dtype=float), evaluation.data_fraction)
        self.x.append(point)
        self.loss.append(outcome.loss_or_worst)
        if not outcome.repeat:
            self.cost_x.append(point)
            self.cost.append(outcome.cost)


def make_fabolas(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    return Fabolas(view, seed, budget, Settings.from_config(settings.get("fabolas", {})))
