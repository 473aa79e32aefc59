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
import sys
from collections.abc import Callable, Mapping, Sequence
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
from gsos.training.gpus import bind_gpu, gpu_lock_dir
from gsos.training.trainer import (
    Meter,
    TrainSettings,
    resolve_device,
    train_and_evaluate,
    warm_up_for,
)

OOM_MARKERS = ("out of memory", "can't allocate memory")
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


def make_evaluator(data: DeviceData, settings: TrainSettings, curves: bool = True) -> Evaluate:
    """The evaluate callback for :class:`gsos.search.runner.Runner`.

    Statuses: ``ok``; ``diverged`` (non-finite training loss: a failed trial that still has
    the near-chance accuracy it reached, which the optimiser is told); ``stopped`` (stopped
    early by the strategy's learning-curve extrapolation, with the accuracy it was predicted
    to reach); ``fail`` (any exception, out of memory included: recorded with its reason, and
    the run goes on). With ``curves`` every trial records its validation learning curve.
    """

    def evaluate(
        ev: Evaluation, trial_seed: int, resume: Path | None, save: Path | None
    ) -> dict[str, Any]:
        meter = Meter()
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
            prefix = "out of memory" if kind == "oom" else type(e).__name__
            failed = {
                "status": "fail",
                "error": f"{prefix}: {first_line}",
                "sample_epochs": meter.images,  # what it trained before it failed
            }
        else:
            failed = None
        if failed is not None:
            release_memory(data.x["train"].device)  # the traceback is gone by now
            return failed
        if result.diverged:
            reason = f"diverged: non-finite training loss in epoch {result.epochs_run}"
            return {"status": "diverged", **result.as_dict(), "error": reason}
        if result.stopped is not None:
            return {"status": "stopped", "error": None, **result.as_dict(), **result.stopped}
        return {"status": "ok", "error": None, **result.as_dict()}

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
    log: Callable[[str], None] | None = None,
    console: Callable[[str], None] | None = None,
    progress_seconds: float = 10.0,
) -> dict[str, Any]:
    """Run (or resume) one strategy on one dataset with one seed; write records and summary.

    ``log`` gets a line per evaluation (the job's log); ``console`` gets the progress lines
    a person watches (every ``progress_seconds``, and at the end).
    """
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    label = f"{dataset}/{strategy}/seed{seed}"
    say = console or log
    # one writer per run: a second one (an orphaned job) waits here, before it reads anything
    with RunLock(journal_path(Path(records_path)), say=lambda m: say(f"[{label}] {m}")):
        torch.set_num_threads(max(1, threads))
        slot = bind_gpu(str(settings.get("device", "auto")), jobs_per_gpu, gpu_lock_dir())
        if slot is not None:
            log(f"bound to GPU {slot.gpu} (slot {slot.slot})")
        device = resolve_device(str(settings.get("device", "auto")))  # fails fast, before the data
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
            ),
            Path(records_path),
            seed=seed,
            n_train=n_train,
            base_record={
                "dataset": dataset,
                "strategy": strategy,
                "run_key": key,
                "code_version": code_version(),  # the code that wrote it (its study says so)
                "device": str(device),
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
            "device": str(device),
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
