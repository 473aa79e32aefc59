"""The strategies table and the ranks (gsos.reports.strategies) on hand-made records whose
answers are worked out by hand: the common cost, each run's best at it, the cost to come
within 1 point with the runs that never get there counted at the common cost, the ranks."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from test_summary import run

from gsos.reports.stats import mean_interval
from gsos.reports.strategies import (
    at_cost,
    curve,
    per_dataset,
    ranks_table,
    run_summary,
    strategies_shown,
    strategies_table,
    summaries,
)


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


def assert_not_held_out(runs, strategy: str) -> None:
    """``strategy`` (best at 0.99) is not ranked, and the target is simultaneous's."""
    assert strategy not in set(ranks_table(runs)["strategy"])
    table = strategies_table(runs).set_index("strategy")
    target = "target val. accuracy (1 point below the best mean at the common cost)"
    assert table.loc[strategy, target] == pytest.approx(2.35 / 3 - 0.01)
    assert table.loc[strategy, "validation held out"] == "no"


def test_a_strategy_trained_on_validation_is_neither_ranked_nor_the_target():
    assert_not_held_out(experiment() + [run("bilevel_vf", s, [0.99, 0.99]) for s in range(3)],
                        "bilevel_vf")  # fmt: skip


def test_at_cost_reads_the_last_evaluation_within_it():
    c = curve(run("x", 0, [0.5, 0.8, 0.7]))
    assert at_cost(c, 99) == (pytest.approx(float("nan"), nan_ok=True),) * 2
    assert at_cost(c, 200) == (0.8, pytest.approx(0.79))
    assert at_cost(c, 10_000) == (0.8, pytest.approx(0.79))


# --- more hand-made experiments (issue 33) ---------------------------------------------------


def table_of(runs, charges=None):
    return strategies_table(runs, charges).set_index("strategy")


def test_pilot_runs_are_charged_to_each_run_from_its_start():
    """gsos_measured's pilots cost 600 sample-epochs, shared by its 2 runs: each starts at
    300, so its 2 trials end at 500 and the common cost is 400 (simultaneous's 4 trials):
    there gsos_measured has its first trial only, and it ranks below simultaneous."""
    runs = [
        run("simultaneous", 0, [0.5, 0.6, 0.7, 0.8]),
        run("simultaneous", 1, [0.5, 0.6, 0.7, 0.8]),
        run("gsos_measured", 0, [0.75, 0.99]),
        run("gsos_measured", 1, [0.74, 0.99]),
    ]
    charges = {("d", "gsos_measured"): 600.0}
    table = table_of(runs, charges)
    g, s = table.loc["gsos_measured"], table.loc["simultaneous"]
    assert g["total cost (sample-epochs, mean)"] == 500.0
    assert s["total cost (sample-epochs, mean)"] == 400.0  # nothing charged where none is
    assert g["of which pilot runs (sample-epochs per run)"] == 300.0
    assert s["of which pilot runs (sample-epochs per run)"] == 0.0
    assert (g["common cost (sample-epochs)"], s["common cost (sample-epochs)"]) == (400.0, 400.0)
    assert g["best val. accuracy at the common cost (mean)"] == pytest.approx(0.745)
    assert g["best val. accuracy (mean)"] == pytest.approx(0.99)
    assert g["cost / simultaneous's"] == pytest.approx(500 / 400)
    ranks = ranks_table(runs, charges).set_index("strategy")["average rank (mean)"]
    assert (ranks["simultaneous"], ranks["gsos_measured"]) == (1.0, 2.0)
    free = ranks_table(runs).set_index("strategy")["average rank (mean)"]  # uncharged: 200
    assert (free["simultaneous"], free["gsos_measured"]) == (2.0, 1.0)
    assert table_of(runs).loc["gsos_measured", "total cost (sample-epochs, mean)"] == 200.0


