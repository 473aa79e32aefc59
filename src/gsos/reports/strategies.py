"""Every strategy that ran, compared at equal cost: the strategies table and the ranks.

HPO benchmarks (HPOBench, YAHPO Gym, the BOHB and DEHB papers) compare strategies by the
best validation accuracy found against the cost spent, not per iteration; here the cost is
training sample-epochs (images × epochs, hardware-independent) and wall-clock. Test
accuracy is always that of the configuration chosen on validation. Intervals are BCa
bootstrap intervals over seeds (see :func:`gsos.reports.stats.bootstrap_ci`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsos.reports.formats import compact
from gsos.reports.stats import bootstrap_ci
from gsos.search.optimizers.registry import strategy_order, title
from gsos.search.records import best_record

WITHIN = 0.01  # "within 1 % of the best final mean of all strategies"


def curve(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One run, evaluation by evaluation: cumulative cost, wall-clock, best accuracy so far."""
    rows, best, cost = [], -np.inf, 0
    for r in sorted(records, key=lambda r: r["iteration"]):
        cost += int(r.get("sample_epochs") or 0)
        if r["status"] == "ok" and r.get("val_accuracy") is not None:
            best = max(best, float(r["val_accuracy"]))
        rows.append(
            {
                "iteration": r["iteration"],
                "sample_epochs": cost,
                "seconds": float(r["elapsed_seconds"]),
                "best_val_accuracy": best if np.isfinite(best) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def run_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first = records[0]
    best = best_record(records)
    c = curve(records)
    return {
        "dataset": first["dataset"],
        "strategy": first["strategy"],
        "seed": first["seed"],
        "evaluations": len(records),
        "best_val_accuracy": float(best["val_accuracy"]) if best else np.nan,
        "test_accuracy": float(best["test_accuracy"]) if best else np.nan,
        "sample_epochs": int(c["sample_epochs"].iloc[-1]),
        "seconds": float(c["seconds"].iloc[-1]),
        "curve": c,
    }


def cost_to_reach(c: pd.DataFrame, target: float) -> tuple[float, float]:
    """Sample-epochs and seconds at the first evaluation whose best so far reaches ``target``."""
    hit = c[c["best_val_accuracy"] >= target - 1e-12]
    if hit.empty:
        return np.nan, np.nan
    return float(hit["sample_epochs"].iloc[0]), float(hit["seconds"].iloc[0])


def _ci_columns(prefix: str, values: Sequence[float]) -> dict[str, float]:
    lo, hi = bootstrap_ci(values)
    return {
        f"{prefix} (mean)": float(np.nanmean(values)) if len(values) else np.nan,
        f"{prefix} CI low": lo,
        f"{prefix} CI high": hi,
    }


def strategies_table(
    runs: Sequence[Sequence[Mapping[str, Any]]],
    charges: Mapping[tuple[str, str], float] | None = None,
) -> pd.DataFrame:
    """Per dataset × strategy: final best validation and test accuracy (mean, 95 % CI), total
    cost, and the cost to come within 1 % of the best final mean of all strategies.

    ``charges`` holds, per (dataset, strategy), the sample-epochs of work done once for all
    its runs (the pilot runs that measured gsos_measured's groups on the dataset itself); each
    run is charged its share, added to its costs."""
    charges = charges or {}
    summaries = [run_summary(r) for r in runs if r]
    rows = []
    for dataset in sorted({s["dataset"] for s in summaries}):
        here = [s for s in summaries if s["dataset"] == dataset]
        means = {
            st: np.nanmean([s["best_val_accuracy"] for s in here if s["strategy"] == st])
            for st in {s["strategy"] for s in here}
        }
        target = (1 - WITHIN) * max(means.values())
        for st in strategy_order(means):
            mine = [s for s in here if s["strategy"] == st]
            charge = charges.get((dataset, st), 0.0) / max(len(mine), 1)
            reach = [cost_to_reach(s["curve"], target) for s in mine]
            reached = [(c + charge, t) for c, t in reach if np.isfinite(c)]
            row = {
                "dataset": dataset,
                "strategy": st,
                "strategy name": title(st),
                "runs": len(mine),
                **_ci_columns("best val. accuracy", [s["best_val_accuracy"] for s in mine]),
                **_ci_columns("test accuracy", [s["test_accuracy"] for s in mine]),
                "evaluations (mean)": float(np.mean([s["evaluations"] for s in mine])),
                "total cost (sample-epochs, mean)": float(
                    np.mean([s["sample_epochs"] for s in mine]) + charge
                ),
                "of which pilot runs (sample-epochs per run)": charge,
                "total time (s, mean)": float(np.mean([s["seconds"] for s in mine])),
                "target val. accuracy (1 % below the best mean)": target,
                "runs reaching the target": len(reached),
                "cost to target (sample-epochs, mean of runs reaching it)": (
                    float(np.mean([r[0] for r in reached])) if reached else np.nan
                ),
                "time to target (s, mean of runs reaching it)": (
                    float(np.mean([r[1] for r in reached])) if reached else np.nan
                ),
            }
            rows.append(row)
    return pd.DataFrame(rows)


def ranks_table(runs: Sequence[Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Each strategy's average rank by final best validation accuracy (1 = best; ties share
    the mean rank), over every dataset × seed where at least two strategies ran."""
    summaries = pd.DataFrame(
        [{k: v for k, v in run_summary(r).items() if k != "curve"} for r in runs if r]
    )
    summaries["rank"] = summaries.groupby(["dataset", "seed"])["best_val_accuracy"].rank(
        ascending=False, method="average", na_option="bottom"
    )
    cells = summaries.groupby(["dataset", "seed"])["strategy"].transform("count")
    summaries = summaries[cells >= 2]
    rows = []
    datasets = sorted(summaries["dataset"].unique())
    for st in strategy_order(summaries["strategy"]):
        mine = summaries[summaries["strategy"] == st]
        lo, hi = bootstrap_ci(mine["rank"].tolist())
        row = {
            "strategy": st,
            "strategy name": title(st),
            "average rank (mean)": float(mine["rank"].mean()),
            "average rank CI low": lo,
            "average rank CI high": hi,
            "dataset × seed cells": len(mine),
            "strategies ranked per cell": int(summaries.groupby(["dataset", "seed"]).size().max()),
        }
        for d in datasets:
            row[f"rank on {d} (mean)"] = float(mine[mine["dataset"] == d]["rank"].mean())
        rows.append(row)
    return pd.DataFrame(rows).sort_values("average rank (mean)").reset_index(drop=True)


def pilot_charges(measured: Sequence[Path]) -> dict[tuple[str, str], float]:
    """Sample-epochs of pilot runs charged to a dataset's gsos_measured, from the measured
    groups files."""
    import json

    charges: dict[tuple[str, str], float] = {}
    for path in measured:
        g = json.loads(Path(path).read_text())
        if g["pilot_cost_charged"]:
            charges[(g["dataset"], "gsos_measured")] = float(g["pilot_cost"]["sample_epochs"])
    return charges


def write_strategies(records: Sequence[Path], measured: Sequence[Path], outdir: Path) -> None:
    """The ``strategies`` verb: the strategies and ranks tables, and the anytime, ranks and
    learning-curve figures, into ``outdir``."""
    from gsos.reports.figures import anytime, learning_curves, ranks_plot
    from gsos.reports.formats import write_table
    from gsos.search.records import read_runs

    runs = read_runs(records)
    out = Path(outdir)
    charges = pilot_charges(measured)
    table = strategies_table(runs, charges)
    write_table(
        table,
        out / "strategies.csv",
        ".4f",
        "Every strategy at equal cost: final accuracy, cost, and cost to come within 1 % "
        "of the best",
        shown=compact(table),
    )
    ranks = ranks_table(runs)
    write_table(
        ranks,
        out / "ranks.csv",
        ".2f",
        "Average rank by final best validation accuracy (1 = best)",
        shown=compact(ranks, ".2f"),
    )
    curves = []
    for run in runs:
        c = curve(run)
        first = run[0]
        key = (first["dataset"], first["strategy"])
        if key in charges:  # a run starts having spent its share of the pilots
            n = sum(1 for r in runs if (r[0]["dataset"], r[0]["strategy"]) == key)
            c["sample_epochs"] += charges[key] / n
        curves.append(
            c.assign(dataset=first["dataset"], strategy=first["strategy"], seed=first["seed"])
        )
    anytime(pd.concat(curves, ignore_index=True), out / "anytime.png")
    ranks_plot(ranks, out / "ranks.png")
    learning_curves(runs, out / "learning_curves.png")
