"""How far the default's training is from the machine's limit: its training FLOPs against
the measured matmul peak.

From a finished experiment's records: each trial's training FLOPs are its configuration's
forward-and-backward FLOPs per image (``CNN.train_flops_per_sample``, counted as the network
is built: the convolutions' and linear layers' multiply-adds, the backward pass at twice the
forward; tests/test_bench.py holds it to torch's FlopCounterMode) times the images × epochs
it trained (``sample_epochs``: a continuation counts only its new epochs), summed per
precision it trained in. The time that arithmetic would take at the machine's measured peak
(matmuls of that precision) is the limit, set beside the training seconds the records
measured (``train_seconds``, learning-curve evaluations excluded), each job's peak its share
of the machine's (``resources.hpo_threads`` of torch's threads). Configurations are
counted once each (their FLOPs per image do not depend on the seed).

    python3 -m uv run --locked python bench/run.py pipeline limit   # a default run, then this
    python3 -m uv run --locked python bench/limit.py results/default
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import torch
import yaml
from common import RESULTS  # noqa: F401  (puts src/ on the path)
from peak import matmul_peak

from gsos.training.model import CNN, Architecture

PRECISION_DTYPE = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}


def training_flops(results: Path) -> pd.DataFrame:
    """One row per precision: trials, sample-epochs, training FLOPs and training seconds."""
    cfg = yaml.safe_load((results / "run-config.yaml").read_text())
    arch = Architecture(**cfg["model"])
    manifests = {
        p.parent.name: json.loads(p.read_text()) for p in (results / "data").glob("*/manifest.json")
    }
    per_config: dict[str, float] = {}
    rows: dict[str, dict[str, float]] = {}
    for path in sorted((results / "runs").glob("*/*/seed*/records.jsonl")):
        dataset = path.parents[2].name
        m = manifests[dataset]
        shape = tuple(m["shape"])
        n_classes = int(m["n_classes"])
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if not r.get("sample_epochs"):
                continue
            key = json.dumps([dataset, r["params"]], sort_keys=True)
            if key not in per_config:
                try:
                    per_config[key] = CNN(
                        r["params"], shape, n_classes, arch
                    ).train_flops_per_sample
                except (RuntimeError, ValueError):  # a configuration that cannot be built
                    per_config[key] = 0.0
            row = rows.setdefault(r.get("precision") or "fp32", dict.fromkeys(
                ("trials", "sample_epochs", "train_flops", "train_seconds"), 0.0))  # fmt: skip
            row["trials"] += 1
            row["sample_epochs"] += r["sample_epochs"]
            row["train_flops"] += per_config[key] * r["sample_epochs"]
            row["train_seconds"] += float(r.get("train_seconds") or 0.0)
    return pd.DataFrame([{"precision": k, **v} for k, v in rows.items()])


def limit(results: Path, device: torch.device, quick: bool = False) -> pd.DataFrame:
    """:func:`training_flops` against the peak measured now, here, per precision."""
    df = training_flops(results)
    # each HPO job trains on resources.hpo_threads threads; the peak is measured on all of
    # torch's: a job's own peak on a CPU is that share of it (a GPU job has the whole GPU)
    cfg = yaml.safe_load((results / "run-config.yaml").read_text())
    share = 1.0
    if device.type == "cpu":
        share = min(1.0, int(cfg["resources"]["hpo_threads"]) / torch.get_num_threads())
    peaks = {}
    for precision in df["precision"]:
        dtype = PRECISION_DTYPE.get(precision, torch.float32)
        if dtype not in peaks:
            peaks[dtype] = share * matmul_peak(dtype, device=device, n=512 if quick else None)
    df["peak_gflop_per_s"] = [peaks[PRECISION_DTYPE.get(p, torch.float32)] for p in df["precision"]]
    df["seconds_at_peak"] = df["train_flops"] / (df["peak_gflop_per_s"] * 1e9)
    df["achieved_gflop_per_s"] = df["train_flops"] / df["train_seconds"].clip(lower=1e-9) / 1e9
    df["fraction_of_peak"] = df["achieved_gflop_per_s"] / df["peak_gflop_per_s"]
    total = {
        "precision": "all",
        "trials": df["trials"].sum(),
        "sample_epochs": df["sample_epochs"].sum(),
        "train_flops": df["train_flops"].sum(),
        "train_seconds": df["train_seconds"].sum(),
        "seconds_at_peak": df["seconds_at_peak"].sum(),
    }
    total["achieved_gflop_per_s"] = total["train_flops"] / max(total["train_seconds"], 1e-9) / 1e9
    total["fraction_of_peak"] = total["seconds_at_peak"] / max(total["train_seconds"], 1e-9)
    out = pd.concat([df, pd.DataFrame([total])], ignore_index=True)
    out["device"] = device.type
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/default")
    print(limit(folder, torch.device("cpu")).to_string(index=False))
