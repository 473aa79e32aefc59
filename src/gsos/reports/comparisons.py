"""Every comparison a report states, as one family, corrected together.

A report that tests many things at the 5 % level states a difference somewhere far more
often than 5 % even when nothing differs: through the summary's code with the paper's layout
(6 datasets, 2 strategies, 5 seeds) and no true difference, 25 % of experiments stated at
least one. So every p that the summary and the paper's tables state is one family here, and
Holm's step-down correction (:func:`gsos.reports.stats.holm`) holds the chance of stating any
difference at all, when none exists, at 5 % or less, whatever the dependence between the
tests. A difference is stated only where its Holm-adjusted p < 0.05; its interval (95 %, per
comparison) and raw p are shown beside. The family, one row a hypothesis:

- the paper's question, per dataset: GSOS against simultaneous TPE on each metric of Table 4
  (times, sample-epochs, validation and test accuracy; the paired tests table shows the same
  hypotheses as differences, with the same p);
- over several datasets, each headline figure (with one dataset the headline is Table 4);
- per dataset, every other strategy against simultaneous TPE, the paper's baseline, on the
  test accuracy of its best-validation trial at the common cost (a many-to-one design: a
  leader chosen on validation and then tested against the runner-up would be a comparison
  picked by the data). GSOS itself is compared by the paper's question.

``comparisons.csv`` lists them all; the tables and the summary read their Holm-adjusted p
from it, so every stated verdict of a report comes from this one family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsos.reports.paper import GSOS, SIM, comparison_key, paper_comparisons, runs_frame
from gsos.reports.stats import ACCURACY_CHANGE, ALPHA, change_interval, holm
from gsos.reports.strategies import BASELINE, per_dataset, summaries
from gsos.search.optimizers.registry import title

AT_COMMON = "test_accuracy_at_the_common_cost"
COLUMNS = ["key", "table", "scope", "a", "b", "quantity", "value", "ci_low", "ci_high", "p",
           "pairs", "note", "Holm-adjusted p", "stated"]  # fmt: skip


def strategy_comparisons(datasets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per dataset (:func:`gsos.reports.strategies.per_dataset`), every strategy but the
    paper's pair against simultaneous TPE: the test accuracy at the common cost, paired by
    seed."""
    rows = []
    for d in datasets:
        at = d["at"]
        if BASELINE not in at:
            continue
        base = at[BASELINE]
        for st in at:
            if st in (BASELINE, GSOS):
                continue
            seeds = sorted(set(at[st]) & set(base))
            f = change_interval(
                {d["dataset"]: ([at[st][k][1] for k in seeds], [base[k][1] for k in seeds])},
                bounds=ACCURACY_CHANGE,
            )
            rows.append(
                {
                    "key": comparison_key(d["dataset"], st, BASELINE, AT_COMMON),
                    "table": "summary, strategies",
                    "scope": d["dataset"],
                    "a": st,
                    "b": BASELINE,
                    "quantity": "test accuracy at the common cost (change)",
                    "value": f["value"],
                    "ci_low": f["ci_low"],
                    "ci_high": f["ci_high"],
                    "p": f["p"],
                    "pairs": f["n"],
                    "note": f["note"],
                }
            )
    return rows


def family(
    runs: Sequence[Sequence[Mapping[str, Any]]],
    charges: Mapping[tuple[str, str], float] | None = None,
    datasets: Sequence[Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Every comparison the report states (see the module docstring), with its
    Holm-adjusted p and whether a difference is stated. ``datasets`` may pass
    :func:`per_dataset` already computed for these runs."""
    paper_runs = [r for r in runs if r and r[0]["strategy"] in (GSOS, SIM)]
    rows = paper_comparisons(runs_frame(paper_runs)) if paper_runs else []
    if datasets is None:
        datasets = per_dataset(summaries(runs, charges))
    rows += strategy_comparisons(datasets)
    df = pd.DataFrame(rows, columns=COLUMNS[:-2])
    df["Holm-adjusted p"] = holm(df["p"].tolist()) if len(df) else []
    df["stated"] = df["Holm-adjusted p"] < ALPHA
    return df


def adjusted_of(df: pd.DataFrame) -> dict[str, float]:
    """Holm-adjusted p by comparison key."""
    return dict(zip(df["key"], df["Holm-adjusted p"].astype(float), strict=True))


def size(df: pd.DataFrame) -> int:
    """How many comparisons the family counts (those with a test)."""
    return int(np.isfinite(df["p"].astype(float)).sum())


def shown(df: pd.DataFrame) -> pd.DataFrame:
    """The family as people read it."""
    from gsos.reports.formats import bound_text, fmt_number

    def cell(r: pd.Series) -> str:
        v = fmt_number(r["value"])
        if np.isnan(r["ci_low"]) or np.isnan(r["ci_high"]):
            return v
        return f"{v} [{bound_text(r['ci_low'])}, {bound_text(r['ci_high'])}]"

    return pd.DataFrame(
        {
            "where": df["scope"],
            "comparison": [
                f"{title(a)} − {title(b)}" for a, b in zip(df["a"], df["b"], strict=True)
            ],
            "quantity": df["quantity"],
            "value [95 % CI]": df.apply(cell, axis=1),
            "pairs": df["pairs"],
            "p": df["p"],
            "Holm-adjusted p": df["Holm-adjusted p"],
            "difference stated": [
                "no test" if not np.isfinite(p) else ("yes" if s else "no")
                for p, s in zip(df["Holm-adjusted p"], df["stated"], strict=True)
            ],
            "why no test": df["note"].fillna(""),
        }
    )


def write_comparisons(records: Sequence[Path], measured: Sequence[Path], out: Path) -> None:
    """The ``comparisons`` verb: comparisons.{csv,md,tex,html}."""
    from gsos.reports.formats import write_table
    from gsos.reports.strategies import pilot_charges
    from gsos.search.records import read_runs

    df = family(read_runs(records), pilot_charges(measured))
    write_table(
        df,
        Path(out),
        ".4f",
        f"Every comparison this report states ({size(df)} tests, one family): a difference "
        "is stated only where the Holm-adjusted p < 0.05",
        shown=shown(df),
    )
