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
    assert peak.matmul_peak(torch.float32, device="cpu", n=256, repeats=3) > 1.0
    # the peak is taken on the device that is benchmarked (meta stands in for a GPU here)
    assert peak.matmul_peak(torch.float32, n=64, repeats=1, device="meta") > 0


def test_the_peak_is_the_benchmarked_devices_and_every_call_site_says_which(paper_config):
    """Issue 29, defect 8: the peak's call sites could drop their device unnoticed (the
    peak then silently the CPU's). ``device`` has no default now, so such a call fails;
    the peak table runs here. Checked: ``matmul_peak(dtype)`` in throughput.py or
    run.peak_table raises a TypeError in this test or the throughput one."""
    import inspect

    import run as run_part

    assert inspect.signature(peak.matmul_peak).parameters["device"].default is inspect._empty
    table = run_part.peak_table(True, torch.device("cpu"))
    assert list(table["device"]) == ["cpu", "cpu"] and (table["gflop_per_s"] > 0).all()


def count_matmuls():
    """A TorchFunctionMode counting the matmuls torch is asked for (the real calls)."""
    from torch.overrides import TorchFunctionMode

    class Count(TorchFunctionMode):
        n = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") in ("matmul", "__matmul__"):
                self.n += 1
            return func(*args, **(kwargs or {}))

    return Count()


def test_the_peak_times_matmuls_back_to_back():
    """Issue 29, defect 10: the peak timed one 2048³ matmul per repeat (on an H100 in bf16,
    ~25 µs: near launch overhead, so the peak was underestimated). Now each timing covers
    several back to back (8192³, 20 on a GPU; 3 on a CPU). Checked: with the old loop (one
    matmul per repeat) the count is 2 + repeats and this fails."""
    with count_matmuls() as counted:
        peak.matmul_peak(torch.float32, device="cpu", n=64, repeats=2)
    assert counted.n == 2 + 2 * peak.PEAK_SHAPE["cpu"][1]
    assert peak.PEAK_SHAPE["cuda"] == (8192, 20)


def test_a_gpus_timing_is_between_two_cuda_events_without_a_sync_per_call(monkeypatch):
    """On a GPU the calls are bracketed by two CUDA events and waited for once: a stand-in
    for ``torch.cuda.Event`` (host clock, counting what it is asked) and for
    ``torch.cuda.synchronize`` (counting). Checked: timing with perf_counter and a
    ``torch.cuda.synchronize`` per call (the old loop) fails here."""
    made, synced = [], []

    class CudaEventStandIn(peak.HostEvent):
        def __init__(self, enable_timing=False):
            super().__init__()
            self.timing, self.records, self.waits = enable_timing, 0, 0
            made.append(self)

        def record(self):
            super().record()
            self.records += 1

        def synchronize(self):
            self.waits += 1

    monkeypatch.setattr(torch.cuda, "Event", CudaEventStandIn)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))
    calls = []
    seconds = peak.seconds_per_call(lambda: calls.append(1), 20, torch.device("cuda"))
    assert seconds >= 0 and len(calls) == 20 and not synced
    assert [(e.timing, e.records) for e in made] == [(True, 1), (True, 1)]
    assert made[1].waits == 1


def test_the_standard_pipeline_is_written_as_for_a_gpu(tmp_path, monkeypatch):
    """Issue 29, defect 10: the baseline synchronised after every step and used no pinned
    memory, which slows it on a GPU and flattered our ratio. Now: pinned batches on CUDA,
    copies with ``non_blocking``, one synchronisation at the end of the epoch (run here on
    the CPU, every batch copy observed). Checked: with ``pin_memory`` off, ``non_blocking``
    dropped, or ``synchronize`` called per step, this fails. Not seen on a CPU: an inline
    ``torch.cuda.synchronize()`` per step behind ``if device.type == "cuda"``."""
    from torch.overrides import TorchFunctionMode

    from gsos.training.model import Architecture

    ds = list(range(8))
    assert throughput_part.standard_loader(ds, 4, 0, torch.device("cuda")).pin_memory
    assert not throughput_part.standard_loader(ds, 4, 0, torch.device("cpu")).pin_memory
    x = torch.randint(0, 256, (8, 1, 8, 8), dtype=torch.uint8)
    throughput_part.write_image_folder(x, torch.tensor([0, 1] * 4), tmp_path / "f")
    copies, syncs = [], []

    class Copies(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            to_device = kwargs.get("device") or (args[1] if len(args) > 1 else None)
            to_a_device = func is torch.Tensor.to and isinstance(to_device, torch.device | str)
            if to_a_device and not args[0].requires_grad:  # the batches' copies, not weights'
                copies.append(kwargs.get("non_blocking", False))
            return func(*args, **kwargs)

    monkeypatch.setattr(throughput_part, "synchronize", syncs.append)
    params = {"num_conv_layers": 2, "lr": 0.01, "dropout_rate": 0.0, "optimizer": "adam",
              "epoch": 1, "stride": 1, "padding": "same", "kernel": 3, "num_fc_units": 8,
              "batch_size": 4}  # fmt: skip
    with Copies():
        throughput_part.standard(
            tmp_path / "f",
            (1, 8, 8),
            2,
            params,
            Architecture(base_filters=2),
            torch.device("cpu"),
            0,
        )
    assert copies == [True] * 4  # two batches, x and y each
    assert syncs == [torch.device("cpu")]


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
