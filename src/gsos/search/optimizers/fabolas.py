"""FABOLAS (Klein, Falkner, Bartels, Hennig, Hutter, 2017), on emukit's model.

FABOLAS models the validation loss and the cost of a configuration x trained on a share s of
the training data, each with a Gaussian process over (x, s): a Matérn-5/2 kernel over x times
a kernel over s of basis functions, φ(s) = (1, (1 − s)²) for the loss (it falls as the data
grow) and (1, s) for the cost (it grows with them), s on the log scale between ``s_min`` and
all the data. It proposes the (x, s) that most reduces the entropy of the distribution of the
best configuration *on all the data* per unit of predicted cost (continuous-fidelity entropy
search, the GP hyperparameters integrated out by MCMC), so cheap small shares are evaluated
as long as they still say something about the full-data optimum.

Built from ``emukit.examples.fabolas``: its model (``FabolasModel``, on GPy), and the
acquisition its ``FabolasLoop`` wires (``ContinuousFidelityEntropySearch`` averaged over HMC
samples of the loss GP's hyperparameters as ``IntegratedHyperParameterAcquisition`` does,
divided by the cost GP's prediction, maximised over uniform random candidates), with its
``fmin_fabolas`` initial design (a Latin hypercube of configurations on the subsets 1/512 …
1/4 of the data, cycled, raised to ``s_min``). The acquisition's arithmetic is emukit's, for
all candidates at once (:mod:`.fabolas_entropy`: 13–26× faster, equal to rounding, tested
against emukit's one-by-one values). Driven one ask/tell at a time, with these differences
from emukit's loop, each said in config/README.md with its measurement:

- the loss model's basis is (1 − s)² (the paper's; the loop uses s for both GPs); the Latin
  hypercube is seeded (emukit's draws from the operating system);
- the candidate's covariance with the representer points uses the share on the model's log
  scale (emukit 0.5.1 passes the raw share there, and the log share for its variance);
- the HMC chain over the loss GP's hyperparameters continues from one proposal to the next,
  burn-in once (``hmc_continue``, as RoBO's original continues its emcee chains; emukit fits
  and burns in afresh every proposal), its burn-in and thinning settings;
- the cost GP's fit starts from the previous proposal's fit, one L-BFGS-B run
  (``cost_continue``; emukit restarts it 3 times every proposal, half a proposal's time);
- ``overhead``, a proposal's own cost, is added to every candidate's predicted cost (RoBO's
  ``InformationGainPerUnitCost`` has the term; emukit has none).

GPy, emukit and emcee draw from numpy's global random state; they run on a private copy of it
(:class:`~gsos.search.optimizers.base.IsolatedNumpyRandom`) and on one BLAS thread, so the
same seed and the same outcomes give the same proposals, and a run replays (the HMC chain's
state included: it is a function of what was asked and told). Their imports happen here only.

Configurations are points of the unit box (:mod:`gsos.search.optimizers.encoding`; choices and
integers are bins of a coordinate), epochs stay searched; an evaluation trains the
configuration afresh on the first ``s`` of one fixed order of the training split (the data
fidelity of ``hyperband_data``) and costs s × epochs. Cost-matched: the last evaluation's
share is cut to what the budget has left, so the run ends at its budget.
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
    ``IntegratedHyperParameterAcquisition``) but for ``min_fraction`` and the HMC chain, which
    continues from one proposal to the next as RoBO's does (config/README.md)."""

    n_init: int = 20
    min_fraction: float = 1 / 64
    marginalize: bool = True
    hyper_samples: int = 10
    hmc_burn_in: int = 100
    hmc_thin: int = 10
    hmc_continue: bool = True
    num_eval_points: int = 2000
    representer_points: int = 50
    innovations: int = 100
    burn_in: int = 50
    mcmc_steps: int = 100
    gp_restarts: int = 3
    cost_continue: bool = False
    overhead: float = 0.0

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


