"""Runs as Optuna studies (gsos.reports.studies) and the live dashboard (gsos.reports.dashboard):
the mapping on real records, the follower on journals being written, and `gsos dashboard`
showing a real run while it trains. The storage made by the workflow, for every strategy, and
optuna-dashboard in Chromium are tested in test_workflow.py, on the shared workflow run."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, layered, tiny_config, tiny_hpo_settings

from gsos.search.records import RecordWriter, read_records

GOLDEN = ROOT / "tests" / "golden" / "gsos_digits.json"  # a real GSOS run on the digits
SPACE = {  # the space the golden run searched
    "num_conv_layers": {"type": "choice", "values": [2, 3, 4], "default": 3},
    "lr": {"type": "loguniform", "low": 1.0e-5, "high": 1.0, "default": 0.01},
    "dropout_rate": {"type": "uniform", "low": 0.0, "high": 0.9, "default": 0.0},
    "optimizer": {"type": "choice", "values": ["adam", "sgd"], "default": "adam"},
    "epoch": {"type": "int", "low": 1, "high": 2, "default": 1},
    "stride": {"type": "choice", "values": [1, 2], "default": 1},
    "padding": {"type": "choice", "values": ["valid", "same"], "default": "same"},
    "kernel": {"type": "choice", "values": [3, 5], "default": 3},
    "num_fc_units": {"type": "int", "low": 64, "high": 256, "default": 64},
    "batch_size": {"type": "choice", "values": [32, 64, 128, 256], "default": 32},
}


def golden() -> list[dict]:
    return json.loads(GOLDEN.read_text())


def run_folder(root: Path, strategy="gsos", seed=3, kind="runs") -> Path:
    folder = root / "results" / "x" / kind / "digits" / strategy / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_record_becomes_a_trial_and_back(tmp_path):
    """Searched hyperparameters under their distributions, the rest in fixed_params; the
    value is the record's loss; statuses map to Optuna's states; the record comes back whole."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.trial import TrialState

    from gsos.reports.studies import distributions, record_of, trial_of

    space = {k: v for k, v in SPACE.items() if k != "batch_size"}  # batch_size not searched
    dists = distributions(space)
    assert dists["lr"] == FloatDistribution(1e-5, 1.0, log=True)
    assert dists["dropout_rate"] == FloatDistribution(0.0, 0.9)
    assert dists["num_fc_units"] == IntDistribution(64, 256)
    assert dists["num_conv_layers"] == CategoricalDistribution([2, 3, 4])
    records = golden()
    ok = records[0]
    trial = trial_of(ok, dists, {})
    assert trial.state == TrialState.COMPLETE and trial.value == ok["loss"]
    assert trial.params == {k: v for k, v in ok["params"].items() if k != "batch_size"}
    assert trial.user_attrs["fixed_params"] == {"batch_size": ok["params"]["batch_size"]}
    assert trial.intermediate_values == {1: 1.0 - ok["curve"][0]["val_accuracy"]}
    assert record_of(trial) == ok
    states = {}
    for status in ("stopped", "diverged", "fail"):  # as the trainer writes them
        rec = {**copy.deepcopy(ok), "status": status}
        if status == "fail":
            rec.update(loss=None, val_accuracy=None, curve=None)
        t = trial_of(rec, dists, {})
        states[status] = (t.state, t.value)
        assert record_of(t) == rec
    assert states == {
        "stopped": (TrialState.PRUNED, ok["loss"]),
        "diverged": (TrialState.FAIL, None),  # its accuracy stays in user_attrs
        "fail": (TrialState.FAIL, None),
    }
    with pytest.raises(ValueError, match="not one of"):
        trial_of({**ok, "status": "running"}, dists, {})
    outside = copy.deepcopy(ok)
    outside["params"]["lr"] = 3.0
    with pytest.raises(ValueError, match=r"iteration 1: lr = 3.0 lies outside"):
        trial_of(outside, dists, {})
    study = optuna.create_study()  # a trial Optuna itself accepts
    study.add_trial(trial)
    assert study.best_trial.value == ok["loss"]


