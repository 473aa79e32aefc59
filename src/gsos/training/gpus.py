"""Binding each HPO job to one GPU on a multi-GPU workstation.

Snakemake counts GPUs (``resources: gpu=1``) but never says which one a job should use, so
each job picks for itself: GPU g offers ``jobs_per_gpu`` slots, each slot a lock file held
with ``flock`` for the life of the process. ``flock`` is atomic, so jobs that start at the
same moment never take the same slot, and the kernel drops the lock when a process dies, so
a killed job's slot is free at once, with no stale state to clean up.

A scheduler's choice comes first: where ``CUDA_VISIBLE_DEVICES`` names one GPU (a SLURM job
with ``--gpus=1``), that is the job's binding; where it names several (``salloc --gpus=8``,
or an exported variable), they are the units the jobs split between them, as above. Listing
GPUs is not using them: :func:`torch_gpu_problem` says why torch cannot (a driver older than
the wheel's CUDA, a container without the devices), which stops the run instead of training
on the CPU unnoticed.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
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


HIDDEN = ("", "-1", "NoDevFiles")  # CUDA_VISIBLE_DEVICES values that hide every GPU


def visible_units(env: Mapping[str, str] | None = None) -> tuple[str, ...] | None:
    """The GPU units ``CUDA_VISIBLE_DEVICES`` exposes (set by a scheduler or a person): None
    where it is unset, () where it hides every GPU. CUDA ignores what follows an invalid
    entry, so the list stops at a ``-1``."""
    raw = (os.environ if env is None else env).get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return None
    units: list[str] = []
    for entry in raw.split(","):
        entry = entry.strip()
        if entry in HIDDEN:
            break
        units.append(entry)
    return tuple(units)


def inventory(env: Mapping[str, str] | None = None) -> Inventory:
    """The GPUs a job here can use: those ``CUDA_VISIBLE_DEVICES`` names where it is set,
    else this machine's, from ``nvidia-smi -L`` (which does not initialise CUDA in this
    process). Without a working nvidia-smi, the device nodes /dev/nvidia0, 1, ... are counted
    instead (containers often lack the tool), with a warning that says why."""
    visible = visible_units(env)
    if visible is not None:
        return Inventory(visible, "CUDA_VISIBLE_DEVICES")
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


@dataclass(frozen=True)
class GPUFacts:
    """What nvidia-smi says of this machine's GPUs: their names and the driver's version."""

    names: dict[str, str]  # index or UUID -> name
    driver: str | None


def gpu_facts() -> GPUFacts:
    """GPU names and the NVIDIA driver's version from nvidia-smi (without initialising CUDA
    here); empty where it does not answer in the expected form."""
    query = "--query-gpu=index,uuid,name,driver_version"
    try:
        out = subprocess.run(
            ["nvidia-smi", query, "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return GPUFacts({}, None)
    names: dict[str, str] = {}
    driver = None
    for line in out.stdout.splitlines() if out.returncode == 0 else []:
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4 or not fields[0].isdigit():
            continue
        index, uuid, name, driver = fields
        names[index] = names[uuid] = name
    return GPUFacts(names, driver)


class GPUUnusable(RuntimeError):
    """GPUs are listed, but torch cannot use them: the run must not go on on the CPU."""


def torch_gpu_problem(found: Inventory) -> str | None:
    """Why torch cannot use the GPUs ``found`` lists, naming the driver and the CUDA version
    the torch wheel was built for where they are known; None where it can, or where none
    are listed. Imports torch (asks CUDA how many devices it sees)."""
    if not found.units:
        return None
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        return None
    facts = gpu_facts()
    listed = f"{len(found)} GPU unit(s) are listed ({found.source}: {', '.join(found.units)})"
    wheel = torch.version.cuda
    if wheel is None:
        why = f"this torch ({torch.__version__}) is a build without CUDA"
    else:
        driver = f"NVIDIA driver {facts.driver}" if facts.driver else "the driver (version unknown)"
        why = (
            f"torch {torch.__version__} (built for CUDA {wheel}) cannot use them with "
            f"{driver}: a driver older than CUDA {wheel} needs, or a container started "
            "without the GPU devices (docker --gpus, apptainer --nv)"
        )
    return (
        f"{listed}, but {why}. Fix the driver or the container, or set device: cpu to "
        "train on the CPU"
    )


def gpu_visible() -> bool:
    """Whether this machine shows any GPU: nvidia-smi lists one, a device node exists, or a
    ROCm device does. For a check before the workflow starts (device: cuda on a machine
    without a GPU), so it must not import torch."""
    return count_gpus() > 0 or os.path.exists("/dev/kfd")


class GPUSlot:
    """A held slot: ``gpu`` is the unit to expose; the lock lasts as long as this object.
    ``slot`` None: the scheduler bound the job to ``gpu`` itself (no lock of ours)."""

    def __init__(self, gpu: str, slot: int | None, handle: IO[str] | None):
        self.gpu, self.slot, self._handle = gpu, slot, handle

    @property
    def by_scheduler(self) -> bool:
        return self._handle is None

    def describe(self) -> str:
        if self.by_scheduler:
            return f"GPU {self.gpu} (CUDA_VISIBLE_DEVICES, set before the job: the scheduler's)"
        return f"GPU {self.gpu} (slot {self.slot})"

    def release(self) -> None:
        if self._handle is not None:
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


REMIND_SECONDS = 600.0  # a job still waiting for a slot says so again this often


def holders(units: tuple[str, ...], jobs_per_gpu: int, lock_dir: Path) -> list[str]:
    """The process ids written in the held slots' lock files (who a waiting job waits for)."""
    pids = []
    for u in units:
        for s in range(jobs_per_gpu):
            path = lock_dir / f"gpu{u}.slot{s}.lock"
            if _is_held(path):
                pids.append(path.read_text().strip() or "?")
    return pids


