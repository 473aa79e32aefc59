"""The contract every registered strategy keeps, checked over the whole registry (as Optuna
tests its samplers): proposals inside the space, the budget respected, the same seed giving
the same records, and a run SIGKILLed at random points resuming to exactly the records of
an uninterrupted one. The strategies run through the real runner on a cheap deterministic
objective; test_faults.py and test_workflow.py do the same with real training."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import strip_timing
from synthetic import objective as synthetic_objective
from synthetic import run_synthetic

from gsos.search.optimizers.registry import STRATEGIES, strategy
from gsos.search.space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]
ALL = sorted(STRATEGIES)
ITERATIONS = 24
COST = 60.0  # full-training-set epochs for the cost-matched strategies
# Gaussian-process strategies take a second or more per proposal, and a killed run replays
# every proposal: they get a budget of about ten evaluations, most of them the initial design
COSTS = {"fabolas": 16.0, "boil": 22.0}
FABOLAS = {  # emukit's FABOLAS at test size: few candidates, short MCMC; the HMC chain over
    # the GP's hyperparameters continued from proposal to proposal, so replay must rebuild it
    "n_init": 4, "min_fraction": 0.25, "overhead": 0.0, "marginalize": True, "hyper_samples": 2,
    "hmc_burn_in": 2, "hmc_thin": 1, "hmc_continue": True, "num_eval_points": 10,
    "representer_points": 20, "innovations": 10, "burn_in": 1, "mcmc_steps": 2, "gp_restarts": 1,
}  # fmt: skip
BOIL = {"n_init": 2, "hyper_starts": 3, "num_restarts": 1, "raw_samples": 16}  # BoTorch, small


TORCH_MODELS = ("boil",)  # strategies whose model computes in torch


def cost_of(name):
    return COSTS.get(name, COST)


def objective(params, trial_seed):
    """The shared synthetic objective (tests/synthetic.py), optionally slowed down."""
    if SLOW:
        time.sleep(SLOW)
    return synthetic_objective(params, trial_seed)


WEIGHT_DECAY = {"type": "loguniform", "low": 1e-6, "high": 1e-2, "default": 1e-4}


def settings(default_config, name=None):
    s = {
        k: copy.deepcopy(default_config[k]) for k in default_config if k not in ("datasets", "run")
    }
    if name == "bilevel_vf":  # it searches the optional weight_decay, and nothing else
        s["search_space"]["weight_decay"] = WEIGHT_DECAY
        s["gsos"]["groups"][0]["params"].append("weight_decay")
    s["hpo"] = {"iterations": ITERATIONS}
    s["fabolas"] = {**s["fabolas"], **FABOLAS}
    s["boil"] = {**s["boil"], **BOIL}
    s["tpe"] = {**s["tpe"], "n_startup_jobs": 5}
    s["cmaes"], s["ga"], s["pso"] = (
        {"sigma0": 0.3, "popsize": 6},
        {"population_size": 6},
        {"pop_size": 6},
    )
    return s


def run(name, default_config, tmp_path, seed=7, records_name="r"):
    s = settings(default_config, name)
    return run_synthetic(
        name,
        s,
        seed,
        tmp_path,
        objective,
        s["gsos"]["groups"],
        cost_epochs=cost_of(name),
        records_name=records_name,
    )


def strip(records):
    return strip_timing(records)


@pytest.mark.parametrize("name", ALL)
def test_proposals_stay_in_the_space_and_the_budget_is_respected(name, default_config, tmp_path):
    space = SearchSpace.from_config(settings(default_config, name)["search_space"])
    records = run(name, default_config, tmp_path)
    assert records, "no evaluation at all"
    for r in records:
        assert set(r["params"]) == set(space.names)
        for k, v in r["params"].items():
            assert space.params[k].contains(v), f"{k}={v!r} outside the space"
        assert r["budget"] == r["params"]["epoch"]
    algorithm = strategy(name).inner_algorithm(default_config)
    cost = sum(r["sample_epochs"] for r in records) / 1000
    if algorithm.cost_matched:
        assert cost <= cost_of(name) + 1e-9
        assert cost > cost_of(name) / 2, "most of the budget should be spent"
    if algorithm.fidelity == "epoch":
        assert any(r["continues"] for r in records), "nothing was promoted"
        for r in records:
            if r["continues"]:  # only the new epochs are paid for
                before = records[r["continues"] - 1]
                assert before["params"] == {**r["params"], "epoch": before["budget"]}
                assert r["sample_epochs"] == (r["budget"] - before["budget"]) * 1000
    elif algorithm.fidelity == "data":  # shares of the data, each trained afresh
        assert all(r["continues"] is None for r in records)
        if name == "hyperband_data":  # its rungs
            assert {r["data_fraction"] for r in records} >= {1 / 9, 1 / 3, 1.0}
        for r in records:  # floor(share x images), as the trainer takes; the product in
            # floating point may fall below it (0.182 x 5 x 1000 = 909.9999999999999 < 910)
            assert r["sample_epochs"] <= r["data_fraction"] * r["budget"] * 1000 * (1 + 1e-12)
    elif name == "bilevel_vf":  # outer steps continue the previous step's state
        al = [r for r in records if r["value_function"]["phase"] == "al"]
        assert al and all(
            r["continues"] == p["iteration"] for p, r in zip(al, al[1:], strict=False)
        )
    else:
        assert all(r["continues"] is None for r in records)
        assert all(r["data_fraction"] == 1.0 for r in records)
        if not algorithm.cost_matched:
            assert len(records) <= ITERATIONS
        if name != "grid" and not algorithm.cost_matched:
            assert len(records) == ITERATIONS
    varied = {k for k in space.names if len({json.dumps(r["params"][k]) for r in records}) > 1}
    if name == "bilevel":  # it descends the continuous hyperparameters only
        assert varied == {"lr", "dropout_rate"}
    elif name == "bilevel_vf":  # the L2 weight decay only
        assert varied == {"weight_decay"}
    else:
        assert len(varied) >= 5, f"{name} explored only {sorted(varied)}"


@pytest.mark.parametrize("name", ALL)
def test_the_same_seed_gives_the_same_records(name, default_config, tmp_path):
    a = run(name, default_config, tmp_path, records_name="a")
    b = run(name, default_config, tmp_path, records_name="b")
    c = run(name, default_config, tmp_path, seed=8, records_name="c")
    assert strip(a) == strip(b)
    if name == "bilevel":  # a descent from the defaults: seeds differ in training noise only
        assert strip(a) != strip(c)
    else:
        assert [r["params"] for r in a] != [r["params"] for r in c]


KILLER = textwrap.dedent("""
    # A zygote: import everything once, then fork the run again and again (tests/forkkill.py).
    import json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    import test_contract as tc
    from forkkill import kill_at_random
    from gsos.search.records import journal_path

    args = json.loads(sys.argv[1])
    out = Path(args["out"])
    tc.SLOW = args["slow"]
    if args["name"] in tc.TORCH_MODELS:  # one thread, as an HPO job runs (hpo_threads): a
        import torch  # forked child cannot use the thread pool of GNU OpenMP's parent

        torch.set_num_threads(1)

    def child():
        tc.run(args["name"], args["config"], out, records_name="killed")

    (out / "warm").mkdir()  # one whole run first: every lazy import is paid before forking
    tc.run(args["name"], args["config"], out / "warm", records_name="warm")
    journal = journal_path(out / "killed.jsonl")
    report = kill_at_random(child, journal, args["rng"], args["kills"], 3, 2 * args["slow"])
    print(json.dumps(report))
""")

SLOW = 0.0  # seconds each synthetic evaluation sleeps (the killer sets it, to have moments)


@pytest.mark.parametrize("name", ALL)
def test_sigkill_at_random_points_then_resume_gives_the_uninterrupted_records(
    name, default_config, tmp_path
):
    if name in TORCH_MODELS:  # the reference on one thread too, as the killed run's zygote
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            reference = run(name, default_config, tmp_path, records_name="whole")
        finally:
            torch.set_num_threads(threads)
    else:
        reference = run(name, default_config, tmp_path, records_name="whole")
    args = {
        "name": name,
        "config": default_config,
        "out": str(tmp_path),
        "rng": 20261127 + ALL.index(name),
        "kills": 6,
        "slow": 0.004,
    }
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, json.dumps(args), str(ROOT / "tests")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["kills"] >= 4, report
    from gsos.search.records import read_records

    final = read_records(tmp_path / "killed.journal.jsonl")
    assert [r["iteration"] for r in final] == list(range(1, len(reference) + 1))
    assert strip(final) == strip(reference)
    assert not (tmp_path / "killed.journal.jsonl.states").exists()  # states cleaned up
