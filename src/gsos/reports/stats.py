"""One model per quantity: every interval and p the report states, and the correction that
makes its verdicts hold together.

The paper reports means only. This project adds, for each kind of quantity, one interval
method, used wherever that quantity appears (tables, summary, figures' bands), whose coverage
and error rates are measured end to end by the A/A harness (``bench/calibration.py``,
``bench/results/calibration.csv``):

- **A mean over runs** (:func:`mean_interval`): Student-t, clipped to what the metric can
  take (an accuracy to [0, 1], a cost or a time to [0, ∞)). Measured coverage of the BCa
  bootstrap the project used before was 52 % with 2 seeds and 84 % with 5; Student-t's is
  close to 95 % from 2 seeds on. No interval from one value, none from values that do not
  vary ("no spread": a zero-width interval would claim certainty that five equal whole-image
  accuracies do not give).
- **A difference of means** (:func:`change_interval`): on one dataset, the paired t-test over
  seeds and its interval; over several datasets, a one-sample t-test over the datasets' mean
  differences (each dataset one unit, so its effect may differ from the others': a
  random-effects view; the pooled standard error the project used before assumed one common
  effect and stated a difference in 27.5 % of experiments whose effects averaged zero).
- **A ratio of means, or a reduction in percent** (:func:`ratio_interval`,
  :func:`reduction_interval`): Fieller's interval, from the same t model and degrees of
  freedom as the difference's test, so the interval holds 1 (a reduction of 0) exactly when
  that test's p >= 0.05. The percentile bootstrap used before excluded 0 in 12-24 % of A/A
  cells while its p said 5 %.
- **Several comparisons** (:func:`holm`): every p a report states (the paper's tables, the
  headline and the summary's comparisons) is one family, corrected by Holm's step-down
  method; a difference is stated only where the Holm-adjusted p < 0.05.

Where the differences do not vary at all (five pairs one image apart), there is nothing to
test: the result says "no spread" and no p, never a win.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05  # (written out: 1 - 0.95 is 0.050000000000000044 in floating point)
LEVEL = 0.95
ACCURACY = (0.0, 1.0)
ACCURACY_CHANGE = (-1.0, 1.0)
NONNEGATIVE = (0.0, math.inf)
UNBOUNDED = (-math.inf, math.inf)

NO_SPREAD = "no spread"  # every value (or every paired difference) equal: no interval, no test
TOO_FEW = "too few values"


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return x[np.isfinite(x)]


def _result(value: float, lo: float = math.nan, hi: float = math.nan, p: float = math.nan,
            n: int = 0, note: str = "") -> dict:  # fmt: skip
    return {"value": value, "ci_low": lo, "ci_high": hi, "p": p, "n": n, "note": note}


def _clip(lo: float, hi: float, bounds: tuple[float, float]) -> tuple[float, float]:
    return max(lo, bounds[0]), min(hi, bounds[1])


def mean_interval(
    values: Sequence[float], bounds: tuple[float, float] = UNBOUNDED, level: float = LEVEL
) -> dict:
    """The mean of ``values`` (NaN and None left out) with a Student-t interval clipped to
    ``bounds``; ``n`` is how many values were used. No interval from fewer than 2 values or
    from values that are all equal (``note`` says which)."""
    x = _finite(values)
    if len(x) == 0:
        return _result(math.nan, note=TOO_FEW)
    mean = float(x.mean())
    if len(x) < 2:
        return _result(mean, n=1, note=TOO_FEW)
    if no_spread(x):
        return _result(mean, n=len(x), note=NO_SPREAD)
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1)) * float(x.std(ddof=1))
    half /= math.sqrt(len(x))
    lo, hi = _clip(mean - half, mean + half, bounds)
    return _result(mean, lo, hi, n=len(x))


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation and the (unclipped) Student-t interval, as a tuple;
    NaN where there are fewer than 2 values."""
    x = _finite(values)
    if len(x) == 0:
        return (math.nan,) * 4
    m = mean_interval(x, UNBOUNDED, level)
    sd = float(x.std(ddof=1)) if len(x) > 1 else math.nan
    if m["note"] == NO_SPREAD:
        return m["value"], 0.0, m["value"], m["value"]
    return m["value"], sd, m["ci_low"], m["ci_high"]


