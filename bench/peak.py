"""The device's peak (back-to-back n×n matmuls per dtype) and the FLOPs a CNN's training step
does."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from gsos.training.model import CNN, Architecture

# --- a. the machine's peak and the trainer's share of it ---------------------------------------

# (n, matmuls timed back to back) per device type: one 2048³ bf16 matmul on an H100 takes
# about 25 µs, near a kernel launch's overhead, so a GPU's peak is 8192³ matmuls, 20 at a
# time between two CUDA events (the device's time, not the host's); a CPU's, 2048³, 3 at a
# time on the host clock (the same code: HostEvent keeps CUDA events' interface).
PEAK_SHAPE = {"cuda": (8192, 20), "cpu": (2048, 3)}


class HostEvent:
    """``torch.cuda.Event``'s timing interface on the host clock (CPU work is synchronous)."""

    def __init__(self) -> None:
        self.at: float | None = None

    def record(self) -> None:
        self.at = time.perf_counter()

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end: HostEvent) -> float:
        """Milliseconds from this event to ``end``, as CUDA events say it."""
        assert self.at is not None and end.at is not None
        return (end.at - self.at) * 1e3


def timing_events(device: torch.device) -> tuple[Any, Any]:
    """A start and an end event on ``device``: CUDA events (timed on the GPU, so no host
    synchronisation between the calls they bracket) or host ones."""
    if device.type == "cuda":
        return torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    return HostEvent(), HostEvent()


def seconds_per_call(call, k: int, device: torch.device) -> float:
    """The mean time of ``k`` back-to-back calls, between two events, waiting once at the
    end: on a GPU the kernels queue one behind another and only their own time counts."""
    start, end = timing_events(device)
    start.record()
    for _ in range(k):
        call()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 / k


def matmul_peak(
    dtype: torch.dtype,
    *,
    device: torch.device | str,
    n: int | None = None,
    back_to_back: int | None = None,
    repeats: int = 7,
) -> float:
    """GFLOP/s of n×n matmuls in ``dtype`` on ``device``, the median of ``repeats`` timings
    of ``back_to_back`` calls each (defaults per device type: :data:`PEAK_SHAPE`). ``device``
    has no default: the peak is the benchmarked device's (a GPU's throughput over a CPU's
    peak would mean nothing)."""
    device = torch.device(device)
    size, k = PEAK_SHAPE.get(device.type, PEAK_SHAPE["cpu"])
    n, k = n or size, back_to_back or k
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    seconds_per_call(lambda: a @ b, 2, device)  # warm-up: kernel selection, clocks
    times = [seconds_per_call(lambda: a @ b, k, device) for _ in range(repeats)]
    return 2 * n**3 / float(np.median(times)) / 1e9


def flops_per_sample(params: dict, shape, n_classes: int, arch: Architecture) -> float:
    """Forward and backward FLOPs of one training sample (convolutions and linear layers,
    counted by torch's FlopCounterMode; pooling, activations and the update are not)."""
    from torch.utils.flop_counter import FlopCounterMode

    bs = int(params["batch_size"])
    model = CNN(params, shape, n_classes, arch)
    x, y = torch.randn(bs, *shape), torch.randint(0, n_classes, (bs,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / bs
