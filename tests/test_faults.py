"""Nothing lost: killed runs resume exactly, failing trials are recorded, runs go on."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_digits_hpo, strip_timing, tiny_hpo_settings, with_weight_decay

from gsos.search.records import read_records


def tiny_settings(default_config, iterations=8, **over):
    return tiny_hpo_settings(default_config, iterations=iterations, **over)


def run_in_process(tmp_path, digits_files, s, name, strategy="gsos"):
    run_digits_hpo(tmp_path, digits_files, s, name, strategy=strategy, seed=3)
    return read_records(tmp_path / f"{name}.jsonl")


def strip(records):
    return strip_timing(records)


def test_same_seed_gives_identical_records_on_cpu(tmp_path, digits_files, default_config):
    s = tiny_settings(default_config)
    a = run_in_process(tmp_path, digits_files, s, "a")
    b = run_in_process(tmp_path, digits_files, s, "b")
    assert strip(a) == strip(b)
    assert len({json.dumps(r["params"], sort_keys=True) for r in a}) > 1


def test_diverging_trials_are_recorded_and_the_run_goes_on(tmp_path, digits_files, default_config):
    s = tiny_settings(default_config, iterations=6)
    s["search_space"] = {
        **s["search_space"],
        "lr": {"type": "loguniform", "low": 1e10, "high": 1e12, "default": 1e11},
        "optimizer": {"type": "choice", "values": ["sgd"], "default": "sgd"},
    }
    records = run_in_process(tmp_path, digits_files, s, "d", strategy="simultaneous")
    assert len(records) == 6
    assert all(r["status"] == "diverged" and r["error"].startswith("diverged") for r in records)
    assert all(r["val_accuracy"] is not None for r in records)  # a result, near chance
    summary = json.loads((tmp_path / "d.json").read_text())
    assert summary["n_diverged"] == 6 and summary["best_iteration"] is None


OOM_SCRIPT = textwrap.dedent("""
    import json, resource, sys, torch
    from gsos.data.tensors import DeviceData
    from gsos.search.run import make_evaluator
    from gsos.training.model import Architecture
    from gsos.search.optimizers.base import Evaluation
    from gsos.training.trainer import TrainSettings

    x = {s: torch.randint(0, 255, (64, 1, 32, 32), dtype=torch.uint8) for s in ("train", "val")}
    x["test"] = x["val"]
    y = {s: torch.randint(0, 3, (64,)) for s in x}
    zero, one = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)
    data = DeviceData(x=x, y=y, mean=zero, std=one, n_classes=3)
    small = dict(num_conv_layers=2, lr=0.01, dropout_rate=0.0, optimizer="adam", epoch=1, stride=1,
                 padding="same", kernel=3, num_fc_units=64, batch_size=32)
    wide = make_evaluator(data, TrainSettings(arch=Architecture(base_filters=512, max_filters=512)))
    # four times wider: its first activation alone (32 x 2048 x 32 x 32 floats) is 256 MiB, so
    # with the weights it needs far more than the 300 MiB left, whatever the allocator kept
    wider = make_evaluator(
        data, TrainSettings(arch=Architecture(base_filters=2048, max_filters=2048))
    )
    narrow = make_evaluator(data, TrainSettings(arch=Architecture(base_filters=4)))
    def run(evaluate, params, seed):
        return evaluate(Evaluation(params=params, budget=1), seed, None, None)
    out = [run(wide, small, 0)]
    vmdata_kb = int(open("/proc/self/status").read().split("VmData:")[1].split()[0])
    cap = vmdata_kb * 1024 + 300 * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (cap, resource.RLIM_INFINITY))
    out += [run(wider, small, 1), run(narrow, small, 2)]
    print(json.dumps([{"status": o["status"], "error": o["error"]} for o in out]))
