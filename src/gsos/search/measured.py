"""The HIA -> GSOS loop: groups for a dataset from importance measured on pilot runs.

The GSOS paper takes its groups from importance measured on other datasets (its prior study);
only four of its ten weights are published. Here the weights are measured on pilot runs
(random search by default, their own seeds), on the dataset itself (``same``), on every
other dataset of the experiment (``leave_one_out``, the paper's transfer), or read from a
weights file. The groups file this writes says where the groups come from, the weights with
their bootstrap intervals and ranking stability, the rule that cut them into groups, each
group's budget, and the pilots' cost (and whether it is charged to the dataset).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gsos.search.importance import estimate, group_budgets, groups_from_weights
from gsos.search.space import SearchSpace


def read_weights(path: Path, names: Sequence[str]) -> dict[str, float]:
    """A weights file: CSV with columns hyperparameter, weight (empty: unknown, ranked last)."""
    weights = {n: math.nan for n in names}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            name = row.get("hyperparameter")
            if name not in weights:
                raise ValueError(f"{path}: {name!r} is not a hyperparameter of the search space")
            value = (row.get("weight") or row.get("published_weight") or "").strip()
            weights[name] = float(value) if value else math.nan
    return weights


def pilot_cost(runs: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, float]:
    return {
        "runs": len(runs),
        "trials": sum(len(r) for r in runs),
        "sample_epochs": float(sum(x.get("sample_epochs") or 0 for r in runs for x in r)),
        "seconds": float(sum(r[-1]["elapsed_seconds"] for r in runs if r)),
    }


def pilot_charge(
    pilots: Sequence[Sequence[Mapping[str, Any]]], source: str, settings: Mapping[str, Any]
) -> float:
    """The sample-epochs of pilot runs charged to this dataset's gsos_measured runs (all
    seeds together; the strategies table gives each run its share).

    The rule: a pilot run's cost is shared equally by the datasets whose groups were measured
    on it. With ``same`` a dataset's pilots serve that dataset alone, so it pays all of them;
    with ``leave_one_out`` each dataset's pilots serve the other k - 1 datasets, so each of
    those pays 1/(k - 1) of them; a weights file costs nothing."""
    total = pilot_cost(pilots)["sample_epochs"]
    if source == "same":
        return total
    if source == "leave_one_out":
        users = max(int(settings.get("n_datasets", 2)) - 1, 1)
        return total / users
    return 0.0


def measure(
    dataset: str,
    settings: Mapping[str, Any],
    pilots: Sequence[Sequence[Mapping[str, Any]]],
    weights_file: Path | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """The measured groups of ``dataset`` (the content of its groups file)."""
    space = SearchSpace.from_config(settings["search_space"])
    mg = settings["measured_groups"]
    if mg["source"] == "file":
        if weights_file is None:
            raise ValueError("measured_groups.source is file: set measured_groups.weights_file")
        weights = read_weights(Path(weights_file), space.names)
        found: dict[str, Any] = {"weights": weights, "estimator": "file", "n_trials": 0}
        sources: list[str] = []
    else:
        records = [r for run in pilots for r in run]
        if not records:
            raise ValueError(f"{dataset}: no pilot trials to measure importance on")
        found = estimate(
            records, space, mg["estimator"], int(mg["bootstrap"]), seed=0, workers=workers
        )
        weights = found["weights"]
        sources = sorted({run[0]["dataset"] for run in pilots if run})
    order = groups_from_weights(weights, mg["rule"])
    iterations = group_budgets(
        order, weights, int(settings["hpo"]["iterations"]), mg["budget"], mg["shares"]
    )
    shares = [float(n) for n in iterations]
    return {
        "source": "importance",
        "dataset": dataset,
        "measured_on": {
            "source": mg["source"],
            "datasets": sources,
            "weights_file": str(weights_file) if weights_file else None,
            "pilot_strategy": settings.get("pilot", {}).get("strategy"),
            "pilot_seeds": sorted({run[0]["seed"] for run in pilots if run}),
        },
        **{k: v for k, v in found.items() if k != "weights"},
        "weights": weights,
        "rule": dict(mg["rule"]),
        "budget": mg["budget"],
        "patience": int(mg["patience"]) if mg["budget"] == "adaptive" else None,
        "pilot_cost": pilot_cost(pilots),
        "pilot_cost_charged": pilot_charge(pilots, mg["source"], settings),
        "groups": [
            {"name": f"M{i + 1}", "params": list(g), "iterations": n, "share": s}
            for i, (g, n, s) in enumerate(zip(order, iterations, shares, strict=True))
        ],
    }


def write_measured(
    dataset: str,
    settings: Mapping[str, Any],
    pilots: Sequence[Path],
    weights_file: Path | None,
    workers: int,
    out: Path,
) -> dict[str, Any]:
    """The ``measure`` verb: a dataset's measured groups file from its pilots' records."""
    import json

    from gsos.atomic import atomic_write_text
    from gsos.search.records import read_runs

    runs = read_runs(pilots) if pilots else []
    content = measure(dataset, settings, runs, weights_file, workers)
    atomic_write_text(Path(out), json.dumps(content, indent=2, default=str) + "\n")
    return content
