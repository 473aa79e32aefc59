import re

import pandas as pd
import pytest
from scipy import stats

from gsos.reports import formats as F
from gsos.reports import paper as T


def test_published_table3_reproduces_published_table4_except_the_intel_cell():
    check = T.check_published_table4()
    flagged = check[check["flag"] != ""]
    assert list(zip(flagged["dataset"], flagged["column"], strict=True)) == [
        ("Intel_Natural_Scene", "test_accuracy_change")
    ]
    assert flagged["from_published_table3"].iloc[0] == pytest.approx(0.0092)
    assert len(check) == 18


def test_headline_averages_are_ratios_of_sums():
    got = T.paper_headline(T.published_table3()).set_index("figure")["value"].round(2)
    assert got.to_dict() == {
        "time_to_best_reduction_percent": 19.69,
        "total_time_reduction_percent": 31.90,
        "val_accuracy_change_percent": -2.23,
        "test_accuracy_change_percent": -0.44,
    }
    # the per-dataset mean, the other natural reading, does not give the paper's number
    t4 = T.table4(T.published_table3())
    assert round(t4["time_reduction_percent"].mean(), 2) == 31.94
    assert (T.check_published_headline()["flag"] == "").all()


def record(dataset, strategy, seed, it, val, test, elapsed, status="ok"):
    return {
        "dataset": dataset,
        "strategy": strategy,
        "seed": seed,
        "iteration": it,
        "status": status,
        "val_accuracy": val,
        "test_accuracy": test,
        "elapsed_seconds": elapsed,
        "suggest_seconds": 0.01,
        "sample_epochs": 100,
        "diverged": False,
        "params": {"lr": it},
    }


def test_run_metrics_take_the_test_accuracy_of_the_best_validation_trial():
    recs = [
        record("d", "gsos", 0, 1, 0.5, 0.9, 10.0),
        record("d", "gsos", 0, 2, 0.8, 0.6, 25.0),
        record("d", "gsos", 0, 3, None, None, 40.0, status="fail"),
        record("d", "gsos", 0, 4, 0.8, 0.7, 50.0),
    ]
    m = T.run_metrics(recs)
    assert m["best_iteration"] == 2  # the earliest of a tie
    assert m["test_accuracy"] == 0.6  # the test set never selects
    assert m["time_to_best_seconds"] == 25.0 and m["total_seconds"] == 50.0
    assert m["n_failed"] == 1 and m["sample_epochs_to_best"] == 200


def two_seeds():
    runs = []
    for seed in (0, 1):
        runs.append(
            [
                record("d", "gsos", seed, 1, 0.7, 0.6, 5.0),
                record("d", "gsos", seed, 2, 0.8 + seed / 100, 0.7, 10.0 + seed),
            ]
        )
        runs.append(
            [
                record("d", "simultaneous", seed, 1, 0.9, 0.8, 8.0),
                record("d", "simultaneous", seed, 2, 0.5, 0.5, 20.0 + 3 * seed),
            ]
        )
    return T.runs_frame(runs)


def test_tables_from_runs():
    frame = two_seeds()
    t3 = T.table3(frame)
    row = t3.set_index("strategy").loc["gsos"]
    assert row["n_runs"] == 2 and row["mean_total_seconds"] == 10.5
    half = stats.t.ppf(0.975, 1) * 0.5  # Student-t over the 2 runs (10 s and 11 s)
    assert row["ci_low_total_seconds"] == pytest.approx(10.5 - half)
    assert row["ci_high_total_seconds"] == pytest.approx(10.5 + half)
    t4 = T.table4(t3, frame).iloc[0]
    assert t4["time_reduction_percent"] == pytest.approx((21.5 - 10.5) / 21.5 * 100)
    assert t4["time_to_best_reduction_percent"] == pytest.approx((8 - 10.5) / 8 * 100)
    assert t4["val_accuracy_change"] == pytest.approx(0.805 - 0.9)
    assert t4["sample_epochs_reduction_percent"] == 0.0  # both spent 200 sample-epochs a run
    assert t4["ci_low_val_accuracy_change"] <= t4["val_accuracy_change"]
    assert t4["val_accuracy_change"] <= t4["ci_high_val_accuracy_change"]
    assert 0 <= t4["p_time_reduction_percent"] <= 1


