"""One model per quantity (gsos.reports.stats): each interval agrees with its test, stays in
its metric's range, and says "no spread" instead of finding a difference in nothing."""

import math

import numpy as np
import pytest
from scipy import stats

from gsos.reports.stats import (
    ACCURACY,
    ACCURACY_CHANGE,
    NO_SPREAD,
    change_interval,
    holm,
    mean_ci,
    mean_interval,
    p_text,
    ratio_interval,
    reduction_interval,
)


def test_mean_interval_is_student_t_clipped_to_the_metric():
    x = [1.0, 2.0, 4.0, 7.0]
    m = mean_interval(x)
    expected = stats.t.interval(0.95, 3, loc=3.5, scale=np.std(x, ddof=1) / 2)
    assert (m["value"], m["n"]) == (3.5, 4)
    assert (m["ci_low"], m["ci_high"]) == pytest.approx(expected)
    near_one = mean_interval([1.0, 0.99, 0.7, 1.0], ACCURACY)
    assert near_one["ci_high"] == 1.0 and near_one["ci_low"] < near_one["value"]
    assert mean_ci([1.0, 0.99, 0.7, 1.0])[3] > 1  # unclipped, the t interval leaves [0, 1]


def test_no_interval_from_one_value_or_from_values_that_agree():
    assert math.isnan(mean_interval([0.9])["ci_low"]) and mean_interval([0.9])["value"] == 0.9
    same = mean_interval([0.9, 0.9, 0.9])
    assert same["note"] == NO_SPREAD and math.isnan(same["ci_high"])
    assert math.isnan(mean_interval([])["value"])


def test_a_difference_without_spread_is_no_test_never_a_win():
    """One image more on both seeds (0.935 - 0.925 and 0.95 - 0.94 differ in the 17th
    digit): the old code found p = 0 and "GSOS is higher"."""
    a, b = [0.935, 0.95], [0.925, 0.94]
    f = change_interval({"d": (a, b)}, bounds=ACCURACY_CHANGE)
    assert f["value"] == pytest.approx(0.01) and f["note"] == NO_SPREAD
    assert math.isnan(f["p"]) and math.isnan(f["ci_low"])
    assert math.isnan(reduction_interval({"d": (a, b)})["p"])


def test_one_dataset_is_the_paired_t_test():
    a = [10.0, 12.0, 11.0, 13.0, 12.5]
    b = [12.0, 14.5, 13.0, 15.5, 14.0]
    f = change_interval({"d": (a, b)})
    assert f["value"] == pytest.approx(-2.1) and f["n"] == 5
    assert f["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert f["ci_high"] < 0


def test_over_datasets_each_dataset_is_one_unit():
    """The effect may differ between datasets: the test runs over the datasets' mean
    differences (a pooled standard error would take six exact datasets as 30 pairs)."""
    rng = np.random.default_rng(1)
    pairs = {f"d{k}": (rng.normal(k, 1, 5), rng.normal(k, 1, 5)) for k in range(6)}
    f = change_interval(pairs)
    means = [np.mean(a - b) for a, b in pairs.values()]
    assert f["value"] == pytest.approx(np.mean(means))
    assert f["p"] == pytest.approx(stats.ttest_1samp(means, 0).pvalue)
    assert (f["units"], f["n"]) == (6, 30)


def test_heterogeneous_datasets_averaging_zero_are_not_a_difference():
    """Six datasets whose true effects are ±2 points, averaging zero, each measured very
    precisely: a pooled standard error calls that a difference; one unit a dataset does
    not, in about 5 % of experiments."""
    rng = np.random.default_rng(2)
    effects = [0.02, -0.02] * 3
    p = []
    for _ in range(400):
        pairs = {}
        for k, e in enumerate(effects):
            shifted = e + rng.normal(0, 0.02)  # the dataset's realised effect
            b = rng.normal(0.9, 0.002, 5)
            pairs[f"d{k}"] = (b + shifted + rng.normal(0, 0.002, 5), b)
        p.append(change_interval(pairs)["p"])
    assert np.mean(np.array(p) < 0.05) < 0.09


@pytest.mark.parametrize("n", [2, 3, 5])
def test_a_reduction_interval_excludes_zero_exactly_when_its_p_is_below_5_percent(n):
    """Fieller's interval on the paired t model (the percentile bootstrap it replaces
    excluded 0 in 12-24 % of A/A cells while its p said 5 %), at most 100 %, holding its
    estimate; unbounded with few seeds rather than wrong."""
    rng = np.random.default_rng(n)
    rejected = []
    for _ in range(2000):
        a, b = rng.lognormal(3, 0.4, n), rng.lognormal(3, 0.4, n)
        r = reduction_interval({"d": (a, b)})
        excludes = not (r["ci_low"] <= 0 <= r["ci_high"])
        assert excludes == (r["p"] < 0.05)
        assert r["ci_low"] <= r["value"] <= r["ci_high"] <= 100
        rejected.append(excludes)
    assert 0.02 < np.mean(rejected) < 0.08


def test_ratio_interval_is_fieller_and_its_reduction_the_same_ratio():
    a = np.array([80.0, 90.0, 85.0, 95.0, 88.0])
    b = np.array([100.0, 104.0, 98.0, 110.0, 101.0])
    r = ratio_interval({"d": (a, b)})
    assert r["value"] == pytest.approx(a.mean() / b.mean())
    q = stats.t.ppf(0.975, 4)
    for theta in (r["ci_low"], r["ci_high"]):  # the ends: where the t statistic is q
        d = a - theta * b
        assert abs(d.mean()) / (d.std(ddof=1) / math.sqrt(5)) == pytest.approx(q)
    red = reduction_interval({"d": (a, b)})
    assert red["value"] == pytest.approx((1 - r["value"]) * 100)
    assert red["ci_low"] == pytest.approx((1 - r["ci_high"]) * 100)


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, float("nan"), 0.005]
    adj = holm(p)
    assert adj[4] == pytest.approx(0.02) and adj[0] == pytest.approx(0.03)  # 4 x, 3 x
    assert adj[2] == pytest.approx(0.06) and adj[1] == pytest.approx(0.06)  # monotone
    assert math.isnan(adj[3])  # no test: not in the family


def test_p_is_never_rounded_across_the_line():
    assert p_text(0.0496) == "p = 0.0496"
    assert p_text(0.5) == "p = 0.5" and p_text(0.0004) == "p < 0.001"
    assert p_text(float("nan")) == "no test"
