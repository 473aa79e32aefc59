"""The machine's peak (an n×n matmul per dtype) and the FLOPs a CNN's training step does."""

from __future__ import annotations

import time

import numpy as np
import torch

from gsos.training.model import CNN, Architecture

# --- a. the machine's peak and the trainer's share of it ---------------------------------------


def matmul_peak(
    dtype: torch.dtype, n: int = 2048, repeats: int = 7, device: torch.device | str = "cpu"
) -> float:
    """GFLOP/s of an n×n matmul in ``dtype`` on ``device`` (the device that is benchmarked:
    a GPU's throughput over a CPU's peak would mean nothing), the median of repeats; on CUDA
    each repeat is timed to the kernel's end."""
    device = torch.device(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(2):
        a @ b
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - t0)
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