def test_intervals_never_leave_their_metrics_bounds():
    """Accuracies near 1 and times near 0, with a wide spread: a t-interval would leave
    [0, 1] and go below 0; the bootstrap intervals cannot."""
    runs = []
    for seed, (acc, secs) in enumerate([(1.0, 0.5), (0.99, 30.0), (0.7, 0.4), (1.0, 0.3)]):
        for strategy in ("gsos", "simultaneous"):
            runs.append([record("d", strategy, seed, 1, acc, acc, secs)])
    t3 = T.table3(T.runs_frame(runs))
    assert (t3["ci_high_best_val_accuracy"] <= 1).all() and (t3["ci_low_test_accuracy"] >= 0).all()
    assert (t3["ci_low_total_seconds"] >= 0).all()
    from gsos.reports.stats import mean_ci

    assert mean_ci([1.0, 0.99, 0.7, 1.0])[3] > 1  # the t-interval would have


def test_headline_has_an_interval_and_one_convention():
    head = T.headline(two_seeds()).set_index("figure")
    acc = head.loc["val. accuracy change (absolute)"]
    assert acc["value"] == pytest.approx(0.805 - 0.9)  # absolute, as Table 4
    assert acc["value CI low"] <= acc["value"] <= acc["value CI high"]
    assert "sample-epochs reduction (%)" in head.index


def test_markdown_and_time_format():
    md = F.to_markdown(pd.DataFrame({"a": [1.23456, float("nan"), 6.0], "b": ["x", "y", "z"]}))
    assert md.splitlines()[2].split() == ["|", "1.2346", "|", "x", "|"] and "n/a" in md
    assert md.splitlines()[4].split()[1] == "6"  # a whole number reads as one
    assert T.hms_to_seconds("01:02:05") == 3725


def test_paired_tests_and_published_side_by_side():
    runs = []
    for seed in range(3):
        runs.append([record("d", "gsos", seed, 1, 0.7 + seed / 100, 0.6, 5.0 + seed)])
        runs.append([record("d", "simultaneous", seed, 1, 0.8 + seed / 100, 0.7, 9.0 + seed)])
    frame = T.runs_frame(runs)
    tests = T.paired_tests(frame).set_index("metric (GSOS - simultaneous)")
    assert tests.loc["total time (s)", "mean difference"] == pytest.approx(-4.0)
    assert tests.loc["best val. accuracy", "pairs"] == 3
    t3 = T.table3(frame)
    side = T.table3_vs_published(t3)
    ahe = side[(side["dataset"] == "AHE") & (side["strategy"] == "gsos")].iloc[0]
    assert ahe["mean_best_val_accuracy_published"] == 0.7433
    assert pd.isna(ahe["mean_best_val_accuracy_reproduced"])
    head = T.headline_vs_published(t3).set_index("figure")
    assert head.loc["total time reduction (%)", "value_published"] == 31.90
    assert head["value_reproduced"].isna().all()  # dataset 'd' is not one of the paper's
    assert (head["paper datasets in this experiment"] == "none").all()


def test_latex_and_html_escape_and_flag():
    df = pd.DataFrame({"a_b": [0.5], "flag": ["DISAGREES"], "x": ["<b>"]})
    tex = F.to_latex(df)
    assert "a\\_b" in tex and "\\toprule" in tex
    html = F.to_html(df, title="t")
    assert re.search(r"<td [^>]*class=\"[^\"]*\bflag\b[^\"]*\" >DISAGREES</td>", html)
    assert "&lt;b&gt;" in html and html == F.to_html(df, title="t")  # the same page each time
