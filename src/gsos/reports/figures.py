"""Paper Figures 1 and 2 (PNG and PDF).

Figure 1 never invents a weight: hyperparameters whose weight the paper does not publish are
drawn as labelled gaps, not bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from gsos.atomic import atomic_write_bytes  # noqa: E402

STRATEGY_LABEL = {"gsos": "GSOS", "simultaneous": "Simultaneous"}


def save(fig: plt.Figure, png: Path) -> None:
    """PNG and PDF beside it, each written whole or not at all."""
    png = Path(png)
    for path, kwargs in ((png, {"dpi": 130}), (png.with_suffix(".pdf"), {})):
        atomic_write_bytes(
            path,
            lambda f, p=path, kw=kwargs: fig.savefig(
                f, format=p.suffix[1:], bbox_inches="tight", **kw
            ),
        )
    plt.close(fig)


METHODS = {  # column of importance.csv -> (legend label, hatch)
    "published weight": ("published (GSOS paper §5.1)", ""),
    "N-RReliefF weight": ("N-RReliefF, this project's runs (estimate)", "///"),
    "fANOVA weight": ("fANOVA, this project's runs (estimate)", "..."),
}


def figure1(
    importance: pd.DataFrame,
    groups: Sequence[Mapping[str, Any]],
    png: Path,
    note: str,
    measured: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Importance weights per hyperparameter, bars coloured by the assumed group: the
    published ones where published, and this project's estimates with their 95 % bootstrap
    intervals. Unpublished weights stay empty. On the right, each hyperparameter's assumed
    group and, where measured groups exist, its measured group per dataset."""
    measured = measured or {}
    group_of = {p: g["name"] for g in groups for p in g["params"]}
    names = [p for g in groups for p in g["params"]]
    imp = importance.set_index("hyperparameter")
    methods = [m for m in METHODS if m in imp.columns and imp[m].notna().any()]
    palette = dict(
        zip([g["name"] for g in groups], sns.color_palette("Set2", len(groups)), strict=True)
    )
    height = 0.8 / len(methods)
    width = 7.5 + 1.1 * len(measured)
    fig, ax = plt.subplots(figsize=(width, 0.6 * len(names) + 1.8))
    ys = np.arange(len(names))[::-1].astype(float)
    for y, name in zip(ys, names, strict=True):
        for k, m in enumerate(methods):
            yk = y + 0.4 - height * (k + 0.5)
            value = imp[m].get(name, np.nan)
            if pd.notna(value):
                lo, hi = imp.get(f"{m} CI low"), imp.get(f"{m} CI high")
                err = None
                if lo is not None and pd.notna(lo.get(name)):
                    err = [[max(value - lo[name], 0)], [max(hi[name] - value, 0)]]
                ax.barh(
                    yk,
                    value,
                    height=height * 0.9,
                    color=palette[group_of[name]],
                    hatch=METHODS[m][1],
                    edgecolor="black",
                    linewidth=0.4,
                    xerr=err,
                    error_kw={"elinewidth": 0.7, "capsize": 2},
                )
                right = value if err is None else value + err[1][0]
                ax.text(right + 0.008, yk, f"{value:.3f}", va="center", fontsize=6)
            elif m == "published weight":
                ax.text(
                    0.005,
                    yk,
                    "not published",
                    va="center",
                    fontsize=6,
                    color="grey",
                    style="italic",
                )
    ax.set_yticks(ys, names)
    for label, name in zip(ax.get_yticklabels(), names, strict=True):
        label.set_color(palette[group_of[name]])  # group shows even where no weight is published
        label.set_fontweight("bold")
    ax.set_xlim(0, 1)
    ax.set_xlabel("normalised importance weight")
    columns = [("assumed", group_of)] + [(f"measured\n{d}", g) for d, g in measured.items()]
    for j, (title, mapping) in enumerate(columns):
        x = 1.03 + 0.12 * j
        ax.text(
            x,
            len(names) - 0.3,
            title,
            transform=ax.get_yaxis_transform(),
            fontsize=7,
            ha="left",
            va="bottom",
            fontweight="bold",
        )
        for y, name in zip(ys, names, strict=True):
            ax.text(
                x,
                y,
                mapping.get(name, "-"),
                transform=ax.get_yaxis_transform(),
                fontsize=7,
                ha="left",
                va="center",
            )
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in palette.values()]
    labels = [f"assumed group {g}" for g in palette]
    handles += [
        plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch=METHODS[m][1])
        for m in methods
    ]
    labels += [METHODS[m][0] for m in methods]
    ax.legend(handles, labels, loc="lower right", fontsize=7)
    ax.set_title("Figure 1: hyperparameter importance and groups", fontsize=10)
    fig.text(0.01, -0.02, note, fontsize=7, color="grey", ha="left", va="top", wrap=True)
    save(fig, png)


