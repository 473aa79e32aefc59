"""The real workflow, run by the real Snakemake on a tiny config."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT


def snakemake(*args, cwd: Path, timeout=600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tiny_config(default_config: dict) -> dict:
    cfg = copy.deepcopy(default_config)
    cfg["run"]["seeds"] = [0, 1]
    cfg["datasets"]["digits"]["image_size"] = 8
    cfg["search_space"]["epoch"] = {"type": "int", "low": 1, "high": 2, "default": 1}
    cfg["hpo"]["iterations"] = 6
    cfg["tpe"]["n_startup_jobs"] = 2
    cfg["model"]["base_filters"] = 4
    cfg["table5"] = {
        "dims": [1, 2],
        "iterations": 8,
        "eval_seconds": 0.0,
        "repeats": 2,
        "n_startup_jobs": 3,
    }
    return cfg


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory, default_config):
    work = tmp_path_factory.mktemp("wf")
    (work / "tiny.yaml").write_text(yaml.safe_dump(tiny_config(default_config)))
    run = snakemake("--configfile", "tiny.yaml", "--cores", "2", cwd=work)
    assert run.returncode == 0, run.stderr[-4000:]
    return work


PROMISED = [
    *(
        f"reports/{t}.{e}"
        for t in (
            "runs",
            "table3",
            "table4",
            "headline",
            "table4_published_check",
            "headline_published_check",
            "table5",
        )
        for e in ("csv", "md")
    ),
    "reports/figure1.png",
    "reports/figure1.pdf",
    "reports/figure2.png",
    "reports/figure2.pdf",
    "results/groups.json",
    "results/data/digits/manifest.json",
    "results/data/digits/data.pt",
]


def test_every_promised_artifact_is_written(workflow_run):
    for rel in PROMISED:
        path = workflow_run / rel
        assert path.is_file() and path.stat().st_size > 0, rel
    for strategy in ("gsos", "simultaneous"):
        for seed in (0, 1):
            run_dir = workflow_run / f"results/runs/digits/{strategy}/seed{seed}"
            lines = (run_dir / "records.jsonl").read_text().splitlines()
            assert len(lines) == 6
            summary = json.loads((run_dir / "summary.json").read_text())
            assert summary["n_iterations"] == 6 and 0 <= summary["best_val_accuracy"] <= 1
            assert (workflow_run / f"logs/hpo/digits/{strategy}/seed{seed}.log").exists()


def test_tables_hold_both_strategies_from_real_runs(workflow_run):
    t3 = pd.read_csv(workflow_run / "reports/table3.csv")
    assert sorted(t3["strategy"]) == ["gsos", "simultaneous"]
    assert (t3["n_runs"] == 2).all() and (t3["mean_total_seconds"] > 0).all()
    assert (t3["mean_best_val_accuracy"] > 0.1).all()  # better than chance on digits
    t4 = pd.read_csv(workflow_run / "reports/table4.csv")
    assert list(t4["dataset"]) == ["digits"]
    t5 = pd.read_csv(workflow_run / "reports/table5.csv")
    assert list(t5["n_hyperparameters"]) == [1, 2] and (t5["median_seconds"] > 0).all()
    groups = json.loads((workflow_run / "results/groups.json").read_text())["groups"]
    assert [g["iterations"] for g in groups] == [2, 2, 2]  # 6 split 4:3:3


def test_html_report_holds_every_table_and_figure(workflow_run):
    run = snakemake(
        "--configfile", "tiny.yaml", "--report", "reports/report.html", cwd=workflow_run
    )
    assert run.returncode == 0, run.stderr[-3000:]
    html = (workflow_run / "reports/report.html").read_text(errors="replace")
    for name in (
        "table3.csv",
        "table4.csv",
        "headline.csv",
        "table5.csv",
        "figure1.png",
        "figure2.png",
    ):
        assert name in html, name


def test_second_run_has_nothing_to_do(workflow_run):
    run = snakemake("--configfile", "tiny.yaml", "-n", cwd=workflow_run)
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_bad_config_stops_before_any_job_with_a_clear_message(tmp_path, default_config):
    cfg = tiny_config(default_config)
    cfg["hpo"]["iterations"] = "lots"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake("--configfile", "bad.yaml", "--cores", "1", cwd=tmp_path)
    assert run.returncode != 0
    assert "hpo.iterations: 'lots' is not of type 'integer'" in run.stdout + run.stderr
    assert not (tmp_path / "results").exists()


def test_lint_is_clean_and_paper_protocol_plans(tmp_path):
    lint = snakemake("--lint", cwd=ROOT)
    assert lint.returncode == 0, lint.stdout[-3000:]
    plan = snakemake("-n", "--configfile", str(ROOT / "config/paper.yaml"), cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-3000:]
    out = plan.stdout + plan.stderr
    stats = {
        line.split()[0]: int(line.split()[1])
        for line in out.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert stats["hpo"] == 60 and stats["prepare_data"] == 6 and stats["download"] == 6


def test_killed_workflow_resumes_with_rerun_incomplete(tmp_path, default_config):
    """SIGKILL Snakemake and its job mid-HPO (a power cut), then unlock and rerun."""
    import signal
    import time

    from gsos.records import read_records

    cfg = tiny_config(default_config)
    cfg["hpo"]["iterations"] = 40
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/runs/digits/gsos/seed0/records.jsonl"
    partial = tmp_path / (target + ".partial")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--configfile",
            "c.yaml",
            "--cores",
            "1",
            target,
        ],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while len(read_records(partial)) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, "HPO never got going"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(read_records(partial))
    assert 3 <= done_before < 40 and not (tmp_path / target).exists()

    assert snakemake("--configfile", "c.yaml", "--unlock", cwd=tmp_path).returncode == 0
    rerun = snakemake(
        "--configfile", "c.yaml", "--cores", "1", "--rerun-incomplete", target, cwd=tmp_path
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (tmp_path / "logs/hpo/digits/gsos/seed0.log").read_text()
    assert "resuming after iteration" in log
    records = read_records(tmp_path / target)
    assert [r["iteration"] for r in records] == list(range(1, 41))
