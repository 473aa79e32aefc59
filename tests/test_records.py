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


# --- what survives a power cut, and the journal's other edges (issue 33) -----------------


class PowerCut:
    """A disk that keeps only what was fsynced: ``cut()`` drops every byte written to a file
    since its last fsync, as a power cut does to the page cache."""

    def __init__(self, monkeypatch):
        import os

        self.durable: dict[str, int] = {}
        self.paths: dict[int, str] = {}
        real_open, real_fsync, real_close = os.open, os.fsync, os.close

        def opened(path, *a, **kw):
            fd = real_open(path, *a, **kw)
            self.paths[fd] = str(path)
            self.durable.setdefault(str(path), os.fstat(fd).st_size)
            return fd

        def fsync(fd):
            real_fsync(fd)
            self.durable[self.paths[fd]] = os.fstat(fd).st_size

        def close(fd):
            self.paths.pop(fd, None)
            real_close(fd)

        monkeypatch.setattr(os, "open", opened)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "close", close)

    def cut(self):
        import os

        for path, size in self.durable.items():
            if os.path.getsize(path) > size:
                os.truncate(path, size)


def test_every_appended_record_survives_a_power_cut(tmp_path, monkeypatch):
    path = tmp_path / "r.journal.jsonl"
    disk = PowerCut(monkeypatch)
    w = RecordWriter(path)
    for i in range(3):
        w.append({"iteration": i + 1, "val_accuracy": 0.5})
    disk.cut()
    assert [r["iteration"] for r in read_records(path)] == [1, 2, 3]


def test_a_write_that_is_not_fsynced_is_lost_in_a_power_cut(tmp_path, monkeypatch):
    """The simulation itself: bytes written but never synced do not survive it."""
    import os

    path = tmp_path / "r.jsonl"
    disk = PowerCut(monkeypatch)
    RecordWriter(path).append({"iteration": 1})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b'{"iteration": 2}\n')
    os.close(fd)
    disk.cut()
    assert [r["iteration"] for r in read_records(path)] == [1]


def test_a_failed_write_is_cut_off_durably(tmp_path, monkeypatch):
    """A write that fails half way (a full disk) is cut back to the last record, and the
    cut itself is synced: after a power cut no half record is left to mislead a resume."""
    import errno
    import os

    from gsos.search.records import RecordWriteError

    path = tmp_path / "r.jsonl"
    disk = PowerCut(monkeypatch)
    w = RecordWriter(path)
    w.append({"iteration": 1})
    whole = path.read_bytes()
    real_write = os.write
    calls = []

    def half_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(RecordWriteError, match="could not record iteration 2 in .*intact"):
        w.append({"iteration": 2, "pad": "x" * 40})
    monkeypatch.setattr(os, "write", real_write)
    assert path.read_bytes() == whole
    disk.cut()
    assert path.read_bytes() == whole
    w.append({"iteration": 2})
    assert [r["iteration"] for r in read_records(path)] == [1, 2]


def test_short_writes_are_continued_until_the_line_is_whole(tmp_path, monkeypatch):
    import os

    path = tmp_path / "r.jsonl"
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:5]))
    RecordWriter(path).append({"iteration": 1, "pad": "y" * 30})
    monkeypatch.setattr(os, "write", real_write)
    assert read_records(path) == [{"iteration": 1, "pad": "y" * 30}]


def test_a_write_of_no_bytes_is_an_error_not_a_hang(tmp_path, monkeypatch):
    import os

    from gsos.search.records import RecordWriteError

    path = tmp_path / "sub" / "r.jsonl"
    w = RecordWriter(path)  # makes its folder
    monkeypatch.setattr(os, "write", lambda fd, data: 0)
    with pytest.raises(RecordWriteError, match="write returned no bytes"):
        w.append({"no_iteration": 1})
    assert path.read_bytes() == b""


