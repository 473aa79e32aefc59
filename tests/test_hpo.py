import json

import pytest
from conftest import run_digits_hpo, strip_timing, tiny_hpo_settings

from gsos.search.records import read_records
from gsos.search.runner import TooManyFailures


def settings(paper_space, default_config, **over):
    return tiny_hpo_settings(default_config, iterations=6, n_startup_jobs=2, **over)


def run(tmp_path, digits_files, s, strategy="gsos", name="r"):
    return run_digits_hpo(tmp_path, digits_files, s, name, strategy=strategy, seed=0)


def strip(records):
    return strip_timing(records)


def test_run_writes_records_and_summary_and_resumes_after_a_torn_write(
    tmp_path, digits_files, paper_space, default_config
):
    s = settings(paper_space, default_config)
    summary = run(tmp_path, digits_files, s)
    records = read_records(tmp_path / "r.jsonl")
    assert len(records) == 6 and summary["n_iterations"] == 6
    assert (
        json.loads((tmp_path / "r.json").read_text())["best_iteration"] == summary["best_iteration"]
    )
    journal = tmp_path / "r.journal.jsonl"  # kept, as the same file (a hard link)
    assert journal.stat().st_ino == (tmp_path / "r.jsonl").stat().st_ino
    keys = {
        "iteration",
        "group",
        "params",
        "val_accuracy",
        "test_accuracy",
        "val_loss",
        "test_loss",
        "suggest_seconds",
        "train_seconds",
        "elapsed_seconds",
        "status",
    }
    assert keys <= set(records[0])

    # a run killed after 4 iterations, in the middle of writing the 5th
    partial = tmp_path / "k.journal.jsonl"
    lines = (tmp_path / "r.jsonl").read_text().splitlines(keepends=True)
    partial.write_text("".join(lines[:4]) + lines[4][:30])
    run(tmp_path, digits_files, s, name="k")
    assert strip(read_records(tmp_path / "k.jsonl")) == strip(records)


def test_changed_settings_do_not_resume_a_stale_partial(
    tmp_path, digits_files, paper_space, default_config
):
    s = settings(paper_space, default_config)
    run(tmp_path, digits_files, s)
    s2 = settings(paper_space, default_config, tpe={"n_startup_jobs": 3})
    run(tmp_path, digits_files, s2)
    assert (tmp_path / "r.journal.jsonl.stale").exists()
    assert (
        read_records(tmp_path / "r.jsonl")[0]["run_key"]
        != read_records(tmp_path / "r.journal.jsonl.stale")[0]["run_key"]
    )


def test_failing_trials_are_recorded_then_the_run_stops_clearly(
    tmp_path, digits_files, paper_space, default_config
):
    # filters that no conv can have: every trial raises inside the model builder
    s = settings(paper_space, default_config, model={"base_filters": 0})
    with pytest.raises(TooManyFailures, match="max_failure_fraction"):
        run(tmp_path, digits_files, s, strategy="simultaneous")
    kept = read_records(tmp_path / "r.journal.jsonl")
    assert len(kept) == 5 and all(r["status"] == "fail" and r["error"] for r in kept)


def test_a_trial_that_fails_part_way_is_charged_what_it_trained(digits):
    """The same cost rule for every trial: a failure in epoch 2 was charged 0 sample-epochs,
    though it had trained a whole epoch."""
    from gsos.search.optimizers.base import Evaluation
    from gsos.search.run import make_evaluator
    from gsos.training.trainer import TrainSettings

    def fail_after_first_epoch(curve):
        raise RuntimeError("a failure in the middle of training")

    params = {"num_conv_layers": 2, "lr": 0.01, "dropout_rate": 0.0, "optimizer": "adam",
              "epoch": 3, "stride": 1, "padding": "same", "kernel": 3, "num_fc_units": 64,
              "batch_size": 64}  # fmt: skip
    evaluate = make_evaluator(digits, TrainSettings.from_config({"model": {"base_filters": 4}}))
    ev = Evaluation(params=params, budget=3, after_epoch=fail_after_first_epoch)
    out = evaluate(ev, 0, None, None)
    assert out["status"] == "fail" and "middle of training" in out["error"]
    assert out["sample_epochs"] == len(digits.y["train"])  # one epoch of the training split
