from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# torch and the data stage are imported where used: the contract tests' kill zygotes import
# this file, and torch's import (3-4 s here) would be paid once per strategy
from gsos.search.records import TIMING_FIELDS
from gsos.search.space import SearchSpace

ROOT = Path(__file__).resolve().parents[1]


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def layered(*files: Path) -> dict:
    """A config as the workflow sees it: the defaults, then each file over them."""
    from gsos.config import load_config, load_schema

    schema = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    return load_config(ROOT / "config" / "config.yaml", files, None, schema)


@pytest.fixture(scope="session")
def default_config() -> dict:
    return layered()


@pytest.fixture(scope="session")
def paper_config() -> dict:
    return layered(ROOT / "config" / "paper.yaml")


@pytest.fixture(scope="session")
def paper_space(paper_config) -> SearchSpace:
    return SearchSpace.from_config(paper_config["search_space"])


@pytest.fixture(scope="session")
def digits_files(tmp_path_factory) -> tuple[Path, Path]:
    """The embedded digits, prepared at 8x8 through the real preparation code."""
    from gsos.data.prepare import prepare_dataset
    from gsos.data.tensors import save_prepared

    out = tmp_path_factory.mktemp("digits")
    tensors, manifest = prepare_dataset(
        "digits", {"source": {"kind": "embedded", "name": "digits"}, "image_size": 8}
    )
    save_prepared(out / "data.pt", out / "manifest.json", tensors, manifest)
    return out / "data.pt", out / "manifest.json"


@pytest.fixture(scope="session")
def digits(digits_files):
    import torch

    from gsos.data.tensors import load_prepared

    return load_prepared(digits_files[0], torch.device("cpu"))


def snakemake(*args, cwd: Path, timeout=600, env=None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def planned(run) -> dict[str, int]:
    """Snakemake's job counts from a dry run's summary."""
    out = run.stdout + run.stderr
    return {
        line.split()[0]: int(line.split()[1])
        for line in out.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }


def tiny_config(default_config: dict) -> dict:
    cfg = copy.deepcopy(default_config)
    del cfg["experiment"]  # named after the file it is written to
    cfg["run"]["seeds"] = [0, 1]
    cfg["datasets"]["digits"]["image_size"] = 8
    cfg["search_space"]["epoch"] = {"type": "int", "low": 1, "high": 3, "default": 1}
    cfg["hpo"]["iterations"] = 6
    cfg["tpe"]["n_startup_jobs"] = 2
    cfg["pilot"].update(seeds=[1000, 1001], iterations=8)
    cfg["measured_groups"]["bootstrap"] = 4
    cfg["importance"] = {"refits": 8, "trees": 4}
    cfg["model"]["base_filters"] = 4
    # the Gaussian-process strategies at test size (the paper's settings take minutes a
    # proposal): one GP fit, few candidates, a short MCMC; larger data shares, fewer proposals
    cfg["fabolas"].update(
        n_init=6, min_fraction=0.25, marginalize=False, num_eval_points=10,
        representer_points=24, innovations=10, burn_in=1, mcmc_steps=2, gp_restarts=1,
    )  # fmt: skip
    cfg["boil"].update(n_init=2, hyper_starts=3, num_restarts=1, raw_samples=16)
    cfg["table5"] = {
        "dims": [1, 2],
        "iterations": 8,
        "eval_seconds": 0.0,
        "repeats": 2,
        "n_startup_jobs": 3,
    }
    return cfg


WEIGHT_DECAY = {"type": "loguniform", "low": 1.0e-6, "high": 1.0e-2, "default": 1.0e-4}


def with_weight_decay(cfg: dict) -> dict:
    """The optional weight_decay searched too (in the first GSOS group): bilevel_vf's
    hyperparameter."""
    cfg = copy.deepcopy(cfg)
    cfg["search_space"]["weight_decay"] = dict(WEIGHT_DECAY)
    cfg["gsos"]["groups"][0]["params"].append("weight_decay")
    sizes = cfg.get("measured_groups", {}).get("rule", {}).get("sizes")
    if sizes:  # measured groups cover every hyperparameter: the last tier takes it
        sizes[-1] += 1
    return cfg


@pytest.fixture(scope="session")
def workflow_run(tmp_path_factory, default_config):
    """The real workflow, run once by the real Snakemake on a tiny config."""
    from gsos.search.optimizers.registry import STRATEGIES

    work = tmp_path_factory.mktemp("wf")
    cfg = with_weight_decay(tiny_config(default_config))  # bilevel_vf searches it
    cfg["run"]["strategies"] = list(STRATEGIES)
    cfg["tpe_lc"]["threshold"] = 0.5  # six trials a run: loose enough that one is stopped
    (work / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    run = subprocess.run(  # as the README runs it: checked, run, then the report
        [sys.executable, "-m", "gsos", "run", "--snakefile", str(ROOT / "Snakefile"),
         "--configfile", "tiny.yaml", "--cores", "2"],
        cwd=work, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    return work


@pytest.fixture(scope="session")
def report_html(workflow_run) -> Path:
    """The report `gsos run` wrote at the end of the run."""
    path = workflow_run / "reports" / "tiny" / "report.html"
    assert path.is_file()
    return path


TIMING = TIMING_FIELDS


def strip_timing(records, extra=()):
    """Records without their wall-clock fields: what must match between two runs."""
    return [{k: v for k, v in r.items() if k not in (*TIMING, *extra)} for r in records]


def tiny_hpo_settings(default_config, iterations=8, n_startup_jobs=3, **over):
    """HPO settings for digits at test size: 1-2 epochs, 4 base filters, CPU."""
    s = {k: default_config[k] for k in ("search_space", "gsos", "training")}
    s["search_space"] = {
        **s["search_space"],
        "epoch": {"type": "int", "low": 1, "high": 2, "default": 1},
    }
    s.update(
        hpo={"iterations": iterations},
        tpe={"n_startup_jobs": n_startup_jobs},
        device="cpu",
        model={"base_filters": 4},
    )
    s.update(over)
    return s


def run_digits_hpo(tmp_path, digits_files, settings, name, strategy="gsos", seed=3):
    """One real HPO run on the prepared digits; returns its summary."""
    from gsos.search.groups import build_groups
    from gsos.search.optimizers.registry import strategy as registered
    from gsos.search.run import run_hpo

    spec = settings.get("gsos", {}).get("groups", [])
    grouped = registered(strategy).grouped
    groups = build_groups(list(settings["search_space"]), settings["hpo"]["iterations"], spec)
    shares = [g.get("share") for g in spec]
    return run_hpo(
        dataset="digits",
        strategy=strategy,
        seed=seed,
        settings=settings,
        groups=groups if grouped else [],
        shares=shares if grouped and None not in shares else None,
        cost_epochs=settings.get("cost_epochs"),
        data_path=digits_files[0],
        manifest_path=digits_files[1],
        records_path=tmp_path / f"{name}.jsonl",
        summary_path=tmp_path / f"{name}.json",
    )