def test_pilot_charges_are_read_from_the_measured_groups_files(tmp_path):
    from gsos.reports.strategies import pilot_charges

    files = []
    for dataset, charged in [("d", 600), ("e", 0)]:
        path = tmp_path / f"{dataset}.json"
        path.write_text(json.dumps({"dataset": dataset, "pilot_cost_charged": charged}))
        files.append(path)
    assert pilot_charges(files) == {("d", "gsos_measured"): 600.0}
    assert pilot_charges([]) == {}


def test_a_run_of_one_trial_and_a_dataset_of_one_run_are_summarised():
    runs = [run("simultaneous", 0, [0.7], dataset="tiny"), run("random", 0, [0.6], dataset="d2")]
    table = strategies_table(runs).set_index("dataset")
    assert table.loc["tiny", "strategy"] == "simultaneous"
    assert table.loc["tiny", "best val. accuracy (mean)"] == 0.7
    assert table.loc["d2", "runs"] == 1 and table.loc["d2", "evaluations (mean)"] == 1.0
    rows = per_dataset(summaries(runs))
    assert [d["dataset"] for d in rows] == ["d2", "tiny"]
    tiny = rows[1]
    assert (tiny["common"], tiny["leader"]) == (100.0, "simultaneous")
    assert tiny["target"] == pytest.approx(0.69) and tiny["val_means"] == {"simultaneous": 0.7}


def test_the_leader_is_the_best_mean_not_the_first_name():
    runs = [run("random", 0, [0.6]), run("hyperband", 0, [0.9])]
    (d,) = per_dataset(summaries(runs))
    assert d["leader"] == "hyperband" and d["target"] == pytest.approx(0.89)


def test_failed_trials_missing_costs_and_repeats_in_a_run():
    records = run("simultaneous", 0, [0.5, 0.99, 0.6, 0.7])
    records[1]["status"] = "diverged"  # its 0.99 is no result
    records[2]["sample_epochs"] = None  # a failure before its first step: nothing spent
    records[2]["status"], records[2]["val_accuracy"] = "fail", None
    records[0]["test_accuracy"] = None
    records[0]["repeats_before"], records[3]["repeats_before"] = 2, None
    s = run_summary(records)
    assert (s["best_val_accuracy"], s["repeats"], s["sample_epochs"]) == (0.7, 2, 300.0)
    assert s["test_accuracy"] == pytest.approx(0.69) and s["seconds"] == 4.0
    c = s["curve"]
    assert c["iteration"].tolist() == [1, 2, 3, 4]
    assert c["sample_epochs"].tolist() == [100.0, 200.0, 200.0, 300.0]
    assert c["best_val_accuracy"].tolist() == [0.5, 0.5, 0.5, 0.7]
    assert np.isnan(c["test_accuracy"][:3]).all()  # the best so far has none
    assert c["test_accuracy"][3] == pytest.approx(0.69)
    charged = run_summary(records, 50.0)
    assert charged["sample_epochs"] == 350.0 and charged["curve"]["sample_epochs"][0] == 150.0


def test_a_run_where_nothing_finished_has_no_best():
    records = run("random", 0, [0.5, 0.6])
    for r in records:
        r["status"], r["val_accuracy"] = "fail", None
    s = run_summary(records)
    assert math.isnan(s["best_val_accuracy"]) and math.isnan(s["test_accuracy"])
    c = s["curve"]
    assert np.isnan(c["best_val_accuracy"]).all() and np.isnan(c["test_accuracy"]).all()
    assert all(math.isnan(v) for v in at_cost(c, 10_000))


def test_at_cost_counts_an_evaluation_ending_exactly_at_the_cost():
    c = curve(run("x", 0, [0.5, 0.8, 0.7]))
    assert at_cost(c, 100) == (0.5, pytest.approx(0.49))


def test_cost_to_reach_is_the_first_finished_trial_at_the_target():
    from gsos.reports.strategies import cost_to_reach

    records = run("x", 0, [0.5, 0.8, 0.9])
    records[0]["status"], records[0]["val_accuracy"] = "fail", None
    c = curve(records)
    assert cost_to_reach(c, 0.0) == 200.0  # not the failed first trial
    assert cost_to_reach(c, 0.8) == 200.0  # exactly at the target counts
    assert math.isnan(cost_to_reach(c, 0.95))


