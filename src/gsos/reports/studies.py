"""Every run of an experiment as an Optuna study, for the field's viewers (optuna-dashboard,
``optuna.visualization``, ``optuna.load_study``).

The journals (``records.jsonl``) stay the record; the studies are derived from them whole,
every time, and never read back by the pipeline. One storage per experiment,
``results/<experiment>/optuna-journal.log``, made by the workflow's ``optuna_studies`` rule
from every run's published records (pilot runs of ``gsos_measured`` included) and rebuilt when
any of them changes. It is written whole to a temporary file and renamed into place
(:mod:`gsos.atomic`), so a reader never sees half a storage and a killed job leaves none.

**Which storage, and why Optuna's journal file.** An RDB file (SQLite) and Optuna's journal
file both open in ``optuna-dashboard`` and ``optuna.load_study`` as they are. Measured on the
default's 20 runs, 2,486 evaluations (``bench/dashboard.py``,
``bench/results/optuna_storage.csv``, a shared and busy 2-core machine): Optuna's RDB storage
on SQLite took 462 s to write them (186 ms a trial: an ORM session per trial) and 54 s to read
them back; the journal, built in memory and written once as here, 2.0 s and 1.8 s (Optuna's
own ``JournalFileBackend``, which fsyncs every operation, 16 s to write). The journal is also
one plain append-only text file, which works on network file systems where SQLite's locking
may not (a cluster's shared home), and opens in ``optuna-dashboard`` by its path. Its one
cost: ``optuna.load_study`` needs the storage object rather than a URL
(``JournalStorage(JournalFileBackend(path))``, :func:`open_storage`).

**How a record becomes a trial** (:func:`trial_of`). Study name ``<dataset>/<strategy>/seed<N>``
(a pilot run's ``pilot/<dataset>/<strategy>/seed<N>``), trial number = iteration − 1, one
trial per evaluation. The objective is the one every strategy minimises, the record's
``loss`` (1 − validation accuracy; for a trial stopped by learning-curve extrapolation,
1 − the accuracy it was predicted to reach, which is what its optimiser was told), direction
minimise. States: ``ok`` → COMPLETE; ``stopped`` (``tpe_lc``) → PRUNED, with its value;
``fail`` → FAIL; ``diverged`` → FAIL (a non-finite training loss is what Optuna itself calls
a failed trial; its near-chance accuracy stays in the user attributes, and so Optuna's best
trial is the run's best, an ``ok`` trial, as everywhere in this project). Parameters: the
searched ones under their distributions from the experiment's search space (``choice`` →
categorical, ``loguniform`` → float on a log scale, ``uniform`` → float, ``int`` → int);
hyperparameters that were not searched go to the user attribute ``fixed_params``.
Intermediate values: the learning curve as 1 − validation accuracy per epoch (the objective's
units), step = epoch. Multi-fidelity continuations (Hyperband, BOHB, their GSOS forms) are one
trial per evaluation, as the records are, each with its ``budget`` and the iteration it
``continues``; its intermediate values are the whole curve of the model it ends with (the
curves of the evaluations it continues, then its own epochs), as Optuna's own Hyperband
pruning would draw one trial; its ``curve`` attribute is the record's own epochs. User
attributes: every other field of the record, as recorded (cost in sample-epochs, budget,
continuation, group, trial seed, precision, device, times, the error, ...), so a record is
rebuilt exactly from its trial (:func:`record_of`). Study attributes: the experiment, the
run, the code digest and run key its records carry, and the experiment's config.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsos.search.records import journal_path, read_records
from gsos.search.space import SearchSpace

if TYPE_CHECKING:  # optuna takes about a second to import: only where studies are made
    import optuna
    from optuna.distributions import BaseDistribution

STUDIES_FILE = "optuna-journal.log"  # results/<experiment>/<this>
OBJECTIVE = (
    "loss = 1 - validation accuracy, minimised by every strategy (a trial stopped by "
    "learning-curve extrapolation: 1 - the accuracy it was predicted to reach)"
)
STATES = {"ok": "COMPLETE", "stopped": "PRUNED", "fail": "FAIL", "diverged": "FAIL"}
_FOLDER = re.compile(r"seed(\d+)")


@dataclass(frozen=True)
class Run:
    """One HPO run's folder: ``results/<experiment>/{runs,pilots}/<dataset>/<strategy>/seed<N>``."""

    kind: str  # "run" or "pilot"
    dataset: str
    strategy: str
    seed: int
    folder: Path

    @property
    def study_name(self) -> str:
        name = f"{self.dataset}/{self.strategy}/seed{self.seed}"
        return name if self.kind == "run" else f"pilot/{name}"

    @property
    def records(self) -> Path:
        return self.folder / "records.jsonl"

    @property
    def journal(self) -> Path:
        return journal_path(self.records)

    def source(self) -> Path | None:
        """The file to read while the run goes (its journal) or after (its records)."""
        for path in (self.journal, self.records):
            if path.exists():
                return path
        return None


