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

from gsos.data import atomic_write_bytes  # noqa: E402

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


def figure1(
    weights: pd.DataFrame, groups: Sequence[Mapping[str, Any]], png: Path, note: str
) -> None:
    """Published importance weights as bars, coloured by group; unpublished ones marked."""
    group_of = {p: g["name"] for g in groups for p in g["params"]}
    names = [p for g in groups for p in g["params"]]
    w = weights.set_index("hyperparameter")["published_weight"]
    palette = dict(
        zip([g["name"] for g in groups], sns.color_palette("Set2", len(groups)), strict=True)
    )
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.5))
    ys = np.arange(len(names))[::-1]
    for y, name in zip(ys, names, strict=True):
        value = w.get(name, np.nan)
        if pd.notna(value):
            ax.barh(y, value, color=palette[group_of[name]])
            ax.text(value + 0.005, y, f"{value:.3f}", va="center", fontsize=8)
        else:
            ax.text(
                0.005, y, "not published", va="center", fontsize=8, color="grey", style="italic"
            )
    ax.set_yticks(ys, names)
    for label, name in zip(ax.get_yticklabels(), names, strict=True):
        label.set_color(palette[group_of[name]])  # group shows even where no weight is published
        label.set_fontweight("bold")
    ax.set_xlim(0, 1)
    ax.set_xlabel("normalised importance weight (published, GSOS paper §5.1)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in palette.values()]
    ax.legend(handles, list(palette), title="group", loc="lower right")
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


def figure2(trials: pd.DataFrame, png: Path) -> None:
    """Per dataset and strategy: validation accuracy against iteration, runs pooled,
    points coloured by local density (red dense, blue sparse)."""
    datasets = sorted(trials["dataset"].unique())
    strategies = [s for s in STRATEGY_LABEL if s in set(trials["strategy"])]
    fig, axes = plt.subplots(
        len(datasets),
        len(strategies),
        squeeze=False,
        figsize=(5 * len(strategies), 3.2 * len(datasets)),
        sharey="row",
    )
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
            ax.set_title(f"{d}: {STRATEGY_LABEL[s]} ({t['seed'].nunique()} runs)", fontsize=9)
            ax.set_xlabel("iteration")
            ax.set_ylabel("validation accuracy")
            ax.set_ylim(0, 1.02)
    fig.colorbar(sc, ax=axes.ravel().tolist(), label="local density (scaled)")
    save(fig, png)
