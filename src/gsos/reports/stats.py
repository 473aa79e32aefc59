"""Spread and tests over runs: what the paper, reporting means only, leaves out.

Runs of the two strategies are paired by seed (same dataset, same split, same seed index).
The primary test is the paired t-test: with the paper's 5 pairs, the Wilcoxon signed-rank
test cannot reach p < 0.05 at all (its smallest two-sided p is 2/2**5 = 0.0625), so it is
reported beside it as the distribution-free check, not instead of it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation and a Student-t confidence interval (NaN when n < 2)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(x) == 0:
        return (math.nan,) * 4
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1)) * sd / math.sqrt(len(x))
    return mean, sd, mean - half, mean + half


def paired_test(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """a - b over pairs: mean difference, its CI, paired t-test p and Wilcoxon p."""
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a_) & np.isfinite(b_)
    d = a_[keep] - b_[keep]
    mean, _, lo, hi = mean_ci(d.tolist(), level)
    out = {
        "n_pairs": int(len(d)),
        "mean_difference": mean,
        "ci_low": lo,
        "ci_high": hi,
        "t_test_p": math.nan,
        "wilcoxon_p": math.nan,
    }
    if len(d) >= 2 and np.any(d != 0):
        if np.ptp(d) > 0:
            out["t_test_p"] = float(stats.ttest_rel(a_[keep], b_[keep]).pvalue)
        out["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
    elif len(d) >= 2:
        out["t_test_p"] = out["wilcoxon_p"] = 1.0
    return out


BOOTSTRAP_RESAMPLES = 9999


def bootstrap_ci(
    values: Sequence[float],
    statistic=np.mean,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """A bias-corrected and accelerated (BCa) bootstrap interval of ``statistic``.

    Every resample's statistic is a mean (or another statistic) of observed values, so the
    interval stays inside what the metric can take: an accuracy within [0, 1], a time or a
    cost at or above 0. With 5 runs there are only 126 distinct resamples and its coverage
    is below the nominal level; the tables say so. NaN when fewer than 2 values; the value
    itself when all are equal.
    """
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0])
    res = stats.bootstrap(
        (x,),
        statistic,
        confidence_level=level,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # BCa degenerate: percentile instead
        lo, hi = percentile_band(x[:, None], level, seed)
        lo, hi = float(lo[0]), float(hi[0])
    return lo, hi


def percentile_band(
    ys: np.ndarray, level: float = 0.95, seed: int = 0, resamples: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the mean over runs (rows), for every column at once
    (a curve's grid points); NaN entries are left out of each mean."""
    ys = np.asarray(ys, dtype=float)
    n = ys.shape[0]
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(ys[idx], axis=1)
        alpha = (1 - level) / 2
        return np.nanquantile(means, alpha, axis=0), np.nanquantile(means, 1 - alpha, axis=0)


def paired_bootstrap_ci(
    a: Sequence[float], b: Sequence[float], statistic, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """A BCa bootstrap interval of ``statistic(a, b)`` with the pairs (a_i, b_i) resampled
    together (runs paired by seed); NaN with fewer than 2 pairs."""
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a_) < 2:
        return math.nan, math.nan
    if np.ptp(a_) == 0 and np.ptp(b_) == 0:
        value = float(statistic(a_, b_))
        return value, value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.bootstrap(
            (a_, b_),
            lambda x, y: statistic(x, y),
            paired=True,
            vectorized=False,
            confidence_level=level,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        res = stats.bootstrap(
            (a_, b_), lambda x, y: statistic(x, y), paired=True, vectorized=False,
            confidence_level=level, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
            rng=np.random.default_rng(seed),
        )  # fmt: skip
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return lo, hi
