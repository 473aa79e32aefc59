"""A run's figures (SPEC §2.6) from its records; light, so an HPO job can write its summary
without importing pandas."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gsos.search.records import best_record


def distinct_configurations(records: Sequence[Mapping[str, Any]]) -> int:
    """Configurations (with their budget and data share) trained afresh in a run; a
    continuation (Hyperband promoting a configuration from its state) is not a new one."""
    return len(
        {
            json.dumps([r["params"], r.get("budget"), r.get("data_fraction")], sort_keys=True)
            for r in records
            if r.get("continues") is None
        }
    )


def run_metrics(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The four per-run figures of SPEC §2.6, plus counts and hardware-independent cost."""
    if not records:
        raise ValueError("a run with no records has no metrics")
    ok = [r for r in records if r["status"] == "ok"]
    total = float(records[-1]["elapsed_seconds"])
    base = {
        "n_iterations": len(records),
        "n_distinct_configurations": distinct_configurations(records),
        "n_repeats_told": int(sum(r.get("repeats_before") or 0 for r in records)),
        "n_failed": sum(r["status"] == "fail" for r in records),
        "n_diverged": sum(r["status"] == "diverged" for r in records),
        "total_seconds": total,
        "sample_epochs_total": int(sum(r.get("sample_epochs") or 0 for r in records)),
        "tpe_seconds_total": float(sum(r.get("suggest_seconds") or 0.0 for r in records)),
    }
    if not ok:
        return {
            **base,
            "best_iteration": None,
            "best_val_accuracy": None,
            "test_accuracy": None,
            "time_to_best_seconds": None,
            "sample_epochs_to_best": None,
            "best_params": None,
        }
    best = best_record(ok)  # the same rule GSOS uses to carry a group's values forward
    return {
        **base,
        "best_iteration": best["iteration"],
        "best_val_accuracy": float(best["val_accuracy"]),
        "test_accuracy": float(best["test_accuracy"]),
        "time_to_best_seconds": float(best["elapsed_seconds"]),
        "sample_epochs_to_best": int(
            sum(r.get("sample_epochs") or 0 for r in records if r["iteration"] <= best["iteration"])
        ),
        "best_params": best["params"],
    }
