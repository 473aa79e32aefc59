"""The paper protocol's cost on this machine, projected from the measured throughput."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# --- e. the paper protocol's cost --------------------------------------------------------------


def mean_epochs(cfg: dict, records: list[Path]) -> dict[str, float]:
    """Mean epochs per trial, per strategy: from run records when given, else from the budget
    (simultaneous: TPE over the epoch range, taken as its midpoint; GSOS: group 1 trains at the
    default, the epoch group searches the range, later groups at its best, taken as the
    midpoint)."""
    if records:
        from gsos.search.records import read_records

        trials = [r for p in records for r in read_records(p)]
        df = pd.DataFrame(
            [{"strategy": t["strategy"], "epoch": t["params"]["epoch"]} for t in trials]
        )
        return df.groupby("strategy")["epoch"].mean().to_dict()
    e = cfg["search_space"]["epoch"]
    mid, default = (e["low"] + e["high"]) / 2, e["default"]
    groups = cfg["gsos"]["groups"]
    k = next(i for i, g in enumerate(groups) if "epoch" in g["params"])
    shares = [g.get("share", g.get("iterations")) for g in groups]
    before = sum(shares[:k]) / sum(shares)  # trials trained at the default epoch count
    return {"simultaneous": mid, "gsos": before * default + (1 - before) * mid}


def projection(cfg: dict, tput: pd.DataFrame, epochs: dict[str, float]) -> pd.DataFrame:
    """Device-hours of the paper's datasets × 2 strategies × 5 seeds × 100 trials here."""
    rows = []
    seeds, iters = len(cfg["run"]["seeds"]), int(cfg["hpo"]["iterations"])
    val = 0.2
    if "config" in tput.columns:  # the paper-size rows (not the default's own)
        tput = tput[tput["config"] == "paper"]
    for _, t in tput.iterrows():
        ds = cfg["datasets"][t["dataset"]]
        n_train = int(ds.get("paper", {}).get("n_images", 0) * (1 - val) * 0.8)
        for strategy, e in epochs.items():
            hours = seeds * iters * e * n_train / t["ours_images_per_s"] / 3600
            rows.append(
                {
                    "dataset": t["dataset"],
                    "strategy": strategy,
                    "n_train_images": n_train,
                    "mean_epochs_per_trial": e,
                    "images_per_s": t["ours_images_per_s"],
                    "device_hours": hours,
                }
            )
    return pd.DataFrame(rows)
