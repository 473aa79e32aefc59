"""The real workflow, run by the real Snakemake on a tiny config with every strategy."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from conftest import ROOT, snakemake, tiny_config

from gsos.optimizers.registry import STRATEGIES

EXP = "tiny"  # the experiment is named after its config file, tiny.yaml
PAPER_TABLES = [
    "runs",
    "table3",
    "table4",
    "headline",
    "paired_tests",
    "table3_vs_published",
    "table4_vs_published",
    "headline_vs_published",
    "table4_published_check",
    "headline_published_check",
]
TABLES = [*PAPER_TABLES, "table5", "importance", "strategies", "ranks"]
FIGURES = ["figure1", "figure2", "convergence", "table5", "anytime", "ranks"]
PROMISED = [
    *(f"reports/{EXP}/{t}.{e}" for t in TABLES for e in ("csv", "md", "tex", "html")),
    *(f"reports/{EXP}/{f}.{e}" for f in FIGURES for e in ("png", "pdf")),
    f"results/{EXP}/groups.json",
    f"results/{EXP}/data/digits/manifest.json",
    f"results/{EXP}/data/digits/data.pt",
]


def planned(run) -> dict[str, int]:
    """Snakemake's job counts from a dry run's summary."""
    out = run.stdout + run.stderr
    return {
        line.split()[0]: int(line.split()[1])
        for line in out.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }


def planned_hpo_strategies(run) -> set[str]:
    return set(re.findall(r"strategy=(\w+), seed=", run.stdout + run.stderr))


def test_every_promised_artifact_is_written(workflow_run):
    for rel in PROMISED:
        path = workflow_run / rel
        assert path.is_file() and path.stat().st_size > 0, rel
    for strategy in STRATEGIES:
        for seed in (0, 1):
            run_dir = workflow_run / f"results/{EXP}/runs/digits/{strategy}/seed{seed}"
            records = [json.loads(x) for x in (run_dir / "records.jsonl").read_text().splitlines()]
            summary = json.loads((run_dir / "summary.json").read_text())
            assert summary["n_iterations"] == len(records) > 0
            assert 0 <= summary["best_val_accuracy"] <= 1
            assert (workflow_run / f"logs/{EXP}/hpo/digits/{strategy}/seed{seed}.log").exists()
            bench = workflow_run / f"benchmarks/{EXP}/hpo/digits/{strategy}/seed{seed}.tsv"
            assert bench.read_text().startswith("s\th:m:s")  # every job measured itself
    for rule in ("groups", "tables", "strategies", "table5", "figure1", "figure2"):
        assert (workflow_run / f"benchmarks/{EXP}/{rule}.tsv").exists(), rule


def test_multi_fidelity_runs_spend_what_simultaneous_spent(workflow_run):
    runs = workflow_run / f"results/{EXP}/runs/digits"
    for seed in (0, 1):
        target = json.loads((runs / f"simultaneous/seed{seed}/summary.json").read_text())
        for strategy in ("hyperband", "bohb", "gsos_hyperband", "gsos_bohb"):
            s = json.loads((runs / f"{strategy}/seed{seed}/summary.json").read_text())
            assert s["budget"]["cost_epochs"] * s["n_train"] == target["sample_epochs_total"]
            assert s["sample_epochs_total"] <= target["sample_epochs_total"]
            records = [
                json.loads(x)
                for x in (runs / f"{strategy}/seed{seed}/records.jsonl").read_text().splitlines()
            ]
            assert any(r["continues"] for r in records), "Hyperband promoted nothing"


def test_tables_hold_both_strategies_from_real_runs(workflow_run):
    reports = workflow_run / "reports" / EXP
    t3 = pd.read_csv(reports / "table3.csv")
    assert sorted(t3["strategy"]) == ["gsos", "simultaneous"]
    assert (t3["n_runs"] == 2).all() and (t3["mean_total_seconds"] > 0).all()
    assert (t3["mean_best_val_accuracy"] > 0.1).all()  # better than chance on digits
    t4 = pd.read_csv(reports / "table4.csv")
    assert list(t4["dataset"]) == ["digits"]
    t5 = pd.read_csv(reports / "table5.csv")
    assert sorted(set(t5["n_hyperparameters"])) == [1, 2] and (t5["median_seconds"] > 0).all()
    groups = json.loads((workflow_run / f"results/{EXP}/groups.json").read_text())["groups"]
    assert [g["iterations"] for g in groups] == [2, 2, 2]  # 6 split 4:3:3
    strategies = pd.read_csv(reports / "strategies.csv")
    assert list(strategies["strategy"]) == list(STRATEGIES)  # all eleven, registry order
    ranks = pd.read_csv(reports / "ranks.csv")
    assert sorted(ranks["strategy"]) == sorted(STRATEGIES)
    assert ranks["average rank (mean)"].between(1, len(STRATEGIES)).all()


def test_html_report_embeds_every_table_and_figure(report_html):
    html = report_html.read_text(errors="replace")
    for name in [*(f"{t}.html" for t in TABLES), *(f"{f}.png" for f in FIGURES)]:
        assert f"reports/{EXP}/{name}" in html, name
    assert f"experiment <strong>{EXP}</strong>" in html or f"experiment {EXP}" in html


def test_statistics_and_published_comparisons(workflow_run):
    reports = workflow_run / "reports" / EXP
    tests = pd.read_csv(reports / "paired_tests.csv")
    assert set(tests["metric"]) >= {"total_seconds", "best_val_accuracy", "test_accuracy"}
    assert (tests["n_pairs"] == 2).all() and tests["t_test_p"].dropna().between(0, 1).all()
    t3 = pd.read_csv(reports / "table3.csv")
    assert (t3["ci_low_total_seconds"] <= t3["mean_total_seconds"]).all()
    side = pd.read_csv(reports / "table3_vs_published.csv")
    assert len(side) == 12 + 2  # the paper's 12 rows and our 2 digits rows
    digits = side[side["dataset"] == "digits"]
    assert digits["mean_total_seconds_published"].isna().all()
    assert digits["mean_total_seconds_reproduced"].notna().all()
    t5 = pd.read_csv(reports / "table5.csv")
    assert set(t5["library"]) == {"hyperopt", "optuna"}
    imp = pd.read_csv(reports / "importance.csv")
    assert imp["published_weight"].notna().sum() == 4  # never filled in
    for col in ("n_rrelieff_weight", "fanova_weight"):
        assert abs(imp[col].sum() - 1) < 1e-6
    assert "\\toprule" in (reports / "table3.tex").read_text()


def test_second_run_has_nothing_to_do(workflow_run):
    run = snakemake("--configfile", "tiny.yaml", "-n", cwd=workflow_run)
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_changing_the_groups_reruns_only_strategies_that_use_them(workflow_run):
    groups = [
        {
            "name": "G1",
            "params": ["num_conv_layers", "lr", "dropout_rate", "batch_size"],
            "share": 4,
        },
        {"name": "G2", "params": ["optimizer", "epoch"], "share": 3},
        {"name": "G3", "params": ["stride", "padding", "kernel", "num_fc_units"], "share": 3},
    ]
    (workflow_run / "regroup.yaml").write_text(
        yaml.safe_dump({"experiment": EXP, "gsos": {"groups": groups}})
    )
    plan = snakemake("--configfile", "tiny.yaml", "regroup.yaml", "-n", cwd=workflow_run)
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert planned_hpo_strategies(plan) == {"gsos", "gsos_hyperband", "gsos_bohb"}
    assert planned(plan)["hpo"] == 6


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
    stats = planned(plan)
    assert stats["hpo"] == 60 and stats["prepare_data"] == 6 and stats["download"] == 6
    assert "results/paper/runs/" in plan.stdout + plan.stderr


def test_killed_workflow_resumes_with_rerun_incomplete(tmp_path, default_config):
    """SIGKILL Snakemake and its job mid-HPO (a power cut), then unlock and rerun."""
    import signal
    import time

    from gsos.records import read_records

    cfg = tiny_config(default_config)
    cfg["hpo"]["iterations"] = 40
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/c/runs/digits/gsos/seed0/records.jsonl"
    partial = tmp_path / target.replace("records.jsonl", "records.journal.jsonl")
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
    log = (tmp_path / "logs/c/hpo/digits/gsos/seed0.log").read_text()
    assert "resuming after iteration" in log
    records = read_records(tmp_path / target)
    assert [r["iteration"] for r in records] == list(range(1, 41))


def test_cuda_without_a_gpu_stops_before_any_job(tmp_path, default_config):
    cfg = tiny_config(default_config)
    cfg["device"] = "cuda"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake("--configfile", "c.yaml", "--cores", "1", cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "device: cuda" in out and "no GPU" in out, out[-2000:]
    assert not (tmp_path / "results").exists()  # not a single job ran


def test_a_failing_jobs_own_error_line_reaches_the_console(tmp_path, default_config):
    cfg = tiny_config(default_config)
    (tmp_path / "empty").mkdir()
    cfg["datasets"]["mine"] = {
        "source": {"kind": "folder", "path": str(tmp_path / "empty")},
        "image_size": 8,
    }
    cfg["run"]["datasets"] = ["mine"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake("--configfile", "c.yaml", "--cores", "1", cwd=tmp_path)
    assert run.returncode != 0
    assert f"{tmp_path / 'empty'}: no class subfolders found" in run.stdout + run.stderr


def test_editing_a_folder_dataset_prepares_it_again(tmp_path, default_config):
    from test_images import messy_folder, write_image

    folder = messy_folder(tmp_path / "pets")
    cfg = tiny_config(default_config)
    cfg["datasets"]["pets"] = {"source": {"kind": "folder", "path": str(folder)}, "image_size": 8}
    cfg["run"]["datasets"] = ["pets"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/c/data/pets/data.pt"
    assert snakemake("--configfile", "c.yaml", "--cores", "1", target, cwd=tmp_path).returncode == 0
    plan = snakemake("--configfile", "c.yaml", "-n", target, cwd=tmp_path)
    assert "Nothing to be done" in plan.stdout + plan.stderr
    write_image(folder / "dog" / "new.png", "RGB", (20, 20), 777)  # one more image
    plan = snakemake("--configfile", "c.yaml", "-n", target, cwd=tmp_path)
    assert planned(plan).get("prepare_data") == 1, plan.stdout[-2000:]
    (folder / "dog" / "new.png").unlink()
    (folder / "cat" / "0.jpg").unlink()  # one fewer
    plan = snakemake("--configfile", "c.yaml", "-n", target, cwd=tmp_path)
    assert planned(plan).get("prepare_data") == 1
