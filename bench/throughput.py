"""The trainer against a standard ImageFolder + DataLoader pipeline, per dataset shape."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from batch import train_seconds
from common import (
    device_data,
    paper_params,
    synthetic,
)
from peak import flops_per_sample, matmul_peak

from gsos.training.model import CNN
from gsos.training.trainer import TrainSettings

# --- b. the trainer against the standard pipeline ----------------------------------------------


def write_image_folder(x, y, root: Path) -> None:
    from PIL import Image

    for i, (img, label) in enumerate(zip(x.numpy(), y.tolist(), strict=True)):
        d = root / f"class{label:02d}"
        d.mkdir(parents=True, exist_ok=True)
        arr = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
        Image.fromarray(arr).save(d / f"{i:06d}.png")


def synchronize(device: torch.device) -> None:
    """Wait for ``device`` to finish its queued work (nothing to wait for on a CPU). The
    standard pipeline calls it once, at the end of the epoch, as people write it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def standard_loader(ds, batch_size: int, workers: int, device: torch.device):
    """The DataLoader people write for a GPU: shuffled, worker processes, and batches in
    pinned (page-locked) memory, so that their copies to the GPU can be asynchronous."""
    from torch.utils.data import DataLoader

    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )


def standard(
    root: Path, shape, n_classes, params, arch, device, workers: int
) -> tuple[float, float]:
    """Images/s of the pipeline a researcher would otherwise write (torchvision ImageFolder on
    encoded images, a DataLoader, torch.optim, fp32, eager), and the share of the epoch spent
    waiting for data: the part a device-resident pipeline removes. Written as for a GPU:
    pinned batches, copies with ``non_blocking``, no synchronisation per step (it would
    stall the queue and flatter our ratio), one at the end of the epoch."""
    from torchvision import datasets, transforms

    tf = [transforms.Grayscale(1)] if shape[0] == 1 else []
    tf += [transforms.ToTensor(), transforms.Normalize([0.5] * shape[0], [0.25] * shape[0])]
    ds = datasets.ImageFolder(str(root), transform=transforms.Compose(tf))
    loader = standard_loader(ds, int(params["batch_size"]), workers, device)
    torch.manual_seed(0)
    model = CNN(params, shape, n_classes, arch).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(params["lr"]))
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    waiting, t = 0.0, time.perf_counter()
    for xb, yb in loader:  # time to the next batch = decoding and collating: the data share
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        waiting += time.perf_counter() - t
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        t = time.perf_counter()
    synchronize(device)
    elapsed = time.perf_counter() - start
    return len(ds) / elapsed, waiting / elapsed


def throughput(
    cfg: dict,
    n: int,
    repeats: int,
    workers: int,
    device,
    datasets=None,
    label: str = "paper",
) -> pd.DataFrame:
    """Per dataset shape of ``cfg`` (``datasets``: which; default every one but the embedded
    digits): this project's trainer (its automatic path) against the standard pipeline, one
    epoch each, interleaved; and the trainer's GFLOP/s. ``label`` names the config (``paper``
    for the paper-size rows, ``default`` for the default's own inputs and CNN)."""
    params, settings = paper_params(cfg), TrainSettings.from_config(cfg)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ds in cfg["datasets"].items():
            if (datasets is None and name == "digits") or (datasets and name not in datasets):
                continue
            shape = (int(ds.get("channels", 1)), int(ds["image_size"]), int(ds["image_size"]))
            n_classes = int(ds.get("paper", {}).get("n_classes", 10))
            x, y = synthetic(shape, n, n_classes, seed=0)
            root = Path(tmp) / name
            write_image_folder(x, y, root)  # set-up, not timed
            data = device_data(x, y, n_classes, device)
            per_sample = flops_per_sample(params, shape, n_classes, settings.arch)
            bf16 = settings.bf16(device, CNN(params, shape, n_classes, settings.arch))
            dtype = torch.bfloat16 if bf16 else torch.float32
            train_seconds(params, data, settings)
            for r in range(repeats):  # interleaved: each pair shares the machine's state
                peak = matmul_peak(dtype, device=device)  # beside each measurement (a dip)
                a = n / train_seconds(params, data, settings)
                b, wait = standard(root, shape, n_classes, params, settings.arch, device, workers)
                rows.append(
                    {
                        "config": label,
                        "dataset": name,
                        "shape": "x".join(map(str, shape)),
                        "device": device.type,
                        "path": "bf16" if bf16 else "fp32",
                        "repeat": r,
                        "ours_images_per_s": a,
                        "standard_images_per_s": b,
                        "ratio": a / b,
                        "data_wait": wait,
                        "gflop_per_s": per_sample * a / 1e9,
                        "peak_gflop_per_s": peak,
                        "fraction_of_peak": per_sample * a / 1e9 / peak,
                    }
                )
    raw = pd.DataFrame(rows)
    out = (
        raw.groupby(["config", "dataset", "shape", "device", "path"], sort=False)
        .agg(
            ours_images_per_s=("ours_images_per_s", "median"),
            standard_images_per_s=("standard_images_per_s", "median"),
            speedup_median=("ratio", "median"),
            speedup_min=("ratio", "min"),
            speedup_max=("ratio", "max"),
            standard_data_wait_share=("data_wait", "median"),
            gflop_per_s=("gflop_per_s", "median"),
            peak_gflop_per_s=("peak_gflop_per_s", "median"),
            fraction_of_peak=("fraction_of_peak", "median"),
            repeats=("ratio", "size"),
        )
        .reset_index()
    )
    return out
