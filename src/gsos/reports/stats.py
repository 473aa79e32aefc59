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


def interval_band(ys: np.ndarray, level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The mean over runs (rows) at every column (a curve's grid points) and its interval by
    :func:`bootstrap_ci`, the method of the tables: where a curve ends, its band is the
    table's interval. NaN entries (a run not there yet) are left out of each column."""
    ys = np.asarray(ys, dtype=float)
    mean, lo, hi = (np.full(ys.shape[1], np.nan) for _ in range(3))
    cache: dict[tuple, tuple[float, float]] = {}
    for j in range(ys.shape[1]):
        col = ys[:, j][np.isfinite(ys[:, j])]
        if len(col) == 0:
            continue
        mean[j] = col.mean()
        key = tuple(np.sort(col))
        if key not in cache:  # step curves repeat their columns: each interval once
            cache[key] = bootstrap_ci(col.tolist(), level=level, seed=seed)
        lo[j], hi[j] = cache[key]
    return mean, lo, hi


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


# --- one interval per quantity -------------------------------------------------------------
# GSOS against simultaneous, over runs paired by seed within each dataset. Every table that
# shows one of these quantities (Table 4, the headline, the paired tests, the summary) calls
# the same function, so the same quantity carries the same interval wherever it appears.

Pairs = dict  # dataset -> (a values, b values), paired by position (seed)


def change_interval(pairs: Pairs, level: float = 0.95) -> dict[str, float]:
    """A difference of means, a - b (an accuracy change, a time difference): its value, a
    Student-t interval and the t-test's p.

    Per dataset the value is the mean paired difference; over datasets, the mean of the
    datasets' values, its standard error pooled from theirs (Welch-Satterthwaite degrees of
    freedom). With one dataset this is exactly the paired t-test and its interval: the
    interval excludes 0 exactly when p < 1 - level. NaN where a dataset has fewer than 2
    pairs."""
    diffs = []
    for a, b in pairs.values():
        a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        keep = np.isfinite(a_) & np.isfinite(b_)
        diffs.append(a_[keep] - b_[keep])
    if not diffs or any(len(d) == 0 for d in diffs):
        return {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan}
    k = len(diffs)
    value = float(np.mean([d.mean() for d in diffs]))
    if any(len(d) < 2 for d in diffs):
        return {"value": value, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan}
    parts = [d.var(ddof=1) / len(d) / k**2 for d in diffs]
    se = math.sqrt(sum(parts))
    if se == 0:
        p = 1.0 if value == 0 else 0.0
        return {"value": value, "ci_low": value, "ci_high": value, "p": p}
    df = sum(parts) ** 2 / sum(q**2 / (len(d) - 1) for q, d in zip(parts, diffs, strict=True))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    p = float(2 * stats.t.sf(abs(value) / se, df))
    return {"value": value, "ci_low": value - half, "ci_high": value + half, "p": p}


REDUCTION_RESAMPLES = 4000


def reduction_interval(
    pairs: Pairs, level: float = 0.95, seed: int = 0, resamples: int = REDUCTION_RESAMPLES
) -> dict[str, float]:
    """A reduction in percent, (1 - Σ mean(a) / Σ mean(b)) × 100 over datasets (the paper's
    ratio of sums; per dataset (b - a) / b), with a percentile bootstrap interval that
    resamples seed pairs within each dataset. Where the percentile interval of a skewed
    resample distribution does not hold the estimate, it is widened to it (and says so:
    ``widened``). With one dataset, Table 4's cell; with all, the headline."""
    data = []
    for a, b in pairs.values():
        a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        keep = np.isfinite(a_) & np.isfinite(b_)
        data.append((a_[keep], b_[keep]))
    nan = {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan, "widened": False}
    if not data or any(len(a) == 0 for a, _ in data):
        return nan

    def reduction(sample) -> float:
        g = sum(float(a.mean()) for a, _ in sample)
        s = sum(float(b.mean()) for _, b in sample)
        return (1 - g / s) * 100 if s else math.nan

    value = reduction(data)
    if any(len(a) < 2 for a, _ in data):
        return {**nan, "value": value}
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        sample = []
        for a, b in data:
            idx = rng.integers(0, len(a), len(a))
            sample.append((a[idx], b[idx]))
        draws[i] = reduction(sample)
    draws = draws[np.isfinite(draws)]
    alpha = (1 - level) / 2
    lo, hi = (float(q) for q in np.quantile(draws, [alpha, 1 - alpha]))
    widened = not (lo <= value <= hi)
    return {"value": value, "ci_low": min(lo, value), "ci_high": max(hi, value), "widened": widened}