def acquire(
    units: int | tuple[str, ...],
    jobs_per_gpu: int,
    lock_dir: Path,
    wait: float | None = 0.0,
    say: Callable[[str], None] | None = None,
) -> GPUSlot:
    """Take a free slot on the least-loaded unit (the first on a tie). ``units``: the units'
    names, or a count of GPUs 0..n-1. When every slot is taken, wait for one, up to ``wait``
    seconds (None: as long as it takes), saying so when the wait starts, every ten minutes
    and when it ends; then raise :class:`NoFreeGPU`."""
    names = tuple(str(g) for g in range(units)) if isinstance(units, int) else tuple(units)
    if not names or jobs_per_gpu < 1:
        raise ValueError("need at least one GPU and one job per GPU")
    lock_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    said_at: float | None = None
    while True:
        slot = _try(names, jobs_per_gpu, lock_dir)
        if slot is not None:
            if say is not None and said_at is not None:
                say(f"got GPU {slot.gpu} (slot {slot.slot}) after waiting "
                    f"{time.monotonic() - start:.0f} s")  # fmt: skip
            return slot
        waited = time.monotonic() - start
        if wait is not None and waited >= wait:
            raise NoFreeGPU(
                f"all {len(names)} GPU(s) x {jobs_per_gpu} job(s) are taken (held by process "
                f"{', '.join(holders(names, jobs_per_gpu, lock_dir)) or '?'}) and none came "
                f"free in {waited:.0f} s (resources.gpu_wait_minutes); run Snakemake with "
                f"--resources gpu={len(names) * jobs_per_gpu}, raise resources.jobs_per_gpu, "
                "or set resources.gpu_wait_minutes: 0 to wait as long as it takes"
            )
        if say is not None and (said_at is None or time.monotonic() - said_at >= REMIND_SECONDS):
            limit = "as long as it takes" if wait is None else f"up to {wait / 60:.3g} min"
            say(
                f"every GPU slot ({len(names)} x {jobs_per_gpu}) is taken (held by process "
                f"{', '.join(holders(names, jobs_per_gpu, lock_dir)) or '?'}); "
                f"{'still ' if said_at is not None else ''}waiting for one"
                f"{f' after {waited / 60:.0f} min' if said_at is not None else ''} ({limit}: "
                "resources.gpu_wait_minutes)"
            )
            said_at = time.monotonic()
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
    wait: float | None = None,
) -> GPUSlot | None:
    """Expose one GPU unit to this process (CUDA_VISIBLE_DEVICES). Call before torch touches
    CUDA. None on the CPU, or where no GPU is listed.

    Where CUDA_VISIBLE_DEVICES is already set, the scheduler (or a person) chose: one unit is
    this job's binding, as it is; several are the units this job shares with the workflow's
    other jobs, and it takes a slot on one of them like on a workstation (the locks of a
    SLURM allocation kept apart from other allocations' on the node, whose CUDA_VISIBLE_
    DEVICES may name the same indices for other GPUs). Otherwise every job on a machine
    with GPUs is bound (a single GPU too, so that its ``jobs_per_gpu`` slots are counted),
    waiting up to ``wait`` seconds (None: as long as it takes) for a free slot, saying so.
    """
    env = os.environ if env is None else env
    if device == "cpu":
        return None
    found = inventory(env)
    if found.warning and say is not None:
        say(f"GPU inventory: {found.warning}")
    if not found.units:
        return None
    if found.source == "CUDA_VISIBLE_DEVICES":
        if len(found.units) == 1:
            return GPUSlot(found.units[0], None, None)
        job = env.get("SLURM_JOB_ID")
        lock_dir = lock_dir / f"slurm-{job}" if job else lock_dir
    slot = acquire(found.units, jobs_per_gpu, lock_dir, wait=wait, say=say)
    env["CUDA_VISIBLE_DEVICES"] = slot.gpu
    return slot
