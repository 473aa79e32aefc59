"""From run records to the paper's Tables 3 and 4 and its headline averages, with the
uncertainty the paper leaves out.

How the paper aggregates (worked out from its published numbers; tests pin it):
- Table 3: per dataset × strategy, the plain mean over runs.
- Table 4, per dataset: time reduction (%) = (simultaneous - GSOS) / simultaneous × 100 on the
  Table 3 total-time means; accuracy changes = GSOS mean - simultaneous mean (absolute).
- Headline averages: ratios of sums over datasets, 1 - Σ GSOS / Σ simultaneous (× 100), for
  both times and, as a relative change, for both accuracies. The per-dataset mean of Table 4
  does *not* give the published 31.90 % (it gives 31.94 %), nor -2.23 % / -0.44 %.

This project's tables keep the paper's figures and add, by the one model of each quantity
(:mod:`gsos.reports.stats`): a 95 % interval for every mean (Student-t over runs, clipped to
the metric's range: accuracies in [0, 1], times and costs at or above 0), the sample-epochs
(hardware-independent cost) beside every time, and for Table 4 and the headline each figure's
value, interval and p from the seed pairs (a change by the t model, a reduction by Fieller's
interval on it, so the interval excludes 0 exactly when p < 0.05), the pairs used, and the
Holm-adjusted p over every comparison the report states (``comparisons.csv``): a difference
is stated only where that is below 0.05. Accuracy changes are absolute (GSOS minus
simultaneous) everywhere in this project's tables; the paper's relative headline accuracies
appear only where its published numbers are compared (:func:`paper_headline`).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsos.reports.stats import (
    ACCURACY,
    ACCURACY_CHANGE,
    ALPHA,
    NONNEGATIVE,
    UNBOUNDED,
    change_interval,
    mean_interval,
    reduction_interval,
)
from gsos.search.metrics import run_metrics

GSOS, SIM = "gsos", "simultaneous"
PAPER_STRATEGY = {"grouped_sequential": GSOS, "simultaneous": SIM}
PAPER_DATASETS = (
    "AHE",
    "Intel_Natural_Scene",
    "Rock_Paper_Scissors",
    "Dog_Cat",
    "Flowers",
    "Kuzushiji_49",
)
METRICS = ("time_to_best_seconds", "total_seconds", "best_val_accuracy", "test_accuracy")
COSTS = ("sample_epochs_to_best", "sample_epochs_total")

# Column names people read, with units; tables are written with these (CSV included).
LABELS = {
    "time_to_best_seconds": "time to best (s)",
    "total_seconds": "total time (s)",
    "best_val_accuracy": "best val. accuracy",
    "test_accuracy": "test accuracy",
    "sample_epochs_to_best": "sample-epochs to best",
    "sample_epochs_total": "sample-epochs (total)",
    "tpe_seconds_total": "TPE time (s)",
    "n_iterations": "iterations",
    "n_distinct_configurations": "distinct configurations",
    "n_repeats_told": "repeats told, not trained",
    "n_failed": "failed trials",
    "n_diverged": "diverged trials",
    "best_iteration": "best iteration",
    "n_runs": "runs",
    "n_runs_with_a_finished_trial": "runs with a finished trial",
    "time_to_best_reduction_percent": "time-to-best reduction (%)",
    "time_reduction_percent": "total time reduction (%)",
    "total_time_reduction_percent": "total time reduction (%)",
    "sample_epochs_to_best_reduction_percent": "sample-epochs-to-best reduction (%)",
    "sample_epochs_reduction_percent": "sample-epochs reduction (%)",
    "val_accuracy_change": "val. accuracy change (absolute)",
    "test_accuracy_change": "test accuracy change (absolute)",
}


def label(name: str) -> str:
    """A machine column name as people read it ('mean_total_seconds' -> 'total time (s) (mean)')."""
    for suffix in ("_published", "_reproduced", "_difference"):
        if name.endswith(suffix):
            return f"{label(name[: -len(suffix)])}, {suffix[1:]}"
    for prefix, suffix in (("mean_", " (mean)"), ("std_", " (s.d.)"), ("ci_low_", " CI low"),
                           ("ci_high_", " CI high"), ("p_", " paired t-test p"),
                           ("holm_p_", " Holm-adjusted p"), ("pairs_", " pairs")):  # fmt: skip
        if name.startswith(prefix) and name[len(prefix) :] in LABELS:
            return LABELS[name[len(prefix) :]] + suffix
    return LABELS.get(name, name.replace("_", " "))


def present(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: label(c) for c in df.columns})


def runs_frame(runs: Iterable[Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """One row per run (dataset, strategy, seed) with its :func:`run_metrics`."""
    rows = []
    for records in runs:
        first = records[0]
        m = run_metrics(records)
        m.pop("best_params")
        rows.append(
            {"dataset": first["dataset"], "strategy": first["strategy"], "seed": first["seed"], **m}
        )
    return pd.DataFrame(rows).sort_values(["dataset", "strategy", "seed"]).reset_index(drop=True)


# what each metric can take: its mean's interval is clipped to it
BOUNDS = {
    "best_val_accuracy": ACCURACY,
    "test_accuracy": ACCURACY,
    "time_to_best_seconds": NONNEGATIVE,
    "total_seconds": NONNEGATIVE,
    "sample_epochs_to_best": NONNEGATIVE,
    "sample_epochs_total": NONNEGATIVE,
}


def table3(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × strategy: the paper's means, with standard deviation and a 95 % interval
    (:func:`gsos.reports.stats.mean_interval`: Student-t, clipped to the metric's range), for
    its four figures and the sample-epochs. ``n_runs`` counts runs; a run without a finished
    trial has no accuracy, and ``runs with a finished trial`` says how many the accuracies
    rest on."""
    rows = []
    for (dataset, strategy), g in runs.groupby(["dataset", "strategy"], sort=True):
        row: dict[str, Any] = {
            "dataset": dataset,
            "strategy": strategy,
            "n_runs": len(g),
            "n_runs_with_a_finished_trial": int(g["best_val_accuracy"].notna().sum()),
        }
        for col in (*METRICS, *COSTS):
            values = [float(v) for v in g[col].dropna()]
            m = mean_interval(values, BOUNDS[col])
            row |= {
                f"mean_{col}": m["value"],
                f"std_{col}": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
                f"ci_low_{col}": m["ci_low"],
                f"ci_high_{col}": m["ci_high"],
            }
        row |= {"mean_n_failed": g["n_failed"].mean(), "mean_n_diverged": g["n_diverged"].mean()}
        rows.append(row)
    return pd.DataFrame(rows)


