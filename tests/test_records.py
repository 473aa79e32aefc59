import json

import numpy as np
import pytest

from gsos.search.records import RecordWriter, read_records


def test_records_round_trip_with_numpy_and_nan(tmp_path):
    w = RecordWriter(tmp_path / "r.jsonl")
    w.append({"iteration": np.int64(1), "val_loss": float("nan"), "lr": np.float32(0.5)})
    w.append({"iteration": 2, "val_loss": 0.3, "lr": 0.1})
    recs = read_records(tmp_path / "r.jsonl")
    assert recs[0] == {"iteration": 1, "val_loss": None, "lr": 0.5}
    assert recs[1]["iteration"] == 2


def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "r.jsonl"
    w = RecordWriter(path)
    for i in range(3):
        w.append({"iteration": i + 1})
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"iteration": 4, "val')
    assert [r["iteration"] for r in read_records(path)] == [1, 2, 3]
    read_records(path, repair=True)
    assert path.read_bytes() == whole
    # complete JSON without its newline counts as torn too
    path.write_bytes(whole + json.dumps({"iteration": 4}).encode())
    assert len(read_records(path, repair=True)) == 3 and path.read_bytes() == whole


def test_corruption_inside_the_file_is_an_error(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"iteration": 1}\n{"itera\n{"iteration": 3}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_records(path)


def test_missing_file_has_no_records(tmp_path):
    assert read_records(tmp_path / "none.jsonl") == []


SHORT_WRITE = """
import json, os, resource, signal, sys
from pathlib import Path
from gsos.search.records import RecordWriteError, RecordWriter, read_records

path = Path(sys.argv[1])
w = RecordWriter(path)
for i in range(3):
    w.append({"iteration": i + 1, "pad": "x" * 50})
size = path.stat().st_size
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the kernel then returns a short write
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20, resource.RLIM_INFINITY))
try:
    w.append({"iteration": 4, "pad": "x" * 50})
    outcome = "no error"
except RecordWriteError as e:
    outcome = str(e)
after_fail = path.stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
w.append({"iteration": 4, "pad": "y"})  # space is back: the next record is whole
print(json.dumps({"outcome": outcome, "size": size, "after_fail": after_fail,
                  "iterations": [r["iteration"] for r in read_records(path)]}))
"""


def test_a_short_write_fails_loudly_and_leaves_the_file_resumable(tmp_path):
    """A full disk (here a file-size limit) cuts a record short: no torn line may remain."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", SHORT_WRITE, str(tmp_path / "r.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["outcome"].startswith("could not record iteration 4"), out["outcome"]
    assert out["after_fail"] == out["size"]  # the partial line was cut off again
    assert out["iterations"] == [1, 2, 3, 4]


def test_publishing_again_leaves_no_temporary_link_behind(tmp_path):
    """A rerun publishes a journal whose output already is its hard link: a rename onto the
    same file does nothing, which once left `.records.jsonl.publish` in the run folder."""
    from gsos.search.records import RecordWriter, journal_path, publish

    records = tmp_path / "records.jsonl"
    journal = journal_path(records)
    RecordWriter(journal).append({"iteration": 1})
    publish(journal, records)
    publish(journal, records)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.journal.jsonl", "records.jsonl"]
    assert records.samefile(journal)


def test_a_stopped_lock_holder_is_named_as_stopped(tmp_path):
    """A rerun waiting on an orphan that was SIGSTOPped would wait for ever: the message
    says the holder is stopped and how to go on."""
    import signal
    import subprocess
    import sys
    import time

    from gsos.search.records import RunLock

    journal = tmp_path / "run.journal.jsonl"
    hold = (
        "import sys, time; from gsos.search.records import RunLock; "
        "lock = RunLock(sys.argv[1]).__enter__(); print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", hold, str(journal)], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"held"
        assert "STOPPED" not in RunLock(journal).holder()
        child.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        text = RunLock(journal).holder()
        assert f"pid {child.pid}" in text and "STOPPED" in text
        assert f"kill -CONT {child.pid}" in text
    finally:
        child.kill()
        child.wait()