def test_the_cost_ratio_pairs_only_seeds_both_ran():
    runs = experiment() + [run("random", 7, [0.1, 0.2, 0.3, 0.4])]  # seed 7: no baseline
    table = table_of(runs)
    assert table.loc["random", "cost / simultaneous's pairs"] == 3
    assert table.loc["random", "cost / simultaneous's"] == pytest.approx(2 / 3)
    assert table.loc["random", "runs"] == 4


def test_a_dataset_without_a_result_at_the_common_cost_has_no_target():
    runs = [run("random", 0, [0.5]), run("simultaneous", 0, [0.5, 0.6])]
    for r in runs[0]:
        r["status"], r["val_accuracy"] = "fail", None
    runs[1][0]["status"], runs[1][0]["val_accuracy"] = "fail", None
    table = table_of(runs)
    key = "cost to target (sample-epochs, restricted) (mean)"
    assert math.isnan(table.loc["random", key]) and math.isnan(table.loc["simultaneous", key])
    assert table.loc["random", "runs reaching the target within the common cost"] == 0


def test_reaching_the_target_one_sample_epoch_past_the_common_cost_is_not_within_it():
    runs = [run("simultaneous", 0, [0.5, 0.8]), run("random", 0, [0.5, 0.85])]
    runs[1][1]["sample_epochs"] = 101  # random ends at 201: the common cost is 200
    table = table_of(runs)
    reached = "runs reaching the target within the common cost"
    assert table.loc["random", reached] == 0 and table.loc["simultaneous", reached] == 1


def test_intervals_stay_within_what_each_quantity_can_take():
    """Near-perfect accuracies and a cost to target that varies widely: every accuracy's
    interval stays in [0, 1], the restricted cost's in [0, the common cost]."""
    vals = [[0.99, 0.995], [0.7, 0.71], [1.0, 1.0]]
    runs = [run("simultaneous", s, v, tests=v) for s, v in enumerate(vals)]
    runs += [run("random", s, v, tests=v) for s, v in enumerate([[0.99, 0.1], [0.99, 0.1],
                                                                  [0.1, 0.1]])]  # fmt: skip
    table = table_of(runs)
    for st in ("simultaneous", "random"):
        for key in ("best val. accuracy at the common cost", "test accuracy at the common cost",
                    "best val. accuracy", "test accuracy"):  # fmt: skip
            assert 0 <= table.loc[st, f"{key} CI low"] <= table.loc[st, f"{key} CI high"] <= 1
    key = "cost to target (sample-epochs, restricted)"
    lo, hi = table.loc["random", f"{key} CI low"], table.loc["random", f"{key} CI high"]
    assert (lo, hi) == (0.0, 200.0)  # 100, 100 and never (200): the t interval overshoots both
    assert table.loc["simultaneous", "test accuracy (mean)"] == pytest.approx(
        (0.995 + 0.71 + 1) / 3
    )


def test_each_row_names_its_strategy_and_how_it_is_matched():
    from gsos.reports.strategies import matched_by
    from gsos.search.optimizers.registry import title

    table = table_of(experiment() + [run("hyperband", s, [0.5, 0.5]) for s in range(3)])
    assert table.loc["random", "strategy name"] == title("random") == "Random search"
    assert table.loc["random", "matched by"] == "iterations (hpo.iterations)"
    assert table.loc["hyperband", "matched by"] == "cost (simultaneous's sample-epochs)"
    assert table.loc["random", "validation held out"] == "yes"
    assert matched_by("no_such_strategy") == "unknown"
    assert table.loc["simultaneous", "total time (s, mean)"] == 3.0
    assert table.loc["random", "total time (s, mean)"] == 2.0