def pairs_of(
    runs: pd.DataFrame, dataset: str, col: str, a: str = GSOS, b: str = SIM
) -> tuple[np.ndarray, np.ndarray]:
    """Strategy a's and b's values of ``col`` on ``dataset``, paired by seed (seeds where
    either is missing are left out)."""
    here = runs["dataset"].to_numpy() == dataset
    strategy, seed = runs["strategy"].to_numpy(), runs["seed"].to_numpy()
    values = pd.to_numeric(runs[col], errors="coerce").to_numpy(float)
    va = {k: v for k, v in zip(seed[here & (strategy == a)], values[here & (strategy == a)],
                               strict=True)}  # fmt: skip
    vb = {k: v for k, v in zip(seed[here & (strategy == b)], values[here & (strategy == b)],
                               strict=True)}  # fmt: skip
    seeds = [k for k in sorted(set(va) & set(vb)) if np.isfinite(va[k]) and np.isfinite(vb[k])]
    return np.array([va[k] for k in seeds]), np.array([vb[k] for k in seeds])


def _reduction(g: np.ndarray, s: np.ndarray) -> float:
    return float((np.mean(s) - np.mean(g)) / np.mean(s) * 100)


def _change(g: np.ndarray, s: np.ndarray) -> float:
    return float(np.mean(g) - np.mean(s))


# Table 4's figures: (name, the metric it compares, reduction or change)
TABLE4 = [
    ("time_to_best_reduction_percent", "time_to_best_seconds", _reduction),
    ("time_reduction_percent", "total_seconds", _reduction),
    ("sample_epochs_to_best_reduction_percent", "sample_epochs_to_best", _reduction),
    ("sample_epochs_reduction_percent", "sample_epochs_total", _reduction),
    ("val_accuracy_change", "best_val_accuracy", _change),
    ("test_accuracy_change", "test_accuracy", _change),
]
ALL_DATASETS = "all datasets"  # the scope of the headline's comparisons


