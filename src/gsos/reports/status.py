"""``gsos status``: where every run of an experiment stands, read from its journals.

A run is *done* when its records are published, *running* when its journal changed in the
last ``stale_after`` seconds, *stopped* when a journal exists but has not changed since (a
killed or failed job: rerun the workflow to resume it), and *waiting* when nothing exists
yet. Light on purpose (json only): it is meant to be run beside a busy workflow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gsos.search.records import best_record, journal_path, read_records


@dataclass
class RunStatus:
    dataset: str
    strategy: str
    seed: int
    state: str
    progress: str
    best_val: float | None
    elapsed: float | None
    updated_ago: float | None

    def cells(self) -> list[str]:
        return [
            self.dataset,
            self.strategy,
            str(self.seed),
            self.state,
            self.progress,
            "-" if self.best_val is None else f"{self.best_val:.4f}",
            "-" if self.elapsed is None else f"{self.elapsed:.0f} s",
            "-" if self.updated_ago is None else f"{self.updated_ago:.0f} s ago",
        ]


def _n_train(records_path: Path) -> int | None:
    """Training images, from the run's summary or the prepared data's manifest."""
    summary = records_path.with_name("summary.json")
    if summary.exists():
        return int(json.loads(summary.read_text())["n_train"])
    experiment, dataset = records_path.parents[4], records_path.parents[2].name
    manifest = experiment / "data" / dataset / "manifest.json"
    if manifest.exists():
        return int(json.loads(manifest.read_text())["n_images"]["train"])
    return None


def _cost_budget(config: Mapping[str, Any], runs: Path, dataset: str, seed: int) -> str:
    cost = config["hpo"]["cost"]
    if cost != "match":
        return f"{cost:g}"
    summary = runs / dataset / "simultaneous" / f"seed{seed}" / "summary.json"
    if not summary.exists():
        return "?"  # it spends what simultaneous TPE spent, which is not known yet
    s = json.loads(summary.read_text())
    return f"{s['sample_epochs_total'] / s['n_train']:.0f}"


def run_status(
    config: Mapping[str, Any],
    root: Path,
    dataset: str,
    strategy: str,
    seed: int,
    now: float,
    stale_after: float,
) -> RunStatus:
    from gsos.search.optimizers.registry import strategy as registered

    runs = Path(root) / "results" / config["experiment"] / "runs"
    records_path = runs / dataset / strategy / f"seed{seed}" / "records.jsonl"
    journal = journal_path(records_path)
    source = records_path if records_path.exists() else journal
    records = read_records(source) if source.exists() else []
    if records_path.exists():
        state = "done"
    elif journal.exists():
        state = "running" if now - journal.stat().st_mtime < stale_after else "stopped"
    else:
        state = "waiting"
    if registered(strategy).cost_matched(config):
        n_train = _n_train(records_path)
        spent = sum(r.get("sample_epochs") or 0 for r in records) / n_train if n_train else 0.0
        budget = _cost_budget(config, runs, dataset, seed)
        progress = f"{len(records)} evals, {spent:.0f}/{budget} epochs"
    else:
        progress = f"{len(records)}/{config['hpo']['iterations']} trials"
    best = best_record(records)
    return RunStatus(
        dataset=dataset,
        strategy=strategy,
        seed=seed,
        state=state,
        progress=progress,
        best_val=float(best["val_accuracy"]) if best else None,
        elapsed=float(records[-1]["elapsed_seconds"]) if records else None,
        updated_ago=(now - source.stat().st_mtime) if source.exists() else None,
    )


HEADER = ["dataset", "strategy", "seed", "state", "progress", "best val", "elapsed", "updated"]


def table(rows: Sequence[RunStatus]) -> str:
    cells = [HEADER] + [r.cells() for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def status(config: Mapping[str, Any], root: Path = Path("."), stale_after: float = 120.0) -> str:
    now = time.time()
    rows = [
        run_status(config, root, d, s, seed, now, stale_after)
        for d in config["run"]["datasets"]
        for s in config["run"]["strategies"]
        for seed in config["run"]["seeds"]
    ]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return f"experiment {config['experiment']}: {len(rows)} runs ({summary})\n" + table(rows)
