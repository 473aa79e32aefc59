import math

import numpy as np
import pytest
from hyperopt.pyll.stochastic import sample

from gsos.search.importance import encode, fanova, n_rrelieff, normalise, rrelieff


def synthetic_records(space, n=120, seed=0):
    """Accuracy driven by lr (and a little by num_conv_layers): both estimators must see it."""
    rng = np.random.default_rng(seed)
    hspace = space.hyperopt_space()
    records = []
    for _ in range(n):
        p = {k: space.params[k].cast(v) for k, v in sample(hspace, rng=rng).items()}
        acc = 0.9 - 0.15 * abs(math.log10(p["lr"]) + 3) + 0.05 * (p["num_conv_layers"] == 4)
        records.append({"status": "ok", "val_accuracy": acc + 0.01 * rng.random(), "params": p})
    records.append({"status": "fail", "val_accuracy": None, "params": records[0]["params"]})
    return records


def test_both_estimators_find_the_hyperparameter_that_matters(paper_space):
    records = synthetic_records(paper_space)
    for weights in (n_rrelieff(records, paper_space), fanova(records, paper_space)):
        assert set(weights) == set(paper_space.names)
        assert max(weights, key=weights.get) == "lr"
        assert weights["lr"] > 0.5 and sum(weights.values()) == pytest.approx(1.0)


def test_rrelieff_ranks_relevant_above_irrelevant_numeric_features():
    rng = np.random.default_rng(1)
    X = rng.random((150, 3))
    y = 2 * X[:, 0] + X[:, 1] + 0.01 * rng.random(150)
    w = rrelieff(X, y, np.zeros(3, dtype=bool))
    assert w[0] > w[1] > 0 > w[2]
    assert normalise(w)[2] == 0 and normalise(w).sum() == pytest.approx(1.0)


def test_encoding_skips_failed_trials_and_scales_to_unit_range(paper_space):
    records = synthetic_records(paper_space, n=20)
    X, y, categorical = encode(records, paper_space)
    assert X.shape == (20, 10) and len(y) == 20
    assert X.min() >= 0 and X.max() <= max(
        len(p.values) for p in paper_space.params.values() if p.kind == "choice"
    )
    numeric = X[:, ~categorical]
    assert numeric.min() >= 0 and numeric.max() <= 1


# A planted importance: three hyperparameters matter a lot, two a little, five not at all.
PLANTED = [["batch_size", "kernel", "dropout_rate"], ["optimizer", "num_fc_units"]]


