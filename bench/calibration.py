"""The A/A harness: are the report's verdicts and intervals calibrated, end to end?

Synthetic experiments in which no strategy differs from another (every run of every
strategy is drawn from the same trial distribution) are fed, as records, through the code
that writes the report: the family of comparisons and its Holm correction, the summary,
Table 3, Table 4, the headline, the paired tests and the strategies table. Measured over
many experiments per layout (1 or 6 datasets × 2-4 strategies × 2, 3, 5 or 10 seeds):

- ``familywise``: the share of experiments in which the report states any difference
  anywhere (a "yes" in a table's "difference stated" column or a verdict of the summary
  naming a strategy higher); the level is 5 %. ``familywise_uncorrected``: the same with
  each p taken alone, as the report did before (what the correction is for).
- ``coverage_*``: the share of intervals that hold the true value: a change's (0), a
  reduction's (0 %), a cost ratio's (1; iteration-matched strategies only), Table 3's means
  of the test accuracy and of the total time (the truth from 20,000 runs of the generator).
  ``no_interval_*``: the share of those quantities without an interval (one value, or no
  spread), counted apart rather than as covered.
- ``violations``: intervals outside the metric's range, estimates outside their interval,
  differences stated from zero spread; each must be 0.

The records are what the pipeline writes, with what makes real ones awkward: accuracies in
whole images (so ties and zero spread happen), failed and diverged trials, a run without a
single finished trial, a run that stopped early, cost-matched runs that stop where the
simultaneous run's cost ends, and datasets with different sizes, accuracies and times. A
second scenario, ``heterogeneous``, gives GSOS a true effect on each dataset that averages
zero over the six (+2, −2, … points): the headline's accuracy verdicts must still hold
their level there, since its null hypothesis (no effect on average) is true.

    python3 -m uv run --locked python bench/calibration.py               # 500 per layout
    python3 -m uv run --locked python bench/calibration.py --experiments 50   # quicker

Results: bench/results/calibration.csv (and the README's table). tests/test_calibration.py
runs a smaller harness with the same code and holds each figure to its level.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

RESULTS = ROOT / "bench" / "results"
STRATEGY_SETS = {
    2: ("gsos", "simultaneous"),
    3: ("gsos", "simultaneous", "random"),
    4: ("gsos", "simultaneous", "random", "hyperband"),  # hyperband: cost-matched
}
# per dataset: validation and test images, training images, a typical accuracy, s per
# sample-epoch (six datasets as different as the paper's)
DATASETS = [
    {"name": "d0", "n_val": 359, "n_test": 359, "n_train": 1078, "top": 0.95, "rate": 2e-5},
    {"name": "d1", "n_val": 200, "n_test": 400, "n_train": 2000, "top": 0.80, "rate": 5e-5},
    {"name": "d2", "n_val": 500, "n_test": 500, "n_train": 4000, "top": 0.70, "rate": 1e-4},
    {"name": "d3", "n_val": 150, "n_test": 150, "n_train": 600, "top": 0.90, "rate": 3e-5},
    {"name": "d4", "n_val": 1000, "n_test": 1000, "n_train": 8000, "top": 0.60, "rate": 8e-6},
    {"name": "d5", "n_val": 300, "n_test": 600, "n_train": 3000, "top": 0.85, "rate": 4e-5},
]
TRIALS = 30  # per iteration-matched run (the report's code does not care how many)
CHANCE = 0.1


def trial(rng: np.random.Generator, ds: Mapping[str, Any], shift: float) -> dict[str, Any]:
    """One training's outcome: a configuration's quality (a sixth at chance, the rest below
    the dataset's top), its validation and test accuracy in whole images, its epochs and
    time; 5 % fail, 2 % diverge."""
    epochs = int(rng.integers(1, 10))
    cost = ds["n_train"] * epochs
    seconds = cost * ds["rate"] * float(rng.lognormal(0.0, 0.3))
    u = rng.random()
    if u < 0.05:
        return {"status": "fail", "sample_epochs": cost, "seconds": seconds}
    if u < 0.07:
        return {"status": "diverged", "sample_epochs": cost, "seconds": seconds}
    q = CHANCE if rng.random() < 1 / 6 else ds["top"] - float(rng.exponential(0.06)) + shift
    q = min(max(q, 0.0), 1.0)
    qt = min(max(q - 0.01 + float(rng.normal(0, 0.01)), 0.0), 1.0)
    return {
        "status": "ok",
        "val_accuracy": int(rng.binomial(ds["n_val"], q)) / ds["n_val"],
        "test_accuracy": int(rng.binomial(ds["n_test"], qt)) / ds["n_test"],
        "sample_epochs": cost,
        "seconds": seconds,
    }


def run_records(
    rng: np.random.Generator,
    ds: Mapping[str, Any],
    strategy: str,
    seed: int,
    shift: float = 0.0,
    budget: float | None = None,
    trials: int = TRIALS,
    no_ok: bool = False,
    stop_after: int | None = None,
) -> list[dict[str, Any]]:
    """One run's records: ``trials`` trainings (iteration-matched) or trainings until
    ``budget`` sample-epochs, the last cut to it (cost-matched); ``no_ok``: every trial
    fails; ``stop_after``: the run ends early."""
    out, elapsed, spent = [], 0.0, 0
    i = 0
    while True:
        if budget is None and i >= trials:
            break
        if budget is not None and spent >= budget:
            break
        if stop_after is not None and i >= stop_after:
            break
        t = trial(rng, ds, shift)
        if no_ok:
            t = {"status": "fail", "sample_epochs": t["sample_epochs"], "seconds": t["seconds"]}
        if budget is not None and spent + t["sample_epochs"] > budget:
            cut = int(budget - spent)
            t["seconds"] *= cut / t["sample_epochs"]
            t["sample_epochs"] = cut
        i += 1
        spent += t["sample_epochs"]
        elapsed += t["seconds"]
        out.append(
            {
                "dataset": ds["name"],
                "strategy": strategy,
                "seed": seed,
                "iteration": i,
                "status": t["status"],
                "val_accuracy": t.get("val_accuracy"),
                "test_accuracy": t.get("test_accuracy"),
                "sample_epochs": t["sample_epochs"],
                "elapsed_seconds": elapsed,
                "suggest_seconds": 0.001,
                "wall_time": 1000.0 * seed + elapsed,
                "params": {"x": float(rng.random())},
                "continues": None,
            }
        )
    return out


def experiment(
    rng: np.random.Generator,
    n_datasets: int,
    n_strategies: int,
    n_seeds: int,
    effects: Sequence[float] | None = None,
    awkward: bool = True,
) -> list[list[dict[str, Any]]]:
    """All runs of one synthetic experiment. ``effects``: GSOS's true shift per dataset
    (default none: an A/A experiment). ``awkward``: in a fifth of the experiments, on the
    first dataset, GSOS's second seed finishes no trial, and random search's first seed
    stops after 3 trials (the common cost then falls before most runs' first trial)."""
    runs = []
    awkward = awkward and rng.random() < 0.2
    strategies = STRATEGY_SETS[n_strategies]
    for k, ds in enumerate(DATASETS[:n_datasets]):
        cost = {}
        for seed in range(n_seeds):
            for st in strategies:
                shift = effects[k] if (effects is not None and st == "gsos") else 0.0
                kw: dict[str, Any] = {}
                if awkward and k == 0 and st == "gsos" and seed == 1:
                    kw["no_ok"] = True
                if awkward and k == 0 and st == "random" and seed == 0:
                    kw["stop_after"] = 3
                if st == "hyperband":
                    kw["budget"] = cost[seed]
                r = run_records(rng, ds, st, seed, shift, **kw)
                if st == "simultaneous":
                    cost[seed] = sum(x["sample_epochs"] for x in r)
                runs.append(r)
    return runs


def truths(trials: int = TRIALS, n: int = 20000, seed: int = 12345) -> pd.DataFrame:
    """Per dataset: the true mean of a run's test accuracy (of its best-validation trial)
    and of its total time, by simulating ``n`` runs."""
    from gsos.search.metrics import run_metrics

    rng = np.random.default_rng(seed)
    rows = []
    for ds in DATASETS:
        acc, secs = [], []
        for i in range(n):
            m = run_metrics(run_records(rng, ds, "x", i, trials=trials))
            if m["test_accuracy"] is not None:
                acc.append(m["test_accuracy"])
            secs.append(m["total_seconds"])
        rows.append({"dataset": ds["name"], "test_accuracy": float(np.mean(acc)),
                     "total_seconds": float(np.mean(secs))})  # fmt: skip
    return pd.DataFrame(rows).set_index("dataset")


# --- what one report states --------------------------------------------------------------


def covers(lo: float, hi: float, truth: float) -> bool | None:
    """Whether [lo, hi] holds the truth; None when there is no interval."""
    if np.isnan(lo) or np.isnan(hi):
        return None
    return bool(lo <= truth <= hi)


def inside(value: float, lo: float, hi: float) -> bool:
    return bool(np.isnan(lo) or np.isnan(hi) or not np.isfinite(value) or lo <= value <= hi)


def report_of(runs: Sequence[Sequence[Mapping[str, Any]]], truth: pd.DataFrame) -> dict:
    """Everything one experiment's report states, through the report's own code, reduced
    to what the harness counts."""
    from gsos.reports.comparisons import adjusted_of, size
    from gsos.reports.paper import headline, paired_tests, runs_frame, table3, table4
    from gsos.reports.summary import summarise

    found = summarise(runs, {}, {})
    fam = found["comparisons"]
    adjusted = adjusted_of(fam)
    paper = runs_frame([r for r in runs if r[0]["strategy"] in ("gsos", "simultaneous")])
    t3 = table3(paper)
    t4 = table4(t3, paper, adjusted)
    head = headline(paper, adjusted)
    tests = paired_tests(paper, adjusted)

    stated_tables = bool(
        (tests["difference stated"] == "yes").any() or (head["difference stated"] == "yes").any()
    )
    for col in t4.columns:
        if col.startswith("holm_p_"):
            stated_tables |= bool((t4[col] < 0.05).any())
    verdicts = [v for d in found["datasets"] for v in d["verdicts"]]
    stated_summary = any(" is higher (" in v for v in verdicts)
    out: dict[str, Any] = {
        "stated": stated_tables or stated_summary or bool(fam["stated"].any()),
        "stated_uncorrected": bool((fam["p"] < 0.05).any()),
        "stated_headline_accuracy": bool(
            (head[head["figure"].str.contains("accuracy")]["difference stated"] == "yes").any()
        ),
        "headline_accuracy_p_below": bool(
            (head[head["figure"].str.contains("accuracy")]["p"] < 0.05).any()
        ),
        "family_size": size(fam),
        "violations": 0,
    }
    # agreement: the summary and the tables state exactly the family's verdicts
    if stated_summary and not fam["stated"].any():
        out["violations"] += 1
    # intervals: coverage, range, estimate inside, zero spread never a win
    cov: dict[str, list] = {k: [] for k in ("change", "reduction", "ratio", "mean_test",
                                            "mean_time")}  # fmt: skip
    for _, r in fam.iterrows():
        kind = "reduction" if "reduction" in r["quantity"] else "change"
        cov[kind].append(covers(r["ci_low"], r["ci_high"], 0.0))
        if not inside(r["value"], r["ci_low"], r["ci_high"]):
            out["violations"] += 1
        if r["stated"] and not np.isfinite(r["p"]):
            out["violations"] += 1
        if kind == "change" and (r["ci_low"] < -1 or r["ci_high"] > 1):
            out["violations"] += 1
        if kind == "reduction" and r["ci_high"] > 100:
            out["violations"] += 1
    for d in found["datasets"]:
        for row in d["rows"]:
            if row["strategy"] != "simultaneous" and row["matched by"].startswith("iterations"):
                cov["ratio"].append(
                    covers(
                        row["cost / simultaneous's CI low"],
                        row["cost / simultaneous's CI high"],
                        1.0,
                    )  # fmt: skip
                )
            for key in ("test accuracy at the common cost", "test accuracy"):
                lo, hi = row[f"{key} CI low"], row[f"{key} CI high"]
                if lo < 0 or hi > 1 or not inside(row[f"{key} (mean)"], lo, hi):
                    out["violations"] += 1
    for _, row in t3.iterrows():
        ds = row["dataset"]
        cov["mean_test"].append(
            covers(
                row["ci_low_test_accuracy"],
                row["ci_high_test_accuracy"],
                truth.loc[ds, "test_accuracy"],
            )  # fmt: skip
        )
        cov["mean_time"].append(
            covers(
                row["ci_low_total_seconds"],
                row["ci_high_total_seconds"],
                truth.loc[ds, "total_seconds"],
            )  # fmt: skip
        )
        if row["ci_low_test_accuracy"] < 0 or row["ci_high_test_accuracy"] > 1:
            out["violations"] += 1
        if row["ci_low_total_seconds"] < 0:
            out["violations"] += 1
    out["coverage"] = cov
    return out


LAYOUTS = [
    (d, s, n) for d in (1, 6) for s in (2, 3, 4) for n in (2, 3, 5)
] + [(1, 2, 10)]  # fmt: skip


def harness(
    layouts: Sequence[tuple[int, int, int]],
    experiments: int,
    seed: int = 0,
    scenario: str = "aa",
    truth: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per layout: the figures of the module docstring over ``experiments``
    synthetic experiments."""
    truth = truths() if truth is None else truth
    effects = [0.02, -0.02] * 3 if scenario == "heterogeneous" else None
    rows = []
    for n_datasets, n_strategies, n_seeds in layouts:
        rng = np.random.default_rng([seed, n_datasets, n_strategies, n_seeds])
        start = time.perf_counter()
        reports = [
            report_of(
                experiment(
                    rng,
                    n_datasets,
                    n_strategies,
                    n_seeds,
                    effects[:n_datasets] if effects else None,
                ),  # fmt: skip
                truth,
            )
            for _ in range(experiments)
        ]
        row: dict[str, Any] = {
            "scenario": scenario,
            "datasets": n_datasets,
            "strategies": n_strategies,
            "seeds": n_seeds,
            "experiments": experiments,
            "comparisons per report (median)": float(
                np.median([r["family_size"] for r in reports])
            ),
            "familywise": float(np.mean([r["stated"] for r in reports])),
            "familywise_uncorrected": float(np.mean([r["stated_uncorrected"] for r in reports])),
            "headline_accuracy_stated": float(
                np.mean([r["stated_headline_accuracy"] for r in reports])
            ),
            "headline_accuracy_p_below_0.05": float(
                np.mean([r["headline_accuracy_p_below"] for r in reports])
            ),
            "violations": int(sum(r["violations"] for r in reports)),
        }
        for kind in ("change", "reduction", "ratio", "mean_test", "mean_time"):
            flags = [c for r in reports for c in r["coverage"][kind]]
            have = [c for c in flags if c is not None]
            row[f"coverage_{kind}"] = float(np.mean(have)) if have else math.nan
            row[f"no_interval_{kind}"] = (
                float(np.mean([c is None for c in flags])) if flags else math.nan
            )
            row[f"intervals_{kind}"] = len(have)
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(
            f"{scenario} {n_datasets}x{n_strategies}x{n_seeds}: familywise {row['familywise']:.3f}"
            f" (uncorrected {row['familywise_uncorrected']:.3f}), change coverage "
            f"{row['coverage_change']:.3f}, {row['seconds']} s",
            file=sys.stderr,
            flush=True,
        )
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiments", type=int, default=500)
    ap.add_argument("--out", type=Path, default=RESULTS / "calibration.csv")
    a = ap.parse_args(argv)
    truth = truths()
    aa = harness(LAYOUTS, a.experiments, truth=truth)
    het = harness([(6, 2, 5), (6, 2, 3)], a.experiments, scenario="heterogeneous", truth=truth)
    out = pd.concat([aa, het], ignore_index=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(a.out, index=False, float_format="%.4f")
    print(out.to_string(index=False))


if __name__ == "__main__":
    main()
