"""BOIL (Nguyen, Schulze, Osborne, NeurIPS 2020): Bayesian optimisation of iterative learning.

BOIL models a training run of configuration x for t epochs by one number: its learning curve
(validation accuracy after each epoch) compressed by a logistic weighting,
y = (1/t)·Σ_{u=1..t} r(u)·σ(g0·(z_u − m0)), z_u the epochs spread over [−6, 6] of the largest
budget, so late epochs count more than early ones. A Gaussian process over (x, t) (product of
squared-exponential kernels, unit variance on standardised y, noise 5e-4) is fitted to those
numbers, and the logistic's midpoint m0 and growth g0 are fitted *with* the GP's lengthscales
by maximising the GP's log marginal likelihood (the curves are compressed again for every
candidate). The next (x, t) maximises log EI − log(cost), with EI against the largest GP mean
and the cost predicted by a linear regression on (x, t), so short cheap trainings are tried
while they are informative. After each training, up to 10·t (t on [0, 1]) points of its own
curve are added as virtual observations at the epochs where the GP is least certain, while the
kernel matrix's log condition number stays below 15 (BOIL's data augmentation).

Built on BoTorch/GPyTorch: the GP is a ``SingleTaskGP`` with GPyTorch kernels and known noise,
its hyperparameters and (m0, g0) fitted by L-BFGS-B on GPyTorch's exact marginal likelihood
from the best of 20 random starts (BOIL's bounds); the incumbent is ``PosteriorMean``
maximised by ``optimize_acqf``, the acquisition ``LogExpectedImprovement`` minus the log
cost, maximised by ``optimize_acqf``. Torch is seeded from the run seed and the proposal's
index before every fit and every optimisation, so the same outcomes give the same
proposals on CPU, and a run replays. BoTorch and GPyTorch are imported here only.

Differences from the authors' code, each said where it is made: the compression averages the
whole curve (the paper's formula; the code starts the average at a midpoint-dependent epoch);
x is the unit-box encoding of the searched hyperparameters (choices and integers are bins,
:mod:`gsos.search.optimizers.encoding`) and t the ``epoch`` hyperparameter; virtual epochs
are whole epochs of the curve; the hyperparameters are refitted whenever 2·(d + 1) more
observations have arrived (the code refits when their count is a multiple of that); a failed
training counts as a curve of zero accuracy. Cost-matched: a training of t epochs costs t
epochs; the last one stops where the budget ends.

Four further differences fix what BOIL did on the default's 9 dimensions and epochs 1..9
(issue 30; measured in config/README.md and bench/results/boil_*.csv). With BOIL's own model,
75–137 of a run's trainings were one-epoch trainings at the corners of the box, at chance
accuracy: the GP's zero prior mean on standardised scores predicts a configuration far from
every observation at the average score, far above what one-epoch trainings score, and far
from everything is a corner. ``trend`` makes the prior mean β0 + β1·t, its coefficients by
least squares on the scores (:func:`trend` says why not under the kernel), and standardises
the scores around it instead of around their mean. ``lengthscale_dims`` scales BOIL's ℓ_x
bounds (set for its problems of 2 to 6 hyperparameters) by d over that dimension, so two
configurations correlate as in BOIL's own problems (:func:`bounds_for`). With the trend, BOIL
never trained less than the most epochs: BOIL's score, (1/t)·Σ r(u)·σ(u), gives a one-epoch
training its accuracy times the logistic's weight at z = −6 (about 0.001 whatever the
configuration; BOIL's own problems start at 40 % of the most iterations, ours at 11 %), the
trend predicts it 6–8 standard deviations below the incumbent, and EI per cost cannot make
up for that. ``score: weighted`` divides by the weights' sum instead of the length,
Σ r(u)·σ(u) / Σ σ(u): a one-epoch training scores its accuracy, which ranks the default's
configurations as their accuracy after nine epochs does (Spearman 0.82). Then BOIL trained
short (1,247 of 5 seeds' 1,487 trainings at one epoch), but as data came in its one-epoch
trainings went back to the corners (a quarter of them with 80 % of their coordinates on a
bound after 100 trainings): with the noise fixed at 5e-4 the fit can explain noisy accuracies
(one epoch's most of all) only by the shortest ℓ_x its bounds allow, where an unseen
configuration correlates with no observation and the GP predicts the prior everywhere but at
the data. ``fit_noise`` fits the noise variance with the lengthscales (between ``noise`` and
1, the signal's variance): on a state of that run it came out at 0.2, ℓ_x at its upper bound,
and the proposals left the corners. Over 5 seeds 19 % of the one-epoch trainings still sat at
the corners (26 % before). Two more, kept: ``bins`` puts each choice and integer at its bin's
centre wherever the GP sees a configuration (:func:`on_grid`), so the GP holds a training
where its configuration is, not at a bin's edge (an edge is farther from the data than the
centre, and the box's faces are bins' edges); ``warp`` models each score's log error,
−log(1 − y + ε), so the best configurations are told apart (on the score itself the prior
variance is the spread of the many trainings near chance, and an unseen configuration looks
as promising as the incumbent's neighbourhood). Over 5 seeds BOIL then asked for one epoch
63 times (2 % of the budget), 10 of them at the corners counted on the configurations, and
ended above simultaneous TPE (config/README.md says what else was tried).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from gsos.search.optimizers.encoding import Box
from gsos.search.seeds import derive_seed

FIDELITY = "epoch"
# BOIL's bounds (its kernels are exp(-d²/ℓ)): ℓ_x, ℓ_t, midpoint m0, growth g0. Its ℓ_x
# bounds were set for its experiments' 2 to 6 hyperparameters; see :func:`bounds_for`
BOUNDS = ((0.03, 0.3), (0.3, 0.6), (-2.0, 3.0), (0.5, 2.0))
START = (0.02, 0.2, 0.0, 1.0)  # BOIL's initial ℓ_x, ℓ_t, m0, g0 (before the first fit)
# ``fit_noise``: the largest noise variance on standardised scores (the signal's is 1)
NOISE_HIGH = 1.0
WARP_EPSILON = 1e-3  # ``warp``: −log(1 − y + ε), finite at a score of 1


def bounds_for(dim: int, reference_dim: int | None) -> tuple[tuple[float, float], ...]:
    """BOIL's bounds with ℓ_x scaled by ``dim / reference_dim``.

    The kernel is exp(−‖x − x′‖²/ℓ_x) on the unit box, and the squared distance between two
    configurations grows with the dimension (d/6 on average for uniform ones). BOIL's
    0.03–0.3 give two random configurations of its 2-dimensional problems (DDQN's γ and
    learning rate) a prior correlation of exp(−(2/6)/0.3) ≈ 0.33 at the upper bound; in the
    default's 9 dimensions the same bound gives exp(−1.5/0.3) ≈ 0.007: every configuration
    not next to an observation is at the prior, its variance highest where it is farthest
    from all data (the box's corners), and with one epoch the cheapest, log EI − log cost
    peaks there (issue 30). Scaled, the bounds keep the correlations BOIL's had. ``None``
    keeps BOIL's bounds as they are."""
    if reference_dim is None:
        return BOUNDS
    f = dim / reference_dim
    (lo, hi), *rest = BOUNDS
    return ((lo * f, hi * f), *rest)


@dataclass(frozen=True)
class Settings:
    n_init: int = 3
    noise: float = 5e-4
    max_augment: int = 10
    log_condition: float = 15.0
    hyper_starts: int = 20
    num_restarts: int = 10
    raw_samples: int = 512
    lengthscale_dims: int | None = None
    trend: bool = False
    score: str = "mean"
    fit_noise: bool = False
    bins: bool = False
    warp: bool = False

    @classmethod
    def from_config(cls, o: Mapping[str, Any]) -> Settings:
        return settings_from(cls, o)


def on_grid(x: Any, levels: np.ndarray, t_steps: int) -> Any:
    """``x`` (box coordinates, then t; numpy or torch, points on the last axis) with each
    discrete coordinate at the centre of its value's bin (``levels``: :attr:`Box.bins`) and
    t on its epochs' grid.

    A choice's or an integer's whole bin decodes to one value, so without this the GP holds
    one configuration at many places and, maximising the acquisition over the continuous box,
    is drawn to the bins' outer edges, the box's faces (issue 30): a bin's edge is farther from
    all data than its centre, and so more uncertain, though it is the same configuration. On
    the grid the acquisition is flat inside a bin (zero gradient: the optimiser's random
    samples choose the value) and a proposal sits where the GP will see its training."""
    import torch

    lib = torch if isinstance(x, torch.Tensor) else np
    k = lib.as_tensor(levels) if lib is torch else levels
    k = k.to(x) if lib is torch else k.astype(float)
    u, t = x[..., :-1], x[..., -1:]
    centred = (lib.minimum(lib.floor(u * k), k - 1) + 0.5) / lib.where(k > 0, k, 1)
    u = lib.where(k > 0, centred, u)
    if t_steps > 0:
        t = lib.round(t * t_steps) / t_steps
    return lib.concatenate([u, t], -1) if lib is np else torch.cat([u, t], -1)


def compress(curve: Sequence[float], midpoint: Any, growth: Any, longest: int) -> Any:
    """The curve's logistic-weighted mean; differentiable in (midpoint, growth) when they
    are tensors."""
    import torch

    r = torch.as_tensor(list(curve), dtype=torch.float64)
    z = torch.linspace(-6.0, 6.0, max(longest, 2), dtype=torch.float64)[: len(r)]
    return (r * torch.sigmoid(growth * (z - midpoint))).mean()


@dataclass
class Observation:
    u: np.ndarray  # the configuration on the unit box
    t: float  # its epochs on [0, 1]
    curve: list[float]
    cost: float
    virtual: bool = False


@dataclass
class Hyper:
    lx: float = START[0]
    lt: float = START[1]
    midpoint: float = START[2]
    growth: float = START[3]
    fitted_at: int = 0  # observations when last fitted
    noise: float | None = None  # fitted (``fit_noise``); None: the settings' noise


@dataclass
class Data:
    """The GP's inputs (n x (d+1), on [0, 1]) and the curves behind its targets."""

    x: np.ndarray
    curves: list[list[float]] = field(default_factory=list)


def kernel(a: Any, b: Any, lx: Any, lt: Any) -> Any:
    """BOIL's product kernel exp(−|x−x'|²/ℓ_x − (t−t')²/ℓ_t) (unit variance)."""
    import torch

    dx = torch.cdist(a[:, :-1], b[:, :-1]) ** 2
    dt = (a[:, -1:] - b[:, -1:].T) ** 2
    return torch.exp(-dx / lx - dt / lt)


def targets(
    curves: list[list[float]],
    midpoint: Any,
    growth: Any,
    longest: int,
    weighted: bool = False,
    warp: bool = False,
) -> Any:
    """Compressed curves (:func:`compress`, all at once), standardised as BOIL's GP sees
    them. ``weighted`` divides each curve's weighted sum by the sum of its weights instead
    of by its length (``score: weighted``, :class:`Settings`)."""
    import torch

    width = max(len(c) for c in curves)
    r = torch.zeros(len(curves), width, dtype=torch.float64)
    for i, c in enumerate(curves):
        r[i, : len(c)] = torch.as_tensor(c, dtype=torch.float64)
    lengths = torch.as_tensor([len(c) for c in curves], dtype=torch.float64)
    z = torch.linspace(-6.0, 6.0, max(longest, 2), dtype=torch.float64)[:width]
    w = torch.sigmoid(growth * (z - midpoint)).expand(len(curves), -1)
    w = torch.where(torch.arange(width)[None, :] < lengths[:, None], w, torch.zeros_like(w))
    y = (r * w).sum(1) / (w.sum(1) if weighted else lengths)
    if warp:  # the score's log error: −log(1 − y + ε)
        y = -torch.log1p(WARP_EPSILON - y)
    sd = y.std() if len(y) > 1 else torch.ones((), dtype=y.dtype)
    return (y - y.mean()) / torch.where(sd > 0, sd, torch.ones_like(sd))


def trend(x: Any, y: Any) -> Any:
    """The prior mean's coefficients (β0, β1) of β0 + β1·t, by least squares on the scores.

    Not generalised least squares under the kernel (their maximum likelihood given it): with
    ℓ_t of 0.3–0.6 and each curve's virtual observations tying its epochs together, the GP
    took the difference between short and long trainings as correlated noise, β1 came out
    near 0.1 where the scores of one- and nine-epoch trainings differed by 2 (seed 1 of the
    default), and a configuration far from the data was predicted as low at nine epochs as
    at one, so the cheaper one won again."""
    import torch

    h = torch.stack([torch.ones_like(x[:, -1]), x[:, -1]], 1)
    a = h.T @ h + 1e-10 * torch.eye(2, dtype=x.dtype)
    return torch.linalg.solve(a, h.T @ y[:, None])[:, 0]


def around_trend(x: Any, y: Any) -> tuple[Any, Any]:
    """The scores and their prior mean, standardised around the trend in t: divided by the
    residuals' standard deviation, as BOIL divides the scores by theirs around their mean,
    so that the kernel's unit variance is the variance the trend leaves."""
    import torch

    beta = trend(x, y)
    mean = beta[0] + beta[1] * x[:, -1]
    sd = (y - mean).std() if len(y) > 1 else torch.ones((), dtype=y.dtype)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    return y / sd, mean / sd


def negative_mll(
    theta: Any,
    data: Data,
    noise: float,
    longest: int,
    with_trend=False,
    weighted=False,
    warp=False,
) -> Any:
    """−log p(y | X, ℓ_x, ℓ_t) with y the curves compressed by (m0, g0): GPyTorch's exact
    marginal likelihood of a fixed-noise GP; its prior mean zero (BOIL's) or, with
    ``with_trend``, the scores' trend in t, the scores standardised around it. A fifth
    entry of ``theta``, when there is one, is the noise variance (``fit_noise``)."""
    import gpytorch
    import torch

    lx, lt, m0, g0 = theta[:4]
    if len(theta) > 4:
        noise = theta[4]
    x = torch.as_tensor(data.x, dtype=torch.float64)
    y = targets(data.curves, m0, g0, longest, weighted, warp)
    k = kernel(x, x, lx, lt) + noise * torch.eye(len(x), dtype=torch.float64)
    mean = torch.zeros_like(y)
    if with_trend:
        y, mean = around_trend(x, y)
    dist = gpytorch.distributions.MultivariateNormal(mean, k)
    return -dist.log_prob(y) / len(y)


def fit_hyper(
    data: Data,
    noise: float,
    longest: int,
    starts: int,
    seed: int,
    bounds=BOUNDS,
    with_trend: bool = False,
    weighted: bool = False,
    fit_noise: bool = False,
    warp: bool = False,
) -> Hyper:
    """BOIL's fit: the best of ``starts`` random points of the bounds, then L-BFGS-B.

    With ``fit_noise`` the noise variance is fitted too, between ``noise`` and
    :data:`NOISE_HIGH` (on a log scale for the random starts)."""
    import torch
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    bounds = tuple(bounds) + (((noise, NOISE_HIGH),) if fit_noise else ())
    low, high = np.array(bounds).T
    tries = rng.uniform(low, high, size=(starts, len(bounds)))
    if fit_noise:
        tries[:, 4] = np.exp(rng.uniform(np.log(noise), np.log(NOISE_HIGH), size=starts))

    def value_and_grad(v: np.ndarray) -> tuple[float, np.ndarray]:
        theta = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        loss = negative_mll(theta, data, noise, longest, with_trend, weighted, warp)
        if not torch.isfinite(loss):
            return 1e10, np.zeros(len(v))
        (grad,) = torch.autograd.grad(loss, theta)
        return float(loss.detach()), grad.numpy()

    values = [value_and_grad(v)[0] for v in tries]
    start = tries[int(np.argmin(values))]
    res = minimize(value_and_grad, start, jac=True, method="L-BFGS-B", bounds=bounds)
    best = [float(b) for b in (res.x if res.fun <= min(values) else start)]
    return Hyper(*best[:4], fitted_at=len(data.x), noise=best[4] if fit_noise else None)


class BOIL(Optimizer):
    def __init__(self, view: View, seed: int, budget: Budget, settings: Settings):
        self.names = [n for n in view.names if n != FIDELITY]
        self.view, self.box = view, Box(View(view.space, tuple(self.names), view.fixed))
        if FIDELITY in view.names:
            p = view.space.params[FIDELITY]
            assert p.low is not None and p.high is not None
            self.t_low, self.t_high = int(p.low), int(p.high)
        else:  # a view without epochs (a GSOS group): t stays where it is
            self.t_low = self.t_high = int(view.fixed[FIDELITY])
        self.seed, self.settings = seed, settings
        self.spent = CountingBudget(budget)
        self.rng = np.random.default_rng(seed)
        self.observations: list[Observation] = []
        self.hyper = Hyper()
        self.proposals = 0
        self.levels = self.box.bins if settings.bins else np.zeros(self.box.dim, int)
        self.t_steps = self.t_high - self.t_low if settings.bins else 0

    # --- scales -------------------------------------------------------------------------

    def _epochs(self, t: float) -> int:
        return int(round(self.t_low + min(max(t, 0.0), 1.0) * (self.t_high - self.t_low)))

    def _scaled(self, epochs: int) -> float:
        span = self.t_high - self.t_low
        return (epochs - self.t_low) / span if span else 1.0

    def _data(self) -> Data:
        x = np.array([np.append(o.u, o.t) for o in self.observations])
        return Data(x, [o.curve for o in self.observations])

    # --- the model ----------------------------------------------------------------------

    def _model(self, data: Data) -> Any:
        """A BoTorch SingleTaskGP with BOIL's kernel at the fitted hyperparameters."""
        import gpytorch
        import torch
        from botorch.models import SingleTaskGP

        h = self.hyper
        d = data.x.shape[1]
        x = torch.as_tensor(data.x, dtype=torch.float64)
        weighted = self.settings.score == "weighted"
        warp = self.settings.warp
        y = targets(data.curves, h.midpoint, h.growth, self.t_high, weighted, warp)[:, None]
        y = y.detach()
        # exp(−d²/ℓ) is GPyTorch's RBF exp(−d²/(2l²)) with l = sqrt(ℓ/2)
        kx = gpytorch.kernels.RBFKernel(active_dims=list(range(d - 1)))
        kt = gpytorch.kernels.RBFKernel(active_dims=[d - 1])
        kx.lengthscale = math.sqrt(h.lx / 2)
        kt.lengthscale = math.sqrt(h.lt / 2)
        noise = torch.full_like(y, self._noise())
        mean = None
        if self.settings.trend:
            scaled, _ = around_trend(x, y[:, 0])
            y = scaled[:, None].detach()
            mean = trend_mean(trend(x, y[:, 0]))
        model = SingleTaskGP(
            x, y, train_Yvar=noise, covar_module=kx * kt, mean_module=mean,
            outcome_transform=None,
        ).to(torch.float64)  # fmt: skip
        model.eval()
        return model

    def _propose(self) -> tuple[np.ndarray, int]:
        with warnings.catch_warnings():  # BoTorch warns when an L-BFGS-B restart stops early
            warnings.simplefilter("ignore")
            return self._acquire()

    def _acquire(self) -> tuple[np.ndarray, int]:
        import torch
        from botorch.acquisition import LogExpectedImprovement, PosteriorMean
        from botorch.optim import optimize_acqf

        o, k = self.settings, self.proposals
        data = self._data()
        d = data.x.shape[1]
        if len(data.x) - self.hyper.fitted_at >= 2 * d or self.hyper.fitted_at == 0:
            torch.manual_seed(derive_seed(self.seed, 4, k))
            self.hyper = fit_hyper(
                data, o.noise, self.t_high, o.hyper_starts, derive_seed(self.seed, 5, k),
                bounds_for(d - 1, o.lengthscale_dims), o.trend, o.score == "weighted",
                o.fit_noise, o.warp,
            )  # fmt: skip
        model = self._model(data)
        bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64)
        levels, steps = self.levels, self.t_steps

        class OnGrid(torch.nn.Module):
            """An acquisition evaluated at :func:`on_grid` of its input."""

            def __init__(self, inner: torch.nn.Module) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.inner(on_grid(x, levels, steps))

        torch.manual_seed(derive_seed(self.seed, 6, k))
        _, best_mean = optimize_acqf(
            OnGrid(PosteriorMean(model)), bounds, q=1, num_restarts=o.num_restarts,
            raw_samples=o.raw_samples,
        )  # fmt: skip
        cost = self._cost_model(data)
        ei = LogExpectedImprovement(model, best_f=best_mean.detach())

        class PerCost(torch.nn.Module):
            """log EI − log(max(0, predicted cost) + 0.1), as BOIL's utility per cost."""

            def __init__(self) -> None:
                super().__init__()
                self.model, self.ei = model, ei

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                c = torch.clamp(x[..., 0, :] @ cost[1:] + cost[0], min=0.0) + 0.1
                return self.ei(x) - torch.log(c)

        torch.manual_seed(derive_seed(self.seed, 7, k))
        self.acquisition = OnGrid(PerCost())  # kept for bench/boil.py: its value anywhere
        best, _ = optimize_acqf(
            self.acquisition, bounds, q=1, num_restarts=o.num_restarts, raw_samples=o.raw_samples
        )
        x = on_grid(best.detach().numpy().reshape(-1), self.levels, self.t_steps)
        return np.clip(x[:-1], 0.0, 1.0), self._epochs(float(x[-1]))

    def _noise(self) -> float:
        """The GP's noise variance: fitted (``fit_noise``) or the settings'."""
        return self.settings.noise if self.hyper.noise is None else self.hyper.noise

    def _cost_model(self, data: Data) -> Any:
        """BOIL's linear regression of the cost (scaled to [0, 1]) on (x, t)."""
        import torch

        c = np.array([o.cost for o in self.observations])
        span = c.max() - c.min()
        c = (c - c.min()) / span if span > 0 else c * 0.0
        a = np.hstack([np.ones((len(c), 1)), data.x])
        coef = np.linalg.lstsq(a, c, rcond=None)[0]
        return torch.as_tensor(coef, dtype=torch.float64)

    # --- ask and tell -------------------------------------------------------------------

    def ask(self) -> Evaluation | None:
        left = None
        if self.spent.budget.cost is not None:
            left = self.spent.budget.cost - self.spent.cost
            if left < 1 - 1e-9:
                return None  # less than one epoch of training left
        elif not self.spent.fits():
            return None
        real = sum(not o.virtual for o in self.observations)
        if real < self.settings.n_init:  # BOIL's start: random configurations, longest t
            u = on_grid(np.append(self.rng.random(self.box.dim), 1.0), self.levels, 0)[:-1]
            epochs = self.t_high
        else:
            u, epochs = self._propose()
            self.proposals += 1
        values = self.box.decode(u)
        if FIDELITY in self.view.names:
            values[FIDELITY] = epochs
        params = self.view.full(values)
        raw = {n: float(x) for n, x in zip(self.names, u, strict=True)}
        stop = None
        if left is not None and epochs > left + 1e-9:  # the last training: as far as the budget
            stop = budget_stop(int(left + 1e-9), epochs)
        return Evaluation(
            params=params, budget=epochs, raw=raw, handle=u, after_epoch=stop or watch_curve
        )

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        self.spent.spend_on(outcome)
        u = np.asarray(evaluation.handle, dtype=float)
        curve = [float(p["val_accuracy"]) for p in (outcome.curve or [])]
        failed = outcome.status not in ("ok", "stopped", "diverged") or not curve
        if failed:
            curve = [0.0] * evaluation.budget  # a failure: zero accuracy throughout
        # the cost model learns what a training of (x, t) costs: a failure (it stops at once)
        # or a repeat (not trained) is entered at its planned epochs, else the cost-aware
        # acquisition, dividing by a near-zero predicted cost, is drawn to what fails
        cost = float(len(curve)) if failed or outcome.repeat else outcome.cost
        real = Observation(u, self._scaled(len(curve)), curve, cost)
        self.observations.append(real)
        self._augment(real)

    def _augment(self, obs: Observation) -> None:
        """BOIL's virtual observations: epochs of the new curve where the GP (inputs only)
        is least certain, at most max_augment·t of them, while log cond(K) stays below the
        threshold and the variance above the noise. The candidates' posterior covariance
        is updated point by point (one Cholesky factorisation per training)."""
        import torch

        o, h, noise = self.settings, self.hyper, self._noise()
        candidates = list(range(1, len(obs.curve)))  # whole epochs before the last
        wanted = min(int(obs.t * o.max_augment), len(candidates))
        if wanted < 1:
            return
        x = torch.as_tensor(self._data().x, dtype=torch.float64)
        pts = torch.as_tensor(
            np.array([np.append(obs.u, self._scaled(e)) for e in candidates]),
            dtype=torch.float64,
        )
        k = kernel(x, x, h.lx, h.lt) + noise * torch.eye(len(x), dtype=torch.float64)
        ks = kernel(pts, x, h.lx, h.lt)
        cov = kernel(pts, pts, h.lx, h.lt) - ks @ torch.cholesky_solve(
            ks.T, torch.linalg.cholesky(k)
        )
        free = list(range(len(candidates)))
        for _ in range(wanted):
            # cond(K) <= trace / smallest eigenvalue <= n (1 + noise) / noise: only when
            # that bound passes the threshold is the condition number itself computed
            if math.log(len(k) * (1 + noise) / noise) > o.log_condition:
                eig = torch.linalg.eigvalsh(k)
                if math.log(float(eig[-1] / eig[0])) > o.log_condition:
                    break
            var = torch.diagonal(cov)[free]
            j = int(torch.argmax(var))
            if float(var[j]) < noise + 1e-3:
                break
            i = free.pop(j)
            e = candidates[i]
            self.observations.append(
                Observation(
                    obs.u, self._scaled(e), obs.curve[:e], obs.cost * e / len(obs.curve), True
                )
            )
            row = kernel(pts[i : i + 1], x, h.lx, h.lt)
            k = torch.cat(
                [torch.cat([k, row.T], 1), torch.cat([row, torch.ones(1, 1).double() + noise], 1)]
            )
            x = torch.cat([x, pts[i : i + 1]])
            cov = cov - cov[:, i : i + 1] @ cov[i : i + 1, :] / (cov[i, i] + noise)
            if not free:
                break


def trend_mean(beta: Any) -> Any:
    """A GPyTorch mean β0 + β1·t (t the last input), its coefficients fixed."""
    import gpytorch

    class TrendMean(gpytorch.means.Mean):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("beta", beta.detach().clone())

        def forward(self, x):
            return self.beta[0] + self.beta[1] * x[..., -1]

    return TrendMean()


def watch_curve(curve: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Never stops a training; asking for it makes the trainer record the learning curve,
    which BOIL is told, even with training.learning_curves off."""
    return None


def budget_stop(epochs: int, target: int):
    """Stop after ``epochs`` of ``target`` epochs: the cost budget ends there."""

    def after_epoch(curve: list[dict[str, Any]]) -> dict[str, Any] | None:
        if len(curve) < epochs:
            return None
        return {"stop_reason": f"the cost budget ran out after epoch {epochs} of {target}"}

    return after_epoch


def make_boil(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    return BOIL(view, seed, budget, Settings.from_config(settings.get("boil", {})))
