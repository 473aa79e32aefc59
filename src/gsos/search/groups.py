"""GSOS groups: which hyperparameters each group searches, and its share of the budget.

Kept apart from the optimisers (no hyperopt, no torch) so that config validation and the
workflow, which only need to check and split groups, start fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Group:
    name: str
    params: tuple[str, ...]
    iterations: int


def split_iterations(total: int, shares: Sequence[float]) -> list[int]:
    """Largest-remainder split of ``total`` by ``shares``: sums exactly to ``total``."""
    if total < len(shares):
        raise ValueError(f"{total} iterations cannot give each of {len(shares)} groups one")
    weights = np.asarray(shares, dtype=float)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    for i, c in enumerate(counts):  # every group gets at least one iteration
        if c == 0:
            j = int(np.argmax(counts))
            counts[j] -= 1
            counts[i] = 1
    return [int(c) for c in counts]


def group_iterations(total: int, groups: Sequence[Mapping[str, Any]]) -> list[int]:
    """Each group's budget: explicit ``iterations`` (must add up to ``total``) or ``share``."""
    explicit = [g.get("iterations") for g in groups]
    if all(n is None for n in explicit):
        return split_iterations(total, [g["share"] for g in groups])
    if any(n is None for n in explicit):
        raise ValueError("give every group 'iterations' or every group 'share', not a mix")
    if sum(explicit) != total:
        raise ValueError(
            f"the groups' iterations {explicit} add up to {sum(explicit)}, "
            f"but hpo.iterations is {total}; make them equal"
        )
    return [int(n) for n in explicit]


def check_partition(names: Sequence[str], groups: Sequence[Sequence[str]]) -> None:
    """Groups must cover every hyperparameter (of ``names``) exactly once."""
    seen: dict[str, int] = {}
    for gi, members in enumerate(groups):
        for n in members:
            if n not in names:
                raise ValueError(f"group {gi + 1} names {n!r}, which is not in search_space")
            if n in seen:
                raise ValueError(
                    f"{n!r} is in group {seen[n] + 1} and group {gi + 1}; each belongs to one"
                )
            seen[n] = gi
    missing = [n for n in names if n not in seen]
    if missing:
        raise ValueError(f"no group holds {missing}; every hyperparameter must be in one group")


def build_groups(
    names: Sequence[str], iterations: int, spec: Sequence[Mapping[str, Any]]
) -> list[Group]:
    """The configured groups (``gsos.search.groups``) with their iteration budgets."""
    check_partition(names, [g["params"] for g in spec])
    counts = group_iterations(iterations, spec)
    return [Group(g["name"], tuple(g["params"]), c) for g, c in zip(spec, counts, strict=True)]


def write_groups(settings: Mapping[str, Any], out: Path) -> None:
    """The ``groups`` verb: the configured groups with their iteration budgets, as JSON."""
    import json

    from gsos.atomic import atomic_write_text

    groups = build_groups(
        list(settings["search_space"]), int(settings["hpo"]["iterations"]), settings["groups"]
    )
    content = {
        "source": "config gsos.groups",
        "groups": [
            {**g.__dict__, "params": list(g.params), "share": c.get("share")}
            for g, c in zip(groups, settings["groups"], strict=True)
        ],
    }
    atomic_write_text(Path(out), json.dumps(content, indent=2) + "\n")


def load_groups(path: Path | None) -> tuple[list[Group], list[float] | None, int | None]:
    """A groups file's groups, their shares (None when budgets were explicit) and the
    patience of adaptive budgets (None otherwise)."""
    import json

    if path is None:
        return [], None, None
    content = json.loads(Path(path).read_text())
    spec = content["groups"]
    groups = [Group(g["name"], tuple(g["params"]), int(g["iterations"])) for g in spec]
    shares = [g.get("share") for g in spec]
    shares_ = None if any(x is None for x in shares) else [float(x) for x in shares]
    return groups, shares_, content.get("patience")