def test_ranks_name_their_strategies_count_missing_cells_and_rank_them_last():
    from gsos.search.optimizers.registry import title

    runs = experiment()
    runs[3][0]["status"], runs[3][0]["val_accuracy"] = "fail", None  # random seed 0: none yet
    runs[3][1]["status"], runs[3][1]["val_accuracy"] = "fail", None
    ranks = ranks_table(runs).set_index("strategy")
    assert ranks.loc["random", "strategy name"] == title("random")
    assert ranks.loc["random", "cells without a result at the common cost"] == 1
    assert ranks.loc["random", "average rank (mean)"] == 2.0  # last in every cell
    assert "index" not in ranks_table(runs).columns
    plain = ranks_table(experiment()).set_index("strategy")  # simultaneous: ranks 2, 1, 1
    assert plain.loc["simultaneous", "average rank CI low"] == 1.0  # clipped to rank 1


def test_gsos_with_a_bilevel_vf_group_is_neither_ranked_nor_the_target():
    """gsos.continuous_inner: bilevel_vf fits the network on validation in the weight_decay
    group, which the strategy's name does not say: a run whose trainings took an
    augmented-Lagrangian step is not held out, however good its validation accuracy."""
    runs = experiment() + [run("gsos", s, [0.99, 0.99]) for s in range(3)]
    for records in runs[-3:]:
        records[1]["value_function"] = {"phase": "al", "images": 10}
    assert_not_held_out(runs, "gsos")
    plain = strategies_table(experiment() + [run("gsos", 0, [0.99, 0.99])])
    assert plain.set_index("strategy").loc["gsos", "validation held out"] == "yes"


def test_ranks_are_taken_at_the_tables_common_cost_when_an_unranked_strategy_sets_it():
    """bilevel_vf is not ranked, but its runs count for the common cost as in the strategies
    table (100 here): there random (0.7) beats simultaneous (0.5); at 200, the common cost
    of the ranked strategies alone, simultaneous (0.9) would win."""
    runs = [run("simultaneous", s, [0.5, 0.9]) for s in range(3)]
    runs += [run("random", s, [0.7, 0.7]) for s in range(3)]
    runs += [run("bilevel_vf", s, [0.99]) for s in range(3)]
    table = strategies_table(runs).set_index("strategy")
    assert (table["common cost (sample-epochs)"] == 100).all()
    ranks = ranks_table(runs).set_index("strategy")["average rank (mean)"]
    assert (ranks["random"], ranks["simultaneous"]) == (1.0, 2.0)


def test_ranks_per_dataset():
    runs = experiment() + [
        run("simultaneous", 0, [0.5, 0.5], dataset="e"), run("random", 0, [0.9, 0.9], dataset="e"),
    ]  # fmt: skip
    ranks = ranks_table(runs).set_index("strategy")
    assert ranks.loc["random", "rank on e (mean)"] == 1.0
    assert ranks.loc["random", "rank on d (mean)"] == pytest.approx(5 / 3)
    assert ranks.loc["random", "dataset × seed cells"] == 4


def test_no_strategy_to_rank_gives_an_empty_table_with_its_columns():
    ranks = ranks_table([run("bilevel_vf", 0, [0.9])])
    assert ranks.empty and list(ranks.columns)[:3] == [
        "strategy", "strategy name", "average rank (mean)",
    ]  # fmt: skip
    assert "cells without a result at the common cost" in ranks.columns


