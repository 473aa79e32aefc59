"""Seed 003's bilevel method: a GP of the lower level's value function, an augmented Lagrangian.

Hyperparameter optimisation as a bilevel problem, min over λ of L_val(w*(λ)) with w*(λ) a
minimiser of the training objective L_train(w, λ) (here the cross-entropy plus the L2 term
(λ/2)·||w||², λ the ``weight_decay``). The optimal value function v(λ) = min_w L_train(w, λ)
is approximated by Gaussian-process regression over λ values at which training was run
(:class:`ValueGP`, on log λ), which turns the problem into one level:

    min over (w, λ) of L_val(w)  subject to  L_train(w, λ) <= v̂(λ),

solved by an augmented Lagrangian. One outer step: a few optimiser steps on w for
L_val(w) + μ·max(0, g) + (ρ/2)·max(0, g)² with g = L_train(w, λ) − v̂(λ)
(:func:`inner_steps`), a gradient step on log λ through L_train and v̂ (:func:`lambda_step`)
and the multiplier update μ ← max(0, μ + ρ·g) (:func:`multiplier_update`).

The math works on plain tensors and closures (a test runs it on ridge regression, whose
optimum is known in closed form); :func:`constrained_evaluation` is the one piece that knows
the CNN and the trainer: the trainer calls it after training (its ``value_function`` option),
and the strategy (:mod:`gsos.search.optimizers.bilevel_vf`) updates λ and μ from what it
recorded, so a run replays from its records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# --- the value function v̂(λ): a GP over log λ -------------------------------------------

LENGTHSCALES = tuple(0.25 * 1.25**i for i in range(25))  # log-λ units: 0.25 .. 53
NOISES = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1)  # on standardised values
AMPLITUDES = (0.25, 1.0, 4.0, 16.0, 64.0)  # signal variances, on standardised values


class ValueGP:
    """GP regression of v over t = log λ: a constant mean, a squared-exponential kernel on
    standardised values; its lengthscale, signal variance and noise by the largest log
    marginal likelihood over a fixed grid (no random restarts: the same points, the same
    fit)."""

    def __init__(self, t: Sequence[float], v: Sequence[float], log: bool = True):
        if not t:
            raise ValueError("the value function needs at least one point")
        self.t_np = np.asarray(t, dtype=np.float64)
        self.log = log and min(v) > 0
        y = np.log(np.asarray(v, dtype=np.float64)) if self.log else np.asarray(v, dtype=np.float64)
        self.mean_y = float(y.mean())
        self.sd_y = float(y.std(ddof=1)) if len(y) > 1 and y.std() > 0 else 1.0
        self.y = (y - self.mean_y) / self.sd_y
        sq = (self.t_np[:, None] - self.t_np[None, :]) ** 2
        best = None
        for ell in LENGTHSCALES:
            base = np.exp(-0.5 * sq / ell**2)
            for amplitude in AMPLITUDES:
                for noise in NOISES:
                    fit = self._fit(amplitude * base + noise * np.eye(len(y)))
                    if fit is not None and (best is None or fit[0] > best[0]):
                        best = (fit[0], ell, amplitude, noise, fit[1])
        assert best is not None
        self.log_marginal_likelihood, self.lengthscale, self.amplitude, self.noise, alpha = best
        self.t = torch.from_numpy(self.t_np)
        self.alpha = torch.from_numpy(alpha)

    def _fit(self, k: np.ndarray) -> tuple[float, np.ndarray] | None:
        """The log marginal likelihood and K⁻¹y, or None where K is not positive definite."""
        try:
            chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            return None
        alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, self.y))
        lml = -0.5 * self.y @ alpha - np.log(np.diagonal(chol)).sum()
        return float(lml - 0.5 * len(self.y) * math.log(2 * math.pi)), alpha

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """v̂ at ``t`` (log λ; any shape, differentiable)."""
        flat = t.reshape(-1).to(torch.float64)
        k = self.amplitude * torch.exp(
            -0.5 * (flat[:, None] - self.t[None, :]) ** 2 / self.lengthscale**2
        )
        out = (self.mean_y + self.sd_y * (k @ self.alpha)).reshape(t.shape)
        return torch.exp(out) if self.log else out

    def value_and_slope(self, t: float) -> tuple[float, float]:
        """v̂(λ) and dv̂/d(log λ) at log λ = ``t``."""
        x = torch.tensor(float(t), dtype=torch.float64, requires_grad=True)
        v = self.mean(x)
        (slope,) = torch.autograd.grad(v, x)
        return float(v.detach()), float(slope)


# --- the augmented Lagrangian ------------------------------------------------------------


def penalty(violation: torch.Tensor, mu: float, rho: float) -> torch.Tensor:
    """μ·max(0, g) + (ρ/2)·max(0, g)²: the augmented Lagrangian's term for L_train <= v̂."""
    g = torch.clamp(violation, min=0.0)
    return mu * g + 0.5 * rho * g * g


def inner_steps(
    optimizer: Any,
    val_loss: Callable[[], torch.Tensor],
    train_objective: Callable[[], torch.Tensor],
    vhat: float,
    mu: float,
    rho: float,
    steps: int,
) -> float:
    """``steps`` optimiser steps on w for L_val(w) + penalty(L_train(w, λ) − v̂(λ)).

    ``val_loss`` and ``train_objective`` compute their loss on the current weights (each call
    may draw a new minibatch; ``train_objective`` includes the L2 term); ``optimizer`` (an
    SGD or Adam of :mod:`gsos.training.descent`, without weight decay of its own) updates
    the weights. Returns the mean minibatch violation seen."""
    seen = 0.0
    for _ in range(steps):
        optimizer.zero_grad()
        g = train_objective() - vhat
        loss = val_loss() + penalty(g, mu, rho)
        loss.backward()
        optimizer.step()
        seen += float(g.detach())
    return seen / max(steps, 1)


