"""Binding each HPO job to one GPU on a multi-GPU workstation.

Snakemake counts GPUs (``resources: gpu=1``) but never says which one a job should use, so
each job picks for itself: GPU g offers ``jobs_per_gpu`` slots, each slot a lock file held
with ``flock`` for the life of the process. ``flock`` is atomic, so jobs that start at the
same moment never take the same slot, and the kernel drops the lock when a process dies, so
a killed job's slot is free at once, with no stale state to clean up.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path
from typing import IO


class NoFreeGPU(RuntimeError):
    pass


def count_gpus() -> int:
    """GPUs on this machine, from nvidia-smi (does not initialise CUDA in this process)."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines())


def gpu_visible() -> bool:
    """Whether this machine shows any GPU: nvidia-smi lists one, or a device node exists.

    For a check before the workflow starts (device: cuda on a machine without a GPU), so it
    must not import torch; the device nodes cover containers without nvidia-smi (and ROCm).
    """
    import glob

    return count_gpus() > 0 or bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


class GPUSlot:
    """A held slot: ``gpu`` is the index to expose; the lock lasts as long as this object."""

    def __init__(self, gpu: int, slot: int, handle: IO[str]):
        self.gpu, self.slot, self._handle = gpu, slot, handle

    def release(self) -> None:
        self._handle.close()


def acquire(n_gpus: int, jobs_per_gpu: int, lock_dir: Path) -> GPUSlot:
    """Take a free slot on the least-loaded GPU (lowest index on a tie)."""
    if n_gpus < 1 or jobs_per_gpu < 1:
        raise ValueError("need at least one GPU and one job per GPU")
    lock_dir.mkdir(parents=True, exist_ok=True)
    held: dict[int, int] = {}
    for g in range(n_gpus):  # how busy is each GPU? (a snapshot; the flock below decides)
        held[g] = sum(_is_held(lock_dir / f"gpu{g}.slot{s}.lock") for s in range(jobs_per_gpu))
    for g in sorted(range(n_gpus), key=lambda g: (held[g], g)):
        for s in range(jobs_per_gpu):
            handle = open(lock_dir / f"gpu{g}.slot{s}.lock", "a+")  # noqa: SIM115 - held open
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return GPUSlot(g, s, handle)
    raise NoFreeGPU(
        f"all {n_gpus} GPU(s) x {jobs_per_gpu} job(s) are taken; run Snakemake with "
        f"--resources gpu={n_gpus * jobs_per_gpu} (or raise resources.jobs_per_gpu)"
    )


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
    device: str, jobs_per_gpu: int, lock_dir: Path, env: dict[str, str] | None = None
) -> GPUSlot | None:
    """Expose one GPU to this process (CUDA_VISIBLE_DEVICES) unless something already chose.

    A scheduler that binds GPUs itself (SLURM with --gres) sets CUDA_VISIBLE_DEVICES; then,
    and on CPU or single-GPU machines, nothing is done. Call before torch touches CUDA.
    """
    env = os.environ if env is None else env
    if device == "cpu" or env.get("CUDA_VISIBLE_DEVICES") is not None:
        return None
    n = count_gpus()
    if n <= 1:
        return None
    slot = acquire(n, jobs_per_gpu, lock_dir)
    env["CUDA_VISIBLE_DEVICES"] = str(slot.gpu)
    return slot