""")


def test_out_of_memory_is_a_failed_trial_and_the_next_one_runs():
    """A real allocation failure: the child caps its own memory (RLIMIT_DATA) mid-run."""
    run = subprocess.run(
        [sys.executable, "-c", OOM_SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    before, oom, after = json.loads(run.stdout.strip().splitlines()[-1])
    assert before["status"] == "ok"
    assert oom["status"] == "fail" and oom["error"].startswith("out of memory")
    assert after["status"] == "ok"


KILLER = textwrap.dedent("""
    # A zygote: import everything once, then fork the HPO run again and again, SIGKILLing
    # each child at a random moment (tests/forkkill.py).
    import json, sys
    from pathlib import Path
    import torch
    from gsos.search.run import run_hpo
    from gsos.training.trainer import warm_up
    from gsos.search.groups import build_groups
    from gsos.search._hyperopt import hyperopt
    sys.path.insert(0, sys.argv[2])
    from forkkill import kill_at_random

    args = json.loads(sys.argv[1])
    s = args["settings"]
    groups = build_groups(list(s["search_space"]), s["hpo"]["iterations"], s["gsos"]["groups"])
    out = Path(args["out"])
    # warm torch up once, single-threaded (fork-safe), so children start training at once
    torch.set_num_threads(1)
    warm_up()
    hyperopt()  # and pay its import here, not in every child

    def child():
        grouped = args["strategy"].startswith("gsos")
        run_hpo(dataset="digits", strategy=args["strategy"], seed=3, settings=s,
                groups=groups if grouped else [],
                shares=[g["share"] for g in s["gsos"]["groups"]] if grouped else None,
                cost_epochs=args["cost"], data_path=Path(args["data"]),
                manifest_path=Path(args["manifest"]), records_path=out / "killed.jsonl",
                summary_path=out / "killed.json")

    journal = out / "killed.journal.jsonl"
    report = kill_at_random(child, journal, args["rng"], args["kills"], 2, args["max_delay"])
    print(json.dumps(report))
""")


@pytest.mark.parametrize("strategy", ["gsos", "hyperband", "bilevel_vf"])
def test_sigkill_at_random_points_loses_and_repeats_nothing(
    tmp_path, digits_files, default_config, strategy
):
    """Real training; for Hyperband also the saved states that promotions continue from, for
    bilevel_vf those its augmented-Lagrangian steps continue from."""
    s = tiny_settings(default_config, iterations=20)
    s["search_space"]["epoch"] = {"type": "int", "low": 1, "high": 3, "default": 1}
    s["cost_epochs"] = 40.0
    if strategy == "bilevel_vf":
        s = with_weight_decay(s)
        s["bilevel_vf"] = {**default_config["bilevel_vf"], "n_init": 3, "refit_every": 4}
    reference = run_digits_hpo(tmp_path, digits_files, s, "whole", strategy=strategy, seed=3)
    reference = read_records(tmp_path / "whole.jsonl")
    one_iteration = reference[-1]["elapsed_seconds"] / len(reference)
    args = {
        "settings": s,
        "strategy": strategy,
        "cost": s["cost_epochs"],
        "out": str(tmp_path),
        "data": str(digits_files[0]),
        "manifest": str(digits_files[1]),
        "rng": 20261122,
        "kills": 8,
        "max_delay": one_iteration,
    }
    run = subprocess.run(
        [sys.executable, "-c", KILLER, json.dumps(args), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["kills"] >= 6, report
    progress = report["progress"]
    n = len(reference)
    assert progress == sorted(progress) and 0 < progress[-1] < n, progress  # killed mid-run
    final = read_records(tmp_path / "killed.jsonl")
    assert [r["iteration"] for r in final] == list(range(1, n + 1))  # nothing lost or repeated
    assert strip(final) == strip(reference)  # and exactly the uninterrupted result
    assert read_records(tmp_path / "killed.journal.jsonl") == final  # the journal is kept
    if strategy in ("hyperband", "bilevel_vf"):
        assert any(r["continues"] for r in final)  # promotions continued saved states
        assert not (tmp_path / "killed.journal.jsonl.states").exists()
