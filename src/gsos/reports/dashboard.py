"""``gsos dashboard``: optuna-dashboard on this machine for an experiment, live while it runs.

**Without a second writer.** Each HPO job is the one writer of its journal (a lock says so:
:class:`gsos.search.records.RunLock`). The dashboard writes to none of them and takes no
lock: a follower (:class:`Follower`) opens each run's journal read-only, every ``poll``
seconds (1 by default) looks at its size, reads the bytes added since its last look and
turns each complete line into a trial (:mod:`gsos.reports.studies`, the same mapping as the
workflow's storage) in an in-memory Optuna storage that only this process holds; a torn last
line (a record being written) waits for its newline. optuna-dashboard serves that storage in
the same process. A run that starts later appears as its journal does; a journal moved aside
(the run's settings or code changed) and begun again, or a run folder deleted, is read again
from the start. Costs to a run: a ``stat`` of its journal a second and a read of what it
appended; measured on a real run beside the dashboard and a client polling it
(``bench/dashboard.py``, ``bench/results/dashboard.csv``).

**How fast a trial shows.** A record is in the storage within ``poll`` seconds of being
written; optuna-dashboard caches a study's trials for 2 s (under 100 trials; 5 s to 500,
then 10 s) and its study page reloads every 10 s (the trial list every 2 s under 100 trials;
"Live Update" in its menu turns this on and off). What was measured is in the README.

**What is not kept.** The storage lives as long as the command: notes and other edits made
in the dashboard are gone when it stops (the journals are the record; the workflow's
``optuna-journal.log`` is rebuilt from them whole). Training of a trial is not shown until
the trial ends: a record is written when its evaluation finishes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsos.reports.studies import Run, StudyWriter, distributions, find_runs, quiet_optuna

if TYPE_CHECKING:
    import optuna


@dataclass
class _Tail:
    """How far one run's journal has been read."""

    writer: StudyWriter
    inode: int = -1
    offset: int = 0
    broken: str | None = None  # a complete line that is not a record: the run is not followed


class Follower:
    """Reads every run's journal of an experiment read-only and adds its new records to
    ``storage`` as trials (one study per run)."""

    def __init__(
        self,
        storage: optuna.storages.BaseStorage,
        results: Path,
        config: Mapping[str, Any],
        say: Callable[[str], None] = lambda _: None,
    ):
        self.storage, self.results, self.config, self.say = storage, Path(results), config, say
        self.experiment = str(config["experiment"])
        self.dists = distributions(config["search_space"])
        self.tails: dict[Path, _Tail] = {}

    def _writer(self, run: Run) -> StudyWriter:
        return StudyWriter(self.storage, run, self.dists, self.experiment, self.config)

    def poll(self) -> int:
        """One look at every run; returns the number of trials added."""
        added = 0
        for run in find_runs(self.results):
            tail = self.tails.get(run.folder)
            if tail is None:
                tail = self.tails[run.folder] = _Tail(self._writer(run))
            added += self._follow(run, tail)
        for folder in [f for f in self.tails if not f.exists()]:  # a deleted run
            self.tails.pop(folder).writer.delete()
        return added

    def _follow(self, run: Run, tail: _Tail) -> int:
        source = run.source()
        if source is None:
            if tail.offset:  # its journal is gone (moved aside): start again when it returns
                tail.writer.delete()
                tail.inode, tail.offset, tail.broken = -1, 0, None
            return 0
        try:
            st = os.stat(source)
        except FileNotFoundError:
            return 0
        if tail.offset and (st.st_ino != tail.inode or st.st_size < tail.offset):
            # another file (a journal begun again; the published records are a hard link of
            # the journal, so the same file), or one cut shorter: read it anew
            tail.writer.delete()
            tail.offset, tail.broken = 0, None
        tail.inode = st.st_ino
        if tail.broken is not None or st.st_size <= tail.offset:
            return 0
        with open(source, "rb") as f:  # read-only: the run stays the one writer
            f.seek(tail.offset)
            chunk = f.read(st.st_size - tail.offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            return 0  # only a line being written
        records = []
        for line in chunk[: end + 1].splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as e:
                tail.broken = f"{source}: a line is not a complete record ({e})"
                self.say(f"dashboard: {tail.broken}; this run is no longer followed")
                break
        tail.offset += end + 1
        try:
            return tail.writer.add(records)
        except ValueError as e:
            tail.broken = str(e)
            self.say(f"dashboard: {e}; this run is no longer followed")
            return 0


def follow(follower: Follower, poll: float, stop: threading.Event) -> threading.Thread:
    """Poll every ``poll`` seconds in a daemon thread until ``stop`` is set."""

    def loop() -> None:
        while not stop.wait(poll):
            try:
                follower.poll()
            except Exception as e:  # noqa: BLE001 - the dashboard stays up; say what failed
                follower.say(f"dashboard: reading the journals failed ({type(e).__name__}: {e})")

    thread = threading.Thread(target=loop, name="gsos-follower", daemon=True)
    thread.start()
    return thread


def make_server(app: Any, host: str, port: int) -> Any:
    """A threaded WSGI server (the page asks for several things at once) that logs nothing
    per request."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
    from wsgiref.simple_server import make_server as wsgi_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - wsgiref's name
            pass

    return wsgi_server(host, port, app, server_class=Server, handler_class=Quiet)


def serve(
    config: Mapping[str, Any],
    root: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    poll: float = 1.0,
    say: Callable[[str], None] = print,
) -> None:
    """Load every run of the experiment, then serve optuna-dashboard and follow the journals
    until interrupted."""
    import warnings

    import optuna

    with warnings.catch_warnings():  # it imports BoTorch, and so torch's deprecation notices
        warnings.simplefilter("ignore", FutureWarning)
        from optuna_dashboard import wsgi

    quiet_optuna()
    results = Path(root) / "results" / str(config["experiment"])
    storage = optuna.storages.InMemoryStorage()
    follower = Follower(storage, results, config, say)
    t0 = time.perf_counter()
    n = follower.poll()
    server = make_server(wsgi(storage), host, port)
    url = f"http://{host}:{server.server_port}/"
    say(
        f"optuna-dashboard for experiment {config['experiment']} ({len(follower.tails)} runs, "
        f"{n} trials, read in {time.perf_counter() - t0:.1f} s from {results}) on {url}; "
        f"new trials within {poll:g} s of their record; Ctrl-C stops it"
    )
    stop = threading.Event()
    follow(follower, poll, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("dashboard stopped")
    finally:
        stop.set()
        server.server_close()
