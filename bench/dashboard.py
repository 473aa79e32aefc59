"""The runs as Optuna studies: which storage to write, and what `gsos dashboard` costs a run.

Two parts, each written to its CSV in bench/results/:

- ``storage`` (optuna_storage.csv): the records of a finished experiment (by default the
  default experiment's 20 runs of 100 trials, ``results/default`` after ``gsos run``) written
  as Optuna studies three ways: Optuna's RDB storage on a SQLite file, Optuna's journal file
  through its own ``JournalFileBackend`` (an fsync per operation), and the way the workflow
  writes it (the journal built in memory, written once: ``gsos.reports.studies``); then read
  back (every study's summary, and every trial). Seconds, and the storage's size.
- ``live`` (dashboard.csv): one real HPO job (``python -m gsos hpo``, the default's settings,
  simultaneous TPE) run alone and beside ``gsos dashboard`` following its journal, with a
  client asking the dashboard for the study's trials every 0.5 s (a browser on the trial list
  asks every 2 s), in pairs run one after the other with the same seed (the same records,
  the same work), the order alternating. The job's wall time and its training time; in the
  run beside the dashboard, the CPU time the dashboard's process used while the job ran (its
  share of the job's wall time: the cores it took from the run, the client's requests
  included), and how long after its record each trial was first listed by the dashboard's
  API (at most 0.5 s of that is the client's own polling).

    python3 -m uv run --locked python bench/dashboard.py                 # both, ~15 minutes
    python3 -m uv run --locked python bench/dashboard.py live --pairs 2  # some of it
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
from common import RESULTS, ROOT, default_config
from machine import describe


def _runs(results: Path):
    from gsos.reports.studies import find_runs
    from gsos.search.records import read_records

    runs = [(r, read_records(r.records)) for r in find_runs(results) if r.records.exists()]
    if not runs:
        raise SystemExit(f"{results}: no finished runs; run `gsos run --cores all` first")
    return runs


def storage_part(results: Path, repeats: int) -> pd.DataFrame:
    import optuna
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    from gsos.atomic import atomic_write_text
    from gsos.reports.studies import build, memory_journal_storage, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = json.loads(json.dumps(default_config()))
    runs = _runs(results)
    n_trials = sum(len(r) for _, r in runs)
    work = Path(tempfile.mkdtemp())
    rows = []

    def read(storage) -> float:
        t0 = time.perf_counter()
        for s in optuna.get_all_study_summaries(storage):
            optuna.load_study(study_name=s.study_name, storage=storage).get_trials()
        return time.perf_counter() - t0

    def ours(path: Path):
        storage, backend = memory_journal_storage()
        build(storage, runs, config["search_space"], "bench", config)
        atomic_write_text(path, backend.text())
        return open_storage(path)

    def optuna_journal(path: Path):
        storage = JournalStorage(JournalFileBackend(str(path)))
        build(storage, runs, config["search_space"], "bench", config)
        return storage

    def sqlite(path: Path):
        storage = RDBStorage(f"sqlite:///{path}")
        build(storage, runs, config["search_space"], "bench", config)
        storage.engine.dispose()
        return RDBStorage(f"sqlite:///{path}")

    ways = [
        ("journal, built in memory and written once (the workflow's)", ours, repeats),
        ("journal, Optuna's JournalFileBackend (fsync per operation)", optuna_journal, 1),
        ("SQLite, Optuna's RDBStorage", sqlite, 1),
    ]
    for name, make, n in ways:
        for i in range(n):
            path = work / f"{i}-{len(rows)}.db"
            t0 = time.perf_counter()
            storage = make(path)
            write = time.perf_counter() - t0
            rows.append(
                {
                    "storage": name,
                    "studies": len(runs),
                    "trials": n_trials,
                    "write_seconds": write,
                    "read_seconds": read(storage),
                    "megabytes": path.stat().st_size / 1e6,
                }
            )
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows).groupby(["storage", "studies", "trials"], sort=False)
    out = df.agg(
        repeats=("write_seconds", "size"),
        write_seconds_median=("write_seconds", "median"),
        read_seconds_median=("read_seconds", "median"),
        megabytes=("megabytes", "median"),
    ).reset_index()
    out["write_ms_per_trial"] = 1000 * out["write_seconds_median"] / out["trials"]
    out["source"] = str(results)
    return out


def _settings(iterations: int) -> dict:
    """The hpo job's settings as the workflow gives simultaneous TPE (common.smk)."""
    cfg = default_config()
    s = {k: cfg[k] for k in ("search_space", "fixed", "training", "model", "device", "tpe")}
    s["hpo"] = {"max_repeats": cfg["hpo"]["max_repeats"], "iterations": iterations}
    return s


