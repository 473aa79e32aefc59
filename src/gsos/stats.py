"""Spread and tests over runs: what the paper, reporting means only, leaves out.

Runs of the two strategies are paired by seed (same dataset, same split, same seed index).
The primary test is the paired t-test: with the paper's 5 pairs, the Wilcoxon signed-rank
test cannot reach p < 0.05 at all (its smallest two-sided p is 2/2**5 = 0.0625), so it is
reported beside it as the distribution-free check, not instead of it.
"""

from __future__ import annotations

import math
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
