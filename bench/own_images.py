"""The README's own-images recipe on a real folder of 5,000 28x28 images of 10 classes, against
the same CNN trained by hand on the same split.

No dataset host is reachable here, so the folder is made from Fashion-MNIST as Debian packages
it (``apt-get install dataset-fashion-mnist``: /usr/share/datasets/fashion-mnist), the first
500 training images of each class written as PNG files in class folders. The recipe runs as
the README has it (``config/own_images.yaml`` under the user's file), with one seed and 100
trials of GSOS and simultaneous TPE (``--config``). By hand: the same CNN (the preset's model)
on the same prepared split, a few configurations a person would try (the defaults at the
top of the epoch range, and the learning rates around them); the one chosen on validation
gives the reference test accuracy. The test set selects nothing on either side.

    python3 -m uv run --locked python bench/own_images.py     # about 30 minutes on 2 cores
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import RESULTS, ROOT

SOURCE = Path("/usr/share/datasets/fashion-mnist")
PER_CLASS = 500


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def make_folder(root: Path) -> Path:
    """5,000 images, 500 a class, as PNG files in class folders."""
    from PIL import Image

    if not (SOURCE / "train-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"{SOURCE}: missing; apt-get install dataset-fashion-mnist")
    x = read_idx(SOURCE / "train-images-idx3-ubyte.gz")
    y = read_idx(SOURCE / "train-labels-idx1-ubyte.gz")
    folder = root / "images"
    for c in range(10):
        (folder / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i, idx in enumerate(np.flatnonzero(y == c)[:PER_CLASS]):
            Image.fromarray(x[idx]).save(folder / f"class{c}" / f"{i}.png")
    return folder


def recipe(work: Path, folder: Path) -> dict[str, float]:
    """The README's recipe, one seed x 100 trials of GSOS and simultaneous TPE."""
    (work / "mine.yaml").write_text(
        "run: {datasets: [mine]}\n"
        "datasets:\n  mine:\n"
        f"    source: {{kind: folder, path: {folder}}}\n"
        "    image_size: 28\n    channels: 1\n"
    )
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gsos", "run", "--snakefile", str(ROOT / "Snakefile"),
         "--cores", "all", "--configfile", str(ROOT / "config" / "own_images.yaml"), "mine.yaml",
         "--config", "run={datasets: [mine], strategies: [gsos, simultaneous], seeds: [0]}",
         "paper_artifacts=false"],
        cwd=work, check=True,
    )  # fmt: skip
    out = {"recipe_seconds": time.perf_counter() - t0}
    for strategy in ("gsos", "simultaneous"):
        s = json.loads((work / f"results/mine/runs/mine/{strategy}/seed0/summary.json").read_text())
        out[f"{strategy}_best_val"] = s["best_val_accuracy"]
        out[f"{strategy}_test"] = s["test_accuracy"]
    return out


def by_hand(work: Path) -> dict[str, float]:
    """The preset's CNN on the same prepared split, configurations a person would try; the
    best on validation gives the test accuracy."""
    import torch

    from gsos.data.tensors import load_prepared
    from gsos.training.trainer import TrainSettings, train_and_evaluate

    cfg = {"model": {"base_filters": 32, "filter_growth": 2, "max_filters": 256}}
    settings = TrainSettings.from_config(cfg)
    data = load_prepared(work / "results/mine/data/mine/data.pt", torch.device("cpu"))
    base = {"num_conv_layers": 3, "dropout_rate": 0.0, "optimizer": "adam", "stride": 1,
            "padding": "same", "kernel": 3, "num_fc_units": 64, "batch_size": 32}  # fmt: skip
    tried = []
    for lr in (3e-4, 1e-3, 3e-3):
        for epochs in (8, 9, 10):
            r = train_and_evaluate({**base, "lr": lr, "epoch": epochs}, data, 0, settings)
            tried.append(
                {"lr": lr, "epochs": epochs, "val": r.val_accuracy, "test": r.test_accuracy}
            )
    best = max(tried, key=lambda t: t["val"])
    return {"hand_best_val": best["val"], "hand_test": best["test"], "hand_tried": len(tried),
            "hand_choice": f"lr {best['lr']}, {best['epochs']} epochs"}  # fmt: skip


def main() -> None:
    from machine import describe

    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/gsos-own-images")
    work.mkdir(parents=True, exist_ok=True)
    folder = make_folder(work)
    row = {**recipe(work, folder), **by_hand(work), "machine": describe()}
    for strategy in ("gsos", "simultaneous"):
        row[f"{strategy}_minus_hand"] = row[f"{strategy}_test"] - row["hand_test"]
    pd.DataFrame([row]).to_csv(RESULTS / "own_images.csv", index=False)
    print(pd.DataFrame([row]).T.to_string())


if __name__ == "__main__":
    main()