class Fabolas(Optimizer):
    # the candidate-to-representer covariance with the share on the model's log scale;
    # False is emukit 0.5.1's raw share (:func:`.fabolas_entropy.covariance_between`)
    consistent = True

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
        self.chain: np.ndarray | None = None  # the HMC chain's last state (hmc_continue)
        self.cost_fit: np.ndarray | None = None  # the cost GP's last fit (cost_continue)

    def _propose(self) -> tuple[np.ndarray, float]:
        """The next (u, s): the initial design, then entropy search per unit cost."""
        told = len(self.x)
        if told < len(self.design):
            return self.design[told]
        from threadpoolctl import threadpool_limits

        # one BLAS thread: the same sums, so the same proposals, whatever the environment
        # (a resumed run replays exactly), and no threads spinning over matrices of a few
        # hundred rows (on two busy cores GPy's 10 x 10 inverses took 65 ms each)
        with self.random, quiet(), threadpool_limits(1, user_api="blas"):
            x = self._acquire()
        return np.clip(x[:-1], 0.0, 1.0), float(min(max(x[-1], self.s_min), 1.0))

    def _acquire(self) -> np.ndarray:
        """emukit's ``FabolasLoop`` step: the cost GP fitted, the loss GP's hyperparameters
        sampled by HMC, and of ``num_eval_points`` uniform candidates the one with the most
        entropy search (averaged over the samples) per unit of predicted cost."""
        from emukit.examples.fabolas.fabolas_model import FabolasModel, linear, quad

        loss = FabolasModel(
            np.array(self.x), np.array(self.loss)[:, None], self.s_min, 1.0, basis_func=quad
        )
        cost = FabolasModel(
            np.array(self.cost_x), np.array(self.cost)[:, None], self.s_min, 1.0, linear
        )
        self._fit_cost(cost)
        samples = self._hyper_samples(loss)
        candidates = self._candidates()
        values = self._per_cost(candidates, loss, cost, samples)
        return candidates[int(np.argmax(values))]

    def _fit_cost(self, cost: Any) -> None:
        """The cost GP's fit: ``gp_restarts`` L-BFGS-B runs from random starts (emukit's,
        every proposal), or, with ``cost_continue`` and a fit made before, one run from the
        previous proposal's fitted hyperparameters (a proposal adds one observation to
        the ~100 the fit rests on, so the optimum moves little; RoBO continues its cost
        model's MCMC chain the same way). The last fit is a function of what was told, so
        replay rebuilds it."""
        if self.settings.cost_continue and self.cost_fit is not None:
            cost.model[:] = self.cost_fit
            cost.n_restarts = 1  # GPy's first run starts from the current values
        else:
            cost.n_restarts = self.settings.gp_restarts  # emukit's FabolasModel: 3
        cost.optimize()
        self.cost_fit = cost.model.param_array.copy()

    def _candidates(self) -> np.ndarray:
        """emukit's ``RandomSearchAcquisitionOptimizer``: uniform in every coordinate, the
        share included (on its raw scale)."""
        n = self.settings.num_eval_points
        return np.hstack(
            [np.random.uniform(0.0, 1.0, (n, 1)) for _ in range(self.box.dim)]
            + [np.random.uniform(self.s_min, 1.0, (n, 1))]
        )

    def _per_cost(
        self, candidates: np.ndarray, loss: Any, cost: Any, samples: list[np.ndarray]
    ) -> np.ndarray:
        """Entropy search averaged over the hyperparameter samples (emukit's
        ``IntegratedHyperParameterAcquisition``, new representer points for each sample),
        divided by the predicted cost (at least 1e-4, emukit's) plus ``overhead`` (what a
        proposal itself costs, in the same units: RoBO's ``InformationGainPerUnitCost`` adds
        it), for every candidate at once (:mod:`.fabolas_entropy`)."""
        from gsos.search.optimizers.fabolas_entropy import EntropySearch, sample_representers

        o = self.settings
        gain = np.zeros(len(candidates))
        for sample in samples:
            loss.fix_model_hyperparameters(sample)
            points, log_q = sample_representers(
                loss, self.box.dim, o.representer_points, o.burn_in, o.mcmc_steps
            )
            search = EntropySearch(loss, points, log_q, o.innovations, self.consistent)
            gain += search.score(candidates)
        predicted = np.maximum(cost.predict(candidates)[0][:, 0], 1e-4)
        return (gain / len(samples)) / (predicted + o.overhead)

    def _hyper_samples(self, loss: Any) -> list[np.ndarray]:
        """The loss GP's hyperparameter samples: one fit when not marginalising; else
        emukit's ``generate_hyperparameters_samples`` (fit, jitter, HMC with ``hmc_burn_in``
        steps of burn-in, every ``hmc_thin``-th kept) on the first proposal, and on later
        ones (``hmc_continue``, RoBO's way) the same chain continued from where the last
        proposal left it, without fit or burn-in. The chain's state is a function of what
        was told and asked, so replay rebuilds it."""
        import GPy

        o = self.settings
        if not o.marginalize:
            loss.n_restarts = o.gp_restarts
            loss.optimize()
            return [loss.model.param_array.copy()]
        if self.chain is None or not o.hmc_continue:
            loss.n_restarts = o.gp_restarts
            loss.optimize()
            loss.model.optimize(max_iters=o.gp_restarts)  # emukit's, before it samples
            for param in loss.model.flattened_parameters:  # emukit's jitter
                if not param.is_fixed:
                    param *= np.random.lognormal(
                        np.log(1.0 / np.sqrt(1.0001)), np.sqrt(np.log(1.0001)), size=param.size
                    )
            burn, first = o.hmc_burn_in, o.hmc_burn_in
        else:
            loss.model[:] = self.chain
            burn, first = 0, o.hmc_thin - 1
        hmc = GPy.inference.mcmc.HMC(loss.model, stepsize=0.1)
        chain = hmc.sample(num_samples=burn + o.hyper_samples * o.hmc_thin, hmc_iters=20)
        self.chain = loss.model.param_array.copy()
        return list(chain[first :: o.hmc_thin][: o.hyper_samples])

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
