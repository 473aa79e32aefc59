"""Every strategy that ran, compared at the cost every one of them reached: the strategies
table and the ranks.

HPO benchmarks (HPOBench, YAHPO Gym, the BOHB and DEHB papers) compare strategies by the
best validation accuracy found against the cost spent, not per iteration; here the cost is
training sample-epochs (images × epochs, hardware-independent) and wall-clock. Strategies
are matched one of two ways: by iterations (``hpo.iterations`` trainings each, the paper's
protocol for GSOS and simultaneous TPE) or by cost (the cost-matched strategies spend the
sample-epochs the simultaneous run of the same dataset and seed spent). So that neither way
favours anyone, the table compares every strategy at the **common cost**: the least total
cost any run on the dataset spent; each run's best validation accuracy at that cost (and the
test accuracy of that configuration) is read off its anytime curve. Final figures are shown
beside. Test accuracy is always that of the configuration chosen on validation. Means carry
a BCa bootstrap interval over seeds (:func:`gsos.reports.stats.bootstrap_ci`, the method of
Table 3 too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsos.reports.formats import compact
from gsos.reports.stats import bootstrap_ci
from gsos.reports.wallclock import wall_clock_note
from gsos.search.metrics import distinct_configurations
from gsos.search.optimizers.registry import STRATEGIES, strategy_order, title
from gsos.search.records import best_record

WITHIN = 0.01  # "within 1 point (0.01 accuracy) of the best final mean of all strategies"


def curve(records: Sequence[Mapping[str, Any]], start_cost: float = 0.0) -> pd.DataFrame:
    """One run, evaluation by evaluation: cumulative cost (from ``start_cost``: pilots),
    wall-clock, best validation accuracy so far and the test accuracy of that trial."""
    rows, best, test, cost = [], -np.inf, np.nan, float(start_cost)
    for r in sorted(records, key=lambda r: r["iteration"]):
        cost += int(r.get("sample_epochs") or 0)
        ok = r["status"] == "ok" and r.get("val_accuracy") is not None
        if ok and float(r["val_accuracy"]) > best:
            best, test = float(r["val_accuracy"]), float(r["test_accuracy"])
        rows.append(
            {
                "iteration": r["iteration"],
                "sample_epochs": cost,
                "seconds": float(r["elapsed_seconds"]),
                "best_val_accuracy": best if np.isfinite(best) else np.nan,
                "test_accuracy": test,
            }
        )
    return pd.DataFrame(rows)


def run_summary(records: Sequence[Mapping[str, Any]], charge: float = 0.0) -> dict[str, Any]:
    first = records[0]
    best = best_record(records)
    c = curve(records, charge)
    return {
        "dataset": first["dataset"],
        "strategy": first["strategy"],
        "seed": first["seed"],
        "evaluations": len(records),
        "distinct": distinct_configurations(records),
        "repeats": int(sum(r.get("repeats_before") or 0 for r in records)),
        "best_val_accuracy": float(best["val_accuracy"]) if best else np.nan,
        "test_accuracy": float(best["test_accuracy"]) if best else np.nan,
        "sample_epochs": float(c["sample_epochs"].iloc[-1]),
        "seconds": float(c["seconds"].iloc[-1]),
        "curve": c,
    }


def at_cost(c: pd.DataFrame, cost: float) -> tuple[float, float]:
    """Best validation accuracy so far, and its trial's test accuracy, once ``cost``
    sample-epochs are spent (the last evaluation that ended within it); NaN before any."""
    within = c[c["sample_epochs"] <= cost + 1e-9]
    if within.empty:
        return np.nan, np.nan
    return float(within["best_val_accuracy"].iloc[-1]), float(within["test_accuracy"].iloc[-1])


def cost_to_reach(c: pd.DataFrame, target: float) -> tuple[float, float]:
    """Sample-epochs and seconds at the first evaluation whose best so far reaches ``target``."""
    hit = c[c["best_val_accuracy"] >= target - 1e-12]
    if hit.empty:
        return np.nan, np.nan
    return float(hit["sample_epochs"].iloc[0]), float(hit["seconds"].iloc[0])


def _ci_columns(prefix: str, values: Sequence[float]) -> dict[str, float]:
    values = [v for v in values if np.isfinite(v)]
    lo, hi = bootstrap_ci(values)
    return {
        f"{prefix} (mean)": float(np.mean(values)) if len(values) else np.nan,
        f"{prefix} CI low": lo,
        f"{prefix} CI high": hi,
    }


def matched_by(strategy: str) -> str:
    st = STRATEGIES.get(strategy)
    if st is None:
        return "unknown"
    if st.cost_matched():
        return "cost (simultaneous's sample-epochs)"
    return "iterations (hpo.iterations)"


def summaries(
    runs: Sequence[Sequence[Mapping[str, Any]]],
    charges: Mapping[tuple[str, str], float] | None = None,
) -> list[dict[str, Any]]:
    """Every run's summary, a strategy's shared pilot charge split over its runs."""
    charges = charges or {}
    counts: dict[tuple[str, str], int] = {}
    for r in runs:
        if r:
            key = (r[0]["dataset"], r[0]["strategy"])
            counts[key] = counts.get(key, 0) + 1
    out = []
    for r in runs:
        if r:
            key = (r[0]["dataset"], r[0]["strategy"])
            out.append(run_summary(r, charges.get(key, 0.0) / counts[key]))
    return out


def common_cost(here: Sequence[Mapping[str, Any]]) -> float:
    """The cost every run on a dataset reached: the least total cost of its runs."""
    return float(min(s["sample_epochs"] for s in here))


def strategies_table(
    runs: Sequence[Sequence[Mapping[str, Any]]],
    charges: Mapping[tuple[str, str], float] | None = None,
) -> pd.DataFrame:
    """Per dataset × strategy (see the module docstring): how it is matched and what it cost
    (also relative to simultaneous TPE on the same seed), what it found at the common cost
    and in the end (mean, 95 % CI), how many distinct configurations it trained, and the cost
    to come within 1 point of the best final mean of all strategies.

    ``charges`` holds, per (dataset, strategy), the sample-epochs of work done once for all
    its runs (pilot runs for gsos_measured); each run is charged its share, from its start."""
    charges = charges or {}
    every = summaries(runs, charges)
    rows = []
    for dataset in sorted({s["dataset"] for s in every}):
        here = [s for s in every if s["dataset"] == dataset]
        common = common_cost(here)
        means = {
            st: np.nanmean([s["best_val_accuracy"] for s in here if s["strategy"] == st])
            for st in {s["strategy"] for s in here}
        }
        target = max(means.values()) - WITHIN
        sim = {s["seed"]: s["sample_epochs"] for s in here if s["strategy"] == "simultaneous"}
        for st in strategy_order(means):
            mine = [s for s in here if s["strategy"] == st]
            n = len(mine)
            reach = [cost_to_reach(s["curve"], target) for s in mine]
            reached = [(c, t) for c, t in reach if np.isfinite(c)]
            at = [at_cost(s["curve"], common) for s in mine]
            ratios = [s["sample_epochs"] / sim[s["seed"]] for s in mine if sim.get(s["seed"])]
            row = {
                "dataset": dataset,
                "strategy": st,
                "strategy name": title(st),
                "runs": n,
                "matched by": matched_by(st),
                "evaluations (mean)": float(np.mean([s["evaluations"] for s in mine])),
                "distinct configurations (mean)": float(np.mean([s["distinct"] for s in mine])),
                "repeats told, not trained (mean)": float(np.mean([s["repeats"] for s in mine])),
                "total cost (sample-epochs, mean)": float(
                    np.mean([s["sample_epochs"] for s in mine])
                ),
                "of which pilot runs (sample-epochs per run)": charges.get((dataset, st), 0.0)
                / max(n, 1),
                "cost / simultaneous's (mean)": float(np.mean(ratios)) if ratios else np.nan,
                "common cost (sample-epochs)": common,
                **_ci_columns("best val. accuracy at the common cost", [a[0] for a in at]),
                **_ci_columns("test accuracy at the common cost", [a[1] for a in at]),
                **_ci_columns("best val. accuracy", [s["best_val_accuracy"] for s in mine]),
                **_ci_columns("test accuracy", [s["test_accuracy"] for s in mine]),
                "total time (s, mean)": float(np.mean([s["seconds"] for s in mine])),
                "target val. accuracy (1 point below the best mean)": target,
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


def ranks_table(
    runs: Sequence[Sequence[Mapping[str, Any]]],
    charges: Mapping[tuple[str, str], float] | None = None,
) -> pd.DataFrame:
    """Each strategy's average rank by best validation accuracy at the common cost (1 = best;
    ties share the mean rank), over every dataset × seed; with one strategy every rank is 1."""
    every = summaries(runs, charges)
    frame = []
    for dataset in sorted({s["dataset"] for s in every}):
        here = [s for s in every if s["dataset"] == dataset]
        common = common_cost(here)
        for s in here:
            frame.append(
                {
                    "dataset": dataset,
                    "strategy": s["strategy"],
                    "seed": s["seed"],
                    "score": at_cost(s["curve"], common)[0],
                }
            )
    table = pd.DataFrame(frame)
    table["rank"] = table.groupby(["dataset", "seed"])["score"].rank(
        ascending=False, method="average", na_option="bottom"
    )
    rows = []
    datasets = sorted(table["dataset"].unique())
    per_cell = int(table.groupby(["dataset", "seed"]).size().max())
    for st in strategy_order(table["strategy"]):
        mine = table[table["strategy"] == st]
        lo, hi = bootstrap_ci(mine["rank"].tolist())
        row = {
            "strategy": st,
            "strategy name": title(st),
            "average rank (mean)": float(mine["rank"].mean()),
            "average rank CI low": lo,
            "average rank CI high": hi,
            "dataset × seed cells": len(mine),
            "strategies ranked per cell": per_cell,
        }
        for d in datasets:
            row[f"rank on {d} (mean)"] = float(mine[mine["dataset"] == d]["rank"].mean())
        rows.append(row)
    return pd.DataFrame(rows).sort_values("average rank (mean)").reset_index(drop=True)


def strategies_shown(table: pd.DataFrame) -> pd.DataFrame:
    """The strategies table as it fits a page: the columns a reader compares, each number in
    its own form (counts as counts, costs as whole sample-epochs, accuracies with three
    decimals and their interval); every other number stays in the CSV."""
    from gsos.reports.formats import fmt_number

    def acc(row: pd.Series, key: str) -> str:
        m, lo, hi = row[f"{key} (mean)"], row[f"{key} CI low"], row[f"{key} CI high"]
        if not np.isfinite(m):
            return "n/a"
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return f"{m:.3f}"
        return f"{m:.3f} [{lo:.3f}, {hi:.3f}]"

    def count(v: float) -> str:
        return fmt_number(v) if float(v).is_integer() else f"{v:.1f}"

    def cost(row: pd.Series) -> str:
        ratio = row["cost / simultaneous's (mean)"]
        text = fmt_number(row["total cost (sample-epochs, mean)"])
        return text + (f" ({ratio:.2f}×)" if np.isfinite(ratio) else "")

    def reach(row: pd.Series) -> str:
        k, n = int(row["runs reaching the target"]), int(row["runs"])
        c = row["cost to target (sample-epochs, mean of runs reaching it)"]
        return f"{fmt_number(c)} ({k}/{n})" if k else f"not reached (0/{n})"

    return pd.DataFrame(
        {
            "dataset": table["dataset"],
            "strategy": table["strategy name"],
            "runs": table["runs"].map(lambda v: str(int(v))),
            "matched by": table["matched by"].str.split(" (", regex=False).str[0],
            "trainings (distinct)": [
                f"{count(e)} ({count(d)})"
                for e, d in zip(
                    table["evaluations (mean)"],
                    table["distinct configurations (mean)"],
                    strict=True,
                )
            ],
            "cost (sample-epochs, × simultaneous)": table.apply(cost, axis=1),
            "best val. acc. at the common cost": table.apply(
                lambda r: acc(r, "best val. accuracy at the common cost"), axis=1
            ),
            "test acc. at the common cost": table.apply(
                lambda r: acc(r, "test accuracy at the common cost"), axis=1
            ),
            "test acc. (final)": table.apply(lambda r: acc(r, "test accuracy"), axis=1),
            "cost to within 1 point of the best": table.apply(reach, axis=1),
        }
    )


def pilot_charges(measured: Sequence[Path]) -> dict[tuple[str, str], float]:
    """Sample-epochs of pilot runs charged to a dataset's gsos_measured, from the measured
    groups files (see :func:`gsos.search.measured.pilot_charge` for the rule)."""
    import json

    charges: dict[tuple[str, str], float] = {}
    for path in measured:
        g = json.loads(Path(path).read_text())
        if float(g["pilot_cost_charged"]):
            charges[(g["dataset"], "gsos_measured")] = float(g["pilot_cost_charged"])
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
        "Every strategy at the cost every run reached (the common cost), and in the end; how "
        "each is matched, its cost, and its cost to come within 1 point of the best",
        shown=strategies_shown(table),
    )
    ranks = ranks_table(runs, charges)
    write_table(
        ranks,
        out / "ranks.csv",
        ".2f",
        "Average rank by best validation accuracy at the common cost (1 = best)",
        shown=compact(ranks, ".2f"),
    )
    curves = [  # a run starts having spent its share of the pilots
        s["curve"].assign(dataset=s["dataset"], strategy=s["strategy"], seed=s["seed"])
        for s in summaries(runs, charges)
    ]
    anytime(pd.concat(curves, ignore_index=True), out / "anytime.png", wall_clock_note(runs))
    ranks_plot(ranks, out / "ranks.png")
    learning_curves(runs, out / "learning_curves.png")