def interval_band(
    ys: np.ndarray, bounds: tuple[float, float] = ACCURACY, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean over runs (rows) at every column (a curve's grid points) and its interval by
    :func:`mean_interval`, the tables' method: where a curve ends, its band is the table's
    interval. NaN entries (a run not there yet) are left out of each column; a column without
    spread has no band."""
    ys = np.asarray(ys, dtype=float)
    mean, lo, hi = (np.full(ys.shape[1], np.nan) for _ in range(3))
    for j in range(ys.shape[1]):
        m = mean_interval(ys[:, j], bounds, level)
        mean[j], lo[j], hi[j] = m["value"], m["ci_low"], m["ci_high"]
    return mean, lo, hi


# --- comparisons: A against B, paired by seed within each dataset --------------------------

Pairs = Mapping[str, tuple[Sequence[float], Sequence[float]]]  # dataset -> (a, b) by seed


def complete_pairs(pairs: Pairs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each dataset's pairs where both values are finite; datasets left with none dropped."""
    out = {}
    for dataset, (a, b) in pairs.items():
        a_ = np.asarray([np.nan if v is None else v for v in a], dtype=float)
        b_ = np.asarray([np.nan if v is None else v for v in b], dtype=float)
        keep = np.isfinite(a_) & np.isfinite(b_)
        if keep.any():
            out[dataset] = (a_[keep], b_[keep])
    return out


def units(pairs: Pairs) -> tuple[np.ndarray, np.ndarray, int]:
    """The units a comparison is made over, and how many pairs they rest on: on one dataset
    its seed pairs; over several, each dataset's mean of a and mean of b (one unit a dataset,
    whatever its number of seeds)."""
    data = complete_pairs(pairs)
    n_pairs = sum(len(a) for a, _ in data.values())
    if len(data) == 1:
        a, b = next(iter(data.values()))
        return a, b, n_pairs
    a = np.array([x.mean() for x, _ in data.values()])
    b = np.array([y.mean() for _, y in data.values()])
    return a, b, n_pairs


def no_spread(x: np.ndarray, scale: float | None = None) -> bool:
    """Whether values do not vary, up to floating-point noise: the differences of equal
    whole-image accuracies (0.935 − 0.925 and 0.95 − 0.94) differ in their 17th digit, and a
    t-test on that noise finds p ≈ 1e-15: a win from nothing."""
    scale = float(np.max(np.abs(x))) if scale is None else scale
    return bool(np.ptp(x) <= 1e-9 * max(scale, 1e-300))


def _t_test(d: np.ndarray, level: float, scale: float) -> tuple[float, float, float] | None:
    """(standard error, t quantile, p) of a one-sample t-test of mean(d) = 0, or None when
    there are fewer than 2 values or no spread (relative to ``scale``, the size of the
    values d is the difference of)."""
    if len(d) < 2 or no_spread(d, scale):
        return None
    se = float(d.std(ddof=1)) / math.sqrt(len(d))
    q = float(stats.t.ppf(0.5 + level / 2, len(d) - 1))
    p = float(2 * stats.t.sf(abs(float(d.mean())) / se, len(d) - 1))
    return se, q, p


def _scale(a: np.ndarray, b: np.ndarray) -> float:
    return float(max(np.max(np.abs(a)), np.max(np.abs(b))))


def change_interval(
    pairs: Pairs, level: float = LEVEL, bounds: tuple[float, float] = UNBOUNDED
) -> dict:
    """A difference of means, a - b: its value, a Student-t interval (clipped to ``bounds``)
    and the t-test's p; the interval excludes 0 exactly when p < 1 - level.

    One dataset: the paired t-test over its seeds. Several: the mean over datasets of their
    mean differences, tested over datasets (one unit each; see the module docstring). ``n``
    is the number of pairs used, ``units`` the number of units tested over."""
    a, b, n_pairs = units(pairs)
    if len(a) == 0:
        return {**_result(math.nan, note=TOO_FEW), "units": 0}
    d = a - b
    value = float(d.mean())
    test = _t_test(d, level, _scale(a, b))
    if test is None:
        note = TOO_FEW if len(d) < 2 else NO_SPREAD
        return {**_result(value, n=n_pairs, note=note), "units": len(d)}
    se, q, p = test
    lo, hi = _clip(value - q * se, value + q * se, bounds)
    return {**_result(value, lo, hi, p, n_pairs), "units": len(d)}


def ratio_interval(pairs: Pairs, level: float = LEVEL) -> dict:
    """mean(a) / mean(b) (over datasets, the ratio of the sums of the datasets' means: the
    paper's) with Fieller's interval from the t model of :func:`change_interval`: the set of
    ratios r for which mean(a) - r·mean(b) = 0 is not rejected. The interval holds 1 exactly
    when the difference's p >= 1 - level, and it is clipped at 0 (costs and times are
    non-negative). Where mean(b) itself is not distinguishable from 0 (two seeds with a
    spread of a third, say) Fieller's set is unbounded: all ratios, or two rays; where 1 lies
    in neither ray, the one holding the estimate is given (the test's side), otherwise every
    ratio, so the interval still excludes 1 exactly when the test says so."""
    a, b, n_pairs = units(pairs)
    if len(a) == 0:
        return {**_result(math.nan, note=TOO_FEW), "units": 0}
    ma, mb = float(a.mean()), float(b.mean())
    value = ma / mb if mb else math.nan
    test = _t_test(a - b, level, _scale(a, b))
    if test is None:
        note = TOO_FEW if len(a) < 2 else NO_SPREAD
        return {**_result(value, n=n_pairs, note=note), "units": len(a)}
    _, q, p = test
    n = len(a)
    cov = np.cov(a, b, ddof=1) / n  # covariance of the two means
    q2 = q * q
    qa = mb * mb - q2 * cov[1, 1]
    qb = ma * mb - q2 * cov[0, 1]
    qc = ma * ma - q2 * cov[0, 0]
    disc = qb * qb - qa * qc
    if qa > 0:  # the usual case: a bounded interval (disc >= 0: the estimate is inside)
        root = math.sqrt(max(disc, 0.0))
        lo, hi = (qb - root) / qa, (qb + root) / qa
    elif qa < 0 and disc > 0 and p < 1 - level:  # two rays, 1 in neither: the estimate's
        root = math.sqrt(disc)
        r1, r2 = sorted(((qb - root) / qa, (qb + root) / qa))
        lo, hi = (-math.inf, r1) if value <= r1 else (r2, math.inf)
    else:  # the denominator is not clearly away from 0: all ratios, or two rays holding 1
        lo, hi = -math.inf, math.inf
    lo, hi = _clip(lo, hi, NONNEGATIVE)
    return {**_result(value, lo, hi, p, n_pairs), "units": n}


def reduction_interval(pairs: Pairs, level: float = LEVEL) -> dict:
    """A reduction in percent, (1 - mean(a) / mean(b)) × 100 (over datasets the paper's
    ratio of sums), from :func:`ratio_interval`: at most 100 %, and its interval excludes 0
    exactly when the p of the difference a - b is below 1 - level."""
    r = ratio_interval(pairs, level)

    def pct(x: float) -> float:
        return (1 - x) * 100 if math.isfinite(x) else (-math.inf if x > 0 else math.nan)

    return {**r, "value": pct(r["value"]), "ci_low": pct(r["ci_high"]),
            "ci_high": pct(r["ci_low"])}  # fmt: skip


# --- several comparisons ---------------------------------------------------------------------


def holm(ps: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error at most the level, under any
    dependence between the tests); NaN (no test) stays NaN and does not count in the family."""
    p = np.asarray(ps, dtype=float)
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def p_text(p: float) -> str:
    """A p as people read it: never rounded across the 0.05 line (0.0496 is not "0.05")."""
    if p is None or not math.isfinite(p):
        return "no test"
    if p < 0.001:
        return "p < 0.001"
    for digits in (2, 3, 4):
        text = f"{p:.{digits}g}"
        if (float(text) < ALPHA) == (p < ALPHA):
            return f"p = {text}"
    return f"p = {p:.4f}"