def density_colours(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Local point density by a Gaussian KDE, scaled to [0, 1]; flat when the KDE is singular."""
    from scipy.stats import gaussian_kde

    if len(x) < 3:
        return np.zeros(len(x))
    xy = np.vstack([x, y]).astype(float)
    try:
        z = gaussian_kde(xy)(xy)
    except (np.linalg.LinAlgError, ValueError):
        return np.zeros(len(x))
    span = z.max() - z.min()
    return (z - z.min()) / span if span > 0 else np.zeros(len(x))


def group_starts(trials: pd.DataFrame) -> list[tuple[int, str]]:
    """(first iteration, group name) of each GSOS group after the first, from the records."""
    if "group" not in trials.columns or trials.empty:
        return []
    firsts = trials.sort_values("iteration").groupby("group", sort=False)["iteration"].min()
    return sorted((int(i), str(g)) for g, i in firsts.items() if int(i) > 1)


def figure2(trials: pd.DataFrame, png: Path) -> None:
    """Per dataset and strategy: validation accuracy against iteration, runs pooled,
    points coloured by local density (red dense, blue sparse); dashed lines where each GSOS
    group starts."""
    datasets = sorted(trials["dataset"].unique())
    strategies = [s for s in STRATEGY_LABEL if s in set(trials["strategy"])]
    fig, axes = plt.subplots(
        len(datasets),
        len(strategies),
        squeeze=False,
        figsize=(5 * len(strategies), 3.2 * len(datasets)),
        sharey="row",
    )
    sc = None
    for i, d in enumerate(datasets):
        for j, s in enumerate(strategies):
            ax = axes[i][j]
            t = trials[(trials["dataset"] == d) & (trials["strategy"] == s)]
            t = t[t["status"] != "fail"]  # diverged trials have an accuracy, and show
            c = density_colours(t["iteration"].to_numpy(), t["val_accuracy"].to_numpy())
            order = np.argsort(c)
            sc = ax.scatter(
                t["iteration"].to_numpy()[order],
                t["val_accuracy"].to_numpy()[order],
                c=c[order],
                cmap="coolwarm",
                vmin=0,
                vmax=1,
                s=14,
            )
            if s == "gsos":
                for start, name in group_starts(t):
                    ax.axvline(start - 0.5, color="black", ls="--", lw=0.8)
                    ax.text(start, 1.0, f" {name}", fontsize=7, va="top")
            ax.set_title(
                f"{d}: {STRATEGY_LABEL[s]} ({runs_label(t['seed'].nunique())} pooled)", fontsize=9
            )
            ax.set_xlabel("iteration")
            ax.set_ylabel("validation accuracy")
            ax.set_ylim(0, 1.02)
            ax.xaxis.set_major_locator(plt.MaxNLocator(nbins=6, integer=True))
    if sc is not None:
        fig.colorbar(sc, ax=axes.ravel().tolist(), label="local density (scaled)")
    save(fig, png)


def best_so_far(run: pd.DataFrame, x: str) -> tuple[np.ndarray, np.ndarray]:
    """Step curve of the best validation accuracy (ok trials) against cumulative ``x``."""
    run = run.sort_values("iteration")
    xs = run[x].to_numpy(dtype=float)
    if x == "sample_epochs":
        xs = np.cumsum(np.nan_to_num(xs))
    acc = np.where(run["status"] == "ok", run["val_accuracy"].astype(float), -np.inf)
    return xs, np.maximum.accumulate(np.nan_to_num(acc, nan=-np.inf))


def convergence(trials: pd.DataFrame, png: Path, note: str = "") -> None:
    """Per dataset: best-so-far validation accuracy against wall-clock and against training
    sample-epochs (a hardware-independent cost); mean over seeds with a 95 % Student-t band
    of that mean (the tables' interval, clipped to [0, 1]; none where the runs agree)."""
    from gsos.reports.stats import interval_band

    datasets = sorted(trials["dataset"].unique())
    axes_x = [
        ("elapsed_seconds", "wall-clock since run start", "s"),
        ("sample_epochs", "training cost (sample-epochs, cumulative)", ""),
    ]
    fig, axes = plt.subplots(len(datasets), 2, squeeze=False, figsize=(10, 3.3 * len(datasets)))
    colours = PAIR_COLOURS
    for i, d in enumerate(datasets):
        for j, (x, label, unit) in enumerate(axes_x):
            ax = axes[i][j]
            for s, name in STRATEGY_LABEL.items():
                runs = trials[(trials["dataset"] == d) & (trials["strategy"] == s)]
                curves = [best_so_far(r, x) for _, r in runs.groupby("seed")]
                curves = [(cx, cy) for cx, cy in curves if len(cx)]
                if not curves:
                    continue
                # from where every run has a value: a mean over fewer runs would jump
                start = max(cx[0] for cx, _ in curves)
                grid = np.linspace(start, max(cx[-1] for cx, _ in curves), 200)
                ys = band_on_grid(curves, grid)
                ys[~np.isfinite(ys)] = np.nan
                mean, lo, hi = interval_band(ys)
                legend = f"{name} (mean of {runs_label(len(curves))})"
                ax.plot(grid, mean, color=colours[s], lw=2, label=legend)
                if len(curves) > 1:
                    ax.fill_between(grid, lo, hi, color=colours[s], alpha=0.2, lw=0)
            readable_axis(ax, False, unit)
            ax.set_xlabel(label)
            ax.set_ylabel("best validation accuracy so far")
            ax.set_title(d, fontsize=9)
            ax.legend(fontsize=7, loc="lower right")
    seeds = int(trials.groupby(["dataset", "strategy"])["seed"].nunique().max())
    fig.suptitle(
        "band: 95 % Student-t interval of the mean over seeds (as the tables)"
        if seeds > 1
        else "one run each: no band (no spread to show)",
        fontsize=8,
    )
    if note:
        fig.text(0.01, -0.01, note, fontsize=7, color="grey", ha="left", va="top", wrap=True)
    save(fig, png)


# --- every strategy: anytime curves and ranks --------------------------------------------


# The paper's pair in two colours nobody confuses (orange, blue); every other strategy a colour
# of its own from the rest of a qualitative palette, by its place in the registry.
PAIR_COLOURS = {"gsos": "#e66101", "simultaneous": "#2166ac"}


def strategy_colours(names: Sequence[str]) -> dict[str, Any]:
    """One colour per registered strategy, the same in every figure."""
    from gsos.search.optimizers.registry import STRATEGIES

    others = [c for c in sns.color_palette("tab20", 20) if c not in sns.color_palette("tab10", 2)]
    order = [n for n in STRATEGIES if n not in PAIR_COLOURS]
    out = {}
    for i, n in enumerate(names):
        if n in PAIR_COLOURS:
            out[n] = PAIR_COLOURS[n]
        else:
            k = order.index(n) if n in order else len(order) + i
            out[n] = others[(2 * k + 4) % len(others)]  # skip the orange and blue shades
    return out


def runs_label(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def readable_axis(ax: plt.Axes, log: bool, unit: str) -> None:
    """Ticks that do not run together: few of them, with engineering prefixes (12k, 1.5M)."""
    from matplotlib.ticker import EngFormatter, LogLocator, MaxNLocator, NullFormatter

    if log:
        ax.set_xscale("log")  # before the formatter: setting the scale resets it
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=6))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.xaxis.set_major_formatter(EngFormatter(unit=unit, sep=""))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelsize=7)


