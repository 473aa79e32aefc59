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


# --- the edges every report meets (issue 33) ------------------------------------------------


def test_mean_interval_says_how_many_values_and_why_there_is_no_interval():
    from gsos.reports.stats import TOO_FEW

    full = mean_interval([1.0, None, 3.0, float("nan")])
    assert (full["value"], full["n"], full["note"]) == (2.0, 2, "")
    empty = mean_interval([])
    assert (empty["n"], empty["note"]) == (0, TOO_FEW) and math.isnan(empty["ci_low"])
    one = mean_interval([0.7])
    assert (one["value"], one["n"], one["note"]) == (0.7, 1, TOO_FEW)
    same = mean_interval([0.9, 0.9, 0.9])
    assert (same["value"], same["n"], same["note"]) == (0.9, 3, NO_SPREAD)


def test_tiny_values_that_do_vary_have_an_interval():
    """No spread is judged relative to the values' size: learning rates of 1e-3 that
    differ by 1e-10 do vary."""
    assert mean_interval([0.001, 0.001 + 1e-10, 0.001 + 2e-10])["note"] == ""


def test_mean_ci_is_mean_sd_and_interval():
    assert all(math.isnan(v) for v in mean_ci([])) and len(mean_ci([])) == 4
    m, sd, lo, hi = mean_ci([2.0])
    assert m == 2.0 and all(math.isnan(v) for v in (sd, lo, hi))
    m, sd, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert (m, sd) == (2.0, 1.0)
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, 2, loc=2.0, scale=1 / math.sqrt(3)))
    narrow = mean_ci([1.0, 2.0, 3.0], level=0.5)
    assert lo < narrow[2] < narrow[3] < hi
    assert mean_ci([0.9, 0.9, 0.9]) == (0.9, 0.0, 0.9, 0.9)


def test_interval_band_is_the_tables_interval_at_every_point():
    from gsos.reports.stats import interval_band

    ys = np.array([[0.5, 0.6, 0.9], [0.7, np.nan, 0.9], [0.6, 0.8, 0.9]])
    mean, lo, hi = interval_band(ys)
    for j in range(3):
        m = mean_interval(ys[:, j], ACCURACY)
        assert (mean[j], lo[j], hi[j]) == pytest.approx(
            (m["value"], m["ci_low"], m["ci_high"]), nan_ok=True
        )
    assert mean[1] == pytest.approx(0.7) and math.isnan(lo[2])  # NaN left out; no spread
    assert hi[0] < 1.0
    clipped = interval_band(np.array([[0.99], [0.7], [1.0]]))
    assert clipped[2][0] == 1.0  # an accuracy's band stops at 1
    free = interval_band(np.array([[0.99], [0.7], [1.0]]), (-np.inf, np.inf))
    assert free[2][0] == pytest.approx(mean_ci([0.99, 0.7, 1.0])[3]) and free[2][0] > 1.0
    half = interval_band(np.array([[0.99], [0.7], [1.0]]), level=0.5)
    assert clipped[1][0] < half[1][0] < half[2][0] < 1.0


def test_a_comparison_of_nothing_or_of_one_pair_is_too_few():
    from gsos.reports.stats import TOO_FEW

    for f in (change_interval, ratio_interval):
        empty = f({})
        assert math.isnan(empty["value"]) and (empty["n"], empty["units"]) == (0, 0)
        assert empty["note"] == TOO_FEW and math.isnan(empty["p"])
        one = f({"d": ([2.0], [1.0])})
        assert one["value"] == (1.0 if f is change_interval else 2.0)
        assert (one["n"], one["units"], one["note"]) == (1, 1, TOO_FEW)
        for n in (2, 3):
            same = f({"d": ([2.0] * n, [1.0] * n)})
            assert (same["n"], same["units"], same["note"]) == (n, n, NO_SPREAD)
        missing = f({"d": ([2.0, None, 4.0], [1.0, 3.0, float("nan")]), "e": ([None], [1.0])})
        assert (missing["n"], missing["units"]) == (1, 1)  # only complete pairs count


def test_no_spread_is_judged_against_the_values_not_their_differences():
    """Costs of a thousand sample-epochs whose differences agree to 1e-7 (float noise of
    the costs) do not vary: no test, rather than p = 1e-10 from rounding."""
    a = [1000.001, 500.0010001, 250.001]
    b = [1000.0, 500.0, 250.0]
    for f in (change_interval, ratio_interval):
        assert f({"d": (a, b)})["note"] == NO_SPREAD


