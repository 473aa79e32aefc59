"""Hyperband (Li et al., JMLR 2018) and BOHB (Falkner et al., ICML 2018), written here.

Why by hand: SMAC3's HyperbandFacade runs the same synchronous brackets, but none of the
libraries continues a promoted configuration from its saved state, none keeps BOHB's
kernel-density model over Hyperband's brackets (SMAC3's BOHB-like facade uses a random
forest; HpBandSter, the authors' code, hangs here on ConfigSpace 1.x), and none stops at a
training-cost budget in the middle of a bracket. One bracket engine serves both, so
Hyperband and BOHB differ only in how a new configuration is drawn.

Brackets, with R the largest and r_min the smallest number of epochs and eta the keep
ratio: s_max = floor(log_eta(R / r_min)); bracket s (s_max down to 0, then again) starts
n = ceil((s_max + 1) / (s + 1) * eta^s) configurations; rung i evaluates
n_i = floor(n * eta^-i) of them at r_i = R * eta^(i - s) epochs (rounded to whole epochs, at
least r_min) and keeps the best floor(n_i / eta) for the next rung. It is synchronous: a
rung is complete before the next starts. A promoted configuration continues from its state
(model, optimiser, data order), so it trains only r_i - r_(i-1) more epochs; only trials
that finished ``ok`` are promoted. The run ends at the first evaluation that would exceed
the training-cost budget.

BOHB draws a configuration at random with probability ``random_fraction`` (or while there is
no model); otherwise it fits, on the largest budget with enough observations, kernel
densities l(x) over the best ``top_fraction`` and g(x) over the rest (each needs
``min_points``, default dimensions + 1), draws ``n_candidates`` points from l(x) with every
continuous bandwidth widened by ``bandwidth_factor`` (categorical ones are not, as in
HpBandSter), and takes the one with the largest l(x)/g(x). Product kernels: Gaussian for
continuous coordinates of the unit box, Aitchison-Aitken for categorical ones; bandwidths by
the normal reference rule (1.06 sd n^(-1/(4+d))) for every coordinate, at least
``min_bandwidth`` and with no upper cap, as statsmodels fits them for HpBandSter. A failed
trial is a bad observation with infinite loss, as in BOHB.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gsos.search.optimizers.base import (
    DATA_FRACTION,
    Budget,
    CountingBudget,
    Evaluation,
    Fidelity,
    Optimizer,
    Outcome,
    View,
)
from gsos.search.optimizers.encoding import Box

FIDELITY = "epoch"


@dataclass(frozen=True)
class Rung:
    n: int
    budget: float  # epochs (whole) or a share of the training data


def schedule(r_min: float, r_max: float, eta: float, whole: bool = True) -> list[list[Rung]]:
    """Hyperband's brackets, s = s_max first; each a list of rungs (``whole``: budgets
    rounded to whole epochs)."""
    s_max = int(math.floor(math.log(r_max / r_min) / math.log(eta) + 1e-9))
    brackets = []
    for s in range(s_max, -1, -1):
        n = int(math.ceil((s_max + 1) / (s + 1) * eta**s - 1e-9))
        rungs = []
        for i in range(s + 1):
            n_i = int(math.floor(n * eta ** (-i) + 1e-9))
            r = r_max * eta ** (i - s)
            r_i = max(r_min, int(round(r))) if whole else max(r_min, min(r, r_max))
            rungs.append(Rung(n_i, r_i))
        brackets.append(rungs)
    return brackets


class RandomSampler:
    """A uniform point of the unit box: a uniform (log-uniform) random configuration."""

    def __init__(self, box: Box, rng: np.random.Generator):
        self.box, self.rng = box, rng

    def sample(self) -> np.ndarray:
        return self.rng.random(self.box.dim)

    def observe(self, u: np.ndarray, budget: float, loss: float | None) -> None:
        pass


@dataclass
class KDE:
    """A product-kernel density over BOHB's mixed vectors."""

    data: np.ndarray  # n x d
    bandwidth: np.ndarray
    categorical: np.ndarray
    levels: np.ndarray

    @classmethod
    def fit(cls, data: np.ndarray, box: Box, min_bandwidth: float) -> KDE:
        """Bandwidths by the normal reference rule for every coordinate, categorical ones
        included (statsmodels' ``normal_reference``, as HpBandSter fits them), at least
        ``min_bandwidth``; no upper cap (HpBandSter sets none)."""
        n, d = data.shape
        sd = data.std(axis=0, ddof=1) if n > 1 else np.zeros(d)
        bw = np.maximum(1.06 * sd * n ** (-1.0 / (4 + d)), min_bandwidth)
        return cls(data, bw, box.categorical, box.levels)

    def widened(self, factor: float, min_bandwidth: float) -> KDE:
        """The sampling density: continuous bandwidths (at least ``min_bandwidth``) times
        ``factor``; categorical ones unchanged, as in HpBandSter's sampler."""
        bw = np.maximum(self.bandwidth, min_bandwidth)
        bw = np.where(self.categorical, bw, bw * factor)
        return KDE(self.data, bw, self.categorical, self.levels)

    def pdf(self, x: np.ndarray) -> float:
        diff = x[None, :] - self.data
        bw = self.bandwidth
        gauss = np.exp(-0.5 * (diff / bw) ** 2) / (bw * math.sqrt(2 * math.pi))
        other = bw / np.maximum(self.levels - 1, 1)
        aitchison = np.where(diff == 0, 1.0 - bw, other)
        k = np.where(self.categorical, aitchison, gauss)
        return float(np.prod(k, axis=1).mean())

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """A point from the density: around a random datum, kernel by kernel."""
        datum = self.data[rng.integers(len(self.data))]
        out = np.empty_like(datum)
        for j, (m, bw) in enumerate(zip(datum, self.bandwidth, strict=True)):
            if self.categorical[j]:
                keep = rng.random() < 1.0 - bw
                out[j] = m if keep else rng.integers(self.levels[j])
            else:
                out[j] = truncated_normal(rng, m, bw)
        return out