def run_of(records: Path) -> Run:
    """The run a ``records.jsonl`` (or its folder) belongs to, from the folder layout."""
    records = Path(records)
    folder = records if records.is_dir() or records.suffix != ".jsonl" else records.parent
    match = _FOLDER.fullmatch(folder.name)
    kinds = {"runs": "run", "pilots": "pilot"}
    if match is None or folder.parents[2].name not in kinds:
        raise ValueError(
            f"{records}: not a run's records (expected .../runs/<dataset>/<strategy>/seed<N>/"
            "records.jsonl or .../pilots/...)"
        )
    return Run(
        kind=kinds[folder.parents[2].name],
        dataset=folder.parents[1].name,
        strategy=folder.parent.name,
        seed=int(match.group(1)),
        folder=folder,
    )


def find_runs(results: Path) -> list[Run]:
    """Every run folder under ``results/<experiment>`` (runs first, then pilot runs)."""
    found = []
    for kind in ("runs", "pilots"):
        for folder in Path(results).glob(f"{kind}/*/*/seed*"):
            if folder.is_dir() and _FOLDER.fullmatch(folder.name):
                found.append(run_of(folder))
    order = {"run": 0, "pilot": 1}
    return sorted(found, key=lambda r: (order[r.kind], r.dataset, r.strategy, r.seed))