def test_the_shown_table_reads_as_people_read_it():
    runs = experiment() + [run("bilevel_vf", s, [0.99, 0.99]) for s in range(2)]
    runs.append(run("bilevel_vf", 2, [0.99, 0.99, 0.99]))
    shown = strategies_shown(strategies_table(runs)).set_index("strategy")
    sim, rnd = shown.loc["Simultaneous TPE"], shown.loc["Random search"]
    assert (sim["dataset"], sim["runs"], sim["matched by"]) == ("d", "3", "iterations")
    assert sim["trainings (distinct)"] == "3 (3)" and rnd["trainings (distinct)"] == "2 (2)"
    vf = shown.loc["Bilevel (value function) (validation not held out)"]
    assert vf["trainings (distinct)"] == "2.3 (2.3)" and vf["matched by"] == "cost"
    assert sim["cost (sample-epochs, × simultaneous)"] == "300 (1.00×)"  # no spread: no interval
    assert rnd["cost (sample-epochs, × simultaneous)"] == "200 (0.67×)"
    m = mean_interval([0.8, 0.6, 0.95], (0, 1))
    assert sim["best val. acc. at the common cost"] == (
        f"{m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
    )
    t = mean_interval([0.79, 0.61, 0.94], (0, 1))
    assert sim["test acc. at the common cost"] == (
        f"{t['value']:.3f} [{t['ci_low']:.3f}, {t['ci_high']:.3f}]"
    )
    f = mean_interval([0.79, 0.88, 0.94], (0, 1))
    assert sim["test acc. (final)"] == f"{f['value']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}]"
    r = mean_interval([100, 200, 200], (0, 200))
    assert rnd["cost to within 1 point of the best"] == (
        f"166.6667 [{r['ci_low']:.4f}, {r['ci_high']:,.0f}] (1/3)"
    )


def test_texts_for_missing_and_unbounded_values():
    from gsos.reports.strategies import acc_text, cost_text, ratio_text, reach_text

    assert acc_text(float("nan"), 0.1, 0.2) == "n/a"
    assert acc_text(0.5, float("nan"), 0.6) == "0.500"
    assert acc_text(0.5, 0.4, 0.6) == "0.500 [0.400, 0.600]"
    key = "cost / simultaneous's"
    row = {key: 1.07, f"{key} CI low": 0.97, f"{key} CI high": float("inf"),
           "total cost (sample-epochs, mean)": 1234.0}  # fmt: skip
    assert ratio_text(row) == "1.07× [0.97, ∞]"
    assert cost_text(row) == "1,234 (1.07× [0.97, ∞])"
    assert ratio_text({**row, f"{key} CI low": float("nan")}) == "1.07×"
    assert ratio_text({**row, key: float("nan")}) == ""
    assert cost_text({**row, key: float("nan")}) == "1,234"
    k = "cost to target (sample-epochs, restricted)"
    reach = {"runs reaching the target within the common cost": 2, "runs": 3,
             f"{k} (mean)": 150.0, f"{k} CI low": 100.0, f"{k} CI high": 200.0}  # fmt: skip
    assert reach_text(reach) == "150 [100, 200] (2/3)"
    assert reach_text({**reach, f"{k} CI low": float("nan")}) == "150 (2/3)"
    assert reach_text({**reach, "runs reaching the target within the common cost": 0}) == (
        "not reached (0/3)"
    )
    assert reach_text({**reach, f"{k} (mean)": float("nan")}) == "no target"


def strategies_written(tmp_path, paths, pilot_cost_charged: float) -> pd.DataFrame:
    """The strategies verb's table for these runs of dataset d, its pilots charged so much."""
    from gsos.reports.strategies import write_strategies

    measured = tmp_path / "m.json"
    measured.write_text(json.dumps({"dataset": "d", "pilot_cost_charged": pilot_cost_charged}))
    write_strategies(paths, [measured], tmp_path / "out")
    return pd.read_csv(tmp_path / "out" / "strategies.csv").set_index("strategy")


def test_the_strategies_verb_writes_the_tables_and_figures(tmp_path):
    from gsos.search.records import RecordWriter

    runs = experiment() + [run("bilevel_vf", s, [0.99, 0.99]) for s in range(3)]
    paths = []
    for i, records in enumerate(runs):
        path = tmp_path / "runs" / f"{i}.jsonl"
        for r in records:
            RecordWriter(path).append(
                {
                    **r,
                    "budget": 1,
                    "curve": [{"epoch": 1, "val_accuracy": r["val_accuracy"], "val_loss": 0.5}],
                }
            )
        paths.append(path)
    table = strategies_written(tmp_path, paths, pilot_cost_charged=0)
    out = tmp_path / "out"
    assert table.loc["random", "cost / simultaneous's"] == pytest.approx(2 / 3)
    assert (table["of which pilot runs (sample-epochs per run)"] == 0).all()
    ranks = pd.read_csv(out / "ranks.csv")
    assert list(ranks["strategy"]) == ["simultaneous", "random"]
    assert (
        "Bilevel (value function) not ranked: validation not held out"
        in (out / "ranks.html").read_text()
    )
    assert "0.783 [" in (out / "strategies.md").read_text()
    for figure in ("anytime.png", "ranks.png", "learning_curves.png"):
        assert (out / figure).stat().st_size > 1000


