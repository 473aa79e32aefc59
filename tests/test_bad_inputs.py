"""Every class of bad input a new user was seen to give (issue 27), one example each and a few
more: refused before any job with a message that names the key, the file that set it and
what to write, every problem at once; or, where the input is legitimate but degenerate, a
warning at planning time that says what the run will become."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, snakemake

from gsos.config import ConfigError, config_warnings, load_config, load_schema

DEFAULTS = ROOT / "config" / "config.yaml"


def check(tmp_path, overlay: dict | None = None, name: str = "mine.yaml", cli=None, files=True):
    """Validate the defaults with ``overlay`` as a user's file; the problems, or []."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(overlay or {}))
    schema = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    try:
        load_config(DEFAULTS, [path], cli, schema, check_files=files)
    except ConfigError as e:
        return [line.removeprefix("  - ") for line in str(e).splitlines()[1:]]
    return []


def warnings_of(tmp_path, overlay: dict, recorded: dict | None = None) -> list[str]:
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(overlay))
    schema = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    return config_warnings(load_config(DEFAULTS, [path], None, schema), recorded)


def one(problems: list[str], *needles: str) -> str:
    """The one problem holding every needle."""
    found = [p for p in problems if all(n in p for n in needles)]
    assert len(found) == 1, (needles, problems)
    return found[0]


# --- escaping the project's folders ---------------------------------------------------------


@pytest.mark.parametrize("name", ["..", ".", "../elsewhere", "a/b", ".hidden"])
def test_an_experiment_name_cannot_leave_its_folders(tmp_path, name):
    problem = one(check(tmp_path, {"experiment": name}, files=False), "experiment:")
    assert "mine.yaml" in problem and "'.' or '..' would write outside" in problem


def test_a_dataset_name_cannot_leave_its_folders(tmp_path):
    datasets = {"../x": {"source": {"kind": "embedded", "name": "digits"}, "image_size": 8}}
    problems = check(tmp_path, {"datasets": datasets, "run": {"datasets": ["../x"]}}, files=False)
    assert any("datasets" in p and "'../x'" in p for p in problems), problems


# --- every problem at once --------------------------------------------------------------------


def test_every_search_space_problem_is_reported_at_once(tmp_path):
    """Three search-space errors and a TPE one: four lines (the checks stopped at the first)."""
    overlay = {
        "search_space": {
            "lr": {"type": "loguniform", "low": 1.0, "high": 0.1, "default": 0.5},
            "kernel": {"type": "choice", "values": [3, 5], "default": 7},
            "batch_size": {"type": "choice", "values": [0, 32], "default": 32},
        },
        "tpe": {"gamma": 0},
    }
    problems = check(tmp_path, overlay, files=False)
    one(problems, "search_space.lr", "low (1) must be below high (0.1)")
    one(problems, "search_space.kernel.default", "7")
    one(problems, "search_space.batch_size.values", "[0]")
    one(problems, "tpe.gamma")
    assert all("[set in" in p and "mine.yaml" in p for p in problems), problems


# --- unknown or impossible hyperparameters -------------------------------------------------------


@pytest.mark.parametrize(
    ("overlay", "key", "says"),
    [
        ({"search_space": {"momentum": {"type": "uniform", "low": 0, "high": 0.9, "default": 0}},
          "gsos": {"groups": [{"name": "G1", "params": ["momentum"], "share": 1}]}},
         "search_space.momentum", "reads no hyperparameter named 'momentum'"),
        ({"fixed": {"momentum": 0.9}}, "fixed.momentum", "reads no hyperparameter"),
        ({"search_space": {"batch_size": None}, "fixed": {"batch_size": 0}}, "fixed.batch_size",
         "a whole number ≥ 1"),
        ({"fixed": {"weight_decay": -5}}, "fixed.weight_decay", "a number ≥ 0"),
        ({"search_space": {"padding": {"type": "choice", "values": ["valid", "same", "reflect"],
                                       "default": "same"}}},
         "search_space.padding.values", "['reflect']"),
        ({"search_space": {"epoch": {"type": "uniform", "low": 1, "high": 9, "default": 1}}},
         "search_space.epoch.type", "use type: int"),
        ({"search_space": {"dropout_rate": {"type": "uniform", "low": 0, "high": 1.5,
                                            "default": 0}}},
         "search_space.dropout_rate.high", "< 1"),
        ({"search_space": {"lr": None}, "fixed": {"lr": "fast"}}, "fixed.lr", "a number > 0"),
        ({"search_space": {"optimizer": {"type": "int", "low": 0, "high": 1, "default": 0}}},
         "search_space.optimizer.type", "use type: choice"),
    ],
)  # fmt: skip
def test_hyperparameters_the_cnn_does_not_read_or_cannot_take(tmp_path, overlay, key, says):
    one(check(tmp_path, overlay, files=False), key, says)


