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
beside. Test accuracy is always that of the configuration chosen on validation.

Every figure has one definition, shared with the summary (:func:`dataset_rows`):

- means over seeds with a Student-t interval clipped to the metric's range
  (:func:`gsos.reports.stats.mean_interval`, the method of Table 3 too);
- a strategy's cost against simultaneous TPE's as a ratio of mean costs over the seeds both
  ran, with Fieller's interval (:func:`gsos.reports.stats.ratio_interval`, the model of
  Table 4's reductions, which are the same ratio in percent);
- the cost to come within 1 point (0.01) of the best strategy's mean best validation
  accuracy at the common cost, as a restricted mean: every run is watched up to the common
  cost, and one that does not get there within it counts as the common cost (censored there,
  not left out; a mean over the runs that got there only would favour a strategy that
  rarely does), with its interval and how many runs got there;
- strategies whose validation accuracy is not held out (``bilevel_vf`` fits the network on
  the validation split) neither set the target nor take part in the ranks: they are judged
  on test accuracy, and the table says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsos.reports.stats import ACCURACY, mean_interval, ratio_interval
from gsos.reports.wallclock import wall_clock_note
from gsos.search.metrics import distinct_configurations
from gsos.search.optimizers.registry import STRATEGIES, strategy_order, title, validation_held_out
from gsos.search.records import best_record

WITHIN = 0.01  # "within 1 point (0.01 accuracy) of the best mean at the common cost"
BASELINE = "simultaneous"  # the paper's baseline: costs and comparisons are against it


def curve(records: Sequence[Mapping[str, Any]], start_cost: float = 0.0) -> dict[str, np.ndarray]:
    """One run, evaluation by evaluation (in iteration order): cumulative cost (from
    ``start_cost``: pilots), wall-clock, best validation accuracy so far (NaN before the first
    finished trial) and the test accuracy of that trial."""
    rs = sorted(records, key=lambda r: r["iteration"])
    cost = float(start_cost) + np.cumsum([int(r.get("sample_epochs") or 0) for r in rs])
    val = np.array(
        [
            float(r["val_accuracy"])
            if r["status"] == "ok" and r.get("val_accuracy") is not None
            else -np.inf
            for r in rs
        ]
    )
    test = np.array(
        [np.nan if r.get("test_accuracy") is None else float(r["test_accuracy"]) for r in rs]
    )
    # the index of the best so far: the first of the highest (ties keep the earlier trial)
    best_idx = np.zeros(len(rs), dtype=int)
    for i in range(1, len(rs)):
        best_idx[i] = i if val[i] > val[best_idx[i - 1]] else best_idx[i - 1]
    best = val[best_idx] if len(rs) else val
    found = np.isfinite(best)
    return {
        "iteration": np.array([r["iteration"] for r in rs]),
        "sample_epochs": cost.astype(float),
        "seconds": np.array([float(r["elapsed_seconds"]) for r in rs]),
        "best_val_accuracy": np.where(found, best, np.nan),
        "test_accuracy": np.where(found, test[best_idx] if len(rs) else test, np.nan),
    }


