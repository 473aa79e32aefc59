"""Writing an output whole or not at all, readable as the user's umask says, without litter.

Each output is written to a hidden temporary file beside it and renamed into place, so a
killed job never leaves a half-written table, figure or dataset. The temporary file is
named ``.<name>.<host>.<pid>.<token>.tmp``; a later write of the same output removes the
temporary files of processes that are dead (same host) or a day old (another host), so
the litter of a SIGKILL does not outlive the rerun. ``mkstemp`` creates files with mode
0600 whatever the umask; they get the mode a plain ``open`` would give (0644 under umask
022), so colleagues on a shared folder can read the results.

Imports nothing heavy: every command, even one that only writes JSON, may use it.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

STALE_SECONDS = 24 * 3600  # another host's temp file: surely dead after a day


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_litter(path: Path) -> list[Path]:
    """Remove temporary files that an earlier, killed write of ``path`` left behind."""
    prefix, host = f".{path.name}.", socket.gethostname()
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            owner, pid, _token = tmp.name[len(prefix) : -len(".tmp")].rsplit(".", 2)
            dead = not _alive(int(pid)) if owner == host else None
        except ValueError:
            continue  # not one of ours
        try:
            if dead is None:
                dead = time.time() - tmp.stat().st_mtime > STALE_SECONDS
            if dead:
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed


def atomic_write_bytes(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_litter(path)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{socket.gethostname()}.{os.getpid()}.", suffix=".tmp"
    )
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def writable_problem(folder: Path) -> str | None:
    """Why outputs could not be written under ``folder``, or None: found by writing a file
    there (or in its nearest existing parent) and removing it, so it holds for root and
    read-only mounts too. Nothing is created when the folder does not exist yet."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{folder}: {probe} is a file, so the folder cannot be made there"
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".gsos-write-check-")
    except OSError as e:
        return f"{folder}: cannot write in {probe} ({e.strerror})"
    os.close(fd)
    os.unlink(name)
    return None