def distributions(search_space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """The search space's hyperparameters as Optuna distributions."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, BaseDistribution] = {}
    for name, p in SearchSpace.from_config(search_space).params.items():
        if p.kind == "choice":
            out[name] = CategoricalDistribution(list(p.values))
            continue
        assert p.low is not None and p.high is not None
        if p.kind == "int":
            out[name] = IntDistribution(int(p.low), int(p.high))
        else:
            out[name] = FloatDistribution(p.low, p.high, log=p.kind == "loguniform")
    return out


def intermediate_values(
    record: Mapping[str, Any], curves: Mapping[int, Sequence[Mapping[str, Any]]]
) -> dict[int, float]:
    """1 - validation accuracy per epoch: the curves of the evaluations this one continues
    (``curves``: iteration -> its whole curve), then its own epochs."""
    return {
        int(p["epoch"]): 1.0 - float(p["val_accuracy"])
        for p in whole_curve(record, curves)
        if p.get("val_accuracy") is not None
    }


def whole_curve(
    record: Mapping[str, Any], curves: Mapping[int, Sequence[Mapping[str, Any]]]
) -> list[Mapping[str, Any]]:
    return list(curves.get(record.get("continues") or 0, [])) + list(record.get("curve") or [])


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def trial_of(
    record: Mapping[str, Any],
    dists: Mapping[str, BaseDistribution],
    curves: Mapping[int, Sequence[Mapping[str, Any]]],
    where: str = "",
) -> optuna.trial.FrozenTrial:
    """One record as a finished trial (the module docstring says how)."""
    from optuna.trial import TrialState, create_trial

    label = f"{where} iteration {record.get('iteration')}".strip()
    status = record.get("status")
    if status not in STATES:
        raise ValueError(f"{label}: status {status!r} is not one of {sorted(STATES)}")
    state = TrialState[STATES[status]]
    params = dict(record["params"])
    searched = {k: v for k, v in params.items() if k in dists}
    fixed = {k: v for k, v in params.items() if k not in dists}
    for name, value in searched.items():
        dist = dists[name]
        try:
            inside = dist._contains(dist.to_internal_repr(value))
        except ValueError:
            inside = False
        if not inside:
            raise ValueError(
                f"{label}: {name} = {value!r} lies outside the search space's {dist}; the "
                "records were made with another search_space than the config's"
            )
    value = record.get("loss") if state != TrialState.FAIL else None
    if state == TrialState.COMPLETE and value is None:
        raise ValueError(f"{label}: an 'ok' record without a loss")
    attrs = {k: v for k, v in record.items() if k != "params"}
    if fixed:
        attrs["fixed_params"] = fixed
    trial = create_trial(
        state=state,
        value=None if value is None else float(value),
        params=searched,
        distributions={k: dists[k] for k in searched},
        user_attrs=attrs,
        intermediate_values=intermediate_values(record, curves),
    )
    end = record.get("wall_time")
    if end is not None:  # when it ran, from the record (create_trial says "now")
        took = float(record.get("suggest_seconds") or 0) + float(record.get("eval_seconds") or 0)
        trial.datetime_complete = _utc(float(end))
        trial.datetime_start = trial.datetime_complete - timedelta(seconds=took)
    return trial


def record_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The record a trial was made from (the inverse of :func:`trial_of`)."""
    attrs = dict(trial.user_attrs)
    fixed = attrs.pop("fixed_params", {})
    return {**attrs, "params": {**trial.params, **fixed}}


def study_attrs(
    run: Run, first: Mapping[str, Any], experiment: str, config: Mapping[str, Any] | None
) -> dict[str, Any]:
    attrs = {
        "experiment": experiment,
        "kind": run.kind,
        "dataset": run.dataset,
        "strategy": run.strategy,
        "seed": run.seed,
        "objective": OBJECTIVE,
        "records": str(Path(*run.folder.parts[-6:], "records.jsonl")),  # results/<exp>/...
        "code_version": first.get("code_version"),
        "run_key": first.get("run_key"),
    }
    if config is not None:
        attrs["config"] = dict(config)
    return attrs


class StudyWriter:
    """Adds one run's records to its study, creating the study with its first record."""

    def __init__(
        self,
        storage: optuna.storages.BaseStorage,
        run: Run,
        dists: Mapping[str, BaseDistribution],
        experiment: str,
        config: Mapping[str, Any] | None,
    ):
        self.storage, self.run, self.dists = storage, run, dists
        self.experiment, self.config = experiment, config
        self.study: optuna.Study | None = None
        self.curves: dict[int, list[Mapping[str, Any]]] = {}

    def add(self, records: Iterable[Mapping[str, Any]]) -> int:
        import optuna

        trials = []
        for rec in records:
            if self.study is None:
                self.study = optuna.create_study(
                    storage=self.storage, study_name=self.run.study_name, direction="minimize"
                )
                for k, v in study_attrs(self.run, rec, self.experiment, self.config).items():
                    self.study.set_user_attr(k, v)
            trials.append(trial_of(rec, self.dists, self.curves, self.run.study_name))
            self.curves[int(rec["iteration"])] = whole_curve(rec, self.curves)
        if self.study is not None and trials:
            self.study.add_trials(trials)
        return len(trials)

    def delete(self) -> None:
        if self.study is not None:
            self.storage.delete_study(self.study._study_id)
        self.study, self.curves = None, {}


def quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def build(
    storage: optuna.storages.BaseStorage,
    runs: Sequence[tuple[Run, Sequence[Mapping[str, Any]]]],
    search_space: Mapping[str, Any],
    experiment: str,
    config: Mapping[str, Any] | None = None,
) -> None:
    """Each run's records as a study in ``storage``, in the order given."""
    quiet_optuna()
    dists = distributions(search_space)
    for run, records in runs:
        StudyWriter(storage, run, dists, experiment, config).add(records)


class MemoryJournal:
    """An Optuna journal kept in memory, written to a file in one go.

    Optuna's ``JournalFileBackend`` fsyncs every operation (a study's 100 trials and its
    attributes: over a hundred fsyncs); built here in memory, the whole storage is written
    once, atomically. The lines are those ``JournalFileBackend`` writes and reads (one JSON
    operation per line); the round-trip tests read every file back through it.
    """

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return iter(self.logs[log_number_from:])

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self.logs.extend(json.loads(json.dumps(log)) for log in logs)

    def text(self) -> str:
        return "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in self.logs)


def memory_journal_storage() -> tuple[optuna.storages.JournalStorage, MemoryJournal]:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import BaseJournalBackend

    class Backend(MemoryJournal, BaseJournalBackend):
        pass

    backend = Backend()
    return JournalStorage(backend), backend


def open_storage(path: Path) -> optuna.storages.JournalStorage:
    """The experiment's storage, for ``optuna.load_study`` and friends (read it; the workflow
    rebuilds it from the journals, so what is written into it is not kept)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such storage; run the workflow to make it")
    return JournalStorage(JournalFileBackend(str(path)))


def write_studies(
    records: Sequence[Path],
    pilots: Sequence[Path],
    settings: Mapping[str, Any],
    out: Path,
) -> int:
    """The ``studies`` verb: every run's published records as studies in ``out``, written
    whole. Returns the number of trials."""
    from gsos.atomic import atomic_write_text

    runs = [(run_of(p), read_records(p)) for p in [*records, *pilots]]
    empty = [str(r.records) for r, recs in runs if not recs]
    if empty:
        raise SystemExit(f"no records in {empty}")
    storage, backend = memory_journal_storage()
    config = settings["config"]
    build(storage, runs, config["search_space"], settings["experiment"], config)
    atomic_write_text(Path(out), backend.text())
    return sum(len(recs) for _, recs in runs)
