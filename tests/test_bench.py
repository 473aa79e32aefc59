"""The benchmark code runs and measures what it says (its numbers live in the README)."""

import sys

import pandas as pd
import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import run as bench  # noqa: E402


def tiny_cfg(paper_config):
    cfg = {**paper_config, "datasets": {"Kuzushiji_49": paper_config["datasets"]["Kuzushiji_49"]}}
    cfg["model"] = {"base_filters": 4}
    return cfg


def test_throughput_compares_both_pipelines_on_the_same_data(paper_config):
    df = bench.throughput(
        tiny_cfg(paper_config), n=64, repeats=2, workers=0, device=torch.device("cpu")
    )
    row = df.iloc[0]
    assert row["dataset"] == "Kuzushiji_49" and row["shape"] == "1x28x28" and row["repeats"] == 2
    assert row["ours_images_per_s"] > 0 and row["standard_images_per_s"] > 0
    assert row["speedup_min"] <= row["speedup_median"] <= row["speedup_max"]


def test_tpe_overhead_times_both_runners(paper_config):
    df = bench.tpe_overhead(paper_config, iterations=20, repeats=1)
    assert df["ours_seconds_median"].iloc[0] > 0 and df["fmin_seconds_median"].iloc[0] > 0


def test_projection_uses_the_epochs_the_budget_implies(paper_config):
    epochs = bench.mean_epochs(paper_config, [])
    # paper: simultaneous draws epochs over 10..100; GSOS trains group 1 (40 %) at the default 10
    assert epochs == {"simultaneous": 55.0, "gsos": 0.4 * 10 + 0.6 * 55.0}
    tput = pd.DataFrame([{"dataset": "Kuzushiji_49", "ours_images_per_s": 1000.0}])
    proj = bench.projection(paper_config, tput, epochs)
    sim = proj[proj["strategy"] == "simultaneous"].iloc[0]
    assert sim["device_hours"] == sim["n_train_images"] * 55.0 * 5 * 100 / 1000.0 / 3600