def multiplier_update(mu: float, rho: float, violation: float) -> float:
    """μ ← max(0, μ + ρ·g)."""
    return max(0.0, mu + rho * violation)


def lambda_gradient(
    mu: float, rho: float, violation: float, dtrain_dlog: float, dvhat_dlog: float
) -> float:
    """d/d(log λ) of the augmented Lagrangian's λ-dependent part at the measured point:
    (μ + ρ·max(0, g))·(∂L_train/∂log λ − dv̂/dlog λ)."""
    return (mu + rho * max(0.0, violation)) * (dtrain_dlog - dvhat_dlog)


@dataclass
class AdamState:
    """Adam's moments for the step on log λ (its size stays ``step`` whatever the
    multiplier's scale, which grows as the constraint tightens)."""

    m: float = 0.0
    v: float = 0.0
    k: int = 0


def lambda_step(
    log_lambda: float, grad: float, state: AdamState, step: float, bounds: tuple[float, float]
) -> float:
    """One Adam step (betas 0.9, 0.999) on log λ, kept inside ``bounds``; updates ``state``."""
    state.k += 1
    state.m = 0.9 * state.m + 0.1 * grad
    state.v = 0.999 * state.v + 0.001 * grad * grad
    m_hat, v_hat = state.m / (1 - 0.9**state.k), state.v / (1 - 0.999**state.k)
    moved = log_lambda - step * m_hat / (math.sqrt(v_hat) + 1e-12)
    return min(max(moved, bounds[0]), bounds[1])


def half_squared_norm(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """½·||w||² over every weight (torch.optim's weight_decay decays them all)."""
    return 0.5 * sum((w.float() ** 2).sum() for w in weights)  # type: ignore[return-value]


# --- on the CNN: what the trainer calls ---------------------------------------------------


def constrained_evaluation(
    model: torch.nn.Module,
    optimizer: Any,
    params: Mapping[str, Any],
    data: Any,
    gen: torch.Generator,
    options: Mapping[str, Any],
    prepare: Callable[[torch.Tensor], torch.Tensor],
    measure: Callable[[str], float | None],
) -> dict[str, Any]:
    """The trainer's ``value_function`` hook, after training. Phase ``lower`` (an ordinary
    training at λ): report the final full training objective L_train(w, λ), a point of v.
    Phase ``al``: one outer step's inner steps on (w, λ, μ, ρ, v̂(λ) of ``options``), on
    minibatches of the training and validation splits drawn from ``gen`` (so a continued
    state goes on exactly), then the constraint at the result. ``prepare`` turns a batch of
    stored images into the network's input; ``measure(split)`` is the mean cross-entropy on a
    whole split (fp32, evaluation mode), which every recorded loss is."""
    lam = float(params.get("weight_decay", 0.0))
    weights = [p for p in model.parameters() if p.requires_grad]
    bs = int(params["batch_size"])
    x_train, y_train = data.x["train"], data.y["train"]
    x_val, y_val = data.x["val"], data.y["val"]
    per_step = min(bs, len(x_train)) + min(bs, len(x_val))
    out: dict[str, Any] = {
        "phase": options["phase"],
        "lambda": lam,
        "n_train": len(x_train),
        "images_per_step": per_step,
    }
    steps = int(options.get("steps", 0)) if options["phase"] == "al" else 0
    if steps:
        cross_entropy = torch.nn.functional.cross_entropy

        def draw(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            # drawn on the host, where ``gen`` (the trainer's data order) lives, then moved:
            # CUDA refuses a host generator for a draw on the GPU
            idx = torch.randperm(len(x), generator=gen)[:bs].to(x.device)
            return prepare(x[idx]), y[idx]

        def val_loss() -> torch.Tensor:
            xb, yb = draw(x_val, y_val)
            return cross_entropy(model(xb), yb)

        def train_objective() -> torch.Tensor:
            xb, yb = draw(x_train, y_train)
            return cross_entropy(model(xb), yb) + lam * half_squared_norm(weights)

        decay, optimizer.weight_decay = optimizer.weight_decay, 0.0  # L2 is in the penalty
        model.train()
        inner_steps(
            optimizer,
            val_loss,
            train_objective,
            float(options["vhat"]),
            float(options["mu"]),
            float(options["rho"]),
            steps,
        )
        optimizer.weight_decay = decay
    train_ce, val_ce = measure("train"), measure("val")
    with torch.no_grad():
        l2 = float(half_squared_norm(weights))
    train_objective_value = None if train_ce is None else train_ce + lam * l2
    out.update(
        train_objective=train_objective_value,
        val_objective=val_ce,
        dtrain_dlog_lambda=lam * l2,  # ∂L_train/∂log λ = λ·½||w||²
        steps=steps,
        images=steps * per_step,
    )
    if options["phase"] == "al":
        vhat = float(options["vhat"])
        out.update(
            mu=float(options["mu"]),
            rho=float(options["rho"]),
            vhat=vhat,
            violation=None if train_objective_value is None else train_objective_value - vhat,
        )
    return {"value_function": out}
