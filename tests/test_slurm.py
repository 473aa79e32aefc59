"""The tiny workflow on a real one-node SLURM through profiles/slurm.

Marked ``slurm``: the default test run skips it; `.ci/run` runs it as its own step, after
tests/slurm/start-local-slurm.sh has started slurmctld and slurmd on this machine. Run it by
hand with:  sudo bash tests/slurm/start-local-slurm.sh && python3 -m uv run pytest -m slurm
"""

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from conftest import ROOT, snakemake, tiny_config, with_weight_decay

from gsos.search.records import TIMING_FIELDS, read_records

pytestmark = pytest.mark.slurm

TIMING = (*TIMING_FIELDS, "device")


def slurm_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed", "allocated"))


def test_profile_runs_every_job_on_slurm_and_matches_a_local_run(
    workflow_run, tmp_path, default_config
):
    if not slurm_up():
        pytest.fail("no SLURM here: run tests/slurm/start-local-slurm.sh first (as root)")
    # the shared local run's config (it searches weight_decay too, for bilevel_vf)
    cfg = with_weight_decay(tiny_config(default_config))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake(
        "--configfile",
        "tiny.yaml",
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        "--config",
        "device=cpu",  # this node has no GPU
        "--set-resources",
        "hpo:cpus_per_task=1",
        "hpo:mem_mb=2000",
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "5",
        "--seconds-between-status-checks",
        "3",
        cwd=tmp_path,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    out = run.stdout + run.stderr
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", out)
    assert steps, out[-3000:]
    total = int(steps[-1][1])
    submitted = out.count("has been submitted with SLURM jobid")
    assert total >= 10 and submitted == total - 1, out[-3000:]  # every job but `all` (local)
    # the artifacts match the local run of the same config (whose strategies are a superset)
    remote_runs = sorted((tmp_path / "results" / "tiny" / "runs").rglob("records.jsonl"))
    assert len(remote_runs) == 2 * len(default_config["run"]["strategies"])
    for rel in remote_runs:
        remote = read_records(rel)
        local = read_records(workflow_run / rel.relative_to(tmp_path))
        strip = [{k: v for k, v in r.items() if k not in TIMING} for r in local]
        assert [{k: v for k, v in r.items() if k not in TIMING} for r in remote] == strip, rel
    reports, local_reports = tmp_path / "reports" / "tiny", workflow_run / "reports" / "tiny"
    # the published comparisons are made only where a dataset of the paper ran (not digits)
    assert not list(reports.glob("*published*")) and not list(local_reports.glob("*published*"))
    local_t3 = pd.read_csv(local_reports / "table3.csv")
    remote_t3 = pd.read_csv(reports / "table3.csv")
    for col in (
        "best val. accuracy (mean)",
        "test accuracy (mean)",
        "sample-epochs (total) (mean)",
    ):
        assert list(local_t3[col]) == list(remote_t3[col]), col
    groups = "results/tiny/groups.json"
    assert json.loads((tmp_path / groups).read_text()) == json.loads(
        (workflow_run / groups).read_text()
    )


def test_a_cuda_run_asks_slurm_for_one_gpu_per_training_job(tmp_path, default_config):
    """device: cuda through profiles/slurm: each HPO job's sbatch call asks for --gpus=1 (and
    the profile's cores). This node has no GPU, so SLURM refuses the submission, which is
    enough to see what was asked for (the plugin prints the sbatch call it made)."""
    if not slurm_up():
        pytest.fail("no SLURM here: run tests/slurm/start-local-slurm.sh first (as root)")
    cfg = tiny_config(default_config)
    cfg["run"].update(strategies=["random"], seeds=[0])
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake(
        "--configfile", "gpu.yaml", "--profile", str(ROOT / "profiles" / "slurm"),
        "--slurm-no-account", "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "3",
        "results/gpu/runs/digits/random/seed0/records.jsonl",
        cwd=tmp_path, timeout=900,
    )  # fmt: skip
    out = run.stdout + run.stderr
    calls = [line for line in out.splitlines() if line.strip().startswith("sbatch ")]
    hpo = [c for c in calls if "rule_hpo" in c]
    assert hpo, out[-4000:]
    assert all("--gpus=1" in c for c in hpo), hpo
    assert all(re.search(r"--cpus-per-(task|gpu)[= ]4\b", c) for c in hpo), hpo