def truncated_normal(rng: np.random.Generator, mean: float, sd: float) -> float:
    """A normal draw kept inside [0, 1] (rejection; clipped after 100 tries)."""
    for _ in range(100):
        x = rng.normal(mean, sd)
        if 0.0 <= x <= 1.0:
            return float(x)
    return float(min(max(x, 0.0), 1.0))


@dataclass
class KDESampler:
    box: Box
    rng: np.random.Generator
    random_fraction: float = 1 / 3
    top_fraction: float = 0.15
    n_candidates: int = 64
    bandwidth_factor: float = 3.0
    min_bandwidth: float = 1e-3
    min_points: int | None = None
    observations: dict[float, list[tuple[np.ndarray, float]]] = field(default_factory=dict)

    def observe(self, u: np.ndarray, budget: float, loss: float | None) -> None:
        value = math.inf if loss is None else float(loss)
        self.observations.setdefault(budget, []).append((self.box.vector(u), value))

    def model(self) -> tuple[KDE, KDE] | None:
        """l(x) and g(x) on the largest budget with enough observations, or None."""
        need = self.min_points or self.box.dim + 1
        for budget in sorted(self.observations, reverse=True):
            obs = self.observations[budget]
            order = sorted(range(len(obs)), key=lambda i: (obs[i][1], i))
            n_good = max(need, int(self.top_fraction * len(obs)))
            good, bad = order[:n_good], order[n_good:]
            if len(good) >= need and len(bad) >= need:
                data = np.array([v for v, _ in obs])
                return (
                    KDE.fit(data[good], self.box, self.min_bandwidth),
                    KDE.fit(data[bad], self.box, self.min_bandwidth),
                )
        return None

    def sample(self) -> np.ndarray:
        model = self.model()
        if model is None or self.rng.random() < self.random_fraction:
            return self.rng.random(self.box.dim)
        good, bad = model
        wide = good.widened(self.bandwidth_factor, self.min_bandwidth)
        best, best_score = None, -math.inf
        for _ in range(self.n_candidates):
            v = wide.draw(self.rng)
            score = max(good.pdf(v), 1e-32) / max(bad.pdf(v), 1e-32)
            if score > best_score:
                best, best_score = v, score
        assert best is not None
        return self.box.from_vector(best)


@dataclass
class _Candidate:
    u: np.ndarray
    continues: int | None = None  # the iteration of its evaluation at the rung below