def test_studies_verb_writes_a_journal_storage_optuna_opens(tmp_path):
    import optuna

    from gsos.reports.studies import STUDIES_FILE, open_storage, record_of

    folder = run_folder(tmp_path)
    records = golden()
    for r in records:
        RecordWriter(folder / "records.jsonl").append(r)
    pilot = run_folder(tmp_path, "random", 1000, kind="pilots")
    for r in records[:3]:
        RecordWriter(pilot / "records.jsonl").append(r)
    out = tmp_path / "results" / "x" / STUDIES_FILE
    settings = {"experiment": "x", "config": {"search_space": SPACE, "note": "mine"}}
    run = subprocess.run(
        [sys.executable, "-m", "gsos", "studies", "--records", str(folder / "records.jsonl"),
         "--pilots", str(pilot / "records.jsonl"), "--settings", json.dumps(settings),
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert not list(out.parent.glob(f".{STUDIES_FILE}*"))  # written whole, no litter
    storage = open_storage(out)
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    assert {n: s.n_trials for n, s in summaries.items()} == {
        "digits/gsos/seed3": 10,
        "pilot/digits/random/seed1000": 3,
    }
    study = optuna.load_study(study_name="digits/gsos/seed3", storage=storage)
    assert [record_of(t) for t in study.trials] == records
    assert study.user_attrs["config"] == settings["config"]
    assert study.user_attrs["records"] == "results/x/runs/digits/gsos/seed3/records.jsonl"
    assert study.best_trial.user_attrs["val_accuracy"] == max(
        r["val_accuracy"] for r in records if r["status"] == "ok"
    )


def test_the_follower_reads_whole_lines_only_and_never_writes(tmp_path):
    """A line being written waits for its newline; the journal is not written to, locked or
    touched; a journal moved aside and begun again is read anew; a deleted run goes."""
    import optuna

    from gsos.reports.dashboard import Follower
    from gsos.reports.studies import record_of

    folder = run_folder(tmp_path)
    journal = folder / "records.journal.jsonl"
    records = golden()
    writer = RecordWriter(journal)
    storage = optuna.storages.InMemoryStorage()
    config = {"experiment": "x", "search_space": SPACE}
    follower = Follower(storage, tmp_path / "results" / "x", config)
    assert follower.poll() == 0 and storage.get_all_studies() == []
    for r in records[:4]:
        writer.append(r)
    line = json.dumps(records[4]) + "\n"
    with open(journal, "a") as f:
        f.write(line[:40])  # half a record, as a write in progress leaves it
    before = (journal.read_bytes(), journal.stat().st_mtime_ns)
    assert follower.poll() == 4
    assert (journal.read_bytes(), journal.stat().st_mtime_ns) == before  # read, not written
    assert not list(folder.glob("*.lock"))  # no lock taken: the run stays the one writer
    with open(journal, "a") as f:
        f.write(line[40:])
    assert follower.poll() == 1 and follower.poll() == 0
    study = optuna.load_study(study_name="digits/gsos/seed3", storage=storage)
    assert [record_of(t) for t in study.trials] == records[:5]

    journal.replace(folder / "records.journal.jsonl.stale")  # settings changed: begun again
    for r in records[:2]:
        RecordWriter(journal).append(r)
    follower.poll()
    study = optuna.load_study(study_name="digits/gsos/seed3", storage=storage)
    assert [record_of(t) for t in study.trials] == records[:2]

    import shutil

    shutil.rmtree(folder)
    follower.poll()
    assert storage.get_all_studies() == []


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def start_dashboard(work: Path, configfile: str, poll: float = 0.5) -> tuple[subprocess.Popen, str]:
    """`gsos dashboard` on a free loopback port; returns the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gsos", "dashboard", "--configfile", configfile,
         "--port", "0", "--poll", str(poll)],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    out = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("gsos dashboard did not start:\n" + "".join(out))


def test_gsos_dashboard_shows_a_run_while_it_trains(tmp_path, digits_files, default_config):
    """A real HPO run (the hpo verb, as a job runs it) beside `gsos dashboard`: its trials
    appear in optuna-dashboard's API while it trains, each within seconds of its record."""
    cfg = tiny_config(layered())
    cfg["run"].update(strategies=["random"], seeds=[0])
    (tmp_path / "live.yaml").write_text(yaml.safe_dump(cfg))
    n = 30
    settings = tiny_hpo_settings(default_config, iterations=n)
    settings["search_space"] = cfg["search_space"]
    folder = tmp_path / "results" / "live" / "runs" / "digits" / "random" / "seed0"
    dash, url = start_dashboard(tmp_path, "live.yaml")
    try:
        assert get_json(url + "api/studies")["study_summaries"] == []  # nothing has run yet
        hpo = subprocess.Popen(
            [sys.executable, "-m", "gsos", "hpo", "--dataset", "digits", "--strategy", "random",
             "--seed", "0", "--settings", json.dumps(settings), "--data", str(digits_files[0]),
             "--manifest", str(digits_files[1]), "--records", str(folder / "records.jsonl"),
             "--summary", str(folder / "summary.json")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        seen: dict[int, float] = {}  # trial number -> when the API first listed it
        counts = []  # trials listed at each look
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            running = hpo.poll() is None
            studies = get_json(url + "api/studies")["study_summaries"]
            if studies:
                detail = get_json(f"{url}api/studies/{studies[0]['study_id']}")
                for t in detail["trials"]:
                    seen.setdefault(t["number"], time.time())
                counts.append(len(detail["trials"]))
            if not running and len(seen) == n:
                break
            time.sleep(0.2)
        assert hpo.wait(timeout=60) == 0, hpo.stderr.read()[-2000:]
    finally:
        dash.terminate()
        dash.wait(timeout=30)
    records = read_records(folder / "records.jsonl")
    assert len(records) == n and sorted(seen) == list(range(n))
    assert any(0 < c < n for c in counts), counts  # shown while the run still trained
    late = {i: seen[i] - r["wall_time"] for i, r in enumerate(records)}
    # poll 0.5 s + the dashboard's 2 s cache + this loop's 0.2 s; generous for a busy machine
    assert max(late.values()) < 10, late
    assert detail["name"] == "digits/random/seed0"
    values = [t["values"][0] if t["values"] else None for t in detail["trials"]]
    assert values == [r["loss"] if r["status"] == "ok" else None for r in records]


def test_dashboard_says_what_is_missing_for_an_unknown_config(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "gsos", "dashboard", "--configfile", "nothere.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode != 0 and "nothere.yaml" in run.stderr
    assert "Traceback" not in run.stderr
