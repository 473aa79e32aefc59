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
    assert sorted(g for g, _ in got) == ["0", "1", "2", "3"]


def test_jobs_per_gpu_spreads_then_shares(tmp_path):
    procs = start_holders(tmp_path, 6, n_gpus=3, per_gpu=2)
    got = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait()
    per_gpu = {g: sum(1 for x, _ in got if x == g) for g in ("0", "1", "2")}
    assert per_gpu == {"0": 2, "1": 2, "2": 2}
    assert len({tuple(x) for x in got}) == 6  # no slot given twice


def test_a_dead_jobs_gpu_is_free_again(tmp_path):
    (victim,) = start_holders(tmp_path, 1, n_gpus=1, per_gpu=1, hold=60)
    assert json.loads(victim.stdout.readline()) == ["0", 0]
    with pytest.raises(NoFreeGPU, match="--resources gpu=1"):
        acquire(1, 1, tmp_path)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    slot = acquire(1, 1, tmp_path)  # no clean-up needed: the kernel dropped the lock
    assert (slot.gpu, slot.slot) == ("0", 0)
    slot.release()


def test_least_loaded_gpu_first_and_release(tmp_path):
    a = acquire(2, 2, tmp_path)
    b = acquire(2, 2, tmp_path)
    assert (a.gpu, b.gpu) == ("0", "1")
    a.release()
    c = acquire(2, 2, tmp_path)
    assert c.gpu == "0"
    for s in (b, c):
        s.release()


def test_a_schedulers_single_gpu_is_the_jobs_binding_and_cpu_is_left_alone(tmp_path):
    """SLURM with --gpus=1 sets CUDA_VISIBLE_DEVICES: that is the binding, no lock taken
    (gpu-check said FAIL binding in every such job: issue 29, defect 9)."""
    env = {"CUDA_VISIBLE_DEVICES": "3"}
    slot = bind_gpu("cuda", 1, tmp_path, env)
    assert slot.gpu == "3" and slot.by_scheduler and env["CUDA_VISIBLE_DEVICES"] == "3"
    assert not list(tmp_path.iterdir())  # no lock of ours
    assert "scheduler" in slot.describe()
    for hidden in ("", "-1", "NoDevFiles"):
        assert bind_gpu("auto", 1, tmp_path, {"CUDA_VISIBLE_DEVICES": hidden}) is None
    env = {}
    assert bind_gpu("cpu", 1, tmp_path, env) is None and "CUDA_VISIBLE_DEVICES" not in env


def test_a_multi_gpu_cuda_visible_devices_is_split_between_jobs(tmp_path, monkeypatch):
    """Issue 29, defect 2: after ``salloc --gpus=4`` (or an exported variable) every job
    trained on the first listed GPU, whatever the machine's nvidia-smi says. Now each job
    takes a slot on one of the listed units (the 8-GPU fake nvidia-smi is not asked), a
    SLURM allocation's locks kept apart from other allocations'. Checked: with the old
    ``if CUDA_VISIBLE_DEVICES is set: return None`` put back, this fails."""
    fake_nvidia_smi(tmp_path, monkeypatch, EIGHT_GPUS)
    envs = [{"CUDA_VISIBLE_DEVICES": "2,3,5,7", "SLURM_JOB_ID": "41"} for _ in range(4)]
    slots = [bind_gpu("cuda", 1, tmp_path / "locks", env) for env in envs]
    assert sorted(e["CUDA_VISIBLE_DEVICES"] for e in envs) == ["2", "3", "5", "7"]
    assert [s.gpu for s in slots] == [e["CUDA_VISIBLE_DEVICES"] for e in envs]
    assert (tmp_path / "locks" / "slurm-41" / "gpu2.slot0.lock").exists()
    other = {"CUDA_VISIBLE_DEVICES": "2,3", "SLURM_JOB_ID": "42"}  # another allocation
    assert bind_gpu("cuda", 1, tmp_path / "locks", other).gpu == "2"
    with pytest.raises(NoFreeGPU, match="gpu_wait_minutes"):
        bind_gpu("cuda", 1, tmp_path / "locks", {**envs[0], "CUDA_VISIBLE_DEVICES": "2,3,5,7"},
                 wait=0.5)  # fmt: skip


