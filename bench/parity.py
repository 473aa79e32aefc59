"""Does bf16 autocast learn what fp32 learns? Over seeds, on real data.

    python3 -m uv run --locked python bench/parity.py            # about 10 minutes on 2 cores
    python3 -m uv run --locked python bench/parity.py --quick    # a smoke run

The evidence behind ``training.precision: auto`` choosing bf16 on CPUs with native bf16: the
embedded digits (real data), at their native 8×8 with the default's small CNN and upscaled to
32×32 with the paper's 32-filter CNN, several configurations × seeds, each trained once in fp32
and once in bf16 autocast from the same seed (both NHWC). Reported per setting: the mean paired
difference (bf16 - fp32) of validation and test accuracy with a 95 % t-interval, and the speed
ratio. Parity: the interval lies within ±1 accuracy point. Results go to
bench/results/precision_parity.csv.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from machine import describe  # noqa: E402

from gsos.data.prepare import prepare_dataset  # noqa: E402
from gsos.data.tensors import load_prepared, save_prepared  # noqa: E402
from gsos.reports.stats import mean_ci  # noqa: E402
from gsos.training.model import Architecture  # noqa: E402
from gsos.training.trainer import TrainSettings, train_and_evaluate, warm_up  # noqa: E402

MARGIN = 0.01  # one accuracy point
CONFIGS = [  # configurations an HPO run reaches: different depths, optimisers, batch sizes
    dict(
        num_conv_layers=2,
        lr=0.003,
        dropout_rate=0.1,
        optimizer="adam",
        stride=1,
        padding="same",
        kernel=3,
        num_fc_units=128,
        batch_size=32,
    ),
    dict(
        num_conv_layers=3,
        lr=0.001,
        dropout_rate=0.3,
        optimizer="adam",
        stride=1,
        padding="same",
        kernel=5,
        num_fc_units=64,
        batch_size=64,
    ),
    dict(
        num_conv_layers=2,
        lr=0.05,
        dropout_rate=0.0,
        optimizer="sgd",
        stride=1,
        padding="valid",
        kernel=3,
        num_fc_units=256,
        batch_size=32,
    ),
    dict(
        num_conv_layers=4,
        lr=0.002,
        dropout_rate=0.2,
        optimizer="adam",
        stride=1,
        padding="same",
        kernel=3,
        num_fc_units=128,
        batch_size=128,
    ),
]
SETTINGS = {  # name -> (image size, base filters, epochs)
    "digits 8x8, default CNN (8 filters)": (8, 8, 3),
    "digits 32x32, paper CNN (32 filters)": (32, 32, 3),
}


def run(seeds: int, configs: list[dict], out: Path) -> pd.DataFrame:
    rows = []
    for name, (size, filters, epochs) in SETTINGS.items():
        tensors, manifest = prepare_dataset(
            "digits", {"source": {"kind": "embedded", "name": "digits"}, "image_size": size}
        )
        path = out / f"digits{size}.pt"
        save_prepared(path, out / f"digits{size}.json", tensors, manifest)
        data = load_prepared(path, torch.device("cpu"))
        base = TrainSettings(arch=Architecture(base_filters=filters, max_filters=256))
        for precision in ("fp32", "bf16"):  # pay each path's one-off costs before timing
            train_and_evaluate(
                {**configs[0], "epoch": 1}, data, 0, dataclasses.replace(base, precision=precision)
            )
        for c, params in enumerate(configs):
            for seed in range(seeds):
                result = {}
                order = ("fp32", "bf16") if seed % 2 else ("bf16", "fp32")  # neither always first
                for precision in order:  # same seed: the same data order and initial weights
                    s = dataclasses.replace(base, precision=precision)
                    t0 = time.perf_counter()
                    r = train_and_evaluate({**params, "epoch": epochs}, data, seed, s)
                    result[precision] = (r, time.perf_counter() - t0)
                (fp32, t32), (bf16, tf) = result["fp32"], result["bf16"]
                rows.append(
                    {
                        "setting": name,
                        "config": c,
                        "seed": seed,
                        "val_fp32": fp32.val_accuracy,
                        "val_bf16": bf16.val_accuracy,
                        "test_fp32": fp32.test_accuracy,
                        "test_bf16": bf16.test_accuracy,
                        "seconds_fp32": t32,
                        "seconds_bf16": tf,
                    }
                )
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name, g in raw.groupby("setting", sort=False):
        row = {"setting": name, "trainings": len(g)}
        for split in ("val", "test"):
            diff = (g[f"{split}_bf16"] - g[f"{split}_fp32"]).tolist()
            mean, _, lo, hi = mean_ci(diff)
            row |= {
                f"{split} accuracy fp32 (mean)": g[f"{split}_fp32"].mean(),
                f"{split} accuracy bf16 (mean)": g[f"{split}_bf16"].mean(),
                f"{split} difference bf16 - fp32 (mean)": mean,
                f"{split} difference CI low": lo,
                f"{split} difference CI high": hi,
                f"{split} within ±{MARGIN}": bool(lo >= -MARGIN and hi <= MARGIN),
            }
        row["speed ratio bf16 / fp32 (median)"] = float(
            np.median(g["seconds_fp32"] / g["seconds_bf16"])
        )
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    warm_up()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        raw = run(1 if a.quick else a.seeds, CONFIGS[:1] if a.quick else CONFIGS, Path(tmp))
    summary = summarise(raw)
    if not a.quick:
        a.out.mkdir(parents=True, exist_ok=True)
        raw.to_csv(a.out / "precision_parity_runs.csv", index=False)
        summary.assign(machine=describe()).to_csv(a.out / "precision_parity.csv", index=False)
    print(summary.to_string())


if __name__ == "__main__":
    main()
