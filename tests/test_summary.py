"""The summary leads with the answer and says how sure it is; progress is honest from the
first line; no job runs long with nothing on the console."""

import io
import time

import numpy as np
import pytest

from gsos.reports.summary import markdown, summarise
from gsos.search.optimizers.base import Budget
from gsos.search.runner import Progress


def run(strategy, seed, accs, dataset="d", cost=100):
    """A run's records: one trial per accuracy, ``cost`` sample-epochs each."""
    return [
        {
            "dataset": dataset,
            "strategy": strategy,
            "seed": seed,
            "iteration": i + 1,
            "status": "ok",
            "val_accuracy": a,
            "test_accuracy": a - 0.01,
            "sample_epochs": cost,
            "elapsed_seconds": float(i + 1),
            "wall_time": 1000.0 + i + 1 + 100 * seed,
            "params": {"x": i},
            "continues": None,
        }  # fmt: skip
        for i, a in enumerate(accs)
    ]


def test_a_report_over_two_runs_of_one_strategy_says_no_difference():
    """A/A: the same strategy's results under two names, on disjoint seeds (the A/A harness
    holds the report's rate at 5 %); the summary says they cannot be told apart."""
    rng = np.random.default_rng(0)
    runs = []
    for seed in range(5):
        for strategy in ("gsos", "simultaneous"):
            runs.append(run(strategy, seed, list(0.9 + 0.01 * rng.standard_normal(4))))
    found = summarise(runs, {}, {})
    verdicts = found["datasets"][0]["verdicts"]
    assert "(5 pairs): cannot be told apart (p = " in verdicts[0]
    assert "Holm-adjusted over 4 comparisons" in verdicts[0]


def test_a_clear_difference_is_called_with_its_interval():
    runs = [run("gsos", s, [0.95 + 0.001 * s]) for s in range(5)]
    runs += [run("simultaneous", s, [0.90 + 0.002 * s]) for s in range(5)]
    found = summarise(runs, {}, {"search_space": {"epoch": {"low": 1, "high": 9}}})
    line = found["datasets"][0]["verdicts"][0]
    assert "GSOS (TPE) is higher" in line and "[+0.0" in line
    assert any("scaled-down regime: epochs 1..9" in c for c in found["caveats"])
    text = markdown(found, "x")
    assert text.startswith("# Summary: experiment x") and "| strategy " in text


def test_equal_differences_are_no_spread_not_a_win():
    """One image more on both seeds: the old summary said "+0.003 [+0.003, +0.003]: GSOS
    (TPE) is higher (p = 0, 2 seeds)"."""
    runs = [run("gsos", 0, [0.935]), run("gsos", 1, [0.95])]
    runs += [run("simultaneous", 0, [0.925]), run("simultaneous", 1, [0.94])]
    line = summarise(runs, {}, {})["datasets"][0]["verdicts"][0]
    assert "no spread" in line and "is higher" not in line


def test_counts_are_the_pairs_used_and_the_estimate_is_theirs():
    """A GSOS run without a finished trial: 4 pairs, said as 4, the value from those 4 (the
    old Table 4 took its value from all runs and its interval from the pairs)."""
    runs = [run("gsos", s, [0.95 + 0.01 * s]) for s in range(4)]
    runs.append([dict(r, status="fail", val_accuracy=None, test_accuracy=None)
                 for r in run("gsos", 4, [0.5])])  # fmt: skip
    runs += [run("simultaneous", s, [0.90 + 0.02 * s]) for s in range(5)]
    found = summarise(runs, {}, {})
    line = found["datasets"][0]["verdicts"][0]
    assert "(4 pairs)" in line
    fam = found["comparisons"].set_index("key")
    c = fam.loc["d | gsos - simultaneous | test_accuracy"]
    assert c["value"] == pytest.approx(np.mean([0.01 * s + 0.05 - 0.02 * s for s in range(4)]))
    assert c["ci_low"] <= c["value"] <= c["ci_high"] and c["pairs"] == 4


def test_ties_missing_values_and_validation_trained_strategies_in_the_leader_sentence():
    runs = []
    for s in range(3):
        runs += [run("simultaneous", s, [0.9]), run("random", s, [0.9])]
        runs.append(run("bilevel_vf", s, [0.99]))  # trains on validation: leads on nothing
        late = run("gsos_measured", s, [0.95])
        late[0]["sample_epochs"] = 10_000  # its pilots: no result at the common cost
        runs.append(late)
    found = summarise(runs, {}, {})
    leader = found["datasets"][0]["verdicts"][0]
    assert "Simultaneous TPE and Random search tie" in leader
    assert "GSOS (measured groups): no result within the common cost" in leader
    assert "Bilevel (value function): left out" in leader
    rows = {r["strategy"]: r for r in found["datasets"][0]["rows"]}
    target = rows["random"]["target val. accuracy (1 point below the best mean at the common cost)"]
    assert target == pytest.approx(0.89)  # not bilevel_vf's 0.99, and no NaN


def test_several_comparisons_are_corrected_together_and_said():
    runs = []
    for s in range(5):
        for st in ("gsos", "simultaneous", "random", "hyperband"):
            runs.append(run(st, s, [0.9 + 0.001 * ((s * 7 + len(st)) % 5)]))
    found = summarise(runs, {}, {})
    fam = found["comparisons"]  # 8 hypotheses; the costs and times, equal here, have no test
    assert len(fam) == 8 and fam["p"].notna().sum() == 4
    assert any("Holm" in c and "makes 4 comparisons" in c for c in found["caveats"])
    assert "no other strategy is told apart" in found["datasets"][0]["verdicts"][-1]


def test_one_seed_and_one_strategy_are_said_not_hidden():
    found = summarise([run("random", 0, [0.8, 0.9])], {}, {})
    assert "Only Random search ran on d" in found["datasets"][0]["verdicts"][0]
    assert any("One seed" in c for c in found["caveats"])


def test_shared_cores_are_said_beside_wall_clock():
    runs = [run("gsos", s, [0.9, 0.91]) for s in range(2)]
    for r in runs:  # both ran over the same seconds
        for x in r:
            x["wall_time"] -= 100 * x["seed"]
    found = summarise(runs, {}, {})
    assert any("up to 2 runs sharing" in c for c in found["caveats"])


def test_the_first_time_left_waits_for_a_tenth_of_the_budget():
    """'~341 s left' after the first trial of a 34 s run: no estimate until it can be one."""
    lines = []
    p = Progress("r", Budget(evaluations=100), lines.append, every=0.0)
    records = [{"elapsed_seconds": 5.0, "status": "ok", "val_accuracy": 0.5, "iteration": 1}]
    p(records, 100)
    assert "estimated once a tenth" in lines[-1] and "s left" not in lines[-1]
    records = [dict(records[0], iteration=i, elapsed_seconds=i * 0.5) for i in range(1, 21)]
    p(records, 100)
    assert "~40 s left" in lines[-1]  # 10 s for 20 of 100 trials


def test_a_long_job_says_it_is_still_running():
    from gsos.cli import Console, heartbeat

    out = io.StringIO()
    heartbeat("importance reports/x/importance.csv", Console(out), every=0.2)
    time.sleep(0.5)
    assert "[importance reports/x/importance.csv] still running" in out.getvalue()