FAKE_SMI = """#!/bin/sh
case "$*" in
  *--query-gpu=index,uuid,name,driver_version*) cat <<'CSV'
{query}
CSV
  ;;
  *) cat <<'LIST'
{listing}
LIST
  ;;
esac
exit {status}
"""
TWO_GPUS = "GPU 0: NVIDIA A100 (UUID: GPU-aaa)\nGPU 1: NVIDIA A100 (UUID: GPU-bbb)"
EIGHT_GPUS = "\n".join(f"GPU {i}: NVIDIA H100 80GB HBM3 (UUID: GPU-{i}{i}{i})" for i in range(8))
DRIVER = "535.104.05"
MIG = (
    "GPU 0: NVIDIA A100 (UUID: GPU-aaa)\n"
    "  MIG 3g.20gb     Device  0: (UUID: MIG-1111)\n"
    "  MIG 3g.20gb     Device  1: (UUID: MIG-2222)\n"
    "GPU 1: NVIDIA A100 (UUID: GPU-bbb)"
)


def smi_query(listing: str, driver: str = DRIVER) -> str:
    """What ``nvidia-smi --query-gpu=index,uuid,name,driver_version`` prints for a listing."""
    import re

    rows = re.findall(r"^GPU (\d+): (.+) \(UUID: ([^)]+)\)", listing, re.M)
    return "\n".join(f"{i}, {uuid}, {name}, {driver}" for i, name, uuid in rows)


def fake_nvidia_smi(tmp_path, monkeypatch, listing, status=0, driver=DRIVER):
    """A fake `nvidia-smi` first on PATH: the GPU inventory it prints is the test's (``-L``;
    ``--query-gpu`` answers names and the ``driver`` version for the same GPUs)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    query = smi_query(listing, driver)
    smi.write_text(FAKE_SMI.format(listing=listing, query=query, status=status))
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")


def test_mig_instances_are_counted_and_bound_by_uuid(tmp_path, monkeypatch):
    """One GPU split in two MIG instances offers two units (it counted as 1), bound by UUID."""
    from gsos.training.gpus import inventory

    fake_nvidia_smi(tmp_path, monkeypatch, MIG)
    assert inventory().units == ("MIG-1111", "MIG-2222", "1")
    envs = [{} for _ in range(3)]
    slots = [bind_gpu("cuda", 1, tmp_path / "locks", env=env) for env in envs]
    assert sorted(s.gpu for s in slots) == ["1", "MIG-1111", "MIG-2222"]
    assert [env["CUDA_VISIBLE_DEVICES"] for env in envs] == [s.gpu for s in slots]


def test_a_failing_nvidia_smi_is_said_and_the_device_nodes_counted(tmp_path, monkeypatch):
    """nvidia-smi failing used to mean 0 GPUs: no binding, every job on GPU 0."""
    from gsos.training import gpus

    fake_nvidia_smi(tmp_path, monkeypatch, "NVIDIA-SMI has failed: driver mismatch", status=9)
    (tmp_path / "dev").mkdir()
    for i in (0, 1):
        (tmp_path / "dev" / f"nvidia{i}").write_text("")
    monkeypatch.setattr(gpus, "NODES", str(tmp_path / "dev" / "nvidia[0-9]*"))
    found = gpus.inventory()
    assert found.units == ("0", "1") and "nvidia-smi failed (NVIDIA-SMI has failed" in found.warning
    said, env = [], {}
    slot = bind_gpu("auto", 1, tmp_path / "locks", env=env, say=said.append)
    assert slot is not None and env["CUDA_VISIBLE_DEVICES"] == slot.gpu
    assert said and "counted 2 GPU device node(s)" in said[0]


def test_a_job_beyond_the_slots_waits_for_one_instead_of_dying(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, TWO_GPUS)
    held = [bind_gpu("auto", 1, tmp_path / "locks", env={}) for _ in range(2)]
    said = []
    with pytest.raises(NoFreeGPU):
        bind_gpu("auto", 1, tmp_path / "locks", env={}, say=said.append, wait=1.0)
    assert said and "waiting" in said[0]
    held[0].release()
    assert bind_gpu("auto", 1, tmp_path / "locks", env={}, wait=1.0).gpu == held[0].gpu


def fake_cuda(monkeypatch, capability=(8, 0), name="NVIDIA A100-SXM4-80GB", count=1):
    """torch.cuda as on a machine whose torch can use ``count`` GPUs of this ``capability``:
    for code that asks about a device (``torch.device("cuda")``) without allocating on it."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
