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
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gsos.search.optimizers.base import OBSERVED  # trials with an accuracy
from gsos.search.space import SearchSpace


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
    records: Sequence[Mapping[str, Any]], space: SearchSpace, seed: int = 0, n_trees: int = 64
) -> dict[str, float]:
    """fANOVA importances (sum 1) through optuna.importance, on the same trials."""
    import optuna

    from gsos.search.optimizers.optuna_search import distribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {name: distribution(p) for name, p in space.params.items()}
    study = optuna.create_study(direction="maximize")
    for r in records:
        if r["status"] in OBSERVED and r.get("val_accuracy") is not None:
            params = {n: space.params[n].cast(r["params"][n]) for n in space.names}
            study.add_trial(
                optuna.trial.create_trial(
                    params=params, distributions=dists, value=float(r["val_accuracy"])
                )
            )
    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=n_trees, seed=seed)
    scores = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True)
    return {n: float(scores.get(n, 0.0)) for n in space.names}


# --- importance with its uncertainty -----------------------------------------------------------

ESTIMATORS = ("fanova", "n_rrelieff", "mean")


def weights_of(
    records: Sequence[Mapping[str, Any]],
    space: SearchSpace,
    estimator: str,
    seed: int = 0,
    n_trees: int = 64,
) -> dict[str, float]:
    """One estimator's normalised weights; ``mean`` averages fANOVA and N-RReliefF."""
    if estimator == "fanova":
        return fanova(records, space, seed, n_trees)
    if estimator == "n_rrelieff":
        return n_rrelieff(records, space)
    if estimator == "mean":
        a, b = fanova(records, space, seed, n_trees), n_rrelieff(records, space)
        return {k: (a[k] + b[k]) / 2 for k in space.names}
    raise ValueError(f"estimator must be one of {ESTIMATORS}, not {estimator!r}")


