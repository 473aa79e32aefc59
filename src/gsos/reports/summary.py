"""The answer first: per dataset, which strategy found what, at what cost, and how sure that is.

``summary.md`` (and the report's first page) says, per dataset, in words: GSOS against
simultaneous TPE (the paper's question) and the strategy that leads at the common cost against
the runner-up, each as a difference in test accuracy with its interval and p (the same
:func:`gsos.reports.stats.change_interval` as Table 4 and the headline), and "cannot be told
apart" where p >= 0.05; then a table of every strategy (best test accuracy with its interval
at the common cost and in the end, the cost it spent, the cost to come within 1 point of the
best), and the caveats that apply: wall-clock measured on shared cores, a scaled-down regime,
searches that ran out of new configurations, several comparisons at once, too few seeds.
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
from gsos.reports.devices import mixed_devices_caveat
from gsos.reports.formats import fmt_number, to_latex
from gsos.reports.stats import bootstrap_ci, change_interval
from gsos.reports.strategies import (
    WITHIN,
    at_cost,
    common_cost,
    cost_to_reach,
    matched_by,
    pilot_charges,
    summaries,
)
from gsos.reports.wallclock import shared_cores
from gsos.search.optimizers.registry import strategy_order, title

LEVEL = 0.05
PAPER_REGIME = {"epochs": (10, 100), "max_filters": 256}


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def interval_text(value: float, lo: float, hi: float, signed: bool = False) -> str:
    fmt = "{:+.3f}" if signed else "{:.3f}"
    if not np.isfinite(value):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def compare(a_name: str, b_name: str, a: dict, b: dict, what: str) -> str:
    """One sentence: strategy a against b on ``what`` (test accuracy by seed), with the
    interval and p, and the verdict in words."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return f"{title(a_name)} and {title(b_name)} share no seed: no paired comparison."
    x = np.array([a[s] for s in seeds], dtype=float)
    y = np.array([b[s] for s in seeds], dtype=float)
    f = change_interval({"d": (x, y)})
    n = plural(len(seeds), "seed")
    diff = interval_text(f["value"], f["ci_low"], f["ci_high"], signed=True)
    if not np.isfinite(f["p"]):
        verdict = f"with {n} no test is possible; one run each says nothing about the spread"
        return f"{title(a_name)} − {title(b_name)}, {what}: {diff} ({n}): {verdict}."
    p = f"p = {f['p']:.2g}"
    if f["p"] >= LEVEL:
        verdict = f"{title(a_name)} and {title(b_name)} cannot be told apart with {n} ({p})"
    else:
        better = title(a_name) if f["value"] > 0 else title(b_name)
        verdict = f"{better} is higher ({p}, {n})"
    return f"{title(a_name)} − {title(b_name)}, {what}: {diff}: {verdict}."


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
    """Everything the summary says, as data: per dataset its verdicts and rows; caveats."""
    every = summaries(runs, charges)
    out: dict[str, Any] = {"datasets": [], "caveats": []}
    for dataset in sorted({s["dataset"] for s in every}):
        here = [s for s in every if s["dataset"] == dataset]
        common = common_cost(here)
        names = strategy_order({s["strategy"] for s in here})
        by = {st: [s for s in here if s["strategy"] == st] for st in names}
        final_best = {st: np.mean([s["best_val_accuracy"] for s in by[st]]) for st in names}
        target = max(final_best.values()) - WITHIN
        sim = {s["seed"]: s["sample_epochs"] for s in by.get("simultaneous", [])}
        rows, at_common = [], {}
        for st in names:
            mine = by[st]
            at = {s["seed"]: at_cost(s["curve"], common) for s in mine}
            at_common[st] = at
            val_c = [v for v, _ in at.values() if np.isfinite(v)]
            test_c = [t for _, t in at.values() if np.isfinite(t)]
            test_f = [s["test_accuracy"] for s in mine if np.isfinite(s["test_accuracy"])]
            reach = [cost_to_reach(s["curve"], target)[0] for s in mine]
            reached = [c for c in reach if np.isfinite(c)]
            ratio = [s["sample_epochs"] / sim[s["seed"]] for s in mine if sim.get(s["seed"])]
            rows.append(
                {
                    "dataset": dataset,
                    "strategy": st,
                    "strategy name": title(st),
                    "runs": len(mine),
                    "matched by": matched_by(st),
                    "best val. accuracy at the common cost": float(np.mean(val_c))
                    if val_c
                    else np.nan,
                    "test accuracy at the common cost": float(np.mean(test_c))
                    if test_c
                    else np.nan,
                    "test accuracy at the common cost CI": bootstrap_ci(test_c),
                    "test accuracy (final)": float(np.mean(test_f)) if test_f else np.nan,
                    "test accuracy (final) CI": bootstrap_ci(test_f),
                    "cost (sample-epochs, mean)": float(
                        np.mean([s["sample_epochs"] for s in mine])
                    ),
                    "cost / simultaneous's": float(np.mean(ratio)) if ratio else np.nan,
                    "cost to come within 1 point of the best (sample-epochs)": float(
                        np.mean(reached)
                    )
                    if reached
                    else np.nan,
                    "runs within 1 point": len(reached),
                    "common cost (sample-epochs)": common,
                }
            )
        verdicts = []
        if "gsos" in by and "simultaneous" in by:
            test = {st: {s["seed"]: s["test_accuracy"] for s in by[st]} for st in by}
            ratio = np.mean([r["cost / simultaneous's"] for r in rows if r["strategy"] == "gsos"])
            line = compare("gsos", "simultaneous", test["gsos"], test["simultaneous"],
                           "test accuracy of the best-validation trial")  # fmt: skip
            if np.isfinite(ratio):
                line += f" GSOS spent {ratio:.2f}× simultaneous TPE's sample-epochs."
            verdicts.append(line)
        leaders = sorted(
            names, key=lambda st: -np.nanmean([v for v, _ in at_common[st].values()] or [np.nan])
        )
        if len(leaders) == 1:
            verdicts.append(f"Only {title(leaders[0])} ran on {dataset}: nothing to compare.")
        else:
            first, second = leaders[0], leaders[1]
            tests = {st: {s: t for s, (_, t) in at_common[st].items()} for st in (first, second)}
            verdicts.append(
                f"At the common cost ({fmt_number(common)} sample-epochs, the least any run "
                f"spent) {title(first)} leads on validation; against the runner-up: "
                + compare(first, second, tests[first], tests[second], "test accuracy")
            )
        out["datasets"].append(
            {"dataset": dataset, "common": common, "verdicts": verdicts, "rows": rows}
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
    mixed = mixed_devices_caveat(runs)  # issue 29: devices are named in records
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
    n_strategies = len({r[0]["strategy"] for r in runs})
    if n_strategies > 2:
        out["caveats"].append(
            f"{n_strategies} strategies: each p compares one pair; among several comparisons "
            "a p below 0.05 can arise by chance (no correction is applied)."
        )
    seeds = {r[0]["seed"] for r in runs}
    if len(seeds) < 2:
        out["caveats"].append(
            "One seed: no interval and no test can be computed; every figure is a single run."
        )
    return out


def rows_frame(found: Mapping[str, Any]) -> pd.DataFrame:
    """Every number the summary rests on, a row per dataset × strategy (the CSV)."""
    rows = []
    for d in found["datasets"]:
        for r in d["rows"]:
            row = {k: v for k, v in r.items() if not k.endswith(" CI")}
            for key in ("test accuracy at the common cost", "test accuracy (final)"):
                row[f"{key} CI low"], row[f"{key} CI high"] = r[f"{key} CI"]
            rows.append(row)
    return pd.DataFrame(rows)


def shown(d: Mapping[str, Any]) -> pd.DataFrame:
    """One dataset's table as people read it: few columns, each number in its form."""

    def ci(r: Mapping[str, Any], key: str) -> str:
        return interval_text(r[key], *r[f"{key} CI"])

    def cost(r: Mapping[str, Any]) -> str:
        ratio = r["cost / simultaneous's"]
        text = fmt_number(r["cost (sample-epochs, mean)"])
        return text + (f" ({ratio:.2f}×)" if np.isfinite(ratio) else "")

    def reach(r: Mapping[str, Any]) -> str:
        n, k = r["runs"], r["runs within 1 point"]
        if not k:
            return f"not reached (0/{n})"
        return (
            f"{fmt_number(r['cost to come within 1 point of the best (sample-epochs)'])} ({k}/{n})"
        )

    return pd.DataFrame(
        [
            {
                "strategy": r["strategy name"],
                "runs": str(r["runs"]),
                "matched by": r["matched by"].split(" (")[0],
                "test acc. at the common cost": ci(r, "test accuracy at the common cost"),
                "test acc. (final)": ci(r, "test accuracy (final)"),
                "cost (sample-epochs)": cost(r),
                "cost to within 1 point": reach(r),
            }
            for r in d["rows"]
        ]
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
    parts += [
        "Test accuracy is that of each run's best-validation trial (the test set selects "
        "nothing); intervals are 95 % (BCa bootstrap over seeds for a mean; Student-t for a "
        "paired difference, as Table 4); 1 point = 0.01 accuracy. Every number: summary.csv."
    ]
    return "\n".join(parts) + "\n"


LANDING_COLUMNS = ["strategy", "test acc. at the common cost", "cost (sample-epochs)",
                   "cost to within 1 point"]  # fmt: skip


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
    parts.append(
        "<p><small>Test accuracy is that of each run's best-validation trial (the test set "
        "selects nothing); intervals are 95 % (BCa bootstrap over seeds for a mean; Student-t "
        "for a paired difference, as Table 4); 1 point = 0.01 accuracy. Every number is in "
        "summary.csv.</small></p>"
    )
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
