"""One JSON line per finished HPO iteration, readable after a crash.

Each record is written with a single ``write`` of a whole line and fsynced, so a killed run
leaves at worst one partial last line, which :func:`read_records` drops.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# Wall-clock fields: the only ones two runs of the same seed may differ in.
TIMING_FIELDS = (
    "wall_time",  # when the record was written (seconds since the epoch): overlapping jobs
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
    When the output already is that link there is nothing to do (a rename of a file onto a
    hard link of itself does nothing, and would leave the temporary name behind).
    """
    journal, records = Path(journal), Path(records)
    if records.exists() and os.path.samefile(journal, records):
        return
    tmp = records.with_name(f".{records.name}.publish")
    tmp.unlink(missing_ok=True)
    try:
        os.link(journal, tmp)
    except OSError:  # a filesystem without hard links: copy instead
        import shutil

        shutil.copyfile(journal, tmp)
    os.replace(tmp, records)
    tmp.unlink(missing_ok=True)  # still there only if records was already that very file


def lock_path(journal: Path) -> Path:
    return Path(journal).with_name(Path(journal).name + ".lock")


class RunLock:
    """One writer per run: an exclusive ``flock`` on ``<journal>.lock`` for the writer's life.

    The operating system drops the lock when the process dies, however it dies, so a lock is
    never stale. A second writer (an orphaned job still running after Snakemake itself was
    killed, then ``--rerun-incomplete``) finds the lock held, says which process holds it and
    waits for it to finish; then it replays what the first one wrote and appends nothing the
    first one did. The lock file stays (removing it would race with a waiting writer); it
    names the last holder: pid, host and start time.
    """

    def __init__(
        self, journal: Path, say: Callable[[str], None] | None = None, every: float = 30.0
    ):
        self.path = lock_path(journal)
        self.say = say or (lambda _: None)
        self.every = every
        self.fd: int | None = None

    def holder(self) -> str:
        """Who holds the lock, as its lock file names it; a holder on this machine that is
        stopped (SIGSTOP, Ctrl-Z: it will never finish by itself) is said to be."""
        try:
            text = self.path.read_text().strip() or "an unknown process"
        except OSError:
            return "an unknown process"
        pid = re.match(r"pid (\d+) on (\S+)", text)
        if pid and pid.group(2) == socket.gethostname() and process_stopped(int(pid.group(1))):
            n = pid.group(1)
            text += (
                f", which is STOPPED (SIGSTOP or Ctrl-Z) and will not finish by itself: "
                f"`kill -CONT {n}` lets it go on, `kill {n}` hands the run to this job"
            )
        return text

    def __enter__(self) -> RunLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.say(
                f"{self.holder()} is still writing {self.path.parent}; waiting for it to "
                "finish (one writer per run), then resuming from its records. Stop it to "
                "take over now."
            )
            last = time.monotonic()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(0.5)
                    if time.monotonic() - last >= self.every:
                        last = time.monotonic()
                        self.say(f"still waiting for {self.holder()}")
            self.say(f"{self.path.parent}: the other writer finished; resuming from its records")
        me = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, (me + "\n").encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def process_stopped(pid: int) -> bool:
    """Whether a process of this machine is stopped (state T or t in /proc; False where
    there is no /proc or no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] in ("T", "t")


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
