"""One HPO run (dataset × strategy × seed) in one process, from prepared data to records.

Records are appended to a journal (``records.journal.jsonl`` beside ``records.jsonl``):
Snakemake deletes the declared outputs of a job it considers incomplete, so the journal is
not one of them. When the last iteration is done the journal is published as the declared
output (a hard link) and kept, so that no kill, even one after publishing, costs a trial. A
run that finds a journal with the same run key continues from its last finished iteration;
a journal written under other settings or other code is moved aside (``.stale``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gsos.atomic import atomic_write_text
from gsos.data import load_prepared
from gsos.gpus import bind_gpu, gpu_lock_dir
from gsos.records import RecordWriter, journal_path, publish, read_records
from gsos.space import SearchSpace, Value
from gsos.strategies import Group, run_strategy
from gsos.tables import run_metrics
from gsos.tpe import TPESettings
from gsos.train import TrainSettings, resolve_device, train_and_evaluate, warm_up


class TooManyFailures(RuntimeError):
    pass


def code_version() -> str:
    """A digest of this package's source: records of other code are never mixed in."""
    import importlib.resources

    h = hashlib.sha256()
    root = importlib.resources.files("gsos")
    for f in sorted(root.iterdir(), key=lambda f: f.name):
        if f.name.endswith(".py"):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def run_key(settings: Mapping[str, Any], groups: list[Group], manifest: Mapping[str, Any]) -> str:
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


OOM_MARKERS = ("out of memory", "can't allocate memory")


def make_trainer(data: Any, settings: TrainSettings):
    """The train callback for :func:`run_strategy`.

    Statuses: ``ok``; ``diverged`` (non-finite training loss: a failed trial that still has
    the near-chance accuracy it reached, which TPE is told); ``fail`` (any exception, out of
    memory included: recorded with its reason, and the run goes on).
    """

    def train(params: dict[str, Value], trial_seed: int) -> dict[str, Any]:
        base = {"trial_seed": trial_seed, "error": None}
        try:
            result = train_and_evaluate(params, data, trial_seed, settings)
        except Exception as e:  # noqa: BLE001 - a trial's failure is data, the run goes on
            first_line = (str(e).strip().splitlines() or [""])[0]
            if isinstance(e, torch.OutOfMemoryError) or any(m in str(e) for m in OOM_MARKERS):
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                return {**base, "status": "fail", "error": f"out of memory: {first_line}"}
            return {**base, "status": "fail", "error": f"{type(e).__name__}: {first_line}"}
        if result.diverged:
            reason = f"diverged: non-finite training loss in epoch {result.epochs_run}"
            return {**base, "status": "diverged", **result.as_dict(), "error": reason}
        return {**base, "status": "ok", **result.as_dict()}

    return train


def run_hpo(
    *,
    dataset: str,
    strategy: str,
    seed: int,
    settings: Mapping[str, Any],
    groups: list[Group],
    data_path: Path,
    manifest_path: Path,
    records_path: Path,
    summary_path: Path,
    threads: int = 1,
    jobs_per_gpu: int = 1,
    log=None,
) -> dict[str, Any]:
    log = log if log is not None else sys.stderr
    torch.set_num_threads(max(1, threads))
    slot = bind_gpu(str(settings.get("device", "auto")), jobs_per_gpu, gpu_lock_dir())
    if slot is not None:
        print(f"bound to GPU {slot.gpu} (slot {slot.slot})", file=log)
    space = SearchSpace.from_config(settings["search_space"])
    tpe_cfg = settings.get("tpe", {})
    tpe_settings = TPESettings(
        n_startup_jobs=int(tpe_cfg.get("n_startup_jobs", 15)),
        gamma=float(tpe_cfg.get("gamma", 0.25)),
        n_ei_candidates=int(tpe_cfg.get("n_ei_candidates", 24)),
    )
    manifest = json.loads(Path(manifest_path).read_text())
    key = run_key(
        {**settings, "dataset": dataset, "strategy": strategy, "seed": seed}, groups, manifest
    )
    device = resolve_device(str(settings.get("device", "auto")))
    data = load_prepared(Path(data_path), device, n_classes=int(manifest["n_classes"]))
    train_settings = TrainSettings.from_config(settings)
    warm_up()
    max_fail = float(settings.get("training", {}).get("max_failure_fraction", 0.5))

    partial = journal_path(Path(records_path))
    history = read_records(partial, repair=True)
    if history and history[0].get("run_key") != key:
        stale = partial.with_name(partial.name + ".stale")
        partial.replace(stale)
        print(
            f"settings or code changed since the journal was written; moved it to {stale}", file=log
        )
        history = []
    if history:
        print(f"resuming after iteration {history[-1]['iteration']}", file=log)
    offset = history[-1]["elapsed_seconds"] if history else 0.0
    writer = RecordWriter(partial)
    records = list(history)
    total = sum(g.iterations for g in groups)
    for rec in run_strategy(
        space,
        groups,
        seed,
        make_trainer(data, train_settings),
        tpe_settings,
        history=history,
        clock_offset=offset,
    ):
        rec = {
            "dataset": dataset,
            "strategy": strategy,
            "run_key": key,
            "device": str(device),
            **rec,
        }
        writer.append(rec)
        records.append(rec)
        status = (
            f"val={rec['val_accuracy']:.4f}" if rec["status"] == "ok" else f"FAILED {rec['error']}"
        )
        print(
            f"[{dataset}/{strategy}/seed{seed}] {rec['iteration']}/{total} {rec['group']} {status}",
            file=log,
            flush=True,
        )
        failed = sum(r["status"] == "fail" for r in records)  # divergence is a result
        if len(records) >= 5 and failed / len(records) > max_fail:
            raise TooManyFailures(
                f"{failed} of {len(records)} trials failed (more than "
                f"training.max_failure_fraction={max_fail}); last error: {rec['error']}. "
                f"Finished trials are kept in {partial}."
            )
    summary = {
        "dataset": dataset,
        "strategy": strategy,
        "seed": seed,
        "device": str(device),
        "groups": [g.__dict__ for g in groups],
        **run_metrics(records),
    }
    atomic_write_text(Path(summary_path), json.dumps(summary, indent=2, default=str) + "\n")
    publish(partial, Path(records_path))
    return summary
