"""Under what load wall-clock times were measured: how many runs shared the cores.

Every record carries the moment it was written (``wall_time``) and the run's elapsed time, so
the span of each run is known, and from the spans the most runs that ran at once. Figures
with a wall-clock axis, and the summary, say it: on a 2-core machine running two jobs, a
strategy's seconds depend on its neighbours as much as on itself; sample-epochs do not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def shared_cores(runs: Sequence[Sequence[Mapping[str, Any]]]) -> int | None:
    """The most HPO runs that were running at the same moment (from each record's wall time
    and the run's elapsed time), or None for records without wall times."""
    spans = []
    for r in runs:
        last = r[-1]
        if last.get("wall_time") is None:
            return None
        spans.append((float(last["wall_time"]) - float(last["elapsed_seconds"]), last["wall_time"]))
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def wall_clock_note(runs: Sequence[Sequence[Mapping[str, Any]]]) -> str:
    """What a wall-clock axis was measured under, for the figures that have one."""
    import os

    shared = shared_cores(runs)
    if not shared or shared < 2:
        return ""
    cores = os.cpu_count() or 1
    return (
        f"Wall-clock: measured with up to {shared} runs sharing {cores} "
        f"{'core' if cores == 1 else 'cores'}; compare costs by sample-epochs."
    )
