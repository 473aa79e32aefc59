"""What the trainer does with each of its options, pinned on tiny trainings of the digits
(issue 33: these are the behaviours whose mutants survived the other trainer tests): the
precision and memory format a trial really trains and evaluates in, the learning curve and
the early stop, the data share, the optimiser's settings, and the rules of ``precision:
auto`` and of micro-batches at their boundaries."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch

from gsos.training.model import Architecture
from gsos.training.trainer import (
    Meter,
    TrainSettings,
    autocast,
    bf16_pays,
    device_facts,
    make_optimizer,
    resolve_device,
    train_and_evaluate,
    training_subset,
    warm_up,
    warm_up_for,
)

SETTINGS = TrainSettings(arch=Architecture(base_filters=4), precision="fp32")
PARAMS = {"num_conv_layers": 2, "lr": 0.003, "dropout_rate": 0.0, "optimizer": "adam",
          "epoch": 2, "stride": 1, "padding": "same", "kernel": 3, "num_fc_units": 16,
          "batch_size": 64}  # fmt: skip


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def convolutions_seen(monkeypatch) -> list[dict]:
    """What every convolution of the trials gets and gives: whether training, its input's
    memory format, its output's dtype, its filters."""
    seen: list[dict] = []
    forward = torch.nn.Conv2d.forward

    def spy(self, x):
        out = forward(self, x)
        seen.append({
            "training": self.training, "filters": self.out_channels, "channels": x.shape[1],
            "nhwc": x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous(), "dtype": out.dtype,
        })  # fmt: skip
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", spy)
    return seen


@pytest.mark.parametrize("bf16, nhwc", [(True, True), (False, False), (True, False), (False, True)])
@pytest.mark.parametrize("curve", [True, False])
def test_a_trial_trains_and_evaluates_in_the_precision_and_format_it_records(
    digits, monkeypatch, bf16, nhwc, curve
):
    """bf16 and channels-last (NHWC), each or neither, in every training step and in every
    evaluation (the learning curve's, or the final one's); and the network the settings'
    architecture describes."""
    seen = convolutions_seen(monkeypatch)
    settings = dataclasses.replace(
        SETTINGS, precision="bf16" if bf16 else "fp32", channels_last=nhwc
    )
    r = train_and_evaluate({**PARAMS, "epoch": 1}, digits, 0, settings, curve=curve)
    assert r.precision == ("bf16" if bf16 else "fp32")
    deep = [s for s in seen if s["channels"] > 1]  # one input channel is NCHW and NHWC both
    assert {s["training"] for s in deep} == {True, False}  # trained and evaluated
    assert {s["nhwc"] for s in deep} == {nhwc}
    assert {s["dtype"] for s in seen} == {torch.bfloat16 if bf16 else torch.float32}
    assert seen[0]["filters"] == 4  # base_filters of the settings' architecture


def test_bf16_autocast_asks_for_bf16_on_a_gpu_too():
    """On a CPU autocast's default type is bf16 anyway; on CUDA it is float16, which the
    trainer never uses."""
    import warnings

    warnings.filterwarnings("ignore", "CUDA is not available")
    assert autocast(torch.device("cuda"), True).fast_dtype == torch.bfloat16
    assert autocast(torch.device("cpu"), True).fast_dtype == torch.bfloat16


def test_the_curve_is_measured_apart_and_seen_after_each_epoch_but_the_last(digits):
    """With ``curve`` every epoch's validation is recorded and its time kept apart from
    training; ``after_epoch`` sees the curve so far after every epoch but the last, and
    even without ``curve``; without either nothing is measured."""
    seen = []

    def watch(points):
        seen.append([dict(p) for p in points])
        return None

    start = time.perf_counter()
    r = train_and_evaluate({**PARAMS, "epoch": 3}, digits, 0, SETTINGS, curve=True)
    wall = time.perf_counter() - start
    assert [p["epoch"] for p in r.curve] == [1, 2, 3]
    assert set(r.curve[0]) == {"epoch", "val_accuracy", "val_loss"}
    assert r.curve[-1]["val_accuracy"] == r.val_accuracy
    assert r.curve_seconds > 0 and r.train_seconds > 0
    assert r.train_seconds + r.curve_seconds <= wall
    w = train_and_evaluate({**PARAMS, "epoch": 3}, digits, 0, SETTINGS, after_epoch=watch)
    assert [[p["epoch"] for p in s] for s in seen] == [[1], [1, 2]]
    assert w.epochs_run == 3 and w.stopped is None
    plain = train_and_evaluate({**PARAMS, "epoch": 3}, digits, 0, SETTINGS)
    assert plain.curve is None and plain.curve_seconds == 0.0


