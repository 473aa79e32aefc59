"""The one loop that drives every optimiser: ask, evaluate (or replay), record, tell.

It alone owns what every strategy must get right the same way:
- timing: the ask (suggest) time, the evaluation time and the run's elapsed wall-clock;
- records: one fsynced journal line per evaluation (see :mod:`gsos.search.records`);
- seeds: a fresh evaluation trains with ``derive_seed(run seed, 2, iteration)``, a continued
  one with the seed of the evaluation whose state it continues;
- saved states for multi-fidelity strategies: written before the record, dropped as soon as
  the optimiser says they can no longer be continued;
- the failure policy: a run stops once more than ``max_failure_fraction`` of its evaluations
  raised (checked from the 5th);
- resume by replay: a journal's records are replayed by asking again and telling what was
  recorded; a proposal that differs from the record stops with :class:`ReplayMismatch`.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gsos.search.optimizers.base import Budget, Evaluation, Optimizer, outcome_of
from gsos.search.records import RecordWriter, best_record, encode, journal_path, read_records
from gsos.search.seeds import derive_seed

# evaluate(evaluation, trial_seed, resume_from, save_to) -> the outcome's record fields
Evaluate = Callable[[Evaluation, int, Path | None, Path | None], dict[str, Any]]


class TooManyFailures(RuntimeError):
    pass


class ReplayMismatch(RuntimeError):
    pass


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def check_replay(evaluation: Evaluation | None, record: Mapping[str, Any]) -> None:
    """The optimiser must propose again exactly what the journal holds."""
    i = record["iteration"]
    if evaluation is None:
        raise ReplayMismatch(
            f"iteration {i}: the optimiser proposes nothing more, but the journal holds this "
            "iteration; it was written by other code or settings. Move the journal aside."
        )
    mine = {"params": _plain(evaluation.params), "budget": evaluation.budget}
    mine["continues"] = evaluation.continues
    theirs = {k: record.get(k) for k in mine}
    if "data_fraction" in record:
        mine["data_fraction"] = evaluation.data_fraction
        theirs["data_fraction"] = record["data_fraction"]
    if "budget" not in record:  # journals from before budgets were recorded
        mine.pop("budget"), theirs.pop("budget"), mine.pop("continues"), theirs.pop("continues")
    if mine != theirs:
        raise ReplayMismatch(
            f"iteration {i}: the optimiser proposes {mine} but the journal holds {theirs}; "
            "the journal was written by other code or settings. Move it aside to start over."
        )


ESTIMATE_AFTER = 0.1  # the share of the budget spent before a time-left estimate is given


class Progress:
    """Console lines while a run goes: done of total, best so far, elapsed, time left."""

    def __init__(self, label: str, budget: Budget, say: Callable[[str], None], every: float):
        self.label, self.budget, self.say, self.every = label, budget, say, every
        self.last = -float("inf")

    def fraction(self, records: list[dict[str, Any]], n_train: int) -> float:
        b = self.budget
        if b.cost is not None:
            spent = sum(r.get("sample_epochs") or 0 for r in records) / max(n_train, 1)
            return min(spent / b.cost, 1.0) if b.cost > 0 else 1.0
        assert b.evaluations is not None
        return min(len(records) / b.evaluations, 1.0)

    def __call__(self, records: list[dict[str, Any]], n_train: int, final: bool = False) -> None:
        now = time.monotonic()
        frac = self.fraction(records, n_train)
        if not final and (now - self.last < self.every or frac >= 1.0):
            return  # (a finished run says so in its final line)
        self.last = now
        elapsed = records[-1]["elapsed_seconds"] if records else 0.0
        best = best_record(records)
        best_text = f"best val {best['val_accuracy']:.4f}" if best else "no successful trial yet"
        if self.budget.cost is not None:
            n = len(records)
            done = f"{n} evaluation{'s' if n != 1 else ''}, {frac:.0%} of the cost budget"
        else:
            done = f"{len(records)}/{self.budget.evaluations} trials"
        if final:
            left = "done"
        elif frac >= ESTIMATE_AFTER and len(records) >= 3:  # enough of the budget to go by
            left = f"~{elapsed / frac - elapsed:.0f} s left"
        else:
            left = "time left: estimated once a tenth of the budget is spent"
        self.say(f"[{self.label}] {done}, {best_text}, {elapsed:.0f} s elapsed, {left}")


class Runner:
    def __init__(
        self,
        optimizer: Optimizer,
        evaluate: Evaluate,
        records_path: Path,
        *,
        seed: int,
        n_train: int,
        base_record: Mapping[str, Any],
        max_failure_fraction: float = 0.5,
        log: Callable[[str], None] = print,
        progress: Progress | None = None,
    ):
        self.optimizer, self.evaluate = optimizer, evaluate
        self.journal = journal_path(Path(records_path))
        self.states = self.journal.with_name(self.journal.name + ".states")
        self.seed, self.n_train = seed, n_train
        self.base = dict(base_record)
        self.max_fail = max_failure_fraction
        self.log, self.progress = log, progress

    def _history(self) -> list[dict[str, Any]]:
        history = read_records(self.journal, repair=True)
        if history and history[0].get("run_key") != self.base.get("run_key"):
            stale = self.journal.with_name(self.journal.name + ".stale")
            self.journal.replace(stale)
            if self.states.exists():
                shutil.rmtree(self.states)
            self.log(f"settings or code changed since the journal was written; moved it to {stale}")
            return []
        if history:
            self.log(f"resuming after iteration {history[-1]['iteration']}")
        return history

    def _drop_states(self) -> None:
        if not self.states.exists():
            return
        live = self.optimizer.live_states()
        for f in self.states.glob("*.pt"):
            if int(f.stem) not in live:
                f.unlink()

    def run(self) -> list[dict[str, Any]]:
        history = self._history()
        records: list[dict[str, Any]] = []
        group_counts: dict[str, int] = {}
        for rec in history:  # replay: ask again, check, tell what was recorded
            evaluation = self.optimizer.ask()
            check_replay(evaluation, rec)
            assert evaluation is not None
            self.optimizer.tell(evaluation, outcome_of(rec, self.n_train))
            records.append(rec)
            group_counts[rec["group"]] = group_counts.get(rec["group"], 0) + 1
        offset = history[-1]["elapsed_seconds"] if history else 0.0
        start = time.perf_counter() - offset
        writer = RecordWriter(self.journal)
        while True:
            t0 = time.perf_counter()
            evaluation = self.optimizer.ask()
            suggest_seconds = time.perf_counter() - t0
            if evaluation is None:
                break
            iteration = len(records) + 1
            if evaluation.continues is None:
                trial_seed = derive_seed(self.seed, 2, iteration)
                resume = None
            else:
                trial_seed = records[evaluation.continues - 1]["trial_seed"]
                resume = self.states / f"{evaluation.continues}.pt"
            save = self.states / f"{iteration}.pt" if evaluation.keep_state else None
            t1 = time.perf_counter()
            out = self.evaluate(evaluation, trial_seed, resume, save)
            eval_seconds = time.perf_counter() - t1
            group_counts[evaluation.group] = group_counts.get(evaluation.group, 0) + 1
            record = {
                **self.base,
                "iteration": iteration,
                "group": evaluation.group,
                "group_index": evaluation.group_index,
                "group_iteration": group_counts[evaluation.group],
                "seed": self.seed,
                "params": evaluation.params,
                "hp_vals": evaluation.raw,
                "budget": evaluation.budget,
                "continues": evaluation.continues,
                "data_fraction": evaluation.data_fraction,
                "repeats_before": evaluation.repeats_before,
                **({"note": evaluation.note} if evaluation.note else {}),
                "suggest_seconds": suggest_seconds,
                "trial_seed": trial_seed,
                **out,
                "eval_seconds": eval_seconds,
                "elapsed_seconds": time.perf_counter() - start,
                "wall_time": time.time(),
            }
            outcome = outcome_of(record, self.n_train)
            record["loss"] = outcome.loss
            writer.append(record)
            records.append(json.loads(encode(record)))
            self.optimizer.tell(evaluation, outcome)
            self._drop_states()
            status = (
                f"val={record['val_accuracy']:.4f}"
                if record["status"] in ("ok", "stopped")
                else f"{record['status'].upper()} {record.get('error')}"
            )
            if record["status"] == "stopped":
                status += f" STOPPED {record.get('stop_reason')}"
            if evaluation.note:
                self.log(evaluation.note)
            self.log(f"{iteration} {evaluation.group} budget {evaluation.budget} {status}")
            if self.progress:
                self.progress(records, self.n_train)
            failed = sum(r["status"] == "fail" for r in records)  # divergence is a result
            if len(records) >= 5 and failed / len(records) > self.max_fail:
                last = next(r.get("error") for r in reversed(records) if r["status"] == "fail")
                raise TooManyFailures(
                    f"{failed} of {len(records)} trials failed (more than "
                    f"training.max_failure_fraction={self.max_fail}); last error: "
                    f"{last}. Finished trials are kept in {self.journal}."
                )
        if self.states.exists():
            shutil.rmtree(self.states)
        if self.progress:
            self.progress(records, self.n_train, final=True)
        return records
