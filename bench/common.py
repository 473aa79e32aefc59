"""What every benchmark part shares: paths, targets, synthetic data, the paper's config.

Importing it puts ``src/`` on the path, so each part runs from a checkout as
``python bench/run.py <part>`` without installing the package.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gsos.data.tensors import DeviceData  # noqa: E402
from gsos.search.space import SearchSpace  # noqa: E402
from gsos.training.model import Architecture  # noqa: E402
from gsos.training.trainer import TrainSettings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGETS = {"fraction_of_peak": 0.6, "pipeline_seconds": 300.0, "tpe_overhead": 1.05}
PAPER_SHAPE = (3, 64, 64)  # the paper config's RGB datasets at their configured size


def synthetic(shape: tuple[int, int, int], n: int, n_classes: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return x, y


def device_data(x, y, n_classes: int, device) -> DeviceData:
    c = x.shape[1]
    return DeviceData(
        x={s: x.to(device) for s in ("train", "val", "test")},
        y={s: y.to(device) for s in ("train", "val", "test")},
        mean=torch.full((1, c, 1, 1), 0.5, device=device),
        std=torch.full((1, c, 1, 1), 0.25, device=device),
        n_classes=n_classes,
    )


def paper_params(cfg: dict) -> dict:
    return SearchSpace.from_config(cfg["search_space"]).defaults()


def paper_arch(cfg: dict) -> Architecture:
    return TrainSettings.from_config(cfg).arch


def default_config() -> dict:
    """config/config.yaml alone: the default experiment's inputs and CNN."""
    from gsos.config import load_config, load_schema

    return load_config(
        ROOT / "config" / "config.yaml",
        [],
        None,
        load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml"),
    )


def paper_config() -> dict:
    from gsos.config import load_config, load_schema

    return load_config(
        ROOT / "config" / "config.yaml",
        [ROOT / "config" / "paper.yaml"],
        None,
        load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml"),
    )