def band_on_grid(curves: Sequence[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> np.ndarray:
    """Each step curve's value at every grid point (NaN before its first value)."""
    ys = []
    for cx, cy in curves:
        idx = np.searchsorted(cx, grid, side="right") - 1
        ys.append(np.where(idx >= 0, cy[np.clip(idx, 0, None)], np.nan))
    return np.asarray(ys, dtype=float)


def anytime(curves: pd.DataFrame, png: Path, note: str = "") -> None:
    """Per dataset: best validation accuracy so far against cumulative training cost
    (sample-epochs, log scale) and against wall-clock, mean over seeds with a 95 % Student-t
    band (the tables' interval), for every strategy that ran."""
    from gsos.reports.stats import interval_band
    from gsos.search.optimizers.registry import strategy_order, title

    datasets = sorted(curves["dataset"].unique())
    strategies = strategy_order(curves["strategy"].unique())
    colours = strategy_colours(strategies)
    axes_x = [
        ("sample_epochs", "training cost (sample-epochs)", True, ""),
        ("seconds", "wall-clock since run start", False, "s"),
    ]
    fig, axes = plt.subplots(len(datasets), 2, squeeze=False, figsize=(11, 3.6 * len(datasets)))
    for i, d in enumerate(datasets):
        for j, (x, label, log, unit) in enumerate(axes_x):
            ax = axes[i][j]
            for st in strategies:
                runs = curves[(curves["dataset"] == d) & (curves["strategy"] == st)]
                pairs = [
                    (g[x].to_numpy(float), g["best_val_accuracy"].to_numpy(float))
                    for _, g in runs.groupby("seed")
                ]
                pairs = [(cx, np.nan_to_num(cy, nan=-np.inf)) for cx, cy in pairs if len(cx)]
                if not pairs:
                    continue
                start = max(cx[0] for cx, _ in pairs)  # where every run has a value
                end = max(cx[-1] for cx, _ in pairs)
                start = max(start, 1e-9) if log else start
                grid = (
                    np.geomspace(start, max(end, start * 1.0001), 200)
                    if log
                    else np.linspace(start, end, 200)
                )
                ys = band_on_grid(pairs, grid)
                ys[~np.isfinite(ys)] = np.nan
                mean, lo, hi = interval_band(ys)
                width = 2.2 if st in PAIR_COLOURS else 1.3
                ax.plot(
                    grid,
                    mean,
                    color=colours[st],
                    lw=width,
                    label=f"{title(st)} ({runs_label(len(pairs))})",
                )
                if len(pairs) > 1:  # one run has no band
                    ax.fill_between(grid, lo, hi, color=colours[st], alpha=0.15, lw=0)
            readable_axis(ax, log, unit)
            ax.set_xlabel(label)
            ax.set_ylabel("best validation accuracy so far")
            ax.set_title(f"{d}", fontsize=9)
    axes[0][0].legend(fontsize=7, loc="lower right", framealpha=0.85)
    seeds = int(curves.groupby(["dataset", "strategy"])["seed"].nunique().max())
    band = (
        "band = 95 % Student-t interval of the mean (as the tables)"
        if seeds > 1
        else "one run each: no band (no spread to show)"
    )
    fig.suptitle(f"Anytime performance: mean over seeds, {band}", fontsize=9)
    if note:
        fig.text(0.01, -0.01, note, fontsize=7, color="grey", ha="left", va="top", wrap=True)
    save(fig, png)


def ranks_plot(ranks: pd.DataFrame, png: Path) -> None:
    """Average rank per strategy (1 = best) with its 95 % Student-t interval."""
    colours = strategy_colours(list(ranks["strategy"]))
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(ranks) + 1.4))
    ys = np.arange(len(ranks))[::-1]
    mean = ranks["average rank (mean)"].to_numpy(float)
    lo = ranks["average rank CI low"].to_numpy(float)
    hi = ranks["average rank CI high"].to_numpy(float)
    ax.barh(ys, mean, color=[colours[s] for s in ranks["strategy"]], height=0.6)
    err = np.vstack([np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)])
    ax.errorbar(mean, ys, xerr=err, fmt="none", ecolor="black", capsize=3, lw=0.8)
    ax.set_yticks(ys, ranks["strategy name"])
    ax.set_xlabel("average rank by best validation accuracy at the common cost (1 = best)")
    n = int(ranks["dataset × seed cells"].max()) if len(ranks) else 0
    ax.set_title(f"Ranks over {n} dataset × seed cells (bars: 95 % Student-t CI)", fontsize=9)
    ax.set_xlim(left=0)
    save(fig, png)


