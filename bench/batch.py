"""The trainer's GFLOP/s by batch size and precision, as a fraction of the peak."""

from __future__ import annotations

import pandas as pd
import torch
from common import (
    PAPER_SHAPE,
    TARGETS,
    device_data,
    paper_arch,
    paper_params,
    synthetic,
)
from peak import flops_per_sample, matmul_peak

from gsos.data.tensors import DeviceData
from gsos.training.trainer import TrainSettings, train_and_evaluate


def train_seconds(params, data: DeviceData, settings: TrainSettings) -> float:
    return train_and_evaluate({**params, "epoch": 1}, data, 0, settings).train_seconds


def batch_efficiency(
    cfg: dict, batches=(32, 64, 128, 256), n: int = 1024, repeats: int = 3
) -> pd.DataFrame:
    """GFLOP/s of one training epoch on paper-size inputs (3×64×64, the paper config's CNN)
    in fp32 and in bf16 autocast (both NHWC, the trainer's default), against the matmul peak
    of the dtype each uses, measured in the same run, interleaved; and fp32 in NCHW, the
    layout before, for the ratio."""
    params, arch = paper_params(cfg), paper_arch(cfg)
    x, y = synthetic(PAPER_SHAPE, n, 10, seed=0)
    data = device_data(x, y, 10, torch.device("cpu"))
    paths = {  # name -> (settings, the dtype whose peak it is measured against)
        "fp32": (TrainSettings(arch=arch, precision="fp32"), torch.float32),
        "bf16": (TrainSettings(arch=arch, precision="bf16"), torch.bfloat16),
        "fp32 NCHW": (
            TrainSettings(arch=arch, precision="fp32", channels_last=False),
            torch.float32,
        ),
    }
    rows = []
    for bs in batches:
        p = {**params, "batch_size": bs}
        per_sample = flops_per_sample(p, PAPER_SHAPE, 10, arch)
        for settings, _ in paths.values():  # one-off costs of each path, untimed
            train_seconds(p, data, settings)
        for r in range(repeats):
            peaks = {d: matmul_peak(d, device="cpu") for d in (torch.float32, torch.bfloat16)}
            for name, (settings, dtype) in paths.items():
                s = train_seconds(p, data, settings)
                gflops = per_sample * n / s / 1e9
                rows.append(
                    {
                        "batch_size": bs,
                        "path": name,
                        "repeat": r,
                        "images_per_s": n / s,
                        "gflop_per_s": gflops,
                        "peak_gflop_per_s": peaks[dtype],
                        "fraction_of_peak": gflops / peaks[dtype],
                    }
                )
    raw = pd.DataFrame(rows)
    out = (
        raw.groupby(["batch_size", "path"], sort=False)
        .agg(
            images_per_s=("images_per_s", "median"),
            gflop_per_s=("gflop_per_s", "median"),
            peak_gflop_per_s=("peak_gflop_per_s", "median"),
            fraction_of_peak=("fraction_of_peak", "median"),
            fraction_of_peak_min=("fraction_of_peak", "min"),
            fraction_of_peak_max=("fraction_of_peak", "max"),
            repeats=("repeat", "size"),
        )
        .reset_index()
    )
    out["shape"] = "x".join(map(str, PAPER_SHAPE))
    out["mflop_per_sample"] = [
        flops_per_sample({**params, "batch_size": b}, PAPER_SHAPE, 10, arch) / 1e6
        for b in out["batch_size"]
    ]
    out["target"] = TARGETS["fraction_of_peak"]
    return out