def _prepare(work: Path) -> tuple[Path, Path]:
    from gsos.data.prepare import prepare_dataset
    from gsos.data.tensors import save_prepared

    cfg = default_config()
    tensors, manifest = prepare_dataset("digits", cfg["datasets"]["digits"])
    data, man = work / "data.pt", work / "manifest.json"
    save_prepared(data, man, tensors, manifest)
    return data, man


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _dashboard(work: Path, experiment: str) -> tuple[subprocess.Popen, str]:
    from gsos.config import record_run_config

    cfg = default_config()
    cfg["experiment"] = experiment
    record_run_config(cfg, work / "results" / experiment / "run-config.yaml")
    (work / f"{experiment}.yaml").write_text(f"experiment: {experiment}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gsos", "dashboard", "--configfile", f"{experiment}.yaml",
         "--port", "0"],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    for line in proc.stdout:
        found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return proc, found.group(1)
    raise SystemExit("gsos dashboard did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client(url: str, seen: dict[int, float], stop: threading.Event, every: float) -> None:
    """Asks for the study's trials as a browser would, noting when each trial first shows."""
    while not stop.wait(every):
        try:
            studies = _get(url + "api/studies")["study_summaries"]
            if studies:
                for t in _get(f"{url}api/studies/{studies[0]['study_id']}")["trials"]:
                    seen.setdefault(t["number"], time.time())
        except OSError:
            pass


def _hpo(work: Path, experiment: str, data: Path, manifest: Path, seed: int, n: int) -> dict:
    folder = work / "results" / experiment / "runs" / "digits" / "simultaneous" / f"seed{seed}"
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gsos", "hpo", "--dataset", "digits", "--strategy", "simultaneous",
         "--seed", str(seed), "--settings", json.dumps(_settings(n)), "--data", str(data),
         "--manifest", str(manifest), "--records", str(folder / "records.jsonl"),
         "--summary", str(folder / "summary.json"), "--threads", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    summary = json.loads((folder / "summary.json").read_text())
    return {"wall_seconds": wall, "run_seconds": summary["total_seconds"], "folder": folder}


def live_part(pairs: int, iterations: int, poll_client: float) -> pd.DataFrame:
    from gsos.search.records import read_records

    work = Path(tempfile.mkdtemp())
    data, manifest = _prepare(work)
    rows = []
    for pair in range(pairs):
        order = ["alone", "beside"] if pair % 2 == 0 else ["beside", "alone"]
        for arm in order:
            experiment = f"p{pair}-{arm}"
            row = {"pair": pair, "arm": arm, "seed": pair, "iterations": iterations}
            if arm == "alone":
                row.update(_hpo(work, experiment, data, manifest, pair, iterations))
            else:
                dash, url = _dashboard(work, experiment)
                seen: dict[int, float] = {}
                stop = threading.Event()
                client = threading.Thread(target=_client, args=(url, seen, stop, poll_client))
                client.start()
                try:
                    cpu = _cpu_seconds(dash.pid)
                    row.update(_hpo(work, experiment, data, manifest, pair, iterations))
                    row["dashboard_cpu_seconds"] = _cpu_seconds(dash.pid) - cpu
                    deadline = time.monotonic() + 30
                    while len(seen) < iterations and time.monotonic() < deadline:
                        time.sleep(0.2)
                finally:
                    stop.set()
                    client.join()
                    dash.terminate()
                    dash.wait(timeout=30)
                records = read_records(row["folder"] / "records.jsonl")
                late = [seen[i] - r["wall_time"] for i, r in enumerate(records) if i in seen]
                row.update(
                    shown=len(seen),
                    shown_after_median=float(np.median(late)),
                    shown_after_max=float(np.max(late)),
                )
            records = read_records(row.pop("folder") / "records.jsonl")
            row["train_seconds"] = sum(r.get("train_seconds") or 0 for r in records)
            rows.append(row)
            print(row, flush=True)
    df = pd.DataFrame(rows)
    a = df[df.arm == "alone"].set_index("pair")
    b = df[df.arm == "beside"].set_index("pair")
    ratio = (b["wall_seconds"] / a["wall_seconds"]).rename("ratio")
    train_ratio = (b["train_seconds"] / a["train_seconds"]).rename("train_ratio")
    summary = pd.DataFrame(
        [
            {
                "pairs": pairs,
                "iterations": iterations,
                "client_poll_seconds": poll_client,
                "alone_wall_seconds_median": float(a["wall_seconds"].median()),
                "beside_wall_seconds_median": float(b["wall_seconds"].median()),
                "wall_ratio_median": float(ratio.median()),
                "wall_ratio_min": float(ratio.min()),
                "wall_ratio_max": float(ratio.max()),
                "train_ratio_median": float(train_ratio.median()),
                "dashboard_cpu_share_median": float(
                    (b["dashboard_cpu_seconds"] / b["wall_seconds"]).median()
                ),
                "shown_after_median_seconds": float(b["shown_after_median"].median()),
                "shown_after_max_seconds": float(b["shown_after_max"].max()),
                "all_trials_shown": bool((b["shown"] == iterations).all()),
            }
        ]
    )
    return summary, df


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("parts", nargs="*", default=["storage", "live"])
    ap.add_argument("--results", type=Path, default=ROOT / "results" / "default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--client-poll", type=float, default=0.5)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    machine = describe()
    load = os.getloadavg()[0]
    if "storage" in a.parts:
        df = storage_part(a.results, a.repeats)
        df["machine"], df["load_at_start"] = machine, load
        df.to_csv(a.out / "optuna_storage.csv", index=False)
        print(df.to_string())
    if "live" in a.parts:
        summary, runs = live_part(a.pairs, a.iterations, a.client_poll)
        summary["machine"], summary["load_at_start"] = machine, load
        runs["machine"] = machine
        summary.to_csv(a.out / "dashboard.csv", index=False)
        runs.to_csv(a.out / "dashboard_runs.csv", index=False)
        print(summary.T.to_string())


if __name__ == "__main__":
    main()
