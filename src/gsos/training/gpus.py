"""Binding each HPO job to one GPU on a multi-GPU workstation.

Snakemake counts GPUs (``resources: gpu=1``) but never says which one a job should use, so
each job picks for itself: GPU g offers ``jobs_per_gpu`` slots, each slot a lock file held
with ``flock`` for the life of the process. ``flock`` is atomic, so jobs that start at the
same moment never take the same slot, and the kernel drops the lock when a process dies, so
a killed job's slot is free at once, with no stale state to clean up.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class NoFreeGPU(RuntimeError):
    pass


NODES = "/dev/nvidia[0-9]*"  # GPU device nodes, counted when nvidia-smi does not answer


@dataclass(frozen=True)
class Inventory:
    """The GPUs a job can be bound to: ``units`` are what CUDA_VISIBLE_DEVICES takes (a GPU's
    index, or a MIG instance's UUID: a GPU split in MIG instances offers each instance), and
    what, if anything, went wrong finding them (said, not swallowed)."""

    units: tuple[str, ...]
    source: str
    warning: str | None = None

    def __len__(self) -> int:
        return len(self.units)


def parse_nvidia_smi(listing: str) -> list[str]:
    """``nvidia-smi -L`` -> the units to bind: a GPU without MIG is its index; a GPU with MIG
    instances is each instance's UUID (CUDA_VISIBLE_DEVICES accepts MIG UUIDs)."""
    units: list[str] = []
    current: str | None = None
    migs: list[str] = []
    for line in listing.splitlines():
        gpu = re.match(r"^GPU (\d+):", line)
        mig = re.match(r"^\s+MIG .*\(UUID: (MIG-[^)]+)\)", line)
        if gpu:
            if current is not None:
                units += migs or [current]
            current, migs = gpu.group(1), []
        elif mig and current is not None:
            migs.append(mig.group(1))
    if current is not None:
        units += migs or [current]
    return units


def inventory() -> Inventory:
    """This machine's GPUs, from ``nvidia-smi -L`` (which does not initialise CUDA in this
    process). Without a working nvidia-smi, the device nodes /dev/nvidia0, 1, ... are counted
    instead (containers often lack the tool), with a warning that says why."""
    nodes = sorted(glob.glob(NODES))
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        why = "nvidia-smi is not on PATH"
    except subprocess.TimeoutExpired:
        why = "nvidia-smi did not answer within 30 s"
    else:
        if out.returncode == 0:
            return Inventory(tuple(parse_nvidia_smi(out.stdout)), "nvidia-smi")
        first = (out.stderr or out.stdout).strip().splitlines()
        why = f"nvidia-smi failed ({first[0] if first else f'exit {out.returncode}'})"
    if nodes:
        units = tuple(str(i) for i in range(len(nodes)))
        return Inventory(units, "/dev/nvidia*", f"{why}; counted {len(nodes)} GPU device node(s)")
    return Inventory((), "none", None)


def count_gpus() -> int:
    """How many GPU units (GPUs, or MIG instances) a job can be bound to."""
    return len(inventory())


def gpu_visible() -> bool:
    """Whether this machine shows any GPU: nvidia-smi lists one, a device node exists, or a
    ROCm device does. For a check before the workflow starts (device: cuda on a machine
    without a GPU), so it must not import torch."""
    return count_gpus() > 0 or os.path.exists("/dev/kfd")


class GPUSlot:
    """A held slot: ``gpu`` is the unit to expose; the lock lasts as long as this object."""

    def __init__(self, gpu: str, slot: int, handle: IO[str]):
        self.gpu, self.slot, self._handle = gpu, slot, handle

    def release(self) -> None:
        self._handle.close()


def _try(units: tuple[str, ...], jobs_per_gpu: int, lock_dir: Path) -> GPUSlot | None:
    held = {  # how busy is each unit? (a snapshot; the flock below decides)
        u: sum(_is_held(lock_dir / f"gpu{u}.slot{s}.lock") for s in range(jobs_per_gpu))
        for u in units
    }
    for i in sorted(range(len(units)), key=lambda i: (held[units[i]], i)):
        u = units[i]
        for s in range(jobs_per_gpu):
            handle = open(lock_dir / f"gpu{u}.slot{s}.lock", "a+")  # noqa: SIM115 - held open
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return GPUSlot(u, s, handle)
    return None


def acquire(
    units: int | tuple[str, ...],
    jobs_per_gpu: int,
    lock_dir: Path,
    wait: float = 0.0,
    say: Callable[[str], None] | None = None,
) -> GPUSlot:
    """Take a free slot on the least-loaded unit (the first on a tie). ``units``: the units'
    names, or a count of GPUs 0..n-1. When every slot is taken, wait up to ``wait`` seconds
    for one (saying so once), then raise :class:`NoFreeGPU`."""
    names = tuple(str(g) for g in range(units)) if isinstance(units, int) else tuple(units)
    if not names or jobs_per_gpu < 1:
        raise ValueError("need at least one GPU and one job per GPU")
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    said = False
    while True:
        slot = _try(names, jobs_per_gpu, lock_dir)
        if slot is not None:
            return slot
        if time.monotonic() >= deadline:
            raise NoFreeGPU(
                f"all {len(names)} GPU(s) x {jobs_per_gpu} job(s) are taken; run Snakemake "
                f"with --resources gpu={len(names) * jobs_per_gpu} (or raise "
                "resources.jobs_per_gpu)"
            )
        if say is not None and not said:
            say(f"every GPU slot ({len(names)} x {jobs_per_gpu}) is taken; waiting for one")
            said = True
        time.sleep(0.5)


def _is_held(path: Path) -> bool:
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def gpu_lock_dir() -> Path:
    """Machine-wide, so separate workflows on one workstation share the GPU accounting."""
    return Path(os.environ.get("GSOS_GPU_LOCK_DIR", f"/tmp/gsos-gpu-locks-{os.getuid()}"))


def bind_gpu(
    device: str,
    jobs_per_gpu: int,
    lock_dir: Path,
    env: dict[str, str] | None = None,
    say: Callable[[str], None] | None = None,
    wait: float = 3600.0,
) -> GPUSlot | None:
    """Expose one GPU unit to this process (CUDA_VISIBLE_DEVICES) unless something already
    chose.

    A scheduler that binds GPUs itself (SLURM with --gres) sets CUDA_VISIBLE_DEVICES; then,
    and on CPU, nothing is done. On a machine with GPUs every job is bound (a single GPU too,
    so that its ``jobs_per_gpu`` slots are counted), waiting for a free slot if Snakemake
    started more jobs than there are slots. Call before torch touches CUDA.
    """
    env = os.environ if env is None else env
    if device == "cpu" or env.get("CUDA_VISIBLE_DEVICES") is not None:
        return None
    found = inventory()
    if found.warning and say is not None:
        say(f"GPU inventory: {found.warning}")
    if not found.units:
        return None
    slot = acquire(found.units, jobs_per_gpu, lock_dir, wait=wait, say=say)
    env["CUDA_VISIBLE_DEVICES"] = slot.gpu
    return slot
