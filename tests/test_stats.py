import math

import numpy as np
import pytest
from scipy import stats

from gsos.reports.stats import mean_ci, paired_test


def test_mean_ci_matches_a_t_interval():
    x = [1.0, 2.0, 4.0, 7.0]
    mean, sd, lo, hi = mean_ci(x)
    assert mean == 3.5 and sd == pytest.approx(np.std(x, ddof=1))
    expected = stats.t.interval(0.95, 3, loc=3.5, scale=sd / 2)
    assert (lo, hi) == pytest.approx(expected)


def test_mean_ci_with_too_few_values():
    assert math.isnan(mean_ci([1.0])[1]) and mean_ci([1.0])[0] == 1.0
    assert all(math.isnan(v) for v in mean_ci([]))


def test_paired_test_detects_a_consistent_difference():
    a = [10.0, 12.0, 11.0, 13.0, 12.5]
    b = [12.0, 14.5, 13.0, 15.5, 14.0]
    out = paired_test(a, b)
    assert out["n_pairs"] == 5 and out["mean_difference"] == pytest.approx(-2.1)
    assert out["t_test_p"] < 0.01 and out["ci_high"] < 0
    # five pairs: the Wilcoxon signed-rank p cannot go below 2 / 2**5
    assert out["wilcoxon_p"] == pytest.approx(0.0625)


def test_paired_test_with_identical_runs():
    out = paired_test([1.0, 2.0], [1.0, 2.0])
    assert out["t_test_p"] == 1.0 and out["mean_difference"] == 0.0