def figure_interval(name: str, pairs: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """One Table 4 / headline figure over ``pairs`` (dataset -> GSOS, simultaneous values of
    its metric, by seed): value, 95 % interval, p and the pairs used, by the one model of its
    quantity (:mod:`gsos.reports.stats`): a change by the t model, a reduction by Fieller's
    interval on the same model, so its interval excludes 0 exactly when p < 0.05. Table 4
    calls it with one dataset, the headline with all: the same numbers wherever a figure
    appears, and the value always from the pairs its interval rests on."""
    if name.endswith("_change"):
        return change_interval(pairs, bounds=ACCURACY_CHANGE)
    return reduction_interval(pairs)


def comparison_key(scope: str, a: str, b: str, metric: str) -> str:
    """How a comparison is named in the family (comparisons.csv): one key per hypothesis."""
    return f"{scope} | {a} - {b} | {metric}"


def holm_of(adjusted: Mapping[str, float] | None, key: str) -> float:
    return float(adjusted.get(key, np.nan)) if adjusted else np.nan


PAIRED_COLUMNS = ["pairs", "mean difference", "mean difference CI low",
                  "mean difference CI high", "paired t-test p", "Holm-adjusted p",
                  "difference stated"]  # fmt: skip


def paired_tests(runs: pd.DataFrame, adjusted: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per dataset and metric, GSOS minus simultaneous over runs paired by seed: the mean
    difference with its t interval and p (:func:`gsos.reports.stats.change_interval`, the
    same p as Table 4 and the headline), the Holm-adjusted p over the report's comparisons
    (``adjusted``, by :func:`comparison_key`) and whether a difference is stated (Holm p <
    0.05). One test per quantity: the Wilcoxon test once printed beside it cannot reach
    p < 0.05 with the paper's 5 pairs at all."""
    rows = []
    for dataset in sorted(runs["dataset"].unique()):
        for col in (*METRICS, *COSTS):
            a, b = pairs_of(runs, dataset, col)
            if not len(a):
                continue
            bounds = ACCURACY_CHANGE if col in ("best_val_accuracy", "test_accuracy") else UNBOUNDED
            change = change_interval({dataset: (a, b)}, bounds=bounds)
            holm_p = holm_of(adjusted, comparison_key(dataset, GSOS, SIM, col))
            rows.append(
                {
                    "dataset": dataset,
                    "metric (GSOS - simultaneous)": label(col),
                    "pairs": change["n"],
                    "mean difference": change["value"],
                    "mean difference CI low": change["ci_low"],
                    "mean difference CI high": change["ci_high"],
                    "paired t-test p": change["p"],
                    "Holm-adjusted p": holm_p,
                    "difference stated": stated(holm_p),
                }
            )
    columns = ["dataset", "metric (GSOS - simultaneous)", *PAIRED_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def stated(holm_p: float) -> str:
    """A table's verdict column: a difference is stated only below 0.05 after Holm."""
    if not np.isfinite(holm_p):
        return "no test"
    return "yes" if holm_p < ALPHA else "no"


def _paired(t3: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    wide = t3.set_index(["dataset", "strategy"])
    datasets = sorted(set(wide.index.get_level_values(0)))
    have = [d for d in datasets if (d, GSOS) in wide.index and (d, SIM) in wide.index]
    g = wide.loc[[(d, GSOS) for d in have]].droplevel(1)
    s = wide.loc[[(d, SIM) for d in have]].droplevel(1)
    return g, s


def table4(
    t3: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    adjusted: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Per dataset, GSOS against simultaneous (the paper's Table 4, plus the sample-epochs
    reductions). Without ``runs``, from Table 3's means as the paper computes it (used to
    check the published tables). With ``runs``, each figure from the seed pairs
    (:func:`figure_interval`): value, 95 % interval, p, the Holm-adjusted p over the report's
    comparisons (``adjusted``) and the pairs used."""
    g, s = _paired(t3)
    out = pd.DataFrame(index=g.index)
    for name, col, fn in TABLE4:
        if f"mean_{col}" not in g.columns:
            continue
        if runs is None:
            means = zip(g[f"mean_{col}"], s[f"mean_{col}"], strict=True)
            out[name] = [fn(np.array([a]), np.array([b])) for a, b in means]
            continue
        cells = []
        for dataset in out.index:
            a, b = pairs_of(runs, dataset, col)
            f = figure_interval(name, {dataset: (a, b)}) if len(a) else {}
            holm_p = holm_of(adjusted, comparison_key(dataset, GSOS, SIM, col))
            keys = ("value", "ci_low", "ci_high", "p")
            cells.append([f.get(k, np.nan) for k in keys] + [holm_p, f.get("n", 0)])
        value, lo, hi, p, holm_p, n = (
            (list(c) for c in zip(*cells, strict=True)) if cells else ([[] for _ in range(6)])
        )
        out[name], out[f"ci_low_{name}"], out[f"ci_high_{name}"] = value, lo, hi
        out[f"p_{name}"], out[f"holm_p_{name}"] = p, holm_p
        out[f"pairs_{name}"] = n
    out.index.name = "dataset"
    return out.reset_index()


def paper_headline(t3: pd.DataFrame) -> pd.DataFrame:
    """The paper's four averages exactly as it computed them: ratios of sums over datasets,
    the accuracies as a relative change (%). Only to compare with its published numbers."""
    g, s = _paired(t3)

    def reduction(col: str) -> float:
        return float((1 - g[col].sum() / s[col].sum()) * 100) if len(g) else np.nan

    def change(col: str) -> float:
        return float((g[col].sum() / s[col].sum() - 1) * 100) if len(g) else np.nan

    rows = [
        ("time_to_best_reduction_percent", reduction("mean_time_to_best_seconds")),
        ("total_time_reduction_percent", reduction("mean_total_seconds")),
        ("val_accuracy_change_percent", change("mean_best_val_accuracy")),
        ("test_accuracy_change_percent", change("mean_test_accuracy")),
    ]
    return pd.DataFrame(rows, columns=["figure", "value"])


HEADLINE = [
    ("time_to_best_reduction_percent", "time_to_best_seconds", _reduction),
    ("total_time_reduction_percent", "total_seconds", _reduction),
    ("sample_epochs_reduction_percent", "sample_epochs_total", _reduction),
    ("val_accuracy_change", "best_val_accuracy", _change),
    ("test_accuracy_change", "test_accuracy", _change),
]


def paired_datasets(runs: pd.DataFrame) -> list[str]:
    """The datasets where GSOS and simultaneous both ran on at least one common seed."""
    return [
        d for d in sorted(runs["dataset"].unique()) if len(pairs_of(runs, d, "total_seconds")[0])
    ]


def headline_scope(datasets: Sequence[str]) -> str:
    """The headline's comparisons are Table 4's when one dataset ran (the same hypotheses,
    counted once in the family), their own over several."""
    return datasets[0] if len(datasets) == 1 else ALL_DATASETS


def headline(runs: pd.DataFrame, adjusted: Mapping[str, float] | None = None) -> pd.DataFrame:
    """GSOS against simultaneous over every dataset where both ran: reductions as ratios of
    sums of the per-dataset means (as the paper), accuracy changes as the mean over datasets
    of the absolute differences; each with the interval and p of :func:`figure_interval`
    (with one dataset exactly Table 4's; over several, each dataset one unit, so datasets
    may differ in their effect) and the Holm-adjusted p over the report's comparisons."""
    datasets = paired_datasets(runs)
    columns = ["figure", "value", "value CI low", "value CI high", "p", "Holm-adjusted p",
               "difference stated", "datasets", "pairs"]  # fmt: skip
    if not datasets:
        return pd.DataFrame(columns=columns)
    scope = headline_scope(datasets)
    rows = []
    for name, col, _ in HEADLINE:
        table4_name = name.replace("total_time_reduction", "time_reduction")
        f = figure_interval(table4_name, {d: pairs_of(runs, d, col) for d in datasets})
        holm_p = holm_of(adjusted, comparison_key(scope, GSOS, SIM, col))
        rows.append(
            {
                "figure": label(name),
                "value": f["value"],
                "value CI low": f["ci_low"],
                "value CI high": f["ci_high"],
                "p": f["p"],
                "Holm-adjusted p": holm_p,
                "difference stated": stated(holm_p),
                "datasets": ", ".join(datasets),
                "pairs": f["n"],
            }
        )
    return pd.DataFrame(rows, columns=columns)


def paper_comparisons(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """Every hypothesis the paper's tables state (GSOS against simultaneous): per dataset,
    each metric of Table 4 and the paired tests (one p per metric, whichever table shows
    it); over several datasets, each figure of the headline. Rows of the report's family
    (:mod:`gsos.reports.comparisons`)."""
    rows = []
    datasets = paired_datasets(runs)
    for dataset in datasets:
        for name, col, _ in TABLE4:
            f = figure_interval(name, {dataset: pairs_of(runs, dataset, col)})
            rows.append(_family_row(dataset, col, name, f))
    if len(datasets) > 1:
        for name, col, _ in HEADLINE:
            table4_name = name.replace("total_time_reduction", "time_reduction")
            f = figure_interval(table4_name, {d: pairs_of(runs, d, col) for d in datasets})
            rows.append(_family_row(ALL_DATASETS, col, name, f))
    return rows


def _family_row(scope: str, col: str, name: str, f: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": comparison_key(scope, GSOS, SIM, col),
        "table": "Table 4, paired tests" if scope != ALL_DATASETS else "headline",
        "scope": scope,
        "a": GSOS,
        "b": SIM,
        "quantity": label(name),
        "value": f["value"],
        "ci_low": f["ci_low"],
        "ci_high": f["ci_high"],
        "p": f["p"],
        "pairs": f["n"],
        "note": f.get("note", ""),
    }


# --- the published numbers, shipped as package data (copied from the paper) ---------------


def published(name: str) -> pd.DataFrame:
    """A published table: table1..table5, headline, importance_weights."""
    ref = importlib.resources.files("gsos.reports") / "published" / f"{name}.csv"
    with ref.open() as f:
        return pd.read_csv(f)


def hms_to_seconds(value: str) -> int:
    h, m, s = (int(p) for p in value.split(":"))
    return h * 3600 + m * 60 + s


def published_table3() -> pd.DataFrame:
    """Published Table 3 in this project's column names (times in seconds)."""
    p = published("table3")
    return pd.DataFrame(
        {
            "dataset": p["dataset"],
            "strategy": p["strategy"].map(PAPER_STRATEGY),
            "n_runs": 5,
            "mean_time_to_best_seconds": p["avg_time_to_best"].map(hms_to_seconds),
            "mean_total_seconds": p["avg_total_time"].map(hms_to_seconds),
            "mean_best_val_accuracy": p["avg_val_accuracy"],
            "mean_test_accuracy": p["avg_test_accuracy"],
        }
    )


# Table 3 is printed to 4 decimals, so a difference of two cells is known to ±1e-4;
# Table 4 times are given to 3 decimals of a percent.
TOLERANCE = {
    "time_reduction_percent": 0.001,
    "val_accuracy_change": 1e-4,
    "test_accuracy_change": 1e-4,
}


def check_published_table4() -> pd.DataFrame:
    """Our aggregation of published Table 3 beside published Table 4, cell by cell.

    A cell outside the rounding tolerance is flagged: the paper's Table 4 says something its
    Table 3 does not support (Intel's test-accuracy change is the known case).
    """
    ours = table4(published_table3()).set_index("dataset")
    pub = published("table4").set_index("dataset")
    rows = []
    for dataset in pub.index:
        for col, tol in TOLERANCE.items():
            mine, theirs = float(ours.loc[dataset, col]), float(pub.loc[dataset, col])
            rows.append(
                {
                    "dataset": dataset,
                    "column": col,
                    "published": theirs,
                    "from_published_table3": round(mine, 6),
                    "difference": round(mine - theirs, 6),
                    "flag": "DISAGREES" if abs(mine - theirs) > tol else "",
                }
            )
    return pd.DataFrame(rows)


def check_published_headline() -> pd.DataFrame:
    ours = paper_headline(published_table3()).set_index("figure")["value"]
    pub = published("headline").set_index("figure")["published_value"]
    out = pd.DataFrame({"published": pub, "from_published_table3": ours.round(4)})
    out["difference"] = (out["from_published_table3"] - out["published"]).round(4)
    out["flag"] = np.where(out["difference"].abs() > 0.005, "DISAGREES", "")
    out.index.name = "figure"
    return out.reset_index()


# --- reproduced beside published ---------------------------------------------------------


def _beside(
    ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str], cols: list[str]
) -> pd.DataFrame:
    """Every published row, our value where we have one, and the difference (ours - paper)."""
    merged = theirs[keys + cols].merge(
        ours[keys + cols], on=keys, how="outer", suffixes=("_published", "_reproduced")
    )
    out = merged[keys].copy()
    for c in cols:
        out[f"{c}_published"] = merged[f"{c}_published"]
        out[f"{c}_reproduced"] = merged[f"{c}_reproduced"]
        out[f"{c}_difference"] = merged[f"{c}_reproduced"] - merged[f"{c}_published"]
    return out.sort_values(keys).reset_index(drop=True)


T3_COLS = [
    "mean_time_to_best_seconds",
    "mean_total_seconds",
    "mean_best_val_accuracy",
    "mean_test_accuracy",
]
T4_COLS = ["time_reduction_percent", "val_accuracy_change", "test_accuracy_change"]


def table3_vs_published(t3: pd.DataFrame) -> pd.DataFrame:
    return _beside(t3, published_table3(), ["dataset", "strategy"], T3_COLS)


def table4_vs_published(t4: pd.DataFrame) -> pd.DataFrame:
    return _beside(t4[["dataset", *T4_COLS]], published("table4"), ["dataset"], T4_COLS)


def headline_vs_published(t3: pd.DataFrame) -> pd.DataFrame:
    """The paper's four averages computed its way over the paper's datasets this experiment
    ran, beside the published ones. Other datasets are left out: the published figures
    average the paper's six, and a user's own dataset is not one of them."""
    mine = t3[t3["dataset"].isin(PAPER_DATASETS)]
    ran = sorted(set(mine["dataset"]))
    pub = published("headline").rename(columns={"published_value": "value"})
    ours = paper_headline(mine) if ran else pub[["figure"]].assign(value=np.nan)
    out = _beside(ours, pub, ["figure"], ["value"])
    order = {f: i for i, f in enumerate(pub["figure"])}
    out = out.sort_values("figure", key=lambda c: c.map(order)).reset_index(drop=True)
    out["figure"] = out["figure"].map(PAPER_FIGURES)
    out["paper datasets in this experiment"] = ", ".join(ran) if ran else "none"
    return out


PAPER_FIGURES = {
    "time_to_best_reduction_percent": "time-to-best reduction (%)",
    "total_time_reduction_percent": "total time reduction (%)",
    "val_accuracy_change_percent": "val. accuracy change (%, relative, as the paper)",
    "test_accuracy_change_percent": "test accuracy change (%, relative, as the paper)",
}


def read_adjusted(comparisons: Path | None) -> dict[str, float]:
    """Holm-adjusted p by comparison key, from the report's comparisons.csv."""
    if comparisons is None:
        return {}
    df = pd.read_csv(comparisons)
    return dict(zip(df["key"], df["Holm-adjusted p"].astype(float), strict=True))


def write_paper_tables(records: Sequence[Path], outdir: Path, comparisons: Path | None) -> None:
    """The ``tables`` verb: GSOS against simultaneous TPE, in every format, into ``outdir``;
    the Holm-adjusted p of each comparison from ``comparisons`` (the report's family)."""
    from gsos.reports.formats import compact, write_table
    from gsos.search.records import read_runs

    runs = runs_frame(read_runs(records))
    adjusted = read_adjusted(comparisons)
    out = Path(outdir)
    t3 = table3(runs)
    t4 = table4(t3, runs, adjusted)
    for name, df, title in [
        ("headline", headline(runs, adjusted), "GSOS against simultaneous over all datasets"),
        ("table3", t3, "Table 3: mean over runs [95 % Student-t interval]"),
        ("table4", t4, "Table 4: GSOS against simultaneous per dataset [95 % interval]"),
        ("paired_tests", paired_tests(runs, adjusted), "Paired tests: GSOS - simultaneous"),
    ]:
        df = present(df)
        write_table(df, out / f"{name}.csv", ".4f", title, shown=compact(df, ".4f"))
    write_table(present(runs), out / "runs.csv", ".4f", "Every run of GSOS and simultaneous TPE")


def write_published_tables(records: Sequence[Path], outdir: Path) -> None:
    """The ``published`` verb: the paper's published numbers beside this experiment's, and
    the paper's own Table 4 and headline recomputed from its Table 3."""
    from gsos.reports.formats import write_table
    from gsos.search.records import read_runs

    runs = runs_frame(read_runs(records))
    out = Path(outdir)
    t3 = table3(runs)
    t4 = table4(t3, runs)
    for name, df, fmt, title in [
        ("table3_vs_published", table3_vs_published(t3), ".4f", "Table 3 beside published"),
        ("table4_vs_published", table4_vs_published(t4), ".5f", "Table 4 beside published"),
        (
            "headline_vs_published",
            headline_vs_published(t3),
            ".2f",
            "The paper's headline averages, computed its way over its datasets, beside published",
        ),
        (
            "table4_published_check",
            check_published_table4(),
            ".5f",
            "Published Table 3 aggregated by this project, beside published Table 4",
        ),
        (
            "headline_published_check",
            check_published_headline(),
            ".4f",
            "Published Table 3 aggregated by this project, beside the published headlines",
        ),
    ]:
        write_table(present(df), out / f"{name}.csv", fmt, title)
