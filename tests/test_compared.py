"""The strategies table and the ranks (gsos.reports.strategies) on hand-made records whose
answers are worked out by hand: the common cost, each run's best at it, the cost to come
within 1 point with the runs that never get there counted at the common cost, the ranks."""

import math

import pytest

from gsos.reports.strategies import at_cost, curve, ranks_table, strategies_table

COST = 100  # sample-epochs a trial


def run(strategy, seed, vals, tests=None, dataset="d"):
    tests = tests or [v - 0.01 for v in vals]
    return [
        {
            "dataset": dataset,
            "strategy": strategy,
            "seed": seed,
            "iteration": i + 1,
            "status": "ok",
            "val_accuracy": v,
            "test_accuracy": t,
            "sample_epochs": COST,
            "elapsed_seconds": float(i + 1),
            "params": {"x": i},
            "continues": None,
        }  # fmt: skip
        for i, (v, t) in enumerate(zip(vals, tests, strict=True))
    ]


def experiment():
    """Simultaneous TPE: 3 trials a seed (300 sample-epochs); random search: 2 (200), so the
    common cost is 200. At 200: simultaneous 0.8, 0.6, 0.95 (mean 0.7833); random 0.9, 0.3,
    0.55 (mean 0.5833). Target: 0.7833 - 0.01."""
    return [
        run("simultaneous", 0, [0.5, 0.8, 0.7]),
        run("simultaneous", 1, [0.6, 0.6, 0.9], tests=[0.61, 0.2, 0.88]),
        run("simultaneous", 2, [0.95, 0.1, 0.1]),
        run("random", 0, [0.9, 0.1]),
        run("random", 1, [0.2, 0.3]),
        run("random", 2, [0.5, 0.55]),
    ]


def test_the_common_cost_and_each_runs_best_at_it():
    table = strategies_table(experiment()).set_index("strategy")
    assert (table["common cost (sample-epochs)"] == 200).all()  # the least, not the most
    sim, rnd = table.loc["simultaneous"], table.loc["random"]
    assert sim["best val. accuracy at the common cost (mean)"] == pytest.approx(2.35 / 3)
    assert rnd["best val. accuracy at the common cost (mean)"] == pytest.approx(1.75 / 3)
    # a tie keeps the earlier trial, whose test accuracy is 0.61 (not the later 0.2)
    assert sim["test accuracy at the common cost (mean)"] == pytest.approx((0.79 + 0.61 + 0.94) / 3)
    assert sim["best val. accuracy (mean)"] == pytest.approx((0.8 + 0.9 + 0.95) / 3)


def test_cost_to_within_one_point_counts_runs_that_never_get_there():
    """Target 0.7733: simultaneous reaches it at 200, (at 300: beyond the common cost, so
    200), 100; random at 100, never (200), never (200). A mean over the runs that got there
    only would give random 100 and simultaneous 150: random would look cheaper."""
    table = strategies_table(experiment()).set_index("strategy")
    target = "target val. accuracy (1 point below the best mean at the common cost)"
    assert table.loc["random", target] == pytest.approx(2.35 / 3 - 0.01)
    cost = "cost to target (sample-epochs, restricted) (mean)"
    reached = "runs reaching the target within the common cost"
    assert table.loc["simultaneous", cost] == pytest.approx(500 / 3)
    assert table.loc["random", cost] == pytest.approx(500 / 3)
    assert (table.loc["simultaneous", reached], table.loc["random", reached]) == (2, 1)


def test_cost_ratio_is_a_ratio_of_means_against_simultaneous():
    table = strategies_table(experiment()).set_index("strategy")
    assert table.loc["random", "cost / simultaneous's"] == pytest.approx(2 / 3)
    assert table.loc["simultaneous", "cost / simultaneous's"] == 1.0
    assert math.isnan(table.loc["random", "cost / simultaneous's CI low"])  # no spread


def test_ranks_by_validation_at_the_common_cost():
    """Seed 0: random 0.9 beats simultaneous 0.8; seeds 1 and 2: simultaneous wins."""
    ranks = ranks_table(experiment()).set_index("strategy")
    assert ranks.loc["simultaneous", "average rank (mean)"] == pytest.approx(4 / 3)
    assert ranks.loc["random", "average rank (mean)"] == pytest.approx(5 / 3)
    assert list(ranks.index) == ["simultaneous", "random"]  # best first
    lo, hi = ranks.loc["random", ["average rank CI low", "average rank CI high"]]
    assert 1 <= lo <= hi <= 2  # clipped to the ranks there are


def test_a_strategy_trained_on_validation_is_neither_ranked_nor_the_target():
    runs = experiment() + [run("bilevel_vf", s, [0.99, 0.99]) for s in range(3)]
    ranks = ranks_table(runs)
    assert "bilevel_vf" not in set(ranks["strategy"])
    table = strategies_table(runs).set_index("strategy")
    target = "target val. accuracy (1 point below the best mean at the common cost)"
    assert table.loc["bilevel_vf", target] == pytest.approx(2.35 / 3 - 0.01)
    assert table.loc["bilevel_vf", "validation held out"] == "no"


def test_at_cost_reads_the_last_evaluation_within_it():
    c = curve(run("x", 0, [0.5, 0.8, 0.7]))
    assert at_cost(c, 99) == (pytest.approx(float("nan"), nan_ok=True),) * 2
    assert at_cost(c, 200) == (0.8, pytest.approx(0.79))
    assert at_cost(c, 10_000) == (0.8, pytest.approx(0.79))
