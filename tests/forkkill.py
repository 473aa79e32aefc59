"""SIGKILL a run again and again at random moments, then let it finish.

The caller is a zygote that has imported (and warmed up) everything once; each attempt is a
forked child, so a kill costs no interpreter start-up. Used by the random-kill tests in
test_contract.py (every strategy, synthetic objective) and test_faults.py (real training).
"""

from __future__ import annotations

import os
import random
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from gsos.search.records import read_records


def _fork(child: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            child()
            status = 0
        except BaseException:
            traceback.print_exc()  # os._exit would swallow it
        finally:
            os._exit(status)
    return pid


def _ended(pid: int, wait: bool = False) -> bool:
    """Whether the child has ended (``wait``: once it has); one that ended with an error
    fails the test, so that a crash never passes for a run that finished."""
    ended, status = os.waitpid(pid, 0 if wait else os.WNOHANG)
    if ended == 0:
        return False
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the run ended with an error (exit {status}); its traceback is above")
    return True


def kill_at_random(
    child: Callable[[], None],
    journal: Path,
    seed: int,
    kills: int,
    max_new_records: int,
    max_delay: float,
) -> dict:
    """Each attempt waits for 0..max_new_records more records, then a random part of a
    trial (up to max_delay seconds), and is killed, unless it finished first. A last child
    runs to the end. Returns the kills made and the records in the journal after each."""
    rng = random.Random(seed)
    made, progress = 0, []
    while made < kills:
        pid = _fork(child)
        target = (progress[-1] if progress else 0) + rng.randint(0, max_new_records)
        done = False
        while not done and len(read_records(journal)) < target:
            done = _ended(pid)
            time.sleep(0.002)
        if not done:
            time.sleep(rng.uniform(0.0, max_delay))
            done = _ended(pid)
        if done:
            break  # it finished: no kill points left
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        made += 1
        progress.append(len(read_records(journal)))
    _ended(_fork(child), wait=True)
    return {"kills": made, "progress": progress}