def test_best_record_is_the_highest_finished_and_the_earliest_on_a_tie():
    from gsos.search.records import best_record

    records = [
        {"iteration": 1, "status": "ok", "val_accuracy": 0.8},
        {"iteration": 2, "status": "fail", "val_accuracy": 0.99},
        {"iteration": 3, "status": "ok", "val_accuracy": 0.9},
        {"iteration": 4, "status": "ok", "val_accuracy": None},
        {"iteration": 5, "status": "ok", "val_accuracy": 0.9},
        {"iteration": 6, "status": "stopped", "val_accuracy": 0.95},
    ]
    assert best_record(records)["iteration"] == 3
    assert best_record(list(reversed(records)))["iteration"] == 3
    assert best_record(records[1:2]) is None and best_record([]) is None


def test_encoding_makes_plain_json_lines():
    from gsos.search.records import encode

    line = encode({"a": np.int64(2), "b": (1.5, float("inf")), "c": {1: np.float64(-0.0)},
                   "d": ["x", None], "e": True})  # fmt: skip
    assert line.endswith("}\n") and line.count("\n") == 1
    assert json.loads(line) == {"a": 2, "b": [1.5, None], "c": {"1": -0.0}, "d": ["x", None],
                                "e": True}  # fmt: skip
    assert list(json.loads(encode({"z": 1, "a": 2}))) == ["z", "a"]  # keys in their order


def test_blank_lines_are_skipped_and_repair_keeps_them(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"iteration": 1}\n\n{"iteration": 2}\n{"iteration"')
    assert [r["iteration"] for r in read_records(path, repair=True)] == [1, 2]
    assert path.read_bytes() == b'{"iteration": 1}\n\n{"iteration": 2}\n'
    assert [r["iteration"] for r in read_records(path, repair=True)] == [1, 2]
    path.write_bytes(b'{"iteration": 1}\n{"iteration": 2}\n  \n')
    assert len(read_records(path, repair=True)) == 2


def test_reading_runs_names_the_runs_without_records(tmp_path):
    from gsos.search.records import read_runs

    good, empty = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    RecordWriter(good).append({"iteration": 1})
    empty.write_text("")
    assert read_runs([good]) == [[{"iteration": 1}]]
    with pytest.raises(SystemExit, match="no records in .*b.jsonl"):
        read_runs([good, empty])


def test_paths_of_a_runs_journal_and_lock(tmp_path):
    from gsos.search.records import journal_path, lock_path

    assert (
        journal_path(tmp_path / "x" / "records.jsonl") == tmp_path / "x" / "records.journal.jsonl"
    )
    assert lock_path(tmp_path / "r.journal.jsonl") == tmp_path / "r.journal.jsonl.lock"


def test_publishing_makes_the_records_a_link_to_the_journal(tmp_path):
    from gsos.search.records import journal_path, publish

    records = tmp_path / "records.jsonl"
    journal = journal_path(records)
    RecordWriter(journal).append({"iteration": 1})
    records.write_text("old\n")  # an earlier, different output is replaced
    publish(journal, records)
    assert records.samefile(journal) and read_records(records) == [{"iteration": 1}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.journal.jsonl", "records.jsonl"]


def test_a_second_writer_waits_for_the_first_and_says_so(tmp_path):
    import os
    import threading
    import time

    from gsos.search.records import RunLock

    journal = tmp_path / "run" / "r.journal.jsonl"
    said = []
    first = RunLock(journal).__enter__()
    text = (tmp_path / "run" / "r.journal.jsonl.lock").read_text()
    assert text.startswith(f"pid {os.getpid()} on ") and " since " in text

    def second():
        with RunLock(journal, say=said.append, every=0.2):
            said.append("mine")

    t = threading.Thread(target=second)
    t.start()
    time.sleep(1.0)
    assert said and f"pid {os.getpid()}" in said[0] and "waiting for it to finish" in said[0]
    assert "mine" not in said
    first.__exit__(None, None, None)
    t.join(10)
    assert any(m.startswith("still waiting for pid") for m in said)
    assert "the other writer finished" in said[-2] and said[-1] == "mine"
    assert first.fd is None


def test_a_holder_that_is_not_stopped_or_not_named_is_said_plainly(tmp_path):
    import os

    from gsos.search.records import RunLock, process_stopped

    lock = RunLock(tmp_path / "r.journal.jsonl")
    assert lock.holder() == "an unknown process"  # no lock file
    lock.path.write_text("")
    assert lock.holder() == "an unknown process"
    lock.path.write_text(f"pid {os.getpid()} on elsewhere since 10:00:00\n")
    assert lock.holder() == f"pid {os.getpid()} on elsewhere since 10:00:00"
    assert not process_stopped(os.getpid()) and not process_stopped(2**22 + 12345)


def test_a_plain_read_leaves_a_torn_line_for_a_writer_to_repair(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"iteration": 1}\n{"iter')
    assert read_records(path) == [{"iteration": 1}]
    assert path.read_bytes() == b'{"iteration": 1}\n{"iter'  # a reader changes nothing


def test_journal_and_lock_files_are_made_in_new_folders_without_execute_bits(tmp_path):
    import os
    import stat

    from gsos.search.records import RunLock

    umask = os.umask(0o022)
    try:
        journal = tmp_path / "a" / "b" / "r.journal.jsonl"
        RecordWriter(journal).append({"iteration": 1})
        with RunLock(tmp_path / "c" / "d" / "r.journal.jsonl") as lock:
            lock_mode = stat.S_IMODE(lock.path.stat().st_mode)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(journal.stat().st_mode) == 0o644
    assert lock_mode == 0o644


def test_one_byte_writes_are_progress_not_failure(tmp_path, monkeypatch):
    import os

    path = tmp_path / "r.jsonl"
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:1]))
    RecordWriter(path).append({"iteration": 1})
    monkeypatch.setattr(os, "write", real_write)
    assert read_records(path) == [{"iteration": 1}]


