"""The machine a benchmark ran on, named beside every number it reports."""

from __future__ import annotations

import os


def describe() -> str:
    import torch

    from gsos.training.trainer import cpu_has_native_bf16, cpu_model

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    bf16 = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    return (
        f"{cpu_model()} ({bf16}), {os.cpu_count()} logical cores, "
        f"{torch.get_num_threads()} torch threads, {gpu}, torch {torch.__version__}"
    )
