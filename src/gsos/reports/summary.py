"""The answer first: per dataset, which strategy found what, at what cost, and how sure that is.

``summary.md`` (and the report's first page) says, per dataset, in words: GSOS against
simultaneous TPE on test accuracy (the paper's question) and the cost GSOS spent relative to
simultaneous TPE's; which strategy has the highest mean validation accuracy at the common
cost (ties said as ties, strategies without a result there or without a held-out validation
score left out of that sentence, with the reason); and every other strategy against
simultaneous TPE at the common cost, a difference stated only where its Holm-adjusted p <
0.05 over every comparison the report makes (:mod:`gsos.reports.comparisons`). Then a table
of every strategy (the definitions of :func:`gsos.reports.strategies.dataset_rows`, the
strategies table's), and the caveats that apply: wall-clock measured on shared cores, a
scaled-down regime, searches that ran out of new configurations, how many comparisons the
correction covers, too few seeds.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsos.atomic import atomic_write_text
from gsos.reports.comparisons import AT_COMMON, family, size
from gsos.reports.devices import mixed_devices_caveat
from gsos.reports.formats import bound_text, fmt_number, to_latex
from gsos.reports.paper import GSOS, SIM, comparison_key
from gsos.reports.stats import NO_SPREAD, p_text
from gsos.reports.strategies import (
    BASELINE,
    acc_text,
    cost_text,
    per_dataset,
    pilot_charges,
    ratio_text,
    reach_text,
    summaries,
)
from gsos.reports.wallclock import shared_cores
from gsos.search.optimizers.registry import title

PAPER_REGIME = {"epochs": (10, 100), "max_filters": 256}
CHANGE = "test accuracy at the common cost − simultaneous's"  # a summary row's comparison


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def interval_text(value: float, lo: float, hi: float, signed: bool = False) -> str:
    fmt = "+.3f" if signed else ".3f"
    if not np.isfinite(value):
        return "n/a"
    text = format(value, fmt)
    if np.isnan(lo) or np.isnan(hi):
        return text
    return f"{text} [{bound_text(lo, fmt)}, {bound_text(hi, fmt)}]"


def verdict(c: Mapping[str, Any], n_family: int, what: str) -> str:
    """One sentence on one comparison of the family (a row of comparisons.csv): a − b on
    ``what`` with its interval, the pairs it rests on, and the verdict in words, which states
    a difference only where the Holm-adjusted p < 0.05."""
    a, b = title(c["a"]), title(c["b"])
    n = int(c["pairs"])
    if n == 0:
        return f"{a} and {b} share no seed with a result: no paired comparison of {what}."
    diff = interval_text(c["value"], c["ci_low"], c["ci_high"], signed=True)
    lead = f"{a} − {b}, {what}: {diff} ({plural(n, 'pair')})"
    if not np.isfinite(c["p"]):
        if c["note"] == NO_SPREAD:
            return f"{lead}: every pair differs by the same amount (no spread): no test."
        return f"{lead}: with {plural(n, 'pair')} no test is possible."
    ps = f"{p_text(c['p'])}; Holm-adjusted over {plural(n_family, 'comparison')}: "
    ps += p_text(c["Holm-adjusted p"]).removeprefix("p ").removeprefix("= ")
    if c["stated"]:
        better = a if c["value"] > 0 else b
        return f"{lead}: {better} is higher ({ps})."
    return f"{lead}: cannot be told apart ({ps})."


def leader_sentence(d: Mapping[str, Any]) -> str:
    """Which strategy has the highest mean best validation accuracy at the common cost: a tie
    said as one; strategies without a result there, or without a held-out validation score,
    left out with the reason."""
    means = d["val_means"]
    held = {st: m for st, m in means.items() if d["held"][st]}
    finite = {st: m for st, m in held.items() if np.isfinite(m)}
    out = []
    common = fmt_number(d["common"])
    if not finite:
        out.append(f"At the common cost ({common} sample-epochs) no strategy has a result.")
    else:
        top = max(finite.values())
        tied = [st for st, m in finite.items() if np.isclose(m, top, rtol=0, atol=1e-12)]
        names = " and ".join(title(st) for st in tied)
        lead = (
            f"{names} tie for the highest mean best validation accuracy ({top:.3f})"
            if len(tied) > 1
            else f"the highest mean best validation accuracy is {names}'s ({top:.3f})"
        )
        out.append(f"At the common cost ({common} sample-epochs, the least any run spent) {lead}.")
    missing = [st for st, m in held.items() if not np.isfinite(m)]
    if missing:
        out.append(
            f"{', '.join(title(st) for st in missing)}: no result within the common cost "
            "(its first evaluation, or its share of pilot runs, costs more)."
        )
    not_held = [st for st in means if not d["held"][st]]
    if not_held:
        out.append(
            f"{', '.join(title(st) for st in not_held)}: left out of this, the ranks and the "
            "target, as it fits the network on the validation split; judge it on test accuracy."
        )
    return " ".join(out)


def against_baseline(rows: pd.DataFrame, n_family: int, dataset: str) -> str:
    """The many-to-one comparisons of a dataset in one sentence: the stated ones, or that
    none is."""
    here = rows[(rows["scope"] == dataset) & rows["key"].str.endswith(AT_COMMON)]
    if here.empty:
        return ""
    said = here[here["stated"]]
    what = "test accuracy at the common cost"
    if said.empty:
        return (
            f"Against {title(BASELINE)} on {what}: no other strategy is told apart "
            f"({plural(len(here), 'comparison')}, Holm over the report's {n_family}; the "
            "table gives each)."
        )
    return " ".join(verdict(r, n_family, what) for _, r in said.iterrows())


def regime_caveat(regime: Mapping[str, Any]) -> str | None:
    """What is scaled down against the paper's regime, if anything."""
    epoch = regime.get("search_space", {}).get("epoch", {})
    lo, hi = epoch.get("low"), epoch.get("high")
    parts = []
    if lo is not None and (lo, hi) != PAPER_REGIME["epochs"]:
        parts.append(f"epochs {lo}..{hi} (paper 10..100)")
    top = regime.get("model", {}).get("max_filters")
    if top is not None and top < PAPER_REGIME["max_filters"]:
        parts.append(f"the CNN capped at {top} filters (paper 256)")
    sizes = sorted({d.get("image_size") for d in regime.get("datasets", {}).values()})
    if sizes and max(sizes) < 28:
        parts.append(f"images of {'/'.join(f'{s}×{s}' for s in sizes)} pixels")
    if not parts:
        return None
    rungs = (
        " It keeps the paper's shape (Hyperband has its three rungs), but says"
        if lo and hi and hi / lo >= 9
        else " With fewer than three Hyperband rungs it says even less; it says"
    )
    return (
        "A scaled-down regime: " + ", ".join(parts) + "." + rungs + " how these strategies "
        "compare here, not at the paper's scale."
    )


