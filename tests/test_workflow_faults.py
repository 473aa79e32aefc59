"""Real Snakemake runs of their own: bad input, kills, a changed folder, a failing job."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from conftest import ROOT, planned, snakemake, tiny_config

from gsos.search.records import read_records


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

    from gsos.search.records import read_records

    cfg = tiny_config(default_config)
    cfg["hpo"]["iterations"] = 16
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
    assert 3 <= done_before < 16 and not (tmp_path / target).exists()

    assert snakemake("--configfile", "c.yaml", "--unlock", cwd=tmp_path).returncode == 0
    rerun = snakemake(
        "--configfile", "c.yaml", "--cores", "1", "--rerun-incomplete", target, cwd=tmp_path
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (tmp_path / "logs/c/hpo/digits/gsos/seed0.log").read_text()
    assert "resuming after iteration" in log
    records = read_records(tmp_path / target)
    assert [r["iteration"] for r in records] == list(range(1, 17))


def hpo_jobs_in_session(session: int) -> list[int]:
    """The `gsos ... hpo` processes of a session (Snakemake's jobs, alive after it)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[3]) == session and b"gsos" in cmd and b"hpo" in cmd and stat[0] != "Z":
            found.append(int(entry))
    return found


def test_an_orphaned_job_and_its_rerun_never_write_one_journal_together(tmp_path, default_config):
    """The README's recovery after killing only Snakemake: its HPO job runs on as an orphan;
    `--unlock` then `--rerun-incomplete` starts a second job for the same run. The second one
    must wait for the orphan (saying which process it waits for), then resume from its
    records: exactly one record per iteration, none trained twice."""
    import signal
    import time

    cfg = tiny_config(default_config)
    cfg["hpo"]["iterations"] = n = 100
    cfg["run"]["strategies"] = ["random"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/c/runs/digits/random/seed0/records.jsonl"
    journal = tmp_path / target.replace("records.jsonl", "records.journal.jsonl")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    base += ["--configfile", "c.yaml", "--cores", "1"]
    proc = subprocess.Popen(
        [*base, target],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while len(read_records(journal)) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "HPO never got going"
            time.sleep(0.05)
        proc.kill()  # Snakemake alone: its job keeps running, an orphan
        proc.wait()
        (orphan,) = hpo_jobs_in_session(proc.pid)
        os.kill(orphan, signal.SIGSTOP)  # held until the rerun's job is there: no race
        assert snakemake("--configfile", "c.yaml", "--unlock", cwd=tmp_path).returncode == 0
        rerun = subprocess.Popen(
            [*base, "--rerun-incomplete", target],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        log = tmp_path / "logs/c/hpo/digits/random/seed0.log"
        deadline = time.monotonic() + 120
        while "is still writing" not in (log.read_text() if log.exists() else ""):
            assert rerun.poll() is None and time.monotonic() < deadline, "the rerun never waited"
            time.sleep(0.1)
        os.kill(orphan, signal.SIGCONT)
        out, _ = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, out[-3000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the orphan, if the test failed early
    records = read_records(tmp_path / target)
    assert [r["iteration"] for r in records] == list(range(1, n + 1))
    assert len(read_records(journal)) == n  # the journal too: nothing appended twice
    assert f"resuming after iteration {n}" in log.read_text()  # the rerun trained nothing
    assert f"pid {orphan} on " in out and "is still writing" in out, out[-3000:]  # said


def refused_before_any_job(tmp_path, default_config, device: str) -> str:
    """The console of the tiny workflow with this device, which must stop before any job."""
    cfg = tiny_config(default_config)
    cfg["device"] = device
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake("--configfile", "c.yaml", "--cores", "1", cwd=tmp_path)
    assert run.returncode != 0
    assert not (tmp_path / "results").exists()  # not a single job ran
    return run.stdout + run.stderr


def test_cuda_without_a_gpu_stops_before_any_job(tmp_path, default_config):
    out = refused_before_any_job(tmp_path, default_config, "cuda")
    assert "device: cuda" in out and "no GPU" in out, out[-2000:]


def test_gpus_torch_cannot_use_stop_the_workflow_before_any_job(
    tmp_path, default_config, monkeypatch
):
    """Issue 29, defect 4, when the run is planned: a fake nvidia-smi lists two GPUs that
    this machine's torch cannot use; ``device: auto`` stops before any job, naming the
    driver and the CUDA version of the torch wheel (it trained on the CPU unnoticed).
    Checked: without the torch_gpu_problem call in check_device_here, the run goes on."""
    from test_gpus import TWO_GPUS, fake_nvidia_smi

    fake_nvidia_smi(tmp_path, monkeypatch, TWO_GPUS)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    out = refused_before_any_job(tmp_path, default_config, "auto")
    assert "device: auto: 2 GPU unit(s) are listed" in out, out[-2000:]
    assert "NVIDIA driver 535.104.05" in out and "set device: cpu" in out


def test_a_failing_jobs_own_error_line_reaches_the_console(tmp_path, default_config):
    """A folder that passes the planning checks (enough files) but whose images of one class
    are all broken: the preparation job fails, and its own line reaches the console."""
    from test_images import messy_folder

    root = messy_folder(tmp_path / "pets", per_class=4)
    for f in (root / "owl").iterdir():
        f.write_bytes(b"not an image")
    cfg = tiny_config(default_config)
    cfg["datasets"]["mine"] = {"source": {"kind": "folder", "path": str(root)}, "image_size": 8}
    cfg["run"]["datasets"] = ["mine"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = snakemake("--configfile", "c.yaml", "--cores", "1", cwd=tmp_path)
    assert run.returncode != 0
    assert f"{root / 'owl'}: class 'owl' has no usable images" in run.stdout + run.stderr


def test_what_can_be_checked_before_a_job_is_checked_when_the_run_is_planned(
    tmp_path, default_config
):
    """A missing image folder, a split that leaves nothing to train on and an output folder
    that cannot be made: all said at once, each once, naming the key and the file, before
    any job (the Table 5 timing job used to run first, 30 s and more)."""
    cfg = tiny_config(default_config)
    cfg["datasets"]["mine"] = {
        "source": {"kind": "folder", "path": str(tmp_path / "nowhere")},
        "image_size": 8,
        "split": {"validation": 0.6, "test": 0.5},
    }
    cfg["run"]["datasets"] = ["mine"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "results").write_text("a file where the results folder would go")
    run = snakemake("--configfile", "c.yaml", "--cores", "1", cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    expected = [
        f"datasets.mine.source.path: {tmp_path / 'nowhere'}: no such folder",
        "datasets.mine.split: validation 0.6 + test 0.5 = 1.1 leaves no images to train on",
        "the run writes to results/c: results is a file",
    ]
    for line in expected:
        assert out.count(line) == 1, (line, out[-3000:])
    assert "[set in" in out and "c.yaml" in out and "Traceback" not in out
    assert not (tmp_path / "logs").exists() and not (tmp_path / "reports").exists()


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


KILL_AFTER_RENAME = """
# Test hook (on PYTHONPATH as sitecustomize): SIGKILL the process the moment the file
# named in GSOS_TEST_KILL_AFTER_REPLACE has been put in place, before anything else runs.
import os, signal
_replace = os.replace
def replace(src, dst, *a, **k):
    _replace(src, dst, *a, **k)
    target = os.environ.get("GSOS_TEST_KILL_AFTER_REPLACE")
    if target and str(dst).endswith(target):
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
"""


def test_a_kill_right_after_the_records_are_in_place_costs_no_training(tmp_path, default_config):
    """Snakemake deletes the outputs of a job that did not exit cleanly; the finished trials
    must survive that, even when the kill lands between the final rename and the exit."""

    import yaml
    from conftest import snakemake, tiny_config

    cfg = tiny_config(default_config)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILL_AFTER_RENAME)
    target = "results/c/runs/digits/gsos/seed0/records.jsonl"
    env = {"PYTHONPATH": str(hook), "GSOS_TEST_KILL_AFTER_REPLACE": target}
    killed = snakemake("--configfile", "c.yaml", "--cores", "1", target, cwd=tmp_path, env=env)
    assert killed.returncode != 0
    log = tmp_path / "logs/c/hpo/digits/gsos/seed0.log"
    assert "iteration 6" in log.read_text() or "6/6" in log.read_text()
    rerun = snakemake(
        "--configfile", "c.yaml", "--cores", "1", "--rerun-incomplete", target, cwd=tmp_path
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    text = log.read_text()
    assert "resuming after iteration 6" in text, text[-2000:]
    assert "val=" not in text.split("resuming after iteration 6")[1]  # nothing trained again
    assert [r["iteration"] for r in read_records(tmp_path / target)] == list(range(1, 7))


def test_measured_groups_are_planned_on_the_right_pilots(tmp_path, default_config):
    """source same: a dataset's own pilots; leave_one_out: only the other datasets' (the
    paper's transfer)."""
    import re

    cfg = tiny_config(default_config)
    cfg["datasets"]["other"] = dict(cfg["datasets"]["digits"])
    cfg["run"].update(datasets=["digits", "other"], strategies=["gsos_measured"])
    for source, expected in (("same", {"digits"}), ("leave_one_out", {"other"})):
        cfg["measured_groups"]["source"] = source
        (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
        target = "results/m/measured_groups/digits.json"
        plan = snakemake(target, "-n", "--configfile", "m.yaml", cwd=tmp_path)
        assert plan.returncode == 0, plan.stderr[-3000:]
        out = plan.stdout + plan.stderr
        pilots = set(re.findall(r"results/m/pilots/(\w+)/random/seed\d+/records\.jsonl", out))
        assert pilots == expected, (source, pilots)
        assert planned(plan)["pilot"] == 2 * len(expected)  # the tiny config's two pilot seeds


def test_device_auto_on_a_multi_gpu_machine_never_starts_more_jobs_than_slots(
    tmp_path, default_config
):
    """device: auto (the paper config's) on a machine with two GPUs (a fake nvidia-smi):
    every HPO job declares a GPU, Snakemake is given as many as there are slots, so none
    waits for a slot (and none dies with NoFreeGPU as before) and each is bound to one.
    One strategy alone, as a researcher's own run (no paper artifacts): with nothing to rank
    against, every report job still finishes, and so does the report. (One seed: the README's
    quick look in test_workflow.py.)"""
    cfg = tiny_config(default_config)
    cfg.update(device="auto", paper_artifacts=False)
    cfg["run"].update(strategies=["random"], seeds=[0, 1, 2, 3])
    cfg["hpo"]["iterations"] = 3
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(cfg))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(
        '#!/bin/sh\necho "GPU 0: NVIDIA A100 (UUID: GPU-a)"\n'
        'echo "GPU 1: NVIDIA A100 (UUID: GPU-b)"\n'
    )
    (bin_dir / "nvidia-smi").chmod(0o755)
    path = f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    # torch here cannot use the fake GPUs, which stops a run (issue 29): the stand-in lets
    # the jobs train on the CPU, so that the binding and slot counting can be tested
    standin = str(ROOT / "tests" / "standins")
    env = {"PATH": path, "GSOS_GPU_LOCK_DIR": str(tmp_path / "l"), "PYTHONPATH": standin}
    run = subprocess.run(
        [sys.executable, "-m", "gsos", "run", "--snakefile", str(ROOT / "Snakefile"),
         "--configfile", "g.yaml", "--cores", "4"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, **env},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "reports/g/report.html").is_file()
    ranks = pd.read_csv(tmp_path / "reports/g/ranks.csv")
    assert list(ranks["strategy"]) == ["random"] and (ranks["average rank (mean)"] == 1).all()
    logs = [(tmp_path / f"logs/g/hpo/digits/random/seed{s}.log").read_text() for s in range(4)]
    assert all("bound to GPU" in log for log in logs), logs
    # Snakemake kept to the two slots: a job beyond them would say it waits (issue 29: it
    # waited silently, so this could not fail)
    assert not any("waiting for one" in log for log in logs)


def test_the_paper_artifacts_are_made_only_where_asked(tmp_path, default_config):
    """Table 5 (TPE timed on nothing of the experiment's) and Figure 1: on for the default and
    the paper config, off in the own-images preset."""
    cfg = tiny_config(default_config)
    del cfg["paper_artifacts"]  # as the preset, or the defaults, set it
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cfg))
    own = snakemake("-n", "--configfile", str(ROOT / "config/own_images.yaml"), "a.yaml",
                    cwd=tmp_path)  # fmt: skip
    default = snakemake("-n", "--configfile", "a.yaml", cwd=tmp_path)
    assert own.returncode == 0 and default.returncode == 0, own.stderr[-2000:]
    for job in ("table5", "figure1", "importance"):
        assert job in planned(default) and job not in planned(own), job
    assert planned(own)["summary"] == 1 and "published" not in planned(default)


def test_the_workstation_profile_runs_gpus_times_jobs_per_gpu_at_once(tmp_path, monkeypatch):
    """Issue 29, defect 3: profiles/workstation set ``resources: gpu=1``, which replaced the
    workflow's own count, so an 8-GPU node ran one HPO job at a time. Planned here with the
    profile on 8 fake GPUs and ``jobs_per_gpu: 2``: 16 at once, without --resources.
    Checked: with ``resources: [gpu=1]`` put back in the profile this fails (it says 1)."""
    from test_gpus import EIGHT_GPUS, fake_nvidia_smi

    fake_nvidia_smi(tmp_path, monkeypatch, EIGHT_GPUS)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    (tmp_path / "two.yaml").write_text("resources: {jobs_per_gpu: 2}\n")
    plan = snakemake("--profile", str(ROOT / "profiles" / "workstation"), "--configfile",
                     "two.yaml", "-n", cwd=tmp_path)  # fmt: skip
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "GPU slots: 16 training job(s) at once (8 GPU unit(s) x" in plan.stderr, plan.stderr[
        :3000
    ]
    assert planned(plan)["hpo"] > 0
