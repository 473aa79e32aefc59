"""The benchmark code runs and measures what it says (its numbers live in bench/results)."""

import sys

import pandas as pd
import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import peak  # noqa: E402
import pipeline as pipeline_part  # noqa: E402
import projection as projection_part  # noqa: E402
import throughput as throughput_part  # noqa: E402
import tpe  # noqa: E402


def tiny_cfg(paper_config):
    cfg = {**paper_config, "datasets": {"Kuzushiji_49": paper_config["datasets"]["Kuzushiji_49"]}}
    cfg["model"] = {"base_filters": 4}
    return cfg


def test_throughput_compares_both_pipelines_on_the_same_data(paper_config):
    df = throughput_part.throughput(
        tiny_cfg(paper_config), n=64, repeats=2, workers=0, device=torch.device("cpu")
    )
    row = df.iloc[0]
    assert row["dataset"] == "Kuzushiji_49" and row["shape"] == "1x28x28" and row["repeats"] == 2
    assert row["device"] == "cpu" and row["config"] == "paper"  # the device of its peak
    assert row["ours_images_per_s"] > 0 and row["standard_images_per_s"] > 0
    assert row["speedup_min"] <= row["speedup_median"] <= row["speedup_max"]
    assert 0 < row["fraction_of_peak"] < 1


def test_flops_and_peak_make_a_fraction_of_peak():
    params = {
        "num_conv_layers": 2,
        "lr": 0.01,
        "dropout_rate": 0.0,
        "optimizer": "adam",
        "epoch": 1,
        "stride": 1,
        "padding": "same",
        "kernel": 3,
        "num_fc_units": 64,
        "batch_size": 8,
    }
    from gsos.training.model import CNN, Architecture

    arch = Architecture(base_filters=4)
    counted = peak.flops_per_sample(params, (1, 8, 8), 10, arch)
    # torch's counter and the model's own estimate (which decides bf16) agree roughly
    estimate = CNN(params, (1, 8, 8), 10, arch).train_flops_per_sample
    assert 0.5 < counted / estimate < 1.5
    assert peak.matmul_peak(torch.float32, n=256, repeats=3) > 1.0
    # the peak is taken on the device that is benchmarked (meta stands in for a GPU here)
    assert peak.matmul_peak(torch.float32, n=64, repeats=1, device="meta") > 0


def test_tpe_overhead_times_both_runners(paper_config):
    df = tpe.tpe_overhead(paper_config, iterations=20, repeats=1)
    assert df["ours_seconds_median"].iloc[0] > 0 and df["fmin_seconds_median"].iloc[0] > 0


def test_projection_uses_the_epochs_the_budget_implies(paper_config):
    epochs = projection_part.mean_epochs(paper_config, [])
    # paper: simultaneous draws epochs over 10..100; GSOS trains group 1 (40 %) at the default 10
    assert epochs == {"simultaneous": 55.0, "gsos": 0.4 * 10 + 0.6 * 55.0}
    tput = pd.DataFrame([{"dataset": "Kuzushiji_49", "ours_images_per_s": 1000.0}])
    proj = projection_part.projection(paper_config, tput, epochs)
    sim = proj[proj["strategy"] == "simultaneous"].iloc[0]
    assert sim["device_hours"] == sim["n_train_images"] * 55.0 * 5 * 100 / 1000.0 / 3600


def test_the_pipeline_split_reads_a_finished_run(tmp_path):
    """The split of a run's job time, from a run's benchmark files and records."""
    import json

    bench_dir = tmp_path / "benchmarks" / "default"
    hpo = bench_dir / "hpo" / "digits" / "gsos" / "seed0.tsv"
    hpo.parent.mkdir(parents=True)
    hpo.write_text("s\th:m:s\n10.0\t0:00:10\n")
    (bench_dir / "table5.tsv").write_text("s\th:m:s\n4.0\t0:00:04\n")
    (bench_dir / "tables.tsv").write_text("s\th:m:s\n2.0\t0:00:02\n")
    (bench_dir / "prepare_data").mkdir()
    (bench_dir / "prepare_data" / "digits.tsv").write_text("s\th:m:s\n1.0\t0:00:01\n")
    run = tmp_path / "results" / "default" / "runs" / "digits" / "gsos" / "seed0"
    run.mkdir(parents=True)
    recs = [
        {
            "train_seconds": 2.0,
            "eval_seconds": 2.5,
            "suggest_seconds": 0.5,
            "elapsed_seconds": 3.0 * (i + 1),
        }
        for i in range(2)
    ]
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    df, _, _ = pipeline_part.pipeline(tmp_path)
    parts = df.set_index("part")["job_seconds"]
    assert parts["training"] == 4.0 and parts["evaluation"] == 1.0 and parts["optimiser"] == 1.0
    assert parts["start-up"] == 10.0 - 6.0
    assert parts["table 5"] == 4.0 and parts["aggregation"] == 2.0
    assert parts["data preparation"] == 1.0