def test_an_early_stop_ends_the_training_and_says_why(digits):
    def stop(points):
        return {"stop_reason": "enough"} if len(points) == 1 else None

    r = train_and_evaluate({**PARAMS, "epoch": 3}, digits, 0, SETTINGS, after_epoch=stop)
    assert r.epochs_run == 1 and r.stopped == {"stop_reason": "enough"}
    assert r.sample_epochs == len(digits.y["train"])


def test_a_data_share_of_one_image_trains_on_it(digits):
    r = train_and_evaluate({**PARAMS, "epoch": 2}, digits, 0, SETTINGS, data_fraction=1e-6)
    assert r.sample_epochs == 2


def test_the_training_subset_is_a_fixed_nested_prefix_rounded_down():
    torch.manual_seed(1)
    half = training_subset(10, 0.5, torch.device("cpu"))
    torch.manual_seed(2)  # the global random state does not choose it
    assert torch.equal(training_subset(10, 0.5, torch.device("cpu")), half)
    assert len(half) == 5 and set(training_subset(10, 0.2, torch.device("cpu")).tolist()) < set(
        half.tolist()
    )
    assert training_subset(10, 1.0, torch.device("cpu")) is None
    assert len(training_subset(10, 0.3, torch.device("cpu"))) == 3  # 0.3·10 is 3.0000000000000004
    assert len(training_subset(10, 0.01, torch.device("cpu"))) == 1
    assert training_subset(10, 0.5, torch.device("meta")).device.type == "meta"


def test_the_optimiser_gets_the_weight_decay_and_the_momentum():
    net = torch.nn.Linear(2, 2)
    adam = make_optimizer({"lr": 0.1, "optimizer": "adam", "weight_decay": 0.01}, net, 0.9)
    sgd = make_optimizer({"lr": 0.1, "optimizer": "sgd", "weight_decay": 0.02}, net, 0.9)
    assert (adam.lr, adam.weight_decay) == (0.1, 0.01)
    assert (sgd.lr, sgd.weight_decay, sgd.momentum) == (0.1, 0.02, 0.9)
    assert make_optimizer({"lr": 0.1, "optimizer": "adam"}, net, 0.0).weight_decay == 0.0
    with pytest.raises(ValueError, match="not 'rmsprop'"):
        make_optimizer({"lr": 0.1, "optimizer": "rmsprop"}, net, 0.0)


def test_value_function_steps_are_counted_as_training_images(digits):
    from gsos.training.smoke import AL_STEP

    meter = Meter()
    params = {**PARAMS, "epoch": 1, "weight_decay": 1e-3}
    r = train_and_evaluate(params, digits, 0, SETTINGS, value_function=AL_STEP, meter=meter)
    images = r.extra["value_function"]["images"]
    assert images > 0 and meter.images == r.sample_epochs == len(digits.y["train"]) + images


def test_bf16_pays_from_its_thresholds_on():
    assert bf16_pays("cpu", None, True, 2e6, 2.0) and not bf16_pays("cpu", None, True, 2e6 - 1, 2.0)
    assert not bf16_pays("cpu", None, False, 1e9, 2.0)
    assert bf16_pays("cuda", (8, 0), False, 0.0, 2.0) and not bf16_pays(
        "cuda", (7, 5), True, 1e9, 2.0
    )