# --- non-finite or runaway numbers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overlay", "key", "says"),
    [
        ({"search_space": {"lr": {"type": "loguniform", "low": 1e-5, "high": math.inf,
                                  "default": 0.01}}}, "search_space.lr.high", "not a finite"),
        ({"hpo": {"cost": math.inf}}, "hpo.cost", "not a finite"),
        ({"hpo": {"cost": 1e12}}, "hpo.cost", "1000000"),
        ({"hpo": {"iterations": 10**12}}, "hpo.iterations", "100000"),
        ({"hpo": {"max_repeats": 10**9}}, "hpo.max_repeats", "10000"),
        ({"hyperband": {"eta": 1.0001}}, "hyperband.eta", "rungs"),
        ({"hyperband_data": {"eta": 1.001}}, "hyperband_data.eta", "rungs"),
        ({"measured_groups": {"shares": [4, math.nan, 3]}}, "measured_groups.shares[1]",
         "not a finite"),
        ({"pilot": {"iterations": 10**9}}, "pilot.iterations", "100000"),
        ({"table5": {"repeats": 10**6}}, "table5.repeats", "1000"),
    ],
)  # fmt: skip
def test_numbers_that_would_never_end_are_refused(tmp_path, overlay, key, says):
    one(check(tmp_path, overlay, files=False), key, says)


def test_a_huge_iteration_count_on_the_command_line_is_refused(tmp_path):
    """--config hpo='{iterations: 1e12}' arrives as the float 1e12, which a JSON schema takes
    for an integer."""
    one(check(tmp_path, cli={"hpo": {"iterations": 1e12}}, files=False), "hpo.iterations")


def test_cores_0_is_refused_before_snakemake_waits_for_ever():
    from gsos.launch import run

    said = []
    assert run(["--cores", "0"], say=said.append) == 2
    assert "--cores 0" in said[0]


# --- degenerate set-ups, said as warnings --------------------------------------------------------


def test_hyperband_with_one_rung_is_said_to_be_random_search(tmp_path):
    overlay = {"search_space": {"epoch": {"type": "int", "low": 1, "high": 2, "default": 1}}}
    (w,) = [x for x in warnings_of(tmp_path, overlay) if x.startswith("hyperband:")]
    assert "one rung" in w and "random search" in w
    assert not [x for x in warnings_of(tmp_path, {}) if "rung" in x]  # the default: 3 rungs


def test_tpe_that_never_leaves_its_random_start_is_said(tmp_path):
    ws = warnings_of(tmp_path, {"tpe": {"n_startup_jobs": 100}})
    assert any("simultaneous never leave" in w for w in ws)
    assert any("gsos group(s) G1, G2, G3" in w for w in ws)
    small = warnings_of(tmp_path, {"tpe": {"n_startup_jobs": 35}})  # G2 and G3: 30 each
    assert any("G2, G3" in w and "G1" not in w for w in small)


def test_convolutions_on_single_pixels_are_said(tmp_path):
    deep = {"type": "choice", "values": [2, 37], "default": 2}
    ws = warnings_of(tmp_path, {"search_space": {"num_conv_layers": deep}})
    assert any("up to 37 layers" in w and "1×1 after 3" in w for w in ws)
    assert not warnings_of(tmp_path, {})  # the default (4 layers on 8x8) says nothing


def test_a_second_config_claiming_an_experiment_with_other_settings_is_warned(tmp_path):
    schema = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    recorded = load_config(DEFAULTS, [], None, schema)
    same = warnings_of(tmp_path, {"experiment": "default", "run": {"seeds": [0]}}, recorded)
    assert not same  # running fewer seeds of it changes no result
    ws = warnings_of(tmp_path, {"experiment": "default", "hpo": {"iterations": 60}}, recorded)
    (w,) = [x for x in ws if "already holds" in x]
    assert "'default' already holds results made with other settings (hpo.iterations)" in w


# --- messages that blame the right thing ----------------------------------------------------------