def planted_records(space, n, seeds=(0, 1, 2)):
    """Random-search trials of a known objective, several 'pilot seeds' of them."""
    records = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        hspace = space.hyperopt_space()
        for i in range(n // len(seeds)):
            p = {k: space.params[k].cast(v) for k, v in sample(hspace, rng=rng).items()}
            acc = 0.5
            acc += 0.15 * (p["batch_size"] == 32) + 0.15 * (p["kernel"] == 5)
            acc -= 0.3 * p["dropout_rate"]
            acc += 0.08 * (p["optimizer"] == "adam") + 0.08 * (p["num_fc_units"] > 160)
            acc += 0.005 * rng.standard_normal()
            records.append(
                {"status": "ok", "val_accuracy": acc, "params": p, "seed": seed, "iteration": i}
            )
    return records


# N-RReliefF needs more trials than fANOVA to see the two weak effects (measured: 480 vs 240).
@pytest.mark.parametrize("estimator, trials", [("fanova", 240), ("n_rrelieff", 480)])
def test_estimators_rank_a_planted_importance_and_say_how_sure(paper_space, estimator, trials):
    from gsos.search.importance import estimate, groups_from_weights, rank

    e = estimate(planted_records(paper_space, trials), paper_space, estimator, bootstrap=12)
    order = rank(e["weights"])
    assert set(order[:3]) == set(PLANTED[0]) and set(order[3:5]) == set(PLANTED[1])
    for name in PLANTED[0]:  # intervals around each estimate, the top ones far from zero
        assert e["ci_low"][name] <= e["weights"][name] <= e["ci_high"][name]
        assert e["ci_low"][name] > max(e["weights"][x] for x in order[5:])
    assert e["kendall_tau"] > 0.5 and e["top_agreement"] >= 0.9
    assert sorted(e["per_seed"]) == ["0", "1", "2"]  # the spread over pilot seeds
    groups = groups_from_weights(e["weights"], {"sizes": [3, 2, 5]})
    assert [set(g) for g in groups[:2]] == [set(PLANTED[0]), set(PLANTED[1])]
    assert len(groups[2]) == 5


def test_resampling_whole_runs_widens_intervals_that_trials_make_too_narrow(paper_space):
    """Five runs that each settled in their own region (as TPE runs do): resampling trials
    one by one takes 240 dependent trials for independent ones; resampling the 5 runs says
    how little 5 runs pin down. Each resample holds whole runs."""
    from gsos.search.importance import estimate

    records = planted_records(paper_space, 240, seeds=(0, 1, 2, 3, 4))
    for r in records:  # a run's own level: what its trials share and others' do not
        r["val_accuracy"] += 0.3 * (r["seed"] % 2) * (r["params"]["kernel"] == 5)
    by_trial = estimate(records, paper_space, "n_rrelieff", bootstrap=60)
    by_run = estimate(records, paper_space, "n_rrelieff", bootstrap=60, by_run=True)
    assert (by_trial["units"], by_run["units"]) == (240, 5) and by_run["resampled"] == "runs"

    assert by_run["refits_without_an_estimate"] == 0

    def width(e):
        return e["ci_high"]["kernel"] - e["ci_low"]["kernel"]

    assert width(by_run) > 1.3 * width(by_trial)  # measured: 1.45


def test_a_refit_that_finds_nothing_is_left_out_not_averaged_as_zeros(paper_space):
    """Two tiny runs, one of them at chance throughout (as a short run on the digits can
    be): a resample of that run twice gives N-RReliefF every weight 0; averaged in, the
    weights summed to 0.5 (seen in the workflow). A resample of 2 trials cannot be
    estimated at all: left out too, not the end of the whole estimate."""
    from gsos.search.importance import estimate

    records = planted_records(paper_space, 12, seeds=(0, 1))
    for r in records:
        if r["seed"] == 1:
            r["val_accuracy"] = 0.1
    e = estimate(records, paper_space, "n_rrelieff", bootstrap=20, by_run=True)
    total = sum(e["weights"].values())
    assert e["refits_without_an_estimate"] > 0 and total == pytest.approx(1.0)


def test_grouping_rules_and_budgets():
    from gsos.search.importance import group_budgets, groups_from_weights

    w = {"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.06, "e": 0.04, "f": float("nan")}
    assert groups_from_weights(w, {"sizes": [1, 2, 3]}) == [["a"], ["b", "c"], ["d", "e", "f"]]
    assert groups_from_weights(w, {"cumulative": [0.5, 0.9]}) == [
        ["a"],
        ["b", "c"],
        ["d", "e", "f"],
    ]
    groups = [["a"], ["b", "c"], ["d", "e", "f"]]
    assert group_budgets(groups, w, 100, "shares", [4, 3, 3]) == [40, 30, 30]
    assert group_budgets(groups, w, 100, "proportional") == [50, 40, 10]
    with pytest.raises(ValueError, match="add up to 5, not 6"):
        groups_from_weights(w, {"sizes": [2, 3]})


def test_a_weights_file_with_unpublished_weights_ranks_them_last(tmp_path, paper_space):
    """The paper's published weights as a source: the six it does not publish rank last."""
    from gsos.reports.paper import published
    from gsos.search.measured import measure

    path = tmp_path / "w.csv"
    published("importance_weights").to_csv(path, index=False)
    settings = {
        "search_space": {
            n: {"type": "choice", "values": [1], "default": 1} for n in paper_space.names
        },
        "hpo": {"iterations": 100},
        "measured_groups": {
            "source": "file",
            "estimator": "fanova",
            "rule": {"sizes": [3, 2, 5]},
            "budget": "shares",
            "shares": [4, 3, 3],
            "patience": 5,
            "bootstrap": 0,
        },
    }
    out = measure("x", settings, [], path)
    groups = [g["params"] for g in out["groups"]]
    assert groups[0] == ["num_conv_layers", "lr", "dropout_rate"]  # the paper's top tier
    assert groups[1][0] == "batch_size" and out["pilot_cost"]["trials"] == 0
    assert [g["iterations"] for g in out["groups"]] == [40, 30, 30]


def test_bootstrap_refits_in_parallel_give_the_same_estimate(paper_space):
    """The resamples are drawn before any refit, so the worker count changes only the time."""
    from gsos.search.importance import estimate

    records = planted_records(paper_space, 90)
    one = estimate(records, paper_space, "fanova", bootstrap=3, workers=1)
    two = estimate(records, paper_space, "fanova", bootstrap=3, workers=2)
    assert one == two and one["ci_low"] != one["ci_high"]


def children_of(pid: int) -> set[int]:
    """The live processes whose parent is ``pid`` (read from /proc)."""
    import os

    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()  # noqa: SIM115 - one read
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.add(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killing_a_measure_job_kills_its_bootstrap_workers(tmp_path, paper_space, paper_config):
    """SIGKILL the `measure` command mid-bootstrap: its worker processes go with it."""
    import contextlib
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    pilots = tmp_path / "pilot.jsonl"
    with open(pilots, "w") as f:
        for r in planted_records(paper_space, 300):
            f.write(json.dumps({**r, "sample_epochs": 10, "elapsed_seconds": 1.0}) + "\n")
    settings = {k: paper_config[k] for k in ("search_space", "pilot", "hpo")}
    settings["measured_groups"] = {**paper_config["measured_groups"], "bootstrap": 40}
    command = [sys.executable, "-m", "gsos", "measure", "--dataset", "d", "--workers", "2"]
    command += ["--settings", json.dumps(settings), "--pilots", str(pilots)]
    proc = subprocess.Popen([*command, "--out", str(tmp_path / "g.json")])
    try:
        deadline = time.monotonic() + 120
        while len(workers := children_of(proc.pid)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "no workers started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if alive(w)], "bootstrap workers outlived their job"
    finally:
        for w in children_of(proc.pid) | workers:
            with contextlib.suppress(OSError):
                os.kill(w, signal.SIGKILL)
