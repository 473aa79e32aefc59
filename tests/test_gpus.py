"""GPU binding logic, tested with real processes and real locks (no GPU needed)."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gsos.training.gpus import NoFreeGPU, acquire, bind_gpu

HOLDER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from gsos.training.gpus import acquire
    start_at, lock_dir = float(sys.argv[1]), Path(sys.argv[2])
    n, k = int(sys.argv[3]), int(sys.argv[4])
    while time.time() < start_at:  # every process asks at the same moment
        pass
    slot = acquire(n, k, lock_dir)
    print(json.dumps([slot.gpu, slot.slot]), flush=True)
    time.sleep(float(sys.argv[5]))
""")


def start_holders(tmp_path, count, n_gpus, per_gpu, hold=3.0):
    start_at = time.time() + 1.5
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                HOLDER,
                str(start_at),
                str(tmp_path),
                str(n_gpus),
                str(per_gpu),
                str(hold),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def test_jobs_starting_together_get_distinct_gpus(tmp_path):
    procs = start_holders(tmp_path, 4, n_gpus=4, per_gpu=1)
    got = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait()
    assert sorted(g for g, _ in got) == [0, 1, 2, 3]


def test_jobs_per_gpu_spreads_then_shares(tmp_path):
    procs = start_holders(tmp_path, 6, n_gpus=3, per_gpu=2)
    got = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait()
    per_gpu = {g: sum(1 for x, _ in got if x == g) for g in range(3)}
    assert per_gpu == {0: 2, 1: 2, 2: 2}
    assert len({tuple(x) for x in got}) == 6  # no slot given twice


def test_a_dead_jobs_gpu_is_free_again(tmp_path):
    (victim,) = start_holders(tmp_path, 1, n_gpus=1, per_gpu=1, hold=60)
    assert json.loads(victim.stdout.readline()) == [0, 0]
    with pytest.raises(NoFreeGPU, match="--resources gpu=1"):
        acquire(1, 1, tmp_path)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    slot = acquire(1, 1, tmp_path)  # no clean-up needed: the kernel dropped the lock
    assert (slot.gpu, slot.slot) == (0, 0)
    slot.release()


def test_least_loaded_gpu_first_and_release(tmp_path):
    a = acquire(2, 2, tmp_path)
    b = acquire(2, 2, tmp_path)
    assert (a.gpu, b.gpu) == (0, 1)
    a.release()
    c = acquire(2, 2, tmp_path)
    assert c.gpu == 0
    for s in (b, c):
        s.release()


def test_bind_leaves_scheduler_choices_and_cpu_alone(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "3"}
    assert bind_gpu("cuda", 1, tmp_path, env) is None and env["CUDA_VISIBLE_DEVICES"] == "3"
    env = {}
    assert bind_gpu("cpu", 1, tmp_path, env) is None and "CUDA_VISIBLE_DEVICES" not in env