def curve_frame(c: Mapping[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(dict(c))


def fits_validation(records: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a run fitted the network on the validation split, so its validation accuracy
    is not held out: its strategy's algorithm does (bilevel_vf), or one of its trainings took
    an augmented-Lagrangian step on it (GSOS with ``gsos.continuous_inner: bilevel_vf``, which
    the registry cannot know from the strategy's name)."""
    return not validation_held_out(records[0]["strategy"]) or any(
        (r.get("value_function") or {}).get("phase") == "al" for r in records
    )


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
        "sample_epochs": float(c["sample_epochs"][-1]),
        "seconds": float(c["seconds"][-1]),
        "curve": c,
        "held_out": not fits_validation(records),
    }


def at_cost(c: Mapping[str, np.ndarray], cost: float) -> tuple[float, float]:
    """Best validation accuracy so far, and its trial's test accuracy, once ``cost``
    sample-epochs are spent (the last evaluation that ended within it); NaN before any."""
    i = int(np.searchsorted(c["sample_epochs"], cost + 1e-9, side="right")) - 1
    if i < 0:
        return np.nan, np.nan
    return float(c["best_val_accuracy"][i]), float(c["test_accuracy"][i])


def cost_to_reach(c: Mapping[str, np.ndarray], target: float) -> float:
    """Sample-epochs at the first evaluation whose best so far reaches ``target`` (NaN if
    none does)."""
    hit = np.flatnonzero(np.nan_to_num(c["best_val_accuracy"], nan=-np.inf) >= target - 1e-12)
    return float(c["sample_epochs"][hit[0]]) if len(hit) else np.nan


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


def _interval_columns(prefix: str, m: Mapping[str, Any]) -> dict[str, float]:
    return {f"{prefix} (mean)": m["value"], f"{prefix} CI low": m["ci_low"],
            f"{prefix} CI high": m["ci_high"]}  # fmt: skip


def by_seed_at_common(here: Sequence[Mapping[str, Any]], common: float) -> dict[str, dict]:
    """Per strategy, per seed: (best validation accuracy, its test accuracy) at the common
    cost."""
    out: dict[str, dict] = {}
    for s in here:
        out.setdefault(s["strategy"], {})[s["seed"]] = at_cost(s["curve"], common)
    return out


def target_of(means: Mapping[str, float], held: Mapping[str, bool]) -> tuple[float, str | None]:
    """1 point below the best held-out strategy's mean best validation accuracy at the
    common cost, and that strategy (registry order breaks a tie); NaN and None when no
    held-out strategy has a value there. ``held``: whether each strategy's validation
    accuracy is held out (:func:`held_out`)."""
    held = [st for st in strategy_order(means) if held[st]]
    finite = [st for st in held if np.isfinite(means[st])]
    if not finite:
        return np.nan, None
    best = max(finite, key=lambda st: means[st])  # the first in registry order of the highest
    return float(means[best]) - WITHIN, best


def held_out(here: Sequence[Mapping[str, Any]]) -> dict[str, bool]:
    """Per strategy, whether its validation accuracy is held out in every one of its runs
    (:func:`fits_validation`): only then may it rank, lead or set the target."""
    out: dict[str, bool] = {}
    for s in here:
        out[s["strategy"]] = out.get(s["strategy"], True) and s["held_out"]
    return out


def dataset_rows(here: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Everything the strategies table and the summary say of one dataset's runs, one
    definition each (see the module docstring): the common cost, the target, and a row per
    strategy."""
    common = common_cost(here)
    at = by_seed_at_common(here, common)
    names = strategy_order(at)
    val_means = {st: mean_interval([v for v, _ in at[st].values()])["value"] for st in names}
    held = held_out(here)
    target, leader = target_of(val_means, held)
    base = {s["seed"]: s["sample_epochs"] for s in here if s["strategy"] == BASELINE}
    rows = []
    for st in names:
        mine = [s for s in here if s["strategy"] == st]
        seeds = sorted(set(base) & {s["seed"] for s in mine})
        own = {s["seed"]: s["sample_epochs"] for s in mine}
        ratio = ratio_interval({"d": ([own[k] for k in seeds], [base[k] for k in seeds])})
        reach = [cost_to_reach(s["curve"], target) for s in mine] if np.isfinite(target) else []
        within = [c for c in reach if np.isfinite(c) and c <= common + 1e-9]
        restricted = mean_interval(
            [min(c, common) if np.isfinite(c) else common for c in reach], (0.0, common)
        )
        val_c = mean_interval([v for v, _ in at[st].values()], ACCURACY)
        rows.append(
            {
                "dataset": here[0]["dataset"],
                "strategy": st,
                "strategy name": title(st),
                "runs": len(mine),
                "matched by": matched_by(st),
                "validation held out": "yes" if held[st] else "no",
                "evaluations (mean)": float(np.mean([s["evaluations"] for s in mine])),
                "distinct configurations (mean)": float(np.mean([s["distinct"] for s in mine])),
                "repeats told, not trained (mean)": float(np.mean([s["repeats"] for s in mine])),
                "total cost (sample-epochs, mean)": float(
                    np.mean([s["sample_epochs"] for s in mine])
                ),
                "cost / simultaneous's": ratio["value"],
                "cost / simultaneous's CI low": ratio["ci_low"],
                "cost / simultaneous's CI high": ratio["ci_high"],
                "cost / simultaneous's pairs": ratio["n"],
                "common cost (sample-epochs)": common,
                **_interval_columns("best val. accuracy at the common cost", val_c),
                "runs with a result at the common cost": val_c["n"],
                **_interval_columns(
                    "test accuracy at the common cost",
                    mean_interval([t for _, t in at[st].values()], ACCURACY),
                ),
                **_interval_columns(
                    "best val. accuracy",
                    mean_interval([s["best_val_accuracy"] for s in mine], ACCURACY),
                ),
                **_interval_columns(
                    "test accuracy", mean_interval([s["test_accuracy"] for s in mine], ACCURACY)
                ),
                "total time (s, mean)": float(np.mean([s["seconds"] for s in mine])),
                "target val. accuracy (1 point below the best mean at the common cost)": target,
                "runs reaching the target within the common cost": len(within),
                **_interval_columns("cost to target (sample-epochs, restricted)", restricted),
            }
        )
    return {"dataset": here[0]["dataset"], "common": common, "target": target,
            "leader": leader, "val_means": val_means, "held": held, "at": at,
            "rows": rows}  # fmt: skip


def per_dataset(every: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`dataset_rows` of every dataset, in name order."""
    return [
        dataset_rows([s for s in every if s["dataset"] == d])
        for d in sorted({s["dataset"] for s in every})
    ]


def strategies_table(
    runs: Sequence[Sequence[Mapping[str, Any]]],
    charges: Mapping[tuple[str, str], float] | None = None,
) -> pd.DataFrame:
    """Per dataset × strategy (see the module docstring): how it is matched and what it cost
    (also relative to simultaneous TPE, with its interval), what it found at the common cost
    and in the end (mean, 95 % interval), how many distinct configurations it trained, and
    the cost to come within 1 point of the best mean at the common cost.

    ``charges`` holds, per (dataset, strategy), the sample-epochs of work done once for all
    its runs (pilot runs for gsos_measured); each run is charged its share, from its start."""
    charges = charges or {}
    rows = []
    for d in per_dataset(summaries(runs, charges)):
        for row in d["rows"]:
            pilot = charges.get((row["dataset"], row["strategy"]), 0.0) / max(row["runs"], 1)
            rows.append({**row, "of which pilot runs (sample-epochs per run)": pilot})
    return pd.DataFrame(rows)


def ranks_table(
    runs: Sequence[Sequence[Mapping[str, Any]]],
    charges: Mapping[tuple[str, str], float] | None = None,
) -> pd.DataFrame:
    """Each strategy's average rank by best validation accuracy at the common cost (1 = best;
    ties share the mean rank; a run with no result within the common cost ranks last), over
    every dataset × seed, with a Student-t interval clipped to [1, strategies ranked]; with
    one strategy every rank is 1. Strategies whose validation accuracy is not held out are
    not ranked (they would rank on what they were fitted to), but their runs count for the
    common cost, as in the strategies table: one common cost per dataset wherever it is used."""
    frame = []
    for d in per_dataset(summaries(runs, charges)):
        for st, seeds in d["at"].items():
            if not d["held"][st]:
                continue
            for seed, (val, _) in seeds.items():
                frame.append({"dataset": d["dataset"], "strategy": st, "seed": seed,
                              "score": val})  # fmt: skip
    columns = ["strategy", "strategy name", "average rank (mean)", "average rank CI low",
               "average rank CI high", "dataset × seed cells", "strategies ranked per cell",
               "cells without a result at the common cost"]  # fmt: skip
    if not frame:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(frame)
    table["rank"] = table.groupby(["dataset", "seed"])["score"].rank(
        ascending=False, method="average", na_option="bottom"
    )
    rows = []
    datasets = sorted(table["dataset"].unique())
    per_cell = int(table.groupby(["dataset", "seed"]).size().max())
    for st in strategy_order(table["strategy"]):
        mine = table[table["strategy"] == st]
        m = mean_interval(mine["rank"].tolist(), (1.0, float(per_cell)))
        row = {
            "strategy": st,
            "strategy name": title(st),
            "average rank (mean)": m["value"],
            "average rank CI low": m["ci_low"],
            "average rank CI high": m["ci_high"],
            "dataset × seed cells": len(mine),
            "strategies ranked per cell": per_cell,
            "cells without a result at the common cost": int(mine["score"].isna().sum()),
        }
        for d in datasets:
            row[f"rank on {d} (mean)"] = float(mine[mine["dataset"] == d]["rank"].mean())
        rows.append(row)
    return pd.DataFrame(rows).sort_values("average rank (mean)").reset_index(drop=True)


def acc_text(m: float, lo: float, hi: float) -> str:
    """An accuracy (or any mean) with its interval as people read it."""
    if not np.isfinite(m):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{m:.3f}"
    return f"{m:.3f} [{lo:.3f}, {hi:.3f}]"


def ratio_text(row: Mapping[str, Any]) -> str:
    """A cost relative to simultaneous TPE's with its interval ('1.07× [0.97, 1.18]')."""
    from gsos.reports.formats import bound_text

    r, lo, hi = (row[f"cost / simultaneous's{k}"] for k in ("", " CI low", " CI high"))
    if not np.isfinite(r):
        return ""
    if np.isnan(lo) or np.isnan(hi):
        return f"{r:.2f}×"
    return f"{r:.2f}× [{bound_text(lo, '.2f')}, {bound_text(hi, '.2f')}]"


def cost_text(row: Mapping[str, Any]) -> str:
    from gsos.reports.formats import fmt_number

    ratio = ratio_text(row)
    text = fmt_number(row["total cost (sample-epochs, mean)"])
    return text + (f" ({ratio})" if ratio else "")


def reach_text(row: Mapping[str, Any]) -> str:
    """The restricted mean cost to target, its interval and how many runs got there."""
    from gsos.reports.formats import fmt_number

    k, n = int(row["runs reaching the target within the common cost"]), int(row["runs"])
    key = "cost to target (sample-epochs, restricted)"
    m, lo, hi = row[f"{key} (mean)"], row[f"{key} CI low"], row[f"{key} CI high"]
    if not np.isfinite(m):
        return "no target"
    if not k:
        return f"not reached ({k}/{n})"
    interval = (
        f" [{fmt_number(lo)}, {fmt_number(hi)}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    )
    return f"{fmt_number(m)}{interval} ({k}/{n})"


def strategies_shown(table: pd.DataFrame) -> pd.DataFrame:
    """The strategies table as it fits a page: the columns a reader compares, each number in
    its own form (counts as counts, costs as whole sample-epochs, accuracies with three
    decimals and their interval); every other number stays in the CSV."""
    from gsos.reports.formats import fmt_number

    def acc(row: pd.Series, key: str) -> str:
        return acc_text(row[f"{key} (mean)"], row[f"{key} CI low"], row[f"{key} CI high"])

    def count(v: float) -> str:
        return fmt_number(v) if float(v).is_integer() else f"{v:.1f}"

    def name(row: pd.Series) -> str:
        held = row["validation held out"] == "yes"
        return row["strategy name"] + ("" if held else " (validation not held out)")

    return pd.DataFrame(
        {
            "dataset": table["dataset"],
            "strategy": table.apply(name, axis=1),
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
            "cost (sample-epochs, × simultaneous)": table.apply(cost_text, axis=1),
            "best val. acc. at the common cost": table.apply(
                lambda r: acc(r, "best val. accuracy at the common cost"), axis=1
            ),
            "test acc. at the common cost": table.apply(
                lambda r: acc(r, "test accuracy at the common cost"), axis=1
            ),
            "test acc. (final)": table.apply(lambda r: acc(r, "test accuracy"), axis=1),
            "cost to within 1 point of the best": table.apply(reach_text, axis=1),
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
    from gsos.reports.formats import compact, write_table
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
    left_out = sorted(set(table.loc[table["validation held out"] == "no", "strategy"]))
    note = (
        f" ({', '.join(title(s) for s in left_out)} not ranked: validation not held out)"
        if left_out
        else ""
    )
    write_table(
        ranks,
        out / "ranks.csv",
        ".2f",
        "Average rank by best validation accuracy at the common cost (1 = best)" + note,
        shown=compact(ranks, ".2f"),
    )
    curves = [  # a run starts having spent its share of the pilots
        curve_frame(s["curve"]).assign(dataset=s["dataset"], strategy=s["strategy"], seed=s["seed"])
        for s in summaries(runs, charges)
    ]
    anytime(pd.concat(curves, ignore_index=True), out / "anytime.png", wall_clock_note(runs))
    ranks_plot(ranks, out / "ranks.png")
    learning_curves(runs, out / "learning_curves.png")