def summarise(
    runs: Sequence[Sequence[Mapping[str, Any]]],
    charges: Mapping[tuple[str, str], float],
    regime: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything the summary says, as data: per dataset its verdicts and rows; caveats; the
    family of comparisons (``comparisons``) its verdicts come from."""
    datasets = per_dataset(summaries(runs, charges))
    fam = family(runs, charges, datasets)
    n_family = size(fam)
    by_key = {r["key"]: r for _, r in fam.iterrows()}
    out: dict[str, Any] = {"datasets": [], "caveats": [], "comparisons": fam}
    for d in datasets:
        dataset, verdicts = d["dataset"], []
        names = list(d["at"])
        rows = []
        for row in d["rows"]:
            key = comparison_key(dataset, row["strategy"], BASELINE, AT_COMMON)
            c = by_key.get(key, {})
            columns = {"": "value", " CI low": "ci_low", " CI high": "ci_high", " p": "p",
                       " Holm-adjusted p": "Holm-adjusted p"}  # fmt: skip
            rows.append({**row, **{CHANGE + k: c.get(v, np.nan) for k, v in columns.items()}})
        if GSOS in names and SIM in names:
            c = by_key.get(comparison_key(dataset, GSOS, SIM, "test_accuracy"))
            if c is not None:
                line = verdict(c, n_family, "test accuracy of the best-validation trial")
                gsos_row = next(r for r in d["rows"] if r["strategy"] == GSOS)
                ratio = ratio_text(gsos_row)
                if ratio:
                    pairs = int(gsos_row["cost / simultaneous's pairs"])
                    line += (
                        f" {title(GSOS)} spent {ratio} {title(SIM)}'s sample-epochs (ratio of "
                        f"mean costs over {plural(pairs, 'seed')})."
                    )
                verdicts.append(line)
        if len(names) == 1:
            verdicts.append(f"Only {title(names[0])} ran on {dataset}: nothing to compare.")
        else:
            verdicts.append(leader_sentence(d))
            many = against_baseline(fam, n_family, dataset)
            if many:
                verdicts.append(many)
        out["datasets"].append(
            {"dataset": dataset, "common": d["common"], "verdicts": verdicts, "rows": rows}
        )
    shared = shared_cores(runs)
    cores = os.cpu_count() or 1
    if shared is not None and shared > 1:
        out["caveats"].append(
            f"Wall-clock times were measured with up to {plural(shared, 'run')} sharing "
            f"{plural(cores, 'core')}: they say more about the load than about a strategy. The "
            "costs here are sample-epochs (images × epochs trained), which do not depend on it; "
            "where the two disagree, trust the sample-epochs."
        )
    caveat = regime_caveat(regime)
    if caveat:
        out["caveats"].append(caveat)
    mixed = mixed_devices_caveat(runs)
    if mixed:
        out["caveats"].append(mixed)
    ran_out: dict[str, int] = {}
    for r in runs:
        if any(x.get("note") for x in r):
            ran_out[r[0]["strategy"]] = ran_out.get(r[0]["strategy"], 0) + 1
    for st, n in ran_out.items():
        total = sum(1 for r in runs if r[0]["strategy"] == st)
        out["caveats"].append(
            f"{title(st)}: in {n} of {plural(total, 'run')} a group ran out of new "
            "configurations (repeats are told, not trained) and passed its budget on."
        )
    if n_family > 1:
        out["caveats"].append(
            f"This report makes {plural(n_family, 'comparison')} (comparisons.csv lists them). "
            "Each p is adjusted for all of them together (Holm), and a difference is stated "
            "only where the adjusted p < 0.05: with no true difference anywhere, the chance "
            "that the report states one is at most 5 %. The intervals are per comparison."
        )
    seeds = {r[0]["seed"] for r in runs}
    if len(seeds) < 2:
        out["caveats"].append(
            "One seed: no interval and no test can be computed; every figure is a single run."
        )
    return out


def rows_frame(found: Mapping[str, Any]) -> pd.DataFrame:
    """Every number the summary rests on, a row per dataset × strategy (the CSV)."""
    return pd.DataFrame([r for d in found["datasets"] for r in d["rows"]])


def change_text(r: Mapping[str, Any]) -> str:
    """A strategy's test accuracy at the common cost minus simultaneous TPE's, with its
    interval and Holm-adjusted p."""
    if r["strategy"] == BASELINE:
        return "(the baseline)"
    if r["strategy"] == GSOS:
        return "(the paper's question, above)"
    v = r[CHANGE]
    if not np.isfinite(v):
        return "n/a"
    text = interval_text(v, r[f"{CHANGE} CI low"], r[f"{CHANGE} CI high"], signed=True)
    holm_p = r[f"{CHANGE} Holm-adjusted p"]
    return text + (f" (Holm {p_text(holm_p)})" if np.isfinite(holm_p) else " (no test)")


def shown(d: Mapping[str, Any]) -> pd.DataFrame:
    """One dataset's table as people read it: few columns, each number in its form."""

    def acc(r: Mapping[str, Any], key: str) -> str:
        return acc_text(r[f"{key} (mean)"], r[f"{key} CI low"], r[f"{key} CI high"])

    def name(r: Mapping[str, Any]) -> str:
        return r["strategy name"] + ("" if r["validation held out"] == "yes" else " †")

    return pd.DataFrame(
        [
            {
                "strategy": name(r),
                "runs": str(r["runs"]),
                "matched by": r["matched by"].split(" (")[0],
                "test acc. at the common cost": acc(r, "test accuracy at the common cost"),
                "− simultaneous's": change_text(r),
                "test acc. (final)": acc(r, "test accuracy"),
                "cost (sample-epochs)": cost_text(r),
                "cost to within 1 point": reach_text(r),
            }
            for r in d["rows"]
        ]
    )


FOOTNOTE = (
    "Test accuracy is that of each run's best-validation trial (the test set selects nothing). "
    "Intervals are 95 %: Student-t over seeds for a mean (clipped to [0, 1]); the paired t "
    "interval for a difference (as Table 4); Fieller's for a cost ratio (× simultaneous, a "
    "ratio of mean costs); the cost to within 1 point is a mean over every run, one that did "
    "not get there within the common cost counted as the common cost (k/n: runs that got "
    "there). p's are Holm-adjusted over every comparison of the report. 1 point = 0.01 "
    "accuracy; † validation not held out. Every number: summary.csv."
)


def markdown(found: Mapping[str, Any], experiment: str) -> str:
    parts = [f"# Summary: experiment {experiment}", ""]
    for d in found["datasets"]:
        parts += [f"## {d['dataset']}", ""]
        parts += [f"- {v}" for v in d["verdicts"]] + [""]
        parts += [shown(d).to_markdown(index=False, tablefmt="github"), ""]
    parts += ["![anytime: best validation accuracy so far against cost](anytime.png)", ""]
    if found["caveats"]:
        parts += ["## Caveats", ""] + [f"- {c}" for c in found["caveats"]] + [""]
    parts += [FOOTNOTE]
    return "\n".join(parts) + "\n"


LANDING_COLUMNS = ["strategy", "test acc. at the common cost", "− simultaneous's",
                   "cost (sample-epochs)", "cost to within 1 point"]  # fmt: skip


def page(
    found: Mapping[str, Any], experiment: str, anytime: Path | None, landing: bool = False
) -> str:
    """The summary as an HTML fragment: summary.html's body, or (``landing``) the report's
    first page, where Snakemake gives it a narrow column in a box that clips what does not
    fit: there it scrolls in a box of its own and its table keeps the four columns that
    answer the question (summary.html has them all)."""
    esc = html.escape
    parts = [f"<h2>Summary: experiment {esc(experiment)}</h2>"]
    for d in found["datasets"]:
        parts.append(f"<h3>{esc(d['dataset'])}</h3><ul>")
        parts += [f"<li>{esc(v)}</li>" for v in d["verdicts"]]
        parts.append("</ul>")
        table = shown(d)[LANDING_COLUMNS] if landing else shown(d)
        parts.append(table.to_html(index=False, escape=True, classes="summary", border=0))
    if anytime is not None and Path(anytime).exists():
        data = base64.b64encode(Path(anytime).read_bytes()).decode()
        parts.append(
            "<p><img alt='anytime: best validation accuracy so far against cost' "
            f"style='max-width:100%' src='data:image/png;base64,{data}'></p>"
        )
    if found["caveats"]:
        parts.append("<h3>Caveats</h3><ul>")
        parts += [f"<li>{esc(c)}</li>" for c in found["caveats"]]
        parts.append("</ul>")
    parts.append(f"<p><small>{esc(FOOTNOTE)}</small></p>")
    style = (
        "<style>table.summary{border-collapse:collapse;font-size:12px}"
        "table.summary th,table.summary td{border:1px solid #bbb;padding:2px 5px}"
        "table.summary th{background:#eef}</style>"
    )
    body = "\n".join(parts)
    if landing:
        body = (
            "<div class='gsos-summary' style='max-height:58vh;overflow-y:auto;"
            f"border-bottom:1px solid #ccc;padding-right:6px'>{body}</div>"
        )
    return style + body + "\n"


def write_summary(
    records: Sequence[Path],
    measured: Sequence[Path],
    anytime: Path | None,
    regime: Mapping[str, Any],
    outdir: Path,
) -> dict[str, Any]:
    """The ``summary`` verb: summary.{csv,md,tex,html} and the report's first page."""
    from gsos.search.records import read_runs

    runs = read_runs(records)
    found = summarise(runs, pilot_charges(measured), regime)
    experiment = str(regime.get("experiment", ""))
    out = Path(outdir)
    frame = rows_frame(found)
    atomic_write_text(out / "summary.csv", frame.to_csv(index=False))
    atomic_write_text(out / "summary.md", markdown(found, experiment))
    tables = [shown(d).assign(dataset=d["dataset"]) for d in found["datasets"]]
    atomic_write_text(out / "summary.tex", to_latex(pd.concat(tables, ignore_index=True)))
    body = page(found, experiment, anytime)
    atomic_write_text(out / "summary_page.html", page(found, experiment, anytime, landing=True))
    atomic_write_text(
        out / "summary.html",
        "<!doctype html><html><head><meta charset='utf-8'><title>Summary</title></head>"
        f"<body style='font-family:sans-serif;margin:1em'>{body}</body></html>\n",
    )
    return found
