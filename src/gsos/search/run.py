"""One HPO run (dataset × strategy × seed) in one process, from prepared data to records.

This module sets a run up (device, data, trainer, optimiser, budget) and leaves the loop to
:mod:`gsos.search.runner`. Records are appended to a journal (``records.journal.jsonl`` beside
``records.jsonl``): Snakemake deletes the declared outputs of a job it considers incomplete,
so the journal is not one of them. When the last iteration is done the journal is published
as the declared output (a hard link) and kept, so that no kill, even one after publishing,
costs a trial. A run that finds a journal with the same run key continues from its last
finished iteration; a journal written under other settings or other code is moved aside.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gsos.atomic import atomic_write_text
from gsos.data.tensors import DeviceData, load_prepared
from gsos.search.groups import Group, load_groups
from gsos.search.metrics import run_metrics
from gsos.search.optimizers.base import Evaluation
from gsos.search.optimizers.build import build_optimizer, run_budget
from gsos.search.records import RunLock, journal_path, publish
from gsos.search.runner import Evaluate, Progress, Runner
from gsos.search.space import SearchSpace
from gsos.training.gpus import GPUUnusable, bind_gpu, gpu_lock_dir, inventory, torch_gpu_problem
from gsos.training.trainer import (
    Meter,
    TrainSettings,
    device_facts,
    resolve_device,
    train_and_evaluate,
    warm_up_for,
)

OOM_MARKERS = (
    "out of memory",
    "can't allocate memory",
    "CUBLAS_STATUS_ALLOC_FAILED",  # cuBLAS could not allocate its workspace or handle
    "CUDNN_STATUS_ALLOC_FAILED",
)
# CUDA errors after which every later kernel of the process fails too ("sticky" errors)
POISON_MARKERS = (
    "device-side assert",
    "illegal memory access",
    "unspecified launch failure",
    "misaligned address",
    "CUDA error: an illegal instruction",
    "uncorrectable ECC error",
)


class DevicePoisoned(RuntimeError):
    """The device reported an error that poisons this process: no later trial could run."""


def failure_kind(error: BaseException) -> str:
    """What a trial's exception means for the run: ``oom`` (recorded; memory released),
    ``poisoned`` (a sticky CUDA error: the run must stop, or every later trial would be
    recorded as failed), or ``trial`` (recorded as the trial's failure; the run goes on)."""
    import torch

    text = str(error)
    if isinstance(error, torch.OutOfMemoryError) or any(m in text for m in OOM_MARKERS):
        return "oom"
    accelerator = getattr(torch, "AcceleratorError", None)
    if (accelerator is not None and isinstance(error, accelerator)) or any(
        m in text for m in POISON_MARKERS
    ):
        return "poisoned"
    return "trial"


class NeighbourOOM(RuntimeError):
    """A trial ran out of GPU memory twice while other processes held what it needed: not
    the configuration's failure, so the run stops instead of recording one."""


GIB = 1 << 30


@dataclass(frozen=True)
class GPUMemory:
    """A GPU's memory when a trial failed, in bytes: the device's, free on it, what this
    process held then (reserved by torch) and at most during the trial."""

    total: int
    free: int
    held: int
    peak: int

    @property
    def others(self) -> int:
        """Held by other processes (and this process's CUDA context)."""
        return max(0, self.total - self.free - self.held)


def gpu_memory(device: torch.device) -> GPUMemory | None:
    """The training GPU's memory now (None on any other device, or where CUDA cannot say:
    the error is then taken for the configuration's own)."""
    if device.type != "cuda":
        return None
    try:
        free, total = torch.cuda.mem_get_info(device)
        held, peak = torch.cuda.memory_reserved(device), torch.cuda.max_memory_reserved(device)
    except RuntimeError:
        return None
    return GPUMemory(total, free, held, peak)


def requested_bytes(text: str) -> int:
    """What the failed allocation asked for ("Tried to allocate 2.00 GiB"), 0 if unsaid."""
    m = re.search(r"Tried to allocate ([\d.]+) ?([KMGT]i?B|B)", text)
    if not m:
        return 0
    scale = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
    return int(float(m.group(1)) * scale.get(m.group(2), 1))


def oom_cause(text: str, memory: GPUMemory | None) -> str:
    """Whose out-of-memory error this is: ``neighbour`` where other processes held memory
    and this trial's need (its peak plus the failed request) would have fitted the GPU
    alone, else ``own`` (a configuration too large for the device; any OOM on a CPU).
    Other processes count from max(1 GiB, 5 % of the GPU): below that is a CUDA context."""
    if memory is None:
        return "own"
    margin = max(GIB, memory.total // 20)
    need = memory.peak + requested_bytes(text)
    if memory.others > margin and need <= memory.total - margin:
        return "neighbour"
    return "own"


def release_memory(device: torch.device) -> None:
    """Give a failed trial's memory back to the other jobs on the GPU. Called after the
    ``except`` block: inside it the traceback still holds the trial's tensors."""
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def code_version() -> str:
    """A digest of this package's source: records of other code are never mixed in."""
    root = Path(__file__).resolve().parents[1]  # src/gsos
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def run_key(
    settings: Mapping[str, Any], groups: Sequence[Group], manifest: Mapping[str, Any]
) -> str:
    """Fingerprint of everything that decides a run's records; a resume must match it."""
    blob = json.dumps(
        {
            "settings": settings,
            "groups": [g.__dict__ for g in groups],
            "data": manifest,
            "code": code_version(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def make_evaluator(
    data: DeviceData,
    settings: TrainSettings,
    curves: bool = True,
    oom_wait_seconds: float = 600.0,
    say: Callable[[str], None] | None = None,
) -> Evaluate:
    """The evaluate callback for :class:`gsos.search.runner.Runner`.

    Statuses: ``ok``; ``diverged`` (non-finite training loss: a failed trial that still has
    the near-chance accuracy it reached, which the optimiser is told); ``stopped`` (stopped
    early by the strategy's learning-curve extrapolation, with the accuracy it was predicted
    to reach); ``fail`` (any exception, out of memory included: recorded with its reason, and
    the run goes on). With ``curves`` every trial records its validation learning curve.

    Out of memory on a GPU shared with other jobs (``jobs_per_gpu`` >= 2, another
    experiment) is told apart from the configuration's own (:func:`oom_cause`): a
    neighbour's is not recorded; the trial is trained again from its start, once, when the
    GPU has as much free memory as it needed (waiting up to ``oom_wait_seconds``, saying
    so). Its record then holds the retry's result (charged the retry's training only, as
    an uninterrupted run would be) and ``retried_after_oom``. A neighbour's OOM again stops
    the run (:class:`NeighbourOOM`, finished trials kept) rather than record a failure
    that is not the configuration's.
    """
    device = data.x["train"].device

    def attempt(
        ev: Evaluation, trial_seed: int, resume: Path | None, save: Path | None
    ) -> tuple[Any, dict[str, Any] | None]:
        """(result, None) or (None, the failure as the record says it, with ``cause``)."""
        meter = Meter()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            result = train_and_evaluate(
                ev.params,
                data,
                trial_seed,
                settings,
                resume=resume,
                save=save,
                curve=curves,
                after_epoch=ev.after_epoch,
                data_fraction=ev.data_fraction,
                hypergradient=ev.hypergradient,
                value_function=ev.value_function,
                meter=meter,
            )
        except Exception as e:  # noqa: BLE001 - a trial's failure is data, the run goes on
            kind = failure_kind(e)
            first_line = (str(e).strip().splitlines() or [""])[0]
            if kind == "poisoned":
                raise DevicePoisoned(
                    f"the GPU reported {first_line!r}, an error that makes every later CUDA "
                    "call of this process fail; the run stops here (its finished trials are "
                    "kept) and resumes in a fresh process when the workflow is run again"
                ) from None
            memory = gpu_memory(device) if kind == "oom" else None  # before it is freed
            prefix = "out of memory" if kind == "oom" else type(e).__name__
            failed = {
                "status": "fail",
                "error": f"{prefix}: {first_line}",
                "sample_epochs": meter.images,  # what it trained before it failed
                "cause": oom_cause(str(e), memory) if kind == "oom" else kind,
                "memory": memory,
            }
            return None, failed
        return result, None

    def wait_for_memory(need: int) -> None:
        deadline = time.monotonic() + oom_wait_seconds
        while time.monotonic() < deadline:
            memory = gpu_memory(device)
            if memory is None or memory.free >= need:
                return
            time.sleep(2.0)

    def evaluate(
        ev: Evaluation, trial_seed: int, resume: Path | None, save: Path | None
    ) -> dict[str, Any]:
        result, failed = attempt(ev, trial_seed, resume, save)
        retried = None
        if failed is not None:
            release_memory(device)  # after the except block: the traceback is gone by now
            if failed["cause"] == "neighbour":
                m = failed["memory"]
                retried = (
                    f"{failed['error']} (other processes held {m.others / GIB:.1f} of "
                    f"{m.total / GIB:.1f} GiB; this trial needed {m.peak / GIB:.1f} GiB)"
                )
                if say is not None:
                    say(f"a neighbour's out of memory: {retried}; training it again once "
                        f"the GPU has the memory (up to {oom_wait_seconds:.0f} s)")  # fmt: skip
                wait_for_memory(m.peak + requested_bytes(failed["error"]))
                result, failed = attempt(ev, trial_seed, resume, save)
                if failed is not None:
                    release_memory(device)
                    if failed["cause"] == "neighbour":
                        raise NeighbourOOM(
                            f"a trial ran out of GPU memory twice while other processes held "
                            f"it ({retried}); the run stops here rather than record a "
                            "failure that is not the configuration's (its finished trials "
                            "are kept): run it again with fewer jobs per GPU "
                            "(resources.jobs_per_gpu) or when the GPU is less busy"
                        )
        if failed is not None:
            out = {k: v for k, v in failed.items() if k not in ("cause", "memory")}
            return {**out, "retried_after_oom": retried} if retried else out
        extra = {"retried_after_oom": retried} if retried else {}
        if result.diverged:
            reason = f"diverged: non-finite training loss in epoch {result.epochs_run}"
            return {"status": "diverged", **result.as_dict(), "error": reason, **extra}
        if result.stopped is not None:
            return {"status": "stopped", "error": None, **result.as_dict(), **result.stopped,
                    **extra}  # fmt: skip
        return {"status": "ok", "error": None, **result.as_dict(), **extra}

    return evaluate


def run_hpo(
    *,
    dataset: str,
    strategy: str,
    seed: int,
    settings: Mapping[str, Any],
    data_path: Path,
    manifest_path: Path,
    records_path: Path,
    summary_path: Path,
    groups: Sequence[Group] = (),
    shares: Sequence[float] | None = None,
    patience: int | None = None,
    cost_epochs: float | None = None,
    threads: int = 1,
    jobs_per_gpu: int = 1,
    gpu_wait_minutes: float = 0.0,
    oom_wait_minutes: float = 10.0,
    log: Callable[[str], None] | None = None,
    console: Callable[[str], None] | None = None,
    progress_seconds: float = 10.0,
) -> dict[str, Any]:
    """Run (or resume) one strategy on one dataset with one seed; write records and summary.

    ``log`` gets a line per evaluation (the job's log); ``console`` gets the progress lines
    a person watches (every ``progress_seconds``, and at the end), and word of a wait for a
    GPU slot (up to ``gpu_wait_minutes``; 0: as long as it takes) or, after a neighbour's
    out-of-memory error, for the memory to retry a trial (up to ``oom_wait_minutes``).
    """
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    label = f"{dataset}/{strategy}/seed{seed}"
    say = console or log
    # one writer per run: a second one (an orphaned job) waits here, before it reads anything
    with RunLock(journal_path(Path(records_path)), say=lambda m: say(f"[{label}] {m}")):
        torch.set_num_threads(max(1, threads))
        device_name = str(settings.get("device", "auto"))
        slot = bind_gpu(
            device_name,
            jobs_per_gpu,
            gpu_lock_dir(),
            say=lambda m: say(f"[{label}] {m}"),
            wait=gpu_wait_minutes * 60 if gpu_wait_minutes > 0 else None,
        )
        if slot is not None:
            log(f"bound to {slot.describe()}")
        problem = None if device_name == "cpu" else torch_gpu_problem(inventory())
        if problem is not None:  # listed GPUs that torch cannot use: never the CPU unnoticed
            raise GPUUnusable(f"device: {device_name}: {problem}")
        device = resolve_device(device_name)  # fails fast, before the data
        facts = {"device": str(device), **device_facts(device)}
        driver = (
            f" (driver {facts['driver']}, CUDA {facts['torch_cuda']})" if facts["driver"] else ""
        )
        log(f"training on {facts['device']}: {facts['device_name']}{driver}")
        space = SearchSpace.from_config(settings["search_space"], settings.get("fixed"))
        manifest = json.loads(Path(manifest_path).read_text())
        budget = run_budget(strategy, settings, cost_epochs)
        key = run_key(
            {
                **settings,
                "dataset": dataset,
                "strategy": strategy,
                "seed": seed,
                "budget": budget.__dict__,
                "shares": shares,
                "patience": patience,
            },
            groups,
            manifest,
        )
        data = load_prepared(Path(data_path), device, n_classes=int(manifest["n_classes"]))
        n_train = len(data.y["train"])
        optimizer = build_optimizer(
            strategy, space, seed, settings, budget, groups, shares, patience
        )
        train_settings = TrainSettings.from_config(settings)
        warmed = warm_up_for(device, train_settings)
        log(f"warmed up on {warmed['device']} (bf16 {warmed['bf16']})")
        runner = Runner(
            optimizer,
            make_evaluator(
                data,
                train_settings,
                bool(settings.get("training", {}).get("learning_curves", True)),
                oom_wait_seconds=oom_wait_minutes * 60,
                say=lambda m: say(f"[{label}] {m}"),
            ),
            Path(records_path),
            seed=seed,
            n_train=n_train,
            base_record={
                "dataset": dataset,
                "strategy": strategy,
                "run_key": key,
                "code_version": code_version(),  # the code that wrote it (its study says so)
                **facts,
            },
            max_failure_fraction=float(
                settings.get("training", {}).get("max_failure_fraction", 0.5)
            ),
            log=lambda m: log(f"[{label}] {m}"),
            progress=Progress(label, budget, console, progress_seconds) if console else None,
        )
        records = runner.run()
        summary = {
            "dataset": dataset,
            "strategy": strategy,
            "seed": seed,
            **facts,
            "precisions": sorted({r["precision"] for r in records if r.get("precision")}),
            "budget": {"evaluations": budget.evaluations, "cost_epochs": budget.cost},
            "n_train": n_train,
            "groups": [g.__dict__ for g in groups],
            **run_metrics(records),
        }
        atomic_write_text(Path(summary_path), json.dumps(summary, indent=2, default=str) + "\n")
        publish(journal_path(Path(records_path)), Path(records_path))
        return summary


def cost_budget(match_summary: Path | None, cost_epochs: float | None) -> float | None:
    """A multi-fidelity run's training budget in full-training-set epochs: what the matched
    run's summary spent, or a fixed number."""
    if match_summary is not None:
        s = json.loads(Path(match_summary).read_text())
        return float(s["sample_epochs_total"]) / float(s["n_train"])
    return cost_epochs


def run_job(
    *,
    dataset: str,
    strategy: str,
    seed: int,
    settings: Mapping[str, Any],
    data_path: Path,
    manifest_path: Path,
    records_path: Path,
    summary_path: Path,
    groups_path: Path | None = None,
    match_summary: Path | None = None,
    cost_epochs: float | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The ``hpo`` verb (HPO and pilot jobs alike): :func:`run_hpo` with the groups file and
    the cost budget read from the job's inputs."""
    groups, shares, patience = load_groups(groups_path)
    return run_hpo(
        dataset=dataset,
        strategy=strategy,
        seed=seed,
        settings=settings,
        groups=groups,
        shares=shares,
        patience=patience,
        cost_epochs=cost_budget(match_summary, cost_epochs),
        data_path=data_path,
        manifest_path=manifest_path,
        records_path=records_path,
        summary_path=summary_path,
        **options,
    )