def learning_curves(
    runs: Sequence[Sequence[Mapping[str, Any]]], png: Path, columns: int = 5
) -> dict[tuple[str, str], dict[str, int]]:
    """Every recorded validation curve, one panel per dataset × strategy: each trial's
    accuracy after each epoch (a continued trial goes on from the epoch it resumed at), the
    trials tpe_lc stopped in red ending in a cross, each run's best trial in black. Says what
    it drew: trials with a curve and stopped trials per panel."""
    from matplotlib.collections import LineCollection
    from matplotlib.ticker import MaxNLocator

    from gsos.search.optimizers.registry import strategy_order, title
    from gsos.search.records import best_record

    panels: dict[tuple[str, str], list[tuple[Mapping[str, Any], bool]]] = {}
    for records in runs:
        best = best_record(records)
        for r in records:
            if r.get("curve"):
                key = (r["dataset"], r["strategy"])
                panels.setdefault(key, []).append((r, r is best))
    datasets = sorted({d for d, _ in panels})
    cells = [(d, s) for d in datasets for s in strategy_order([s for dd, s in panels if dd == d])]
    drawn: dict[tuple[str, str], dict[str, int]] = {}
    if not cells:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            "No learning curves were recorded (training.learning_curves: false, and no "
            "strategy that watches curves ran).",
            ha="center",
            va="center",
            fontsize=8,
            wrap=True,
        )
        save(fig, png)
        return drawn
    cols = min(columns, len(cells))
    rows = -(-len(cells) // cols)
    fig, axes = plt.subplots(
        rows, cols, squeeze=False, figsize=(2.6 * cols, 2.2 * rows), sharey=True
    )
    colours = strategy_colours([s for _, s in cells])
    for ax, (d, s) in zip(axes.flat, cells, strict=False):
        trials = panels[(d, s)]
        lines = {"ok": [], "stopped": [], "best": []}
        ends = []
        for r, is_best in trials:
            xy = [(p["epoch"], p["val_accuracy"]) for p in r["curve"]]
            if is_best:
                lines["best"].append(xy)
            elif r["status"] == "stopped":
                lines["stopped"].append(xy)
                ends.append(xy[-1])
            else:
                lines["ok"].append(xy)
        style = {
            "ok": {"colors": [colours[s]], "linewidths": 0.6, "alpha": 0.35},
            "stopped": {"colors": ["tab:red"], "linewidths": 0.6, "alpha": 0.6},
            "best": {"colors": ["black"], "linewidths": 1.4, "alpha": 1.0},
        }
        for kind in ("ok", "stopped", "best"):
            if lines[kind]:
                ax.add_collection(LineCollection(lines[kind], **style[kind]))
        if ends:
            ax.scatter(*zip(*ends, strict=True), marker="x", s=12, color="tab:red", lw=0.8)
        xs = [x for r, _ in trials for x in (p["epoch"] for p in r["curve"])]
        ax.set_xlim(min(xs) - 0.2, max(xs) + 0.2)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        n_stopped = sum(1 for r, _ in trials if r["status"] == "stopped")
        drawn[(d, s)] = {"trials": len(trials), "stopped": n_stopped}
        extra = f", {n_stopped} stopped" if n_stopped else ""
        ax.set_title(f"{d}: {title(s)}\n{len(trials)} trials{extra}", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("epoch", fontsize=7)
    for ax in axes.flat[len(cells) :]:
        ax.axis("off")
    for row in axes:
        row[0].set_ylabel("validation accuracy", fontsize=7)
    fig.suptitle(
        "Learning curves of every trial (black: each run's best; red ending in x: stopped early)",
        fontsize=9,
    )
    fig.tight_layout()
    save(fig, png)
    return drawn


def write_figure1(
    groups: Path, importance: Path, note: str, measured: Sequence[Path], out: Path
) -> None:
    """The ``figure1`` verb: Figure 1 from the groups file, the importance table and, per
    dataset, the measured groups."""
    import json

    spec = json.loads(Path(groups).read_text())
    by_dataset = {}
    for path in measured:
        g = json.loads(Path(path).read_text())
        by_dataset[g["dataset"]] = {p: x["name"] for x in g["groups"] for p in x["params"]}
    note = (note or "") + (
        " Estimates come from this project's simultaneous runs (bars: 95 % bootstrap"
        " intervals); they are not the paper's numbers."
    )
    figure1(pd.read_csv(importance), spec["groups"], Path(out), note.strip(), by_dataset)


TRIAL_FIELDS = (
    "dataset",
    "strategy",
    "seed",
    "iteration",
    "status",
    "val_accuracy",
    "elapsed_seconds",
    "sample_epochs",
    "group",
)


def write_figure2(records: Sequence[Path], out: Path, convergence_png: Path) -> None:
    """The ``figure2`` verb: Figure 2 and the convergence curves from the runs' records."""
    from gsos.reports.wallclock import wall_clock_note
    from gsos.search.records import read_runs

    runs = read_runs(records)
    trials = pd.DataFrame([{k: r.get(k) for k in TRIAL_FIELDS} for run in runs for r in run])
    figure2(trials, Path(out))
    convergence(trials, Path(convergence_png), wall_clock_note(runs))
