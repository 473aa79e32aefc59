"""Which devices a set of runs trained on, and the caveat when they were not all the same.

Every record names the device it trained on (``device``; since issue 29 also the model,
``device_name``, and the NVIDIA ``driver``) and the arithmetic of its trial (``precision``:
fp32, tf32 or bf16). On a partition that mixes A100s and H100s, or a run resumed on another
machine, wall-clock comparisons measure the devices as much as the strategies, and nothing in
the tables shows it; the summary says so (:func:`mixed_devices_caveat`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any


def device_label(record: Mapping[str, Any]) -> str:
    """A record's device as a person names it: the model (or cuda/cpu for records written
    before models were recorded) and the driver."""
    name = record.get("device_name") or record.get("device") or "unknown device"
    driver = record.get("driver")
    return f"{name} (driver {driver})" if driver else str(name)


def devices_used(runs: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per device: how many runs had trials on it and how many trials in each precision."""
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"runs": 0, "precisions": Counter()})
    for run in runs:
        seen = set()
        for r in run:
            label = device_label(r)
            seen.add(label)
            if r.get("precision"):
                out[label]["precisions"][r["precision"]] += 1
        for label in seen:
            out[label]["runs"] += 1
    return dict(out)


def mixed_devices_caveat(runs: Sequence[Sequence[Mapping[str, Any]]]) -> str | None:
    """The caveat "This summary mixes devices: ..." (each device, its runs and precisions)
    where the runs' records name more than one device; None where they name one."""
    used = devices_used(runs)
    if len(used) < 2:
        return None
    parts = []
    for label, u in sorted(used.items()):
        precisions = ", ".join(f"{p} {n}" for p, n in sorted(u["precisions"].items()))
        parts.append(
            f"{label}: {u['runs']} run{'s' if u['runs'] != 1 else ''}"
            + (f" (trials by precision: {precisions})" if precisions else "")
        )
    return (
        "This summary mixes devices: "
        + "; ".join(parts)
        + ". Wall-clock times and times to best compare the devices as much as the "
        "strategies; sample-epochs do not depend on them."
    )
