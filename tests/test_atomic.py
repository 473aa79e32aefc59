"""Outputs are written whole or not at all, readable by colleagues, and leave no litter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from gsos.atomic import atomic_write_bytes, atomic_write_text


def test_outputs_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}\n")
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.json", "{}\n")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600


SLOW_WRITER = """
import sys, time
from pathlib import Path
from gsos.atomic import atomic_write_bytes

def write(f):
    f.write(b"half of it")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)

atomic_write_bytes(Path(sys.argv[1]), write)
"""


def test_a_write_killed_midway_leaves_a_temp_file_the_next_write_removes(tmp_path):
    target = tmp_path / "table3.csv"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    litter = [p.name for p in tmp_path.iterdir()]
    assert litter and not target.exists() and all(n.startswith(".table3.csv.") for n in litter)
    atomic_write_text(target, "a,b\n")  # the rerun of the killed job
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table3.csv"]
    assert target.read_text() == "a,b\n"


def test_a_write_in_progress_elsewhere_is_not_removed(tmp_path):
    """Only litter of dead processes goes: another writer's temp file is left alone."""
    target = tmp_path / "x.csv"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        atomic_write_bytes(tmp_path / "x.csv", lambda f: f.write(b"mine\n"))
        assert any(p.name.startswith(".x.csv.") for p in tmp_path.iterdir())
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.01)
    assert target.read_text() == "mine\n"
