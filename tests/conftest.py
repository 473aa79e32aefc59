from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from gsos.data import load_prepared, prepare_dataset, save_prepared
from gsos.space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def default_config() -> dict:
    return load_yaml(ROOT / "config" / "config.yaml")


@pytest.fixture(scope="session")
def paper_config() -> dict:
    return load_yaml(ROOT / "config" / "paper.yaml")


@pytest.fixture(scope="session")
def paper_space(paper_config) -> SearchSpace:
    return SearchSpace.from_config(paper_config["search_space"])


@pytest.fixture(scope="session")
def digits_files(tmp_path_factory) -> tuple[Path, Path]:
    """The embedded digits, prepared at 8x8 through the real preparation code."""
    out = tmp_path_factory.mktemp("digits")
    tensors, manifest = prepare_dataset(
        "digits", {"source": {"kind": "embedded", "name": "digits"}, "image_size": 8}
    )
    save_prepared(out / "data.pt", out / "manifest.json", tensors, manifest)
    return out / "data.pt", out / "manifest.json"


@pytest.fixture(scope="session")
def digits(digits_files):
    return load_prepared(digits_files[0], torch.device("cpu"))
