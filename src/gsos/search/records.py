"""One JSON line per finished HPO iteration, readable after a crash.

Each record is written with a single ``write`` of a whole line and fsynced, so a killed run
leaves at worst one partial last line, which :func:`read_records` drops.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Wall-clock fields: the only ones two runs of the same seed may differ in.
TIMING_FIELDS = (
    "elapsed_seconds",
    "suggest_seconds",
    "eval_seconds",
    "train_seconds",
    "curve_seconds",
)


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def encode(record: dict[str, Any]) -> str:
    return json.dumps(_plain(record), sort_keys=False, allow_nan=False) + "\n"


class RecordWriteError(OSError):
    """A record could not be written whole (disk full, quota, I/O error)."""


class RecordWriter:
    """Appends records to a JSONL file, one durable line per call.

    A line is written whole or not at all: a short or failed write (a full disk returns
    fewer bytes, then ENOSPC) is cut off again and raises, so the file always ends with a
    complete record and a run can resume from it once there is space.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        line = encode(record).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            start = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(line):
                    n = os.write(fd, line[written:])
                    if n <= 0:
                        raise OSError("write returned no bytes")
                    written += n
                os.fsync(fd)
            except OSError as e:
                os.ftruncate(fd, start)
                os.fsync(fd)
                label = record.get("iteration", "?")
                raise RecordWriteError(
                    f"could not record iteration {label} in {self.path}: {e}. The file is "
                    "intact up to the previous record; free space and run again to resume."
                ) from e
        finally:
            os.close(fd)


def best_record(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Highest validation accuracy among finished (``ok``) trials; the earliest wins a tie.

    The one rule for a run's best, a GSOS group's best and the tables.
    """
    ok = [r for r in records if r["status"] == "ok" and r.get("val_accuracy") is not None]
    return max(ok, key=lambda r: (r["val_accuracy"], -r["iteration"])) if ok else None


def journal_path(records: Path) -> Path:
    """Where a run's records are appended while it runs (and kept after it ends)."""
    records = Path(records)
    return records.with_name(f"{records.stem}.journal.jsonl")


def publish(journal: Path, records: Path) -> None:
    """Put the finished journal in place as the declared output, keeping the journal.

    The output is a hard link to the journal (no copy), made under a temporary name and
    renamed into place. Keeping the journal is what makes a kill at any moment harmless:
    Snakemake deletes the outputs of a job that did not exit cleanly, even one killed after
    this rename, and the rerun then finds every iteration in the journal and trains nothing.
    """
    tmp = records.with_name(f".{records.name}.publish")
    tmp.unlink(missing_ok=True)
    try:
        os.link(journal, tmp)
    except OSError:  # a filesystem without hard links: copy instead
        import shutil

        shutil.copyfile(journal, tmp)
    os.replace(tmp, records)


def read_records(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """All complete records; a torn last line is dropped (and cut from the file if ``repair``).

    A broken line anywhere but at the end means the file was edited or corrupted: that is
    an error, because silently skipping it would lose a finished trial.
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records: list[dict[str, Any]] = []
    good_bytes = 0
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if not line.strip():
            if not last:
                good_bytes += len(line) + 1
            continue
        try:
            rec = json.loads(line)
            if last:  # complete JSON but no newline: the fsync may not have finished
                raise ValueError("no newline")
        except ValueError as e:
            if last:
                break
            raise ValueError(f"{path}: line {i + 1} is not a complete record ({e})") from e
        records.append(rec)
        good_bytes += len(line) + 1
    if repair and good_bytes < len(raw):
        with open(path, "r+b") as f:
            f.truncate(good_bytes)
    return records


def read_runs(paths: Sequence[Path]) -> list[list[dict[str, Any]]]:
    """Every run's records, one list per path; a run without records is an error."""
    runs = [read_records(p) for p in paths]
    empty = [str(p) for p, r in zip(paths, runs, strict=True) if not r]
    if empty:
        raise SystemExit(f"no records in {empty}")
    return runs
