"""Hyperparameter importance estimated from this project's own trial histories.

Two estimators, both on the simultaneous runs (where every hyperparameter varies):
- N-RReliefF, the prior HIA work's method: RReliefF for regression (Robnik-Šikonja and
  Kononenko, 2003) with rank-weighted k nearest neighbours, weights clipped at 0 and
  normalised to sum to 1, as the published weights are;
- fANOVA, through optuna.importance (a random-forest functional ANOVA).
Numeric hyperparameters are scaled to [0, 1] over their range (log scale for log-uniform);
categorical ones differ by 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gsos.optimizers.base import OBSERVED  # trials with an accuracy
from gsos.space import SearchSpace


def encode(
    records: Sequence[Mapping[str, Any]], space: SearchSpace
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature matrix in [0, 1], target (validation accuracy), and a categorical mask."""
    rows, y = [], []
    for r in records:
        if r["status"] not in OBSERVED or r.get("val_accuracy") is None:
            continue
        row = []
        for name, p in space.params.items():
            v = r["params"][name]
            if p.kind == "choice":
                row.append(float(list(p.values).index(p.cast(v))))
            elif p.kind == "loguniform":
                row.append((math.log(v) - math.log(p.low)) / (math.log(p.high) - math.log(p.low)))
            else:
                row.append((float(v) - p.low) / (p.high - p.low))
        rows.append(row)
        y.append(float(r["val_accuracy"]))
    categorical = np.array([p.kind == "choice" for p in space.params.values()])
    return np.asarray(rows, dtype=float), np.asarray(y, dtype=float), categorical


def rrelieff(
    X: np.ndarray, y: np.ndarray, categorical: np.ndarray, k: int = 10, sigma: float = 20.0
) -> np.ndarray:
    """RReliefF weights (may be negative) for each column of X, every row used once."""
    n, p = X.shape
    if n < 3:
        raise ValueError(f"RReliefF needs at least 3 trials, got {n}")
    k = min(k, n - 1)
    y_span = float(np.ptp(y)) or 1.0

    def diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = np.abs(a - b)
        return np.where(categorical, (d > 0).astype(float), d)

    rank_w = np.exp(-((np.arange(1, k + 1) / sigma) ** 2))
    rank_w /= rank_w.sum()
    n_dc, n_da, n_dc_da = 0.0, np.zeros(p), np.zeros(p)
    for i in range(n):
        dist = diff(X, X[i]).sum(axis=1)
        dist[i] = np.inf
        neighbours = np.argsort(dist, kind="stable")[:k]
        for w, j in zip(rank_w, neighbours, strict=True):
            dy = abs(y[i] - y[j]) / y_span
            dx = diff(X[j], X[i])
            n_dc += dy * w
            n_da += dx * w
            n_dc_da += dy * dx * w
    m = float(n)
    if n_dc == 0 or n_dc == m:
        return np.zeros(p)
    return n_dc_da / n_dc - (n_da - n_dc_da) / (m - n_dc)


def normalise(weights: np.ndarray) -> np.ndarray:
    """Clip at 0 and scale to sum 1 (N-RReliefF's normalised weights)."""
    w = np.clip(weights, 0, None)
    return w / w.sum() if w.sum() > 0 else w


def n_rrelieff(
    records: Sequence[Mapping[str, Any]], space: SearchSpace, k: int = 10
) -> dict[str, float]:
    X, y, cat = encode(records, space)
    return dict(zip(space.names, normalise(rrelieff(X, y, cat, k=k)).tolist(), strict=True))


def fanova(
    records: Sequence[Mapping[str, Any]], space: SearchSpace, seed: int = 0
) -> dict[str, float]:
    """fANOVA importances (sum 1) through optuna.importance, on the same trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {}
    for name, p in space.params.items():
        if p.kind == "choice":
            dists[name] = CategoricalDistribution(list(p.values))
        elif p.kind == "int":
            dists[name] = IntDistribution(int(p.low), int(p.high))
        else:
            dists[name] = FloatDistribution(p.low, p.high, log=p.kind == "loguniform")
    study = optuna.create_study(direction="maximize")
    for r in records:
        if r["status"] in OBSERVED and r.get("val_accuracy") is not None:
            params = {n: space.params[n].cast(r["params"][n]) for n in space.names}
            study.add_trial(
                optuna.trial.create_trial(
                    params=params, distributions=dists, value=float(r["val_accuracy"])
                )
            )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    scores = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True)
    return {n: float(scores.get(n, 0.0)) for n in space.names}