def test_the_difference_interval_is_the_paired_t_interval():
    a = [10.0, 12.0, 11.0, 13.0, 12.5]
    b = [12.0, 14.5, 13.0, 15.5, 14.0]
    f = change_interval({"d": (a, b)})
    ci = stats.ttest_rel(a, b).confidence_interval()
    assert (f["ci_low"], f["ci_high"]) == pytest.approx((ci.low, ci.high))


def test_several_datasets_count_pairs_and_units_apart():
    pairs = {"x": ([1.0, 2.0, 3.0], [0.5, 1.0, 1.0]), "y": ([4.0, 5.0], [2.0, 2.0]),
             "z": ([3.0, 3.5], [1.0, 2.5])}  # fmt: skip
    for f in (change_interval, ratio_interval):
        r = f(pairs)
        assert (r["n"], r["units"]) == (7, 3) and r["note"] == ""


def test_a_ratio_over_nothing_is_not_a_number():
    r = ratio_interval({"d": ([1.0, 2.0], [0.0, 0.0])})
    assert math.isnan(r["value"])


def test_fieller_does_not_depend_on_the_unit():
    """The same costs in thousands: the same ratio and interval (the bounded case with a
    denominator below 1, and a discriminant below 1)."""
    a = np.array([80.0, 90.0, 85.0, 95.0, 88.0])
    b = np.array([100.0, 104.0, 98.0, 110.0, 101.0])
    big, small = ratio_interval({"d": (a, b)}), ratio_interval({"d": (a / 1000, b / 1000)})
    assert (small["value"], small["ci_low"], small["ci_high"]) == pytest.approx(
        (big["value"], big["ci_low"], big["ci_high"])
    )


def test_a_denominator_near_zero_gives_the_ray_that_holds_the_estimate():
    """b's mean is not clearly away from 0, but a - b clearly is: Fieller's set is two rays;
    the one holding the estimate (16.6) starts where the t statistic reaches its quantile."""
    a, b = np.array([0.306, 0.293, 0.332]), np.array([0.025, -0.007, 0.038])
    r = ratio_interval({"d": (a, b)})
    assert r["value"] == pytest.approx(a.mean() / b.mean()) and r["p"] < 0.05
    assert r["ci_high"] == math.inf and 1 < r["ci_low"] < r["value"]
    d = a - r["ci_low"] * b
    assert abs(d.mean()) / (d.std(ddof=1) / math.sqrt(3)) == pytest.approx(stats.t.ppf(0.975, 2))
    red = reduction_interval({"d": (a, b)})
    assert red["ci_low"] == -math.inf and red["ci_high"] == pytest.approx((1 - r["ci_low"]) * 100)


def test_a_reduction_without_a_test_has_no_interval_and_takes_the_level():
    same = reduction_interval({"d": ([2.0, 2.0], [1.0, 1.0])})
    assert same["value"] == -100.0 and math.isnan(same["ci_low"]) and math.isnan(same["ci_high"])
    a = [80.0, 90.0, 85.0, 95.0, 88.0]
    b = [100.0, 104.0, 98.0, 110.0, 101.0]
    wide, narrow = reduction_interval({"d": (a, b)}), reduction_interval({"d": (a, b)}, 0.5)
    assert wide["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < wide["ci_high"]


def test_holm_caps_at_one_and_a_missing_p_is_no_test():
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    adj = holm([0.01, None])
    assert adj[0] == pytest.approx(0.01) and math.isnan(adj[1])


def test_p_is_written_with_the_fewest_digits_that_keep_its_side_of_the_line():
    assert p_text(0.001) == "p = 0.001" and p_text(0.00099) == "p < 0.001"
    assert p_text(0.1234) == "p = 0.12"
    assert p_text(0.04961) == "p = 0.0496"  # 0.05 would cross the line; 3 digits do not
    assert p_text(0.049951) == "p = 0.04995"
    assert p_text(0.05) == "p = 0.05"  # at the line: not below it, and not said to be


def test_mean_ci_of_two_values_has_their_sd():
    m, sd, lo, hi = mean_ci([1.0, 3.0])
    assert (m, sd) == (2.0, pytest.approx(math.sqrt(2)))
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, 1, loc=2.0, scale=1.0))
