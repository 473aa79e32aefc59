"""Issue 30's experiment, read back: FABOLAS, BOIL and ``hyperband_data`` against simultaneous
TPE on the default digits (bench/multifidelity.yaml, run by the real pipeline).

    python3 -m uv run --locked gsos run --configfile bench/multifidelity.yaml --cores 2
    python3 -m uv run --locked python bench/multifidelity.py results/multifidelity

For each seed the target is simultaneous TPE's best validation accuracy on that seed, and a
run's cost to reach it is the training sample-epochs spent up to its first evaluation whose
best so far reaches it (simultaneous: up to its best). A run that never reaches it is
counted at everything it spent (a lower bound on its cost; the tables say how many reached).
Intervals are the project's, one model per quantity (src/gsos/reports/stats.py): a mean over
seeds ``mean_interval`` (Student-t, clipped to what the quantity can take), the reduction of
cost against simultaneous ``reduction_interval`` (Fieller's interval from the paired t-test
over seeds, its p beside it; the interval holds 0 exactly when p >= 0.05).

BOIL's short trainings: where they sit and how the budget splits between epoch counts. Where
they sit is counted twice: the share of box coordinates exactly on a bound of the unit box (the
``raw`` point BOIL's GP saw), and the share of hyperparameters at an extreme value of their
range in the configuration trained (the first or last choice, the lowest or highest integer,
a bound of a range). The second does not depend on where in a value's bin the GP put the
point, and it is never below the first (a box bound decodes to an extreme value); a training
counts as "at the corners" when at least 80 % of its hyperparameters (of the box's
coordinates) are there. Uniform random configurations of the default's space are at the
corners by that count with probability below 0.1 %. FABOLAS: its proposal times (the
runner's in-process ask() time) and the shares it chose.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gsos.reports.stats import (  # noqa: E402
    ACCURACY,
    NONNEGATIVE,
    mean_interval,
    reduction_interval,
)
from gsos.reports.strategies import cost_to_reach, curve  # noqa: E402
from gsos.search.records import read_records  # noqa: E402
from gsos.search.space import SearchSpace  # noqa: E402

BASELINE = "simultaneous"
ON_BOUND = 1e-9  # a box coordinate this close to 0 or 1 is on the bound


def load_runs(results: Path, dataset: str = "digits") -> dict[str, dict[int, list[dict]]]:
    runs: dict[str, dict[int, list[dict]]] = {}
    for path in sorted((results / "runs" / dataset).glob("*/seed*/records.jsonl")):
        strategy, seed = path.parent.parent.name, int(path.parent.name.removeprefix("seed"))
        runs.setdefault(strategy, {})[seed] = read_records(path)
    return runs


def reached(c: dict[str, np.ndarray], target: float) -> tuple[float, bool]:
    """The reports' cost to reach ``target`` on a run's curve (:func:`curve`), and whether it
    got there; a run that never does counts at everything it spent."""
    cost = cost_to_reach(c, target)
    return (cost, True) if np.isfinite(cost) else (float(c["sample_epochs"][-1]), False)


def reach_table(runs: dict[str, dict[int, list[dict]]], margin: float = 0.0) -> pd.DataFrame:
    """Cost to reach simultaneous TPE's best validation accuracy on the same seed, less
    ``margin`` (0.01: within 1 point of it, the margin of the project's reports)."""
    curves = {st: {seed: curve(rs) for seed, rs in by.items()} for st, by in runs.items()}
    base = curves[BASELINE]
    targets = {seed: c["best_val_accuracy"][-1] - margin for seed, c in base.items()}
    rows = []
    for strategy, by_seed in curves.items():
        seeds = sorted(set(by_seed) & set(base))
        costs, got = map(list, zip(*[reached(by_seed[s], targets[s]) for s in seeds], strict=True))
        finals = [by_seed[s]["best_val_accuracy"][-1] for s in seeds]
        spent = [by_seed[s]["sample_epochs"][-1] for s in seeds]
        base_costs = [reached(base[s], targets[s])[0] for s in seeds]
        red = reduction_interval({"digits": (costs, base_costs)})
        cost = mean_interval(costs, NONNEGATIVE)
        final = mean_interval(finals, ACCURACY)
        rows.append(
            {
                "target": "simultaneous's best" + (f" - {margin:g}" if margin else ""),
                "strategy": strategy,
                "runs": len(seeds),
                "runs reaching": int(sum(got)),
                "cost to reach (sample-epochs, mean)": cost["value"],
                "cost ci low": cost["ci_low"],
                "cost ci high": cost["ci_high"],
                "reduction vs simultaneous (%)": red["value"],
                "reduction ci low": red["ci_low"],
                "reduction ci high": red["ci_high"],
                "reduction p": red["p"],
                "reduction note": red["note"],
                "final best val (mean)": final["value"],
                "final ci low": final["ci_low"],
                "final ci high": final["ci_high"],
                "spent (sample-epochs, mean)": float(np.mean(spent)),
                "evaluations (mean)": float(np.mean([len(by_seed[s]["iteration"]) for s in seeds])),
                "per seed cost to reach": ";".join(f"{c:.0f}" for c in costs),
                "per seed reached": ";".join(str(int(r)) for r in got),
            }
        )
    return pd.DataFrame(rows)


def at_extreme(space: SearchSpace, params: dict) -> np.ndarray:
    """Whether each searched hyperparameter but ``epoch`` of a configuration is at an
    extreme value of its range (a choice's first or last value, a range's bound)."""
    out = []
    for name, p in space.params.items():
        if name == "epoch":
            continue
        v = params[name]
        if p.kind == "choice":
            out.append(v in (p.values[0], p.values[-1]))
        else:
            assert p.low is not None and p.high is not None
            span = p.high - p.low
            out.append(min(float(v) - p.low, p.high - float(v)) <= 1e-9 * span)
    return np.array(out, dtype=bool)


def boil_table(
    runs: dict[str, dict[int, list[dict]]], space: SearchSpace, strategy: str = "boil"
) -> pd.DataFrame:
    """Per epoch count: evaluations, share of the budget, share of box coordinates on a
    bound and of hyperparameters at an extreme value, share of evaluations with at least
    80 % of either, median validation."""
    rows = []
    records = [r for by_seed in [runs.get(strategy, {})] for rs in by_seed.values() for r in rs]
    total = sum(r["sample_epochs"] for r in records)
    for epochs in sorted({r["budget"] for r in records}):
        group = [r for r in records if r["budget"] == epochs]
        u = np.array([list(r["hp_vals"].values()) for r in group], dtype=float)
        on = (u <= ON_BOUND) | (u >= 1 - ON_BOUND)
        ext = np.array([at_extreme(space, r["params"]) for r in group])
        rows.append(
            {
                "epochs": epochs,
                "evaluations": len(group),
                "share of budget": sum(r["sample_epochs"] for r in group) / total,
                "coordinates on a bound": float(on.mean()),
                "evaluations with >= 80% on a bound": float((on.mean(1) >= 0.8).mean()),
                "hyperparameters at an extreme": float(ext.mean()),
                "evaluations with >= 80% at an extreme": float((ext.mean(1) >= 0.8).mean()),
                "median val accuracy": float(np.median([r["val_accuracy"] or 0 for r in group])),
            }
        )
    return pd.DataFrame(rows)


def fabolas_table(runs: dict[str, dict[int, list[dict]]], n_init: int = 20) -> pd.DataFrame:
    rows = []
    for seed, records in sorted(runs.get("fabolas", {}).items()):
        asked = [r["suggest_seconds"] for r in records[n_init:]]
        shares = np.array([r["data_fraction"] for r in records[n_init:]])
        rows.append(
            {
                "seed": seed,
                "evaluations": len(records),
                "proposals": len(asked),
                "proposal seconds median": float(np.median(asked)),
                "proposal seconds max": float(np.max(asked)),
                "proposals over 5 s": int(np.sum(np.array(asked) > 5.0)),
                "share median": float(np.median(shares)),
                "shares below 1/4": float(np.mean(shares < 0.25)),
                "shares above 3/4": float(np.mean(shares > 0.75)),
            }
        )
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("results", type=Path, help="results/<experiment>")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--name", default="multifidelity")
    a = ap.parse_args(argv)
    runs = load_runs(a.results)
    import yaml

    config = yaml.safe_load((a.results / "run-config.yaml").read_text())
    space = SearchSpace.from_config(config["search_space"])
    tables = {
        "reach": pd.concat([reach_table(runs), reach_table(runs, 0.01)], ignore_index=True),
        "boil": boil_table(runs, space),
        "fabolas": fabolas_table(runs),
    }
    for name, df in tables.items():
        df.to_csv(a.out / f"{a.name}_{name}.csv", index=False)
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(f"--- {name}\n{df}\n")


if __name__ == "__main__":
    main()