def _weights_of_job(job: tuple) -> dict[str, float] | None:
    """One refit; None where its resample is too small to estimate anything (a resample of
    whole runs can hold fewer trials than the estimator needs)."""
    try:
        return weights_of(*job)
    except ValueError:
        return None


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Agreement of ranking ``b`` with ranking ``a`` over the pairs ``a`` orders (pairs tied
    in ``a`` say nothing about stability, and N-RReliefF ties most weights at 0): (concordant
    - discordant) / pairs ordered by ``a``; a pair ``b`` ties counts as neither. 1: the same
    order; NaN when ``a`` orders no pair."""
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    i, j = np.triu_indices(len(a_), k=1)
    da, db = np.sign(a_[i] - a_[j]), np.sign(b_[i] - b_[j])
    ordered = da != 0
    if not ordered.any():
        return float("nan")
    return float(np.sum(da[ordered] * db[ordered]) / ordered.sum())


def tied(weights: Sequence[float]) -> int:
    """How many weights share their value with another (N-RReliefF's clipped zeros)."""
    values = np.round(np.asarray(weights, dtype=float), 12)
    _, counts = np.unique(values, return_counts=True)
    return int(counts[counts > 1].sum())


def observed(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in records if r["status"] in OBSERVED and r.get("val_accuracy") is not None]


# Estimators that compare each trial with its nearest neighbours: their resamples keep each
# drawn trial once (about 63 % of the trials), so their intervals are conservative.
NEIGHBOUR_BASED = frozenset({"n_rrelieff"})


def die_with_parent(parent: int) -> None:
    """In a worker process: be killed when the process that started it dies (Linux
    ``PR_SET_PDEATHSIG``), so killing a job never leaves its workers running; elsewhere, and
    if the parent is already gone, exit at once."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(AttributeError, OSError):  # not Linux: as before
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def estimate(
    records: Sequence[Mapping[str, Any]],
    space: SearchSpace,
    estimator: str = "fanova",
    bootstrap: int = 20,
    seed: int = 0,
    top: int = 3,
    n_trees: int = 32,
    workers: int = 1,
    by_run: bool = False,
) -> dict[str, Any]:
    """Importance weights with their uncertainty, from a set of trials.

    ``by_run``: resample whole runs (a dataset's runs, by seed) instead of single trials.
    Trials of an adaptive search (TPE) depend on the trials before them in the same run, so
    resampling them one by one treats 500 trials of 5 runs as 500 independent draws and
    gives intervals that are too narrow; the runs are the independent units. Trials of
    random search are independent, and may be resampled one by one.

    - ``weights``: the mean of the estimator over ``bootstrap`` resamples of the trials (a
      bagged estimate, each resample refitted; for N-RReliefF the distinct trials of each
      resample), which lies inside its interval (the estimate on all trials, kept as
      ``weights_all_trials``, need not: refits on resamples are biased, fANOVA's down);
      without resamples, the estimate on all trials;
    - ``ci_low``/``ci_high``: the 95 % percentile interval of the resamples' weights;
    - ``per_seed``: the estimator on each pilot seed's trials alone (their spread);
    - ``kendall_tau``: mean agreement of each resample's ranking with the estimate's, over the
      pairs the estimate orders (:func:`kendall_tau`; ties, such as N-RReliefF's zeros, do
      not inflate it), ``tied_weights``: how many weights share their value with another,
      and ``top_agreement``: the share of resamples whose ``top`` most important
      hyperparameters are the same set as the estimate's.
    """
    trials = observed(records)
    names = space.names
    point = all_trials = weights_of(trials, space, estimator, seed, n_trees)
    rng = np.random.default_rng(seed)
    units: list[list[Mapping[str, Any]]] = [[t] for t in trials]
    if by_run:
        runs: dict[Any, list[Mapping[str, Any]]] = {}
        for t in trials:
            runs.setdefault((t.get("dataset"), t.get("strategy"), t.get("seed")), []).append(t)
        units = list(runs.values())
    samples = []
    for _ in range(bootstrap):  # every resample drawn here, in order: any worker count agrees
        draw = rng.integers(0, len(units), len(units))
        if estimator in NEIGHBOUR_BASED:  # a duplicate would be its copy's nearest neighbour
            draw = np.unique(draw)
        samples.append([t for i in draw for t in units[i]])
    jobs = [(sample, space, estimator, seed + 1 + b, n_trees) for b, sample in enumerate(samples)]
    if workers > 1 and len(jobs) > 1:  # refits are independent: one process each
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(
            min(workers, len(jobs)), initializer=die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            draws = list(pool.map(_weights_of_job, jobs))
    else:
        draws = [_weights_of_job(job) for job in jobs]
    # a refit that finds no importance at all (N-RReliefF on one small run: every weight
    # clipped to 0), or whose resample is too small to estimate, gives no shares to average:
    # left out of the mean and the interval, and counted
    found = [d for d in draws if d is not None and sum(d.values()) > 0]
    empty = len(draws) - len(found)
    matrix = (
        np.array([[d[n] for n in names] for d in found]) if found else np.zeros((0, len(names)))
    )
    if len(matrix):  # the bagged estimate: the mean over refits, inside their interval
        lo_q, hi_q = np.quantile(matrix, 0.025, axis=0), np.quantile(matrix, 0.975, axis=0)
        bagged = matrix.mean(axis=0)
        lo_q, hi_q = np.minimum(lo_q, bagged), np.maximum(hi_q, bagged)
        point = dict(zip(names, bagged.tolist(), strict=True))
    point_vec = [point[n] for n in names]
    top_set = set(rank(point)[:top])
    by_seed: dict[Any, list] = {}
    for r in trials:
        by_seed.setdefault(r.get("seed"), []).append(r)
    per_seed = {
        str(s): weights_of(rs, space, estimator, seed, n_trees)
        for s, rs in sorted(by_seed.items(), key=lambda kv: str(kv[0]))
        if len(rs) >= 3
    }
    nan = {n: float("nan") for n in names}
    return {
        "estimator": estimator,
        "n_trials": len(trials),
        "weights": point,
        "weights_all_trials": all_trials,
        "ci_low": dict(zip(names, lo_q.tolist(), strict=True)) if len(matrix) else nan,
        "ci_high": dict(zip(names, hi_q.tolist(), strict=True)) if len(matrix) else nan,
        "per_seed": per_seed,
        "kendall_tau": float(np.nanmean([kendall_tau(point_vec, row) for row in matrix]))
        if len(matrix)
        else float("nan"),
        "tied_weights": tied(point_vec),
        "top_agreement": float(
            np.mean(
                [set(rank(dict(zip(names, row, strict=True)))[:top]) == top_set for row in matrix]
            )
        )
        if len(matrix)
        else float("nan"),
        "bootstrap": bootstrap,
        "resampled": "runs" if by_run else "trials",
        "refits_without_an_estimate": empty,
        "units": len(units),
    }


def rank(weights: Mapping[str, float]) -> list[str]:
    """Hyperparameters from the most to the least important (unknown weights last, in order)."""
    known = [n for n, w in weights.items() if w is not None and np.isfinite(w)]
    unknown = [n for n in weights if n not in known]
    return sorted(known, key=lambda n: -float(weights[n])) + unknown


def groups_from_weights(weights: Mapping[str, float], rule: Mapping[str, Any]) -> list[list[str]]:
    """Groups by importance, most important first, by a documented rule:

    - ``sizes: [3, 2, 5]``: the top 3, the next 2, the remaining 5 (the default: the paper's
      three tiers, of 3, 2 and 5 hyperparameters);
    - ``cumulative: [0.6, 0.85]``: a group closes once the weights taken so far reach the next
      threshold (the last group takes the rest).
    """
    order = rank(weights)
    groups: list[list[str]] = []
    if "sizes" in rule:
        sizes = list(rule["sizes"])
        if sum(sizes) != len(order):
            raise ValueError(f"group sizes {sizes} add up to {sum(sizes)}, not {len(order)}")
        i = 0
        for size in sizes:
            groups.append(order[i : i + size])
            i += size
        return [g for g in groups if g]
    if "cumulative" in rule:
        thresholds, total, current = list(rule["cumulative"]), 0.0, []
        weight_sum = sum(float(weights[n]) for n in order if np.isfinite(weights[n])) or 1.0
        for name in order:
            current.append(name)
            w = float(weights[name]) if np.isfinite(weights[name]) else 0.0
            total += w / weight_sum
            if thresholds and total >= thresholds[0] - 1e-12:
                groups.append(current)
                current = []
                thresholds.pop(0)
        if current:
            groups.append(current)
        return groups
    raise ValueError("a grouping rule needs 'sizes' or 'cumulative'")


def group_budgets(
    groups: Sequence[Sequence[str]],
    weights: Mapping[str, float],
    iterations: int,
    mode: str,
    shares: Sequence[float] = (4, 3, 3),
) -> list[int]:
    """Each group's evaluations: ``shares`` (by position; the paper's 4:3:3), ``proportional``
    (to the group's total weight), or ``adaptive`` (the shares to start with; a group ends
    early when it stops improving and passes on what it did not spend)."""
    from gsos.search.groups import split_iterations

    if mode in ("shares", "adaptive"):
        if len(shares) < len(groups):  # never padded: a share is the user's choice
            raise ValueError(
                f"measured_groups.shares: {len(shares)} share(s) {list(shares)} for "
                f"{len(groups)} measured groups; give one per group"
            )
        return split_iterations(iterations, list(shares)[: len(groups)])
    if mode == "proportional":
        w = [sum(max(float(weights[n]), 0.0) for n in g if np.isfinite(weights[n])) for g in groups]
        w = [x if x > 0 else 1e-6 for x in w]
        return split_iterations(iterations, w)
    raise ValueError(f"budget must be shares, proportional or adaptive, not {mode!r}")