def test_micro_batches_at_their_boundaries():
    cpu = torch.device("cpu")
    s = dataclasses.replace(SETTINGS, cpu_micro_batch_elements=3072)
    assert s.micro_batch(cpu, 48, 64) == 48  # exactly the limit: not cut
    assert s.micro_batch(cpu, 49, 64) == 32
    assert dataclasses.replace(s, cpu_micro_batch_elements=1).micro_batch(cpu, 64, 64) == 1


def test_auto_is_cuda_where_torch_sees_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_a_cpus_facts_and_a_gpus_read_from_the_training_gpu(monkeypatch):
    from gsos.training.trainer import cpu_model, cuda_capability

    assert device_facts(torch.device("cpu")) == {
        "device_name": cpu_model(), "driver": None, "torch_cuda": None, "capability": None,
    }  # fmt: skip
    caps = {"cuda:1": (8, 6)}
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d: caps[str(d)])
    assert cuda_capability(torch.device("cuda:1")) == (8, 6)
    assert cuda_capability(torch.device("cpu")) is None


def test_the_warm_up_runs_what_the_trials_will(monkeypatch):
    """Its defaults are the trials' (CPU, fp32, channels-last); in bf16 its convolution runs
    in bf16; ``warm_up_for`` warms bf16 where ``auto`` could choose it, in the configured
    memory format."""
    assert warm_up() == {"device": "cpu", "bf16": False, "channels_last": True}
    seen = convolutions_seen(monkeypatch)
    warm_up(torch.device("cpu"), bf16=True, channels_last=False)
    assert [s["dtype"] for s in seen] == [torch.bfloat16] * 2
    monkeypatch.setattr("gsos.training.trainer.cpu_has_native_bf16", lambda: True)
    auto = dataclasses.replace(SETTINGS, precision="auto", channels_last=False)
    assert warm_up_for(torch.device("cpu"), auto) == {
        "device": "cpu", "bf16": True, "channels_last": False,
    }  # fmt: skip
    monkeypatch.setattr("gsos.training.trainer.cpu_has_native_bf16", lambda: False)
    assert warm_up_for(torch.device("cpu"), auto)["bf16"] is False


def test_the_hypergradient_reads_its_options_and_its_steps_are_paid_for(digits):
    """Its unrolled steps count as training images; each option reaches the measurement,
    and one left out takes its documented default."""
    p = {**PARAMS, "epoch": 1}
    n = len(digits.y["train"])

    def measured(**options):
        r = train_and_evaluate(p, digits, 0, SETTINGS, hypergradient=options)
        return r, r.extra["hypergradient"], r.extra["hypergradient_val_loss"]

    r, grad, loss = measured(unroll_steps=2, temperature=0.1, val_images=512)
    assert r.extra["hypergradient_images"] == 2 * 64 and r.sample_epochs == n + 2 * 64
    assert measured(unroll_steps=5, temperature=0.1, val_images=512)[1:] == measured()[1:]
    assert measured(unroll_steps=2, temperature=0.5, val_images=512)[1] != grad
    assert measured(unroll_steps=2, temperature=0.1, val_images=64)[2] != loss


def test_the_records_name_what_was_adjusted_to_fit_small_inputs(digits):
    """A 'valid' 5x5 convolution on 8x8 digits four layers deep cannot run as asked: what
    was changed to make it run is recorded with the trial."""
    p = {**PARAMS, "epoch": 1, "num_conv_layers": 4, "kernel": 5, "padding": "valid"}
    r = train_and_evaluate(p, digits, 0, SETTINGS)
    assert r.adjustments and all(isinstance(a, str) for a in r.adjustments)


def test_a_gpus_name_is_read_from_the_training_gpu(tmp_path, monkeypatch):
    from test_gpus import TWO_GPUS, fake_cuda, fake_nvidia_smi

    fake_nvidia_smi(tmp_path, monkeypatch, TWO_GPUS)
    fake_cuda(monkeypatch, capability=(9, 0), name="unused")
    names = {"cuda:1": "NVIDIA H100 80GB HBM3"}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d: names[str(d)])
    assert device_facts(torch.device("cuda:1"))["device_name"] == "NVIDIA H100 80GB HBM3"