def test_a_config_file_with_a_bad_name_is_blamed_not_the_defaults(tmp_path):
    problem = one(check(tmp_path, {}, name="a b.yaml", files=False), "experiment:")
    assert "a b.yaml: the experiment is named after this file" in problem
    assert "config/config.yaml" not in problem


def test_an_unwritable_results_folder_is_not_blamed_on_a_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").write_text("a file where the folder should be")
    problem = one(check(tmp_path, {}), "results")
    assert "is a file" in problem and "[set in" not in problem


def test_ten_thousand_small_classes_are_counted_not_listed(tmp_path):
    root = tmp_path / "images"
    for i in range(300):
        (root / f"class{i:04d}").mkdir(parents=True)
        (root / f"class{i:04d}" / "a.png").write_bytes(b"x")
    overlay = {
        "datasets": {"mine": {"source": {"kind": "folder", "path": str(root)}, "image_size": 8}},
        "run": {"datasets": ["mine"]},
    }
    problems = check(tmp_path, overlay)
    problem = one(problems, "datasets.mine.source.path")
    assert "300 class folders" in problem and "and 295 more" in problem and len(problems) == 1


def test_a_test_folder_with_other_classes_is_found_at_planning(tmp_path):
    def folder(name, classes):
        for c in classes:
            (tmp_path / name / c).mkdir(parents=True)
            for k in range(3):
                (tmp_path / name / c / f"{k}.png").write_bytes(b"x")
        return str(tmp_path / name)

    source = {"kind": "folder", "path": folder("train", ["cat", "dog"]),
              "test_path": folder("test", ["cat", "wolf"])}  # fmt: skip
    overlay = {"datasets": {"mine": {"source": source, "image_size": 8}},
               "run": {"datasets": ["mine"]}}  # fmt: skip
    problem = one(check(tmp_path, overlay), "datasets.mine.source.test_path")
    assert "wolf" in problem and "dog" in problem and "same class folders" in problem


# --- recovery and late failures -------------------------------------------------------------------


def test_the_readme_recovery_commands_name_their_config():
    text = (ROOT / "README.md").read_text()
    lines = [ln for ln in text.splitlines() if "--rerun-incomplete" in ln and "gsos run" in ln]
    assert lines and all("--configfile" in ln for ln in lines), lines


def test_until_hpo_on_a_cost_matched_plan_is_refused_before_any_job(tmp_path):
    """Snakemake never starts the hpo jobs that wait on other hpo jobs under --until hpo and
    ends with "BUG: Out of jobs ready to be started"; the target 'runs' is the way."""
    cfg = tmp_path / "u.yaml"
    cfg.write_text(yaml.safe_dump({"hpo": {"iterations": 3}}))
    run = snakemake("--configfile", str(cfg), "--cores", "1", "--until", "hpo", cwd=tmp_path)
    assert run.returncode != 0
    assert "ask for the target 'runs'" in run.stderr and not (tmp_path / "results").exists()


def test_the_last_error_is_the_last_failures(tmp_path, default_config):
    """Four failures, then a success: the run stops (4 of 5 failed) and names the failures'
    error, not the success's None."""
    from synthetic import run_synthetic

    from gsos.search.runner import TooManyFailures

    def objective(params, trial_seed, calls=[]):  # noqa: B006 - counts the calls
        calls.append(1)
        if len(calls) <= 4:
            return {"status": "fail", "error": "ValueError: bad padding", "val_accuracy": None}
        return {"status": "ok", "val_accuracy": 0.5, "test_accuracy": 0.5}

    settings = copy.deepcopy({k: default_config[k] for k in ("search_space", "gsos", "tpe")})
    settings["hpo"] = {"iterations": 10}
    with pytest.raises(TooManyFailures, match="last error: ValueError: bad padding"):
        run_synthetic("random", settings, 0, tmp_path, objective)


def test_gsos_run_prints_the_warnings_before_any_job(tmp_path):
    cfg = tmp_path / "w.yaml"
    cfg.write_text(yaml.safe_dump({"tpe": {"n_startup_jobs": 100}, "hpo": {"iterations": 3}}))
    run = subprocess.run(
        [sys.executable, "-m", "gsos", "run", "--snakefile", str(ROOT / "Snakefile"),
         "--configfile", str(cfg), "-n"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "warning: tpe.n_startup_jobs: 100 random starts of 3 iterations" in run.stderr
    assert not Path(tmp_path / "results").exists()
