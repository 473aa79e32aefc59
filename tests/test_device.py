"""The GPU path, right by construction, exercised on the CPU: state moved between devices
(the ``meta`` device stands in for a GPU), the precision rule as a function of a device's
capability, warm-up and trial failures as functions of the device."""

import os

import pytest
import torch

from gsos.search.optimizers.base import Evaluation
from gsos.training.descent import Adam
from gsos.training.trainer import (
    TrainSettings,
    bf16_pays,
    data_order,
    resume_state,
    save_state,
    warm_up,
)

PARAMS = {"num_conv_layers": 2, "lr": 0.01, "dropout_rate": 0.0, "optimizer": "adam", "epoch": 2,
          "stride": 1, "padding": "same", "kernel": 3, "num_fc_units": 64,
          "batch_size": 64}  # fmt: skip


def net():
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def test_a_state_saved_on_one_device_resumes_on_another(tmp_path):
    """Every Hyperband/BOHB continuation failed on CUDA: the saved random states were mapped
    to the GPU, and the setters take CPU byte tensors only. A state is now read on the CPU
    and its weights copied onto the training device (here ``meta``, standing in for one)."""
    model = net()
    opt = Adam(model.parameters(), lr=0.01)
    model(torch.ones(2, 4)).sum().backward()
    opt.step()
    gen = data_order(3)
    torch.randperm(10, generator=gen)
    save_state(tmp_path / "s.pt", model, opt, gen, epochs=3)
    saved_rng = torch.get_rng_state()

    elsewhere = net().to("meta")
    opt2 = Adam(elsewhere.parameters(), lr=0.01)
    gen2 = data_order(0)
    torch.manual_seed(99)
    assert resume_state(tmp_path / "s.pt", elsewhere, opt2, gen2, torch.device("meta")) == 3
    assert torch.equal(torch.get_rng_state(), saved_rng)
    assert torch.equal(gen2.get_state(), gen.get_state())  # the same order from here on
    assert next(elsewhere.parameters()).device.type == "meta" and opt2.steps == 1
    with pytest.raises((TypeError, RuntimeError)):  # what mapping the state to it did
        torch.set_rng_state(torch.load(tmp_path / "s.pt", map_location="meta")["rng"]["cpu"])


def test_the_data_order_is_drawn_on_the_cpu_whatever_device_trains():
    """A CUDA generator's state (16 bytes) does not fit a CPU generator (5056): a state saved
    on a GPU could not resume on a CPU. The order is drawn on the CPU and moved."""
    gen = data_order(0)
    assert gen.device.type == "cpu"
    assert gen.get_state().numel() == torch.Generator().get_state().numel()


@pytest.mark.parametrize(
    "capability, expected",
    [((7, 0), False), ((7, 5), False), ((8, 0), True), ((8, 6), True), ((9, 0), True)],
    ids=["V100", "T4", "A100", "RTX3090", "H100"],
)
def test_bf16_on_a_gpu_only_from_compute_capability_8(capability, expected):
    """Below 8.0 bf16 is emulated and cuDNN has no bf16 convolutions: slow kernels."""
    assert bf16_pays("cuda", capability, False, 1e9, 2.0) is expected


def test_bf16_on_a_cpu_needs_native_support_and_enough_work():
    assert bf16_pays("cpu", None, True, 3e6, 2.0)
    assert not bf16_pays("cpu", None, False, 3e6, 2.0)
    assert not bf16_pays("cpu", None, True, 1e6, 2.0)
    assert not bf16_pays("meta", None, True, 3e6, 2.0)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_warm_up_runs_on_the_device_that_will_train(device):
    """It ran on the CPU only, so on CUDA the first trial paid cuDNN's start-up."""
    done = warm_up(torch.device(device), bf16=False, channels_last=True)
    assert done["device"].startswith(device)


def evaluator_with(digits, error):
    """The real evaluator, its trial made to raise ``error`` after the first epoch."""
    from gsos.search.run import make_evaluator

    def fail(curve):
        raise error

    evaluate = make_evaluator(digits, TrainSettings.from_config({"model": {"base_filters": 4}}))
    return lambda: evaluate(Evaluation(params=PARAMS, budget=2, after_epoch=fail), 0, None, None)


def test_a_poisoning_cuda_error_stops_the_run_instead_of_failing_every_trial(digits):
    from gsos.search.run import DevicePoisoned

    run = evaluator_with(digits, RuntimeError("CUDA error: device-side assert triggered"))
    with pytest.raises(DevicePoisoned, match="every later CUDA call"):
        run()


def test_out_of_memory_is_a_recorded_failure_and_the_run_goes_on(digits):
    out = evaluator_with(digits, torch.OutOfMemoryError("CUDA out of memory. Tried 2 GiB"))()
    assert out["status"] == "fail" and out["error"].startswith("out of memory: CUDA out of")
    assert out["sample_epochs"] == len(digits.y["train"])  # charged the epoch it trained


def test_the_gpu_smoke_check_runs_its_cpu_half_here(tmp_path, monkeypatch):
    """`gsos gpu-check` on this machine: the fake nvidia-smi lists a GPU, so the job binds
    as it would on a GPU machine; torch sees none, so the training checks run on the CPU."""
    from test_gpus import TWO_GPUS, fake_nvidia_smi

    from gsos.training.smoke import gpu_check

    fake_nvidia_smi(tmp_path, monkeypatch, TWO_GPUS)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    said = []
    results = gpu_check("auto", say=said.append, filters=4)
    # bound by the check: removed here, not through monkeypatch, which would put it back at
    # teardown and leave every later test of this worker "bound" (the two-GPU workflow test
    # then saw no job bind a GPU)
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    by_name = {r["check"]: r for r in results}
    assert all(r["ok"] for r in results), said
    assert by_name["binding"]["detail"].startswith("CUDA_VISIBLE_DEVICES=")
    assert "must be equal on a CPU" in by_name["continuation from a saved state"]["detail"]