class Hyperband(Optimizer):
    """The synchronous bracket engine; ``sampler`` draws new configurations."""

    def __init__(
        self,
        view: View,
        budget: Budget,
        fidelity: Fidelity,
        eta: float,
        sampler: RandomSampler | KDESampler,
    ):
        self.view, self.box, self.sampler = view, Box(view), sampler
        self.fidelity = fidelity
        self.brackets = schedule(fidelity.low, fidelity.high, eta, fidelity.whole)
        self.eta = eta
        self.spent = CountingBudget(budget)
        self.bracket, self.rung = 0, 0
        self.asked = 0
        self.promoted: list[_Candidate] = []
        self.results: list[tuple[_Candidate, int, float | None, str]] = []
        self.live: set[int] = set()
        self.cut = False

    @property
    def rungs(self) -> list[Rung]:
        return self.brackets[self.bracket % len(self.brackets)]

    def _size(self) -> int:
        return self.rungs[0].n if self.rung == 0 else len(self.promoted)

    def _advance(self) -> None:
        """The rung is complete: promote its best to the next rung, or start a bracket."""
        if self.rung + 1 < len(self.rungs):
            ok = [r for r in self.results if r[3] == "ok" and r[2] is not None]
            ok.sort(key=lambda r: (r[2], r[1]))
            unique, seen = [], set()  # a repeat told in this rung is its first evaluation:
            for r in ok:  # promoted once, from that evaluation's state
                if r[1] not in seen:
                    seen.add(r[1])
                    unique.append(r)
            keep = unique[: int(math.floor(len(self.results) / self.eta + 1e-9))]
            self.promoted = [_Candidate(c.u, iteration) for c, iteration, _, _ in keep]
            self.live = {c.continues for c in self.promoted if c.continues is not None}
            self.rung += 1
            if self.promoted:
                self.asked, self.results = 0, []
                return
        self.bracket, self.rung, self.asked = self.bracket + 1, 0, 0
        self.promoted, self.results, self.live = [], [], set()

    def ask(self) -> Evaluation | None:
        if self.cut:  # the evaluation cut to the budget was the last (a repeat of it too)
            return None
        while self.asked >= self._size():
            self._advance()
        rung = self.rungs[self.rung]
        if self.rung == 0:
            candidate = _Candidate(np.asarray(self.sampler.sample(), dtype=float))
            below = 0.0
        else:
            candidate = self.promoted[self.asked]
            below = self.rungs[self.rung - 1].budget
        values = self.box.decode(candidate.u)
        raw = {n: float(x) for n, x in zip(self.view.names, candidate.u, strict=True)}
        if self.fidelity.whole:  # epochs: a promoted configuration trains only the new ones
            params = self.view.full({**values, self.fidelity.name: int(rung.budget)})
            cost, epochs = rung.budget - below, int(rung.budget)
            ev = Evaluation(
                params=params,
                budget=epochs,
                continues=candidate.continues,
                keep_state=self.rung + 1 < len(self.rungs),
                raw=raw,
                handle=candidate,
            )
        else:  # a data share: trained afresh on a larger share of the same fixed order
            params = self.view.full(values)
            epochs = int(params["epoch"])
            cost = rung.budget * epochs
            ev = Evaluation(
                params=params, budget=epochs, data_fraction=rung.budget, raw=raw, handle=candidate
            )
        if not self.spent.fits(cost):
            ev = self._last(ev, below)
            if ev is None:
                return None
            self.cut = True
        self.asked += 1
        return ev

    def _last(self, ev: Evaluation, below: float) -> Evaluation | None:
        """The evaluation that would overrun the cost budget, cut to what the budget has left
        (the run ends there, at its budget, rather than up to a whole top-rung training short
        of it: 97 % of the match at 30 iterations before): the new epochs a whole number that
        fits, or a data share that fits; None when nothing useful fits (under one epoch, or a
        share below a third of the lowest rung's at eta 3)."""
        left = self.spent.left()
        if left is None or not self.evaluations_left():
            return None
        if self.fidelity.whole:
            more = int(math.floor(left + 1e-9))
            if more < 1:
                return None
            epochs = int(below) + more
            params = {**ev.params, self.fidelity.name: epochs}
            return replace(ev, params=params, budget=epochs, keep_state=False)
        share = left / ev.budget
        if share < self.fidelity.low / self.eta - 1e-12:
            return None
        return replace(ev, data_fraction=share)

    def evaluations_left(self) -> bool:
        b = self.spent.budget
        return b.evaluations is None or self.spent.evaluations < b.evaluations

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        self.spent.spend_on(outcome)
        candidate: _Candidate = evaluation.handle
        self.results.append((candidate, outcome.iteration, outcome.loss, outcome.status))
        rung_budget = evaluation.budget if self.fidelity.whole else evaluation.data_fraction
        self.sampler.observe(candidate.u, rung_budget, outcome.loss)
        if evaluation.continues is not None:
            self.live.discard(evaluation.continues)
        if evaluation.keep_state and outcome.status == "ok":
            self.live.add(outcome.iteration)

    def live_states(self) -> set[int]:
        return set(self.live)


def fidelity_of(view: View) -> Fidelity:
    p = view.space.params[FIDELITY]
    assert p.low is not None and p.high is not None
    return Fidelity(FIDELITY, int(p.low), int(p.high))


def make_hyperband(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    eta = float(settings.get("hyperband", {}).get("eta", 3))
    sampler = RandomSampler(Box(view), np.random.default_rng(seed))
    return Hyperband(view, budget, fidelity_of(view), eta, sampler)


def make_bohb(view: View, seed: int, budget: Budget, settings: Mapping[str, Any]) -> Optimizer:
    o = settings.get("bohb", {})
    sampler = KDESampler(
        Box(view),
        np.random.default_rng(seed),
        random_fraction=float(o.get("random_fraction", 1 / 3)),
        top_fraction=float(o.get("top_fraction", 0.15)),
        n_candidates=int(o.get("n_candidates", 64)),
        bandwidth_factor=float(o.get("bandwidth_factor", 3.0)),
        min_bandwidth=float(o.get("min_bandwidth", 1e-3)),
        min_points=o.get("min_points"),
    )
    return Hyperband(view, budget, fidelity_of(view), float(o.get("eta", 3)), sampler)


def make_hyperband_data(
    view: View, seed: int, budget: Budget, settings: Mapping[str, Any]
) -> Optimizer:
    """Hyperband whose budget is the share of the training split (epochs stay searched)."""
    o = settings.get("hyperband_data", {})
    fidelity = Fidelity(DATA_FRACTION, float(o.get("min_fraction", 1 / 9)), 1.0)
    sampler = RandomSampler(Box(view), np.random.default_rng(seed))
    return Hyperband(view, budget, fidelity, float(o.get("eta", 3)), sampler)
