"""Figure 1's table and the measured-groups table: importance weights beside the published.

The estimators live in :mod:`gsos.search.importance` (measured groups use them to plan GSOS
runs); this module only lays their results out for people: the four published weights, this
project's estimates from its simultaneous runs with bootstrap intervals and ranking
stability, and, per dataset, the groups measured on pilot runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gsos.reports.formats import compact, write_table
from gsos.reports.paper import published


def write_importance(
    records: Sequence[Path],
    settings: Mapping[str, Any],
    groups: Path,
    out: Path,
    workers: int = 1,
) -> None:
    """The ``importance`` verb: the published weights and this project's N-RReliefF and
    fANOVA estimates from its simultaneous runs, each the mean of ``settings["refits"]``
    refits on resamples of whole runs (a TPE run's trials depend on each other: the runs are
    the independent units) with the 95 % percentile interval of those refits, and the
    assumed groups."""
    from gsos.search.importance import estimate
    from gsos.search.records import read_runs
    from gsos.search.space import SearchSpace

    space = SearchSpace.from_config(settings["search_space"])
    trials = [r for run in read_runs(records) for r in run]
    weights = published("importance_weights").set_index("hyperparameter")
    spec = json.loads(Path(groups).read_text())["groups"]
    group_of = {p: g["name"] for g in spec for p in g["params"]}
    df = pd.DataFrame(
        {
            "hyperparameter": space.names,
            "assumed group": [group_of[n] for n in space.names],
            "published weight": [weights["published_weight"].get(n) for n in space.names],
        }
    )
    n_trials, units = 0, 0
    refits = int(settings["refits"])
    for estimator, title in (("n_rrelieff", "N-RReliefF"), ("fanova", "fANOVA")):
        try:
            e = estimate(trials, space, estimator, refits, seed=0,
                         n_trees=int(settings["trees"]), workers=workers, by_run=True)  # fmt: skip
        except ValueError:  # too few trials to estimate anything: said, not a crash
            e = unestimated(space.names, len(trials))
        df[f"{title} weight"] = [e["weights"][n] for n in space.names]
        df[f"{title} weight CI low"] = [e["ci_low"][n] for n in space.names]
        df[f"{title} weight CI high"] = [e["ci_high"][n] for n in space.names]
        df[f"{title} weight on all trials"] = [e["weights_all_trials"][n] for n in space.names]
        df[f"{title} Kendall tau (bootstrap, untied pairs)"] = e["kendall_tau"]
        df[f"{title} tied weights"] = e["tied_weights"]
        df[f"{title} refits without an estimate"] = e.get("refits_without_an_estimate", 0)
        n_trials, units = e["n_trials"], e.get("units", 0)
    df["trials"] = n_trials
    df["runs resampled"] = units
    df["refits"] = refits
    # one estimate a weight is shown: the mean over the refits, inside its interval (the
    # estimate on all trials, in the CSV only, need not be: refits on resamples are biased)
    shown = compact(df.drop(columns=[c for c in df.columns if c.endswith("on all trials")]),
                    ".3f")  # fmt: skip
    write_table(
        df,
        Path(out),
        ".3f",
        f"Importance: published weights and this project's estimates (mean of {refits} "
        "refits, whole runs resampled) [95 % percentile interval]",
        shown=shown,
    )


def unestimated(names: Sequence[str], n_trials: int) -> dict[str, Any]:
    """What an estimate says when there are too few trials for one: nothing, and how many."""
    nan = {n: float("nan") for n in names}
    return {
        "weights": nan,
        "ci_low": nan,
        "ci_high": nan,
        "weights_all_trials": nan,
        "kendall_tau": float("nan"),
        "tied_weights": 0,
        "n_trials": n_trials,
    }


def measured_rows(group_file: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per hyperparameter of one dataset's measured groups file."""
    g = group_file
    published_w = published("importance_weights").set_index("hyperparameter")["published_weight"]
    group_of = {p: x["name"] for x in g["groups"] for p in x["params"]}
    return [
        {
            "dataset": g["dataset"],
            "hyperparameter": name,
            "measured group": group_of[name],
            "weight": w,
            "weight CI low": g.get("ci_low", {}).get(name),
            "weight CI high": g.get("ci_high", {}).get(name),
            "published weight": published_w.get(name),
            "estimator": g.get("estimator"),
            "measured on": ", ".join(g["measured_on"]["datasets"]) or "file",
            "Kendall tau (bootstrap, untied pairs)": g.get("kendall_tau"),
            "tied weights": g.get("tied_weights"),
            "top-3 agreement (bootstrap)": g.get("top_agreement"),
            "pilot trials": g["pilot_cost"]["trials"],
            "pilot cost (sample-epochs)": g["pilot_cost"]["sample_epochs"],
            "pilot cost charged to this dataset": g["pilot_cost_charged"],
        }
        for name, w in g["weights"].items()
    ]


def write_measured_table(groups: Sequence[Path], out: Path) -> None:
    """The ``measured-table`` verb: every dataset's measured weights with intervals, the
    groups, and how stable the ranking was, beside the published weights."""
    rows = [row for path in groups for row in measured_rows(json.loads(Path(path).read_text()))]
    df = pd.DataFrame(rows).astype({"weight CI low": float, "weight CI high": float})
    write_table(
        df,
        Path(out),
        ".3f",
        "Measured importance and groups per dataset [95 % CI]",
        shown=compact(df, ".3f"),
    )