def test_a_record_without_an_iteration_is_named_by_a_question_mark(tmp_path, monkeypatch):
    import os

    from gsos.search.records import RecordWriteError

    monkeypatch.setattr(os, "write", lambda fd, data: 0)
    with pytest.raises(RecordWriteError, match=r"could not record iteration \? in "):
        RecordWriter(tmp_path / "r.jsonl").append({"x": 1})


def test_publishing_copies_where_the_filesystem_has_no_hard_links(tmp_path, monkeypatch):
    import os

    from gsos.search.records import journal_path, publish

    records = tmp_path / "records.jsonl"
    journal = journal_path(records)
    RecordWriter(journal).append({"iteration": 1})

    def no_links(*a):
        raise OSError("Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    publish(journal, records)
    assert not records.samefile(journal) and records.read_bytes() == journal.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.journal.jsonl", "records.jsonl"]


def test_a_waiting_writer_is_quiet_between_its_reminders(tmp_path):
    import re
    import threading
    import time

    from gsos.search.records import RunLock

    journal = tmp_path / "r.journal.jsonl"
    assert RunLock(journal).every == 30.0  # a reminder every 30 s by default
    said = []
    first = RunLock(journal).__enter__()
    assert re.fullmatch(r"pid \d+ on \S+ since \d\d:\d\d:\d\d\n", first.path.read_text())

    def second():
        with RunLock(journal, say=said.append):
            pass

    t = threading.Thread(target=second)
    t.start()
    time.sleep(1.2)
    first.__exit__(None, None, None)
    t.join(10)
    assert len(said) == 2 and "waiting for it" in said[0] and "finished" in said[1], said


def test_a_process_whose_name_holds_a_parenthesis_is_read_right(tmp_path):
    """/proc/<pid>/stat names the process in parentheses; a name may hold ') T' itself."""
    import subprocess
    import sys

    from gsos.search.records import process_stopped

    code = "open('/proc/self/comm', 'w').write('x) T y'); print('ok', flush=True); input()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "ok"
        assert not process_stopped(child.pid)  # running (S), though its name says T
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("state, stopped", [("T", True), ("t", True), ("S", False), ("R", False)])
def test_stopped_and_traced_processes_count_as_stopped(monkeypatch, state, stopped):
    from pathlib import Path

    from gsos.search.records import process_stopped

    monkeypatch.setattr(Path, "read_text", lambda self: f"123 (python) {state} 1 123 123 0")
    assert process_stopped(123) is stopped