def test_a_cell_without_a_result_counts_as_last_not_as_missing():
    """Random wins seeds 1 and 2 but has nothing at the common cost on seed 0: its ranks are
    2, 1, 1 (mean 4/3), not 1 and 1 with seed 0 left out."""
    runs = [run("simultaneous", s, [0.5, 0.5]) for s in range(3)]
    runs += [run("random", s, [0.9, 0.9]) for s in range(3)]
    for r in runs[3]:
        r["status"], r["val_accuracy"] = "fail", None
    ranks = ranks_table(runs).set_index("strategy")
    assert ranks.loc["random", "average rank (mean)"] == pytest.approx(4 / 3)
    assert ranks.loc["simultaneous", "average rank (mean)"] == pytest.approx(5 / 3)


def test_a_single_run_carries_all_of_its_pilots():
    runs = [run("simultaneous", 0, [0.5, 0.6]), run("gsos_measured", 0, [0.5])]
    table = table_of(runs, {("d", "gsos_measured"): 600.0})
    assert table.loc["gsos_measured", "of which pilot runs (sample-epochs per run)"] == 600.0
    assert table.loc["gsos_measured", "total cost (sample-epochs, mean)"] == 700.0


def test_a_finite_ratio_interval_has_two_decimals_at_both_ends():
    from gsos.reports.strategies import ratio_text

    key = "cost / simultaneous's"
    row = {key: 1.07, f"{key} CI low": 0.971, f"{key} CI high": 1.184}
    assert ratio_text(row) == "1.07× [0.97, 1.18]"


def test_the_strategies_verb_charges_pilots_and_captions_its_tables(tmp_path):
    from gsos.reports.strategies import write_strategies
    from gsos.search.records import RecordWriter

    runs = experiment() + [run("gsos_measured", s, [0.9, 0.95]) for s in range(3)]
    runs.append(run("bilevel_vf", 0, [0.99, 0.99]))  # 200: the common cost stays 200
    paths = []
    for i, records in enumerate(runs):
        path = tmp_path / "runs" / f"{i}.jsonl"
        for r in records:
            RecordWriter(path).append(r)
        paths.append(path)
    table = strategies_written(tmp_path, paths, pilot_cost_charged=300)
    out = tmp_path / "out"
    assert table.loc["gsos_measured", "of which pilot runs (sample-epochs per run)"] == 100.0
    assert table.loc["gsos_measured", "total cost (sample-epochs, mean)"] == 300.0
    ranks = pd.read_csv(out / "ranks.csv").set_index("strategy")
    # at the common cost (200) gsos_measured, charged 100 a run, has its first trial only
    # (0.9): ranks 1.5 (a tie with random), 1 and 2; uncharged it would have 0.95 and 7/6
    assert ranks.loc["gsos_measured", "average rank (mean)"] == 1.5
    assert "Every strategy at the cost every run reached" in (out / "strategies.html").read_text()
    shown = (out / "ranks.md").read_text()
    assert "average rank (mean [95 % CI])" in shown and "CI low" not in shown
    assert "1.50 [" in shown and "1.5000" not in shown  # two decimals, as the ranks have
    write_strategies(paths[:6], [], tmp_path / "plain")
    title = (tmp_path / "plain" / "ranks.html").read_text()
    assert "(1 = best)" in title and "not ranked" not in title
