"""A prepared dataset on disk and on the training device.

``data.pt`` holds uint8 images N×C×H×W and int64 labels for the train, validation and test
splits, plus the train split's per-channel mean and std. Images stay uint8 so the largest
paper dataset fits on a GPU; training normalises per batch (:meth:`DeviceData.normalise`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from gsos.atomic import atomic_write_bytes, atomic_write_text

SPLITS = ("train", "val", "test")


def save_prepared(
    data_path: Path, manifest_path: Path, tensors: dict[str, torch.Tensor], manifest: dict
) -> None:
    atomic_write_bytes(Path(data_path), lambda f: torch.save(tensors, f))
    atomic_write_text(Path(manifest_path), json.dumps(manifest, indent=2) + "\n")


@dataclass
class DeviceData:
    """A prepared dataset loaded once onto the training device (uint8 images)."""

    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    mean: torch.Tensor
    std: torch.Tensor
    n_classes: int

    @property
    def in_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x["train"].shape[1:]
        return int(c), int(h), int(w)

    def normalise(self, xb: torch.Tensor) -> torch.Tensor:
        return (xb.float().div_(255.0) - self.mean) / self.std


def load_prepared(
    data_path: Path, device: torch.device, n_classes: int | None = None
) -> DeviceData:
    t = torch.load(data_path, map_location="cpu", weights_only=True)
    if n_classes is None:
        n_classes = int(max(int(t[f"y_{s}"].max()) for s in SPLITS)) + 1
    return DeviceData(
        x={s: t[f"x_{s}"].to(device) for s in SPLITS},
        y={s: t[f"y_{s}"].to(device) for s in SPLITS},
        mean=t["mean"].to(device).view(1, -1, 1, 1),
        std=t["std"].to(device).view(1, -1, 1, 1),
        n_classes=n_classes,
    )
