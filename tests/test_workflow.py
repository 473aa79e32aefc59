"""The real workflow, run once by the real Snakemake on a tiny config with every strategy,
and what it wrote: artifacts, tables, the HTML report (opened in headless Chromium), a second
experiment beside it. Every test here shares that one run (pytest-xdist keeps a file on one
worker), so tests with runs of their own live in test_workflow_faults.py."""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, planned, snakemake
from PIL import Image

from gsos.search.optimizers.registry import STRATEGIES
from gsos.search.records import read_records

EXP = "tiny"  # the experiment is named after its config file, tiny.yaml
PAPER_TABLES = ["runs", "table3", "table4", "headline", "paired_tests"]
PUBLISHED = [
    "table3_vs_published",
    "table4_vs_published",
    "headline_vs_published",
    "table4_published_check",
    "headline_published_check",
]
# each report item and the category it is listed under, in the report's reading order
CATEGORY = {
    "summary.html": "1. Summary",
    "comparisons.html": "1. Summary",
    "strategies.html": "2. Every strategy",
    "ranks.html": "2. Every strategy",
    "anytime.png": "2. Every strategy",
    "ranks.png": "2. Every strategy",
    "learning_curves.png": "2. Every strategy",
    **{f"{t}.html": "3. The paper's tables and figures" for t in PAPER_TABLES},
    "figure2.png": "3. The paper's tables and figures",
    "convergence.png": "3. The paper's tables and figures",
    "importance.html": "4. Importance",
    "measured_importance.html": "4. Importance",
    "figure1.png": "4. Importance",
    "table5.html": "5. Timing (Table 5)",
    "table5.png": "5. Timing (Table 5)",
}
TABLES = [n[: -len(".html")] for n in CATEGORY if n.endswith(".html")]
FIGURES = [n[: -len(".png")] for n in CATEGORY if n.endswith(".png")]
PROMISED = [
    *(f"reports/{EXP}/{t}.{e}" for t in TABLES for e in ("csv", "md", "tex", "html")),
    *(f"reports/{EXP}/{f}.{e}" for f in FIGURES for e in ("png", "pdf")),
    f"results/{EXP}/groups.json",
    f"results/{EXP}/data/digits/manifest.json",
    f"results/{EXP}/data/digits/data.pt",
]


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
        for strategy in ("hyperband", "bohb", "gsos_hyperband", "gsos_bohb", "hyperband_data",
                         "tpe_lc", "bilevel", "bilevel_vf", "fabolas", "boil"):  # fmt: skip
            s = json.loads((runs / f"{strategy}/seed{seed}/summary.json").read_text())
            assert s["budget"]["cost_epochs"] * s["n_train"] == target["sample_epochs_total"]
            assert s["sample_epochs_total"] <= target["sample_epochs_total"]
            if strategy in ("bilevel_vf", "fabolas", "boil"):  # they end where the budget does
                assert s["sample_epochs_total"] >= 0.9 * target["sample_epochs_total"], strategy
            records = [
                json.loads(x)
                for x in (runs / f"{strategy}/seed{seed}/records.jsonl").read_text().splitlines()
            ]
            if strategy in ("hyperband", "bohb"):  # (a GSOS group's share may be too small)
                assert any(r["continues"] for r in records), f"{strategy} promoted nothing"


def test_the_later_methods_ran_as_their_papers_say(workflow_run):
    """tpe_lc stopped a trial and said why; bilevel moved only lr and dropout; hyperband_data
    trained on nested shares of the training split."""
    runs = workflow_run / f"results/{EXP}/runs/digits"

    def records(strategy, seed):
        path = runs / f"{strategy}/seed{seed}/records.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()]

    tpe_lc = [r for seed in (0, 1) for r in records("tpe_lc", seed)]
    n_train = json.loads((runs / "tpe_lc/seed0/summary.json").read_text())["n_train"]
    stopped = [r for r in tpe_lc if r["status"] == "stopped"]
    assert stopped, "no tpe_lc trial stopped early"
    for r in stopped:
        assert r["epochs_run"] < r["params"]["epoch"]
        assert r["sample_epochs"] == r["epochs_run"] * n_train  # charged what it trained
        if "cost budget" in r["stopped"]["stop_reason"]:  # the last trial, cut by the budget
            assert r == records("tpe_lc", r["seed"])[-1]
            continue
        assert 0 <= r["stopped"]["predicted_final_accuracy"] <= 1
        assert "P(final > best" in r["stopped"]["stop_reason"]
    assert all(len(r["curve"]) == r["epochs_run"] for r in tpe_lc)  # a curve point per epoch
    bilevel = records("bilevel", 0)
    moved = {
        k for r in bilevel[1:] for k in r["params"] if r["params"][k] != bilevel[0]["params"][k]
    }
    assert moved and moved <= {"lr", "dropout_rate"}
    shares = {r["data_fraction"] for seed in (0, 1) for r in records("hyperband_data", seed)}
    assert min(shares) == pytest.approx(1 / 9, abs=1e-3) and max(shares) == 1.0


def test_the_value_function_and_gaussian_process_methods_ran_as_their_papers_say(workflow_run):
    """bilevel_vf (weight_decay searched, as the tiny config does) went through both phases and
    moved λ; FABOLAS trained on several shares below the whole split; BOIL recorded a
    curve for every training and varied the epochs it asked for."""
    runs = workflow_run / f"results/{EXP}/runs/digits"
    for seed in (0, 1):
        vf, fabolas, boil = (
            read_records(runs / f"{s}/seed{seed}/records.jsonl")
            for s in ("bilevel_vf", "fabolas", "boil")
        )
        assert {r["value_function"]["phase"] for r in vf} == {"lower", "al"}
        assert len({r["params"]["weight_decay"] for r in vf}) > 1
        shares = {r["data_fraction"] for r in fabolas}
        assert min(shares) < 1.0 and len(shares) > 2
        assert all(r["curve"] for r in boil if r["status"] == "ok")
        assert len({r["params"]["epoch"] for r in boil}) > 1  # budgets vary


def test_tables_hold_both_strategies_from_real_runs(workflow_run):
    reports = workflow_run / "reports" / EXP
    t3 = pd.read_csv(reports / "table3.csv")
    assert sorted(t3["strategy"]) == ["gsos", "simultaneous"]
    assert (t3["runs"] == 2).all() and (t3["total time (s) (mean)"] > 0).all()
    assert (t3["best val. accuracy (mean)"] > 0.1).all()  # better than chance on digits
    for metric, low, high in (("best val. accuracy", 0, 1), ("total time (s)", 0, None)):
        assert (t3[f"{metric} CI low"] >= low).all()  # intervals stay inside the bounds
        assert high is None or (t3[f"{metric} CI high"] <= high).all()
    compact = (reports / "table3.md").read_text()
    assert "best val. accuracy (mean [95 % CI])" in compact and "(s.d.)" not in compact
    t4 = pd.read_csv(reports / "table4.csv")
    assert list(t4["dataset"]) == ["digits"]
    t5 = pd.read_csv(reports / "table5.csv")
    assert sorted(set(t5["n_hyperparameters"])) == [1, 2] and (t5["median_seconds"] > 0).all()
    groups = json.loads((workflow_run / f"results/{EXP}/groups.json").read_text())["groups"]
    assert [g["iterations"] for g in groups] == [2, 2, 2]  # 6 split 4:3:3
    strategies = pd.read_csv(reports / "strategies.csv")
    assert list(strategies["strategy"]) == list(STRATEGIES)  # all eleven, registry order
    ranks = pd.read_csv(reports / "ranks.csv")  # bilevel_vf trains on validation: not ranked
    held_out = [s for s in STRATEGIES if STRATEGIES[s].validation_held_out]
    assert sorted(ranks["strategy"]) == sorted(held_out) and "bilevel_vf" not in held_out
    assert ranks["average rank (mean)"].between(1, len(held_out)).all()


def test_every_stated_verdict_comes_from_one_corrected_family(workflow_run):
    """comparisons.csv holds every comparison the report makes (6 metrics of Table 4, and
    each other strategy against simultaneous TPE at the common cost), Holm-adjusted; Table 4
    and the paired tests carry the same adjusted p for the same hypothesis, and the summary
    states a difference exactly where the family does."""
    reports = workflow_run / "reports" / EXP
    fam = pd.read_csv(reports / "comparisons.csv")
    others = len(STRATEGIES) - 2  # every strategy but the paper's pair
    assert len(fam) == 6 + others and fam["key"].is_unique
    tested = fam["p"].notna()
    assert (fam.loc[tested, "Holm-adjusted p"] >= fam.loc[tested, "p"]).all()
    t4 = pd.read_csv(reports / "table4.csv").iloc[0]
    test_acc = fam.set_index("key").loc["digits | gsos - simultaneous | test_accuracy"]
    assert t4["test accuracy change (absolute)"] == pytest.approx(test_acc["value"])
    holm = t4["test accuracy change (absolute) Holm-adjusted p"]
    assert holm == pytest.approx(test_acc["Holm-adjusted p"], nan_ok=True)
    summary = (reports / "summary.md").read_text()
    assert ("is higher (" in summary) == bool(fam["stated"].any())
    assert "Holm" in summary


def test_html_report_embeds_every_table_and_figure(report_html):
    html = report_html.read_text(errors="replace")
    for name in [*(f"{t}.html" for t in TABLES), *(f"{f}.png" for f in FIGURES)]:
        assert f"reports/{EXP}/{name}" in html, name
    assert f"experiment <strong>{EXP}</strong>" in html or f"experiment {EXP}" in html


def test_statistics_and_published_comparisons(workflow_run):
    reports = workflow_run / "reports" / EXP
    tests = pd.read_csv(reports / "paired_tests.csv")
    metrics = set(tests["metric (GSOS - simultaneous)"])
    assert metrics >= {"total time (s)", "best val. accuracy", "test accuracy"}
    assert (tests["pairs"] == 2).all() and tests["paired t-test p"].dropna().between(0, 1).all()
    t3 = pd.read_csv(reports / "table3.csv")
    assert (t3["total time (s) CI low"] <= t3["total time (s) (mean)"]).all()
    for name in PUBLISHED:  # digits is not a dataset of the paper: nothing to set beside
        assert not (reports / f"{name}.csv").exists(), name
    t5 = pd.read_csv(reports / "table5.csv")
    assert set(t5["library"]) == {"hyperopt", "optuna"}
    imp = pd.read_csv(reports / "importance.csv")
    assert imp["published weight"].notna().sum() == 4  # never filled in
    for col in ("N-RReliefF weight", "fANOVA weight"):
        assert abs(imp[col].sum() - 1) < 1e-6
    assert "\\toprule" in (reports / "table3.tex").read_text()


def test_gsos_measured_runs_on_groups_measured_on_its_pilots(workflow_run):
    """pilot runs -> importance -> groups -> GSOS runs, and what the groups file says."""
    groups = json.loads((workflow_run / f"results/{EXP}/measured_groups/digits.json").read_text())
    assert groups["source"] == "importance" and groups["estimator"] == "fanova"
    assert groups["measured_on"] == {
        "source": "same",
        "datasets": ["digits"],
        "weights_file": None,
        "pilot_strategy": "random",
        "pilot_seeds": [1000, 1001],
    }
    # the paper's tiers, the last one with weight_decay too (the tiny workflow searches 11)
    assert groups["rule"] == {"sizes": [3, 2, 6]}
    assert [len(g["params"]) for g in groups["groups"]] == [3, 2, 6]
    # 16 pilot trials cannot rank ten hyperparameters, and the file says so: intervals for every
    # weight and a low agreement between resamples (containment is tested on 240 trials)
    assert set(groups["ci_low"]) == set(groups["ci_high"]) == set(groups["weights"])
    assert all(groups["ci_low"][n] <= groups["ci_high"][n] for n in groups["weights"])
    assert -1 <= groups["kendall_tau"] < 0.9 and 0 <= groups["top_agreement"] <= 1
    assert groups["pilot_cost"]["trials"] == 16 and groups["pilot_cost_charged"]
    pilot = workflow_run / f"results/{EXP}/pilots/digits/random/seed1000/records.jsonl"
    assert len(pilot.read_text().splitlines()) == 8
    runs = workflow_run / f"results/{EXP}/runs/digits/gsos_measured/seed0/records.jsonl"
    records = [json.loads(x) for x in runs.read_text().splitlines()]
    assert [r["group"] for r in records][:1] == ["M1"]
    first = set(groups["groups"][0]["params"])
    varied = {k for k in records[0]["params"] if records[0]["params"][k] != records[1]["params"][k]}
    assert varied <= first  # group M1 searches only its own hyperparameters
    table = pd.read_csv(workflow_run / f"reports/{EXP}/strategies.csv").set_index("strategy")
    charge = table.loc["gsos_measured", "of which pilot runs (sample-epochs per run)"]
    assert charge == groups["pilot_cost"]["sample_epochs"] / 2  # shared by its two seeds
    importance = pd.read_csv(workflow_run / f"reports/{EXP}/importance.csv")
    assert {"fANOVA weight CI low", "N-RReliefF weight CI high"} <= set(importance.columns)


def test_status_reports_every_run(workflow_run):
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "gsos", "status", "--configfile", "tiny.yaml"],
        cwd=workflow_run,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    n = 2 * len(STRATEGIES)
    assert "the config the run recorded" in run.stdout.splitlines()[0]
    assert run.stdout.splitlines()[1].startswith(f"experiment {EXP}: {n} runs ({n} done)")
    assert "6/6 trials" in run.stdout and "epochs" in run.stdout


STUDIES = f"results/{EXP}/optuna-journal.log"


def expected_distribution(spec: dict):
    """Each kind of the search space as the Optuna distribution it must be."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if spec["type"] == "choice":
        return CategoricalDistribution(spec["values"])
    if spec["type"] == "int":
        return IntDistribution(spec["low"], spec["high"])
    return FloatDistribution(spec["low"], spec["high"], log=spec["type"] == "loguniform")


def study_runs(workflow_run) -> dict:
    """Every run the workflow made, by the study name it must have: each registered strategy's
    runs and gsos_measured's pilot runs."""
    runs = {
        f"digits/{s}/seed{seed}": workflow_run / f"results/{EXP}/runs/digits/{s}/seed{seed}"
        for s in STRATEGIES
        for seed in (0, 1)
    }
    pilots = sorted((workflow_run / f"results/{EXP}/pilots/digits/random").glob("seed*"))
    assert len(pilots) == 2  # the tiny config's two pilot seeds
    runs.update({f"pilot/digits/random/{p.name}": p for p in pilots})
    return runs


def test_every_run_is_an_optuna_study_that_gives_back_its_records(workflow_run):
    """The default run's storage: one study per run (pilot runs too), each record a trial with
    the record's value, parameters (under the search space's distributions) and status, its
    learning curve as intermediate values, the rest as user attributes; read back through
    Optuna, every record comes back exactly, for every registered strategy."""
    import optuna
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    from gsos.reports.studies import open_storage, record_of
    from gsos.search.records import best_record

    space = yaml.safe_load((workflow_run / "tiny.yaml").read_text())["search_space"]
    storage = open_storage(workflow_run / STUDIES)
    runs = study_runs(workflow_run)
    records = {name: read_records(folder / "records.jsonl") for name, folder in runs.items()}
    summaries = optuna.get_all_study_summaries(storage)
    assert {s.study_name: s.n_trials for s in summaries} == {n: len(r) for n, r in records.items()}
    state = {"ok": TrialState.COMPLETE, "stopped": TrialState.PRUNED}
    states = set()
    for name, recs in records.items():
        study = optuna.load_study(study_name=name, storage=storage)
        assert study.direction == StudyDirection.MINIMIZE
        trials = study.trials
        assert [record_of(t) for t in trials] == recs, name  # every field, exactly
        for t, r in zip(trials, recs, strict=True):
            assert t.number == r["iteration"] - 1
            assert t.state == state.get(r["status"], TrialState.FAIL), (name, r["iteration"])
            assert t.value == (r["loss"] if r["status"] in state else None)
            assert t.params == {k: v for k, v in r["params"].items() if k in space}
            for k in t.params:
                assert t.distributions[k] == expected_distribution(space[k]), (name, k)
            own = {
                p["epoch"]: 1 - p["val_accuracy"]
                for p in r["curve"] or []
                if p["val_accuracy"] is not None
            }
            assert own.items() <= t.intermediate_values.items(), (name, r["iteration"])
            if r["continues"]:  # the curve of the model it continued comes first
                assert min(t.intermediate_values) < min(own, default=float("inf")), name
            states.add(t.state)
        best = best_record(recs)
        if best is not None:
            assert study.best_trial.number == best["iteration"] - 1, name
        attrs = study.user_attrs
        assert attrs["code_version"] == recs[0]["code_version"] and len(attrs["code_version"]) == 16
        assert attrs["run_key"] == recs[0]["run_key"]
        assert attrs["config"]["search_space"] == space and attrs["experiment"] == EXP
        assert (workflow_run / attrs["records"]).samefile(runs[name] / "records.jsonl")
    assert {TrialState.COMPLETE, TrialState.PRUNED} <= states  # tpe_lc stopped a trial


def test_the_storage_is_rebuilt_when_records_change(workflow_run):
    """Changed records (Snakemake compares their checksum, so a touch is no change) plan the
    storage again; nothing new is planned otherwise (test_second_run_has_nothing_to_do)."""
    records = workflow_run / f"results/{EXP}/runs/digits/random/seed1/records.jsonl"
    before, text = records.stat(), records.read_bytes()
    try:
        with open(records, "ab") as f:  # a blank line: the same records, another file
            f.write(b"\n")
        plan = snakemake("--configfile", "tiny.yaml", "-n", cwd=workflow_run)
    finally:
        with open(records, "r+b") as f:  # in place: it is the journal too (a hard link)
            f.truncate(len(text))
        os.utime(records, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert records.read_bytes() == text
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert planned(plan).get("optuna_studies") == 1


def test_second_run_has_nothing_to_do(workflow_run):
    run = snakemake("--configfile", "tiny.yaml", "-n", cwd=workflow_run)
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_changing_the_groups_reruns_only_strategies_that_use_them(workflow_run):
    groups = [
        {
            "name": "G1",
            "params": ["num_conv_layers", "lr", "dropout_rate", "batch_size", "weight_decay"],
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


def readme_snippets() -> tuple[str, str]:
    """The README's 'Your own images' config file and its quick-look command, verbatim."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("**Your own images**") :]
    snippet = section[
        section.index("```yaml\n") + 8 : section.index("```\n", section.index("```yaml"))
    ]
    command = next(line for line in section.splitlines() if "--config hpo=" in line)
    return snippet, command


def test_a_new_users_config_from_the_readme_runs_beside_another_experiment(workflow_run, tmp_path):
    """The README's snippet, holding only a folder dataset and run.datasets, with the README's
    quick-look command (one seed), run in the directory of another experiment: the whole
    experiment and its report are made, both keep their outputs, and a dry run of either
    plans nothing."""
    import shlex

    from test_images import messy_folder

    data = tmp_path / "data" / "mine"
    messy_folder(data / "train", per_class=8)
    messy_folder(data / "test", per_class=3, seed=500)
    snippet, command = readme_snippets()
    (workflow_run / "mine.yaml").write_text(snippet.replace("/data/mine", str(data)))
    args = shlex.split(command)
    args = args[args.index("gsos") + 2 :]  # after `gsos run`: snakemake's arguments
    args = [str(ROOT / a) if a.startswith("config/") else a for a in args]
    tiny_before = {p: p.stat().st_mtime_ns for p in (workflow_run / "reports" / EXP).iterdir()}
    run = subprocess.run(  # the README's command: the whole experiment, then its report
        [sys.executable, "-m", "gsos", "run", "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=workflow_run, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    # one seed (no interval, no test can be computed): every report job still finishes
    reports = workflow_run / "reports" / "mine"
    assert (reports / "report.html").is_file() and (reports / "summary.md").is_file()
    assert (pd.read_csv(reports / "table3.csv")["runs"] == 1).all()
    assert not (reports / "table5.csv").exists()  # the preset leaves the paper's artifacts out
    table = pd.read_csv(reports / "strategies.csv")
    assert set(table["dataset"]) == {"mine"} and (table["runs"] == 1).all()
    assert set(table["strategy"]) == {"gsos", "simultaneous", "random", "hyperband"}
    records = workflow_run / "results/mine/runs/mine/gsos/seed0/records.jsonl"
    assert len(records.read_text().splitlines()) == 10  # hpo.iterations from --config
    assert {
        p: p.stat().st_mtime_ns for p in (workflow_run / "reports" / EXP).iterdir()
    } == tiny_before
    # `gsos status` with the file alone (not the run's --config) reads the config the run
    # recorded: its one seed, not five with four phantom waiting runs each
    status = subprocess.run(
        [sys.executable, "-m", "gsos", "status", "--configfile", "mine.yaml"],
        cwd=workflow_run, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "experiment mine: 4 runs (4 done)" in status.stdout, status.stdout + status.stderr
    for name, plan_args in (("tiny", ["--configfile", "tiny.yaml"]), ("mine", args)):
        plan = snakemake(*plan_args, "-n", cwd=workflow_run)  # each as it was run
        assert "Nothing to be done" in plan.stdout + plan.stderr, (name, plan.stdout[-2000:])


# --- the HTML report in headless Chromium -------------------------------------------------


def ensure_chromium() -> None:
    """Debian's chromium and chromedriver; installed here when missing and we may (CI: root)."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
            check=False,
            env=env,
            timeout=900,
            capture_output=True,
        )
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver could not be installed")
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install them)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    yield driver
    driver.quit()


def not_blank(png: bytes) -> bool:
    img = Image.open(io.BytesIO(png)).convert("L")
    lo, hi = img.getextrema()
    return hi - lo > 64 and sum(1 for n in img.histogram() if n) > 8


def wait_for(find, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = find()
        if found:
            return found
        time.sleep(0.1)
    return None


def open_category(browser, report_html, category):
    """The report's list of ``category``, reached as a reader does: from the page already
    open, through the menu ("Results", then the category), loading the report only when
    another page is open (a load takes seconds: the report carries every result)."""
    from selenium.webdriver.common.by import By

    if browser.current_url.split("#")[0] != report_html.as_uri():
        browser.get(report_html.as_uri())
    top = browser.find_elements(By.LINK_TEXT, "Results")  # the menu's top, from a result
    if top:
        top[0].click()
    link = wait_for(lambda: browser.find_elements(By.LINK_TEXT, category))
    assert link, f"no {category} category in the report"
    link[0].click()
    rows = wait_for(
        lambda: [
            r for r in browser.find_elements(By.CSS_SELECTOR, "tr") if r.text.startswith("reports/")
        ]
    )
    return {r.text.strip(): r for r in rows}


def show(browser, report_html, category, name):
    from selenium.webdriver.common.by import By

    rows = open_category(browser, report_html, category)
    assert name in rows, f"{name} not listed under {category}: {sorted(rows)}"
    rows[name].find_element(By.CSS_SELECTOR, "a[iconname=eye]").click()


def test_the_first_page_leads_with_the_answer(browser, report_html, tmp_path):
    """The landing page: the summary's verdicts and its table, the anytime figure beside them,
    the caveats; then the guide to every item in reading order."""
    from selenium.webdriver.common.by import By

    browser.get(report_html.as_uri())
    text = wait_for(
        lambda: (lambda t: t if "summary: experiment" in t.lower() else None)(
            browser.find_element(By.TAG_NAME, "body").text
        ),
        timeout=20,
    )
    assert text, browser.find_element(By.TAG_NAME, "body").text[:2000]
    assert "GSOS (TPE) − Simultaneous TPE" in text and (
        "cannot be told apart" in text or "higher" in text
    )
    low = text.lower()  # headings may be shown in capitals
    assert "at the common cost" in low and "caveats" in low
    assert "what is where" in low and low.index("summary: experiment") < low.index("what is where")
    table = browser.find_elements(By.CSS_SELECTOR, "table.summary")
    assert table and "test acc. at the common cost" in table[0].text
    figure = [i for i in browser.find_elements(By.TAG_NAME, "img") if i.size["width"] > 300]
    assert figure and not_blank(figure[0].screenshot_as_png)
    path = tmp_path / "landing.png"
    browser.save_screenshot(str(path))
    assert not_blank(path.read_bytes())


def test_categories_come_in_reading_order_and_fit(browser, report_html):
    from selenium.webdriver.common.by import By

    browser.get(report_html.as_uri())
    wanted = sorted(set(CATEGORY.values()))
    links = wait_for(
        lambda: [a.text for a in browser.find_elements(By.TAG_NAME, "a") if a.text in wanted]
    )
    assert links == wanted, links  # numbered, so listed in reading order
    menu = [a.text for a in browser.find_elements(By.TAG_NAME, "a")]
    assert "6. Published beside reproduced" not in menu  # no dataset of the paper ran


def test_every_table_is_shown_as_an_html_table_that_fits(browser, report_html):
    from selenium.webdriver.common.by import By

    for table in TABLES:
        show(browser, report_html, CATEGORY[f"{table}.html"], f"reports/{EXP}/{table}.html")
        frame = wait_for(lambda: browser.find_elements(By.TAG_NAME, "iframe"))
        assert frame, table
        frame = frame[0]
        assert frame.is_displayed() and frame.size["height"] > 50, table
        assert not_blank(frame.screenshot_as_png), table
        browser.switch_to.frame(frame)
        texts, headers, width = browser.execute_script(  # one round trip, not one a cell
            "const text = s => [...document.querySelectorAll(s)].map(e => e.innerText);"
            "return [text('table tbody tr td'), text('table thead th'),"
            " document.documentElement.scrollWidth]"
        )
        browser.switch_to.default_content()
        assert texts and headers, f"{table}: no table rows inside the report"
        if table in ("strategies", "summary"):  # the tables people compare by: they fit
            assert width <= 1400, (table, width)
            assert not any(t.endswith(".0000") for t in texts), table  # integers as integers


def test_every_figure_is_shown_and_not_blank(browser, report_html):
    from selenium.webdriver.common.by import By

    for figure in FIGURES:
        show(browser, report_html, CATEGORY[f"{figure}.png"], f"reports/{EXP}/{figure}.png")
        img = wait_for(
            lambda: [
                i
                for i in browser.find_elements(By.TAG_NAME, "img")
                if i.is_displayed() and i.size["width"] > 100
            ]
        )
        assert img, figure
        assert browser.execute_script("return arguments[0].naturalWidth", img[0]) > 100, figure
        assert not_blank(img[0].screenshot_as_png), figure


# --- optuna-dashboard on the storage, in headless Chromium -----------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def dashboard(workflow_run):
    """The real optuna-dashboard (its own command) on a loopback port, on the storage the
    workflow made."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "optuna-dashboard"), str(workflow_run / STUDIES),
         "--host", "127.0.0.1", "--port", str(port), "--server", "wsgiref", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            get_json(url + "api/meta")
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("optuna-dashboard did not answer within 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_optuna_dashboard_lists_every_study_and_draws_a_studys_trials(
    dashboard, browser, workflow_run, tmp_path
):
    """The studies through optuna-dashboard's HTTP API; a study's page in Chromium, whose
    history plot draws a marker for each of its trials with a value, at a drawn pixel."""
    from selenium.webdriver.common.by import By

    runs = study_runs(workflow_run)
    listed = {s["study_name"]: s["study_id"] for s in get_json(dashboard + "api/studies")[
        "study_summaries"]}  # fmt: skip
    assert set(listed) == set(runs)
    name = next(  # a tpe_lc run with a trial stopped early: COMPLETE and PRUNED both drawn
        n
        for n in sorted(listed)
        if "/tpe_lc/" in n
        and any(r["status"] == "stopped" for r in read_records(runs[n] / "records.jsonl"))
    )
    detail = get_json(f"{dashboard}api/studies/{listed[name]}")
    valued = [t for t in detail["trials"] if t["values"]]
    assert len(detail["trials"]) == len(read_records(runs[name] / "records.jsonl"))
    assert {t["state"] for t in valued} == {"Complete", "Pruned"}
    browser.get(f"{dashboard}dashboard/studies/{listed[name]}")

    def history_markers():
        plots = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
        return plots and plots[0].find_elements(By.CSS_SELECTOR, "path.point")

    markers = wait_for(lambda: (m := history_markers()) and len(m) >= len(valued) and m, 30)
    assert markers, "the history plot drew no trials"
    plot = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")[0]
    assert name in browser.find_element(By.TAG_NAME, "body").text
    shot = tmp_path / "study.png"
    shot.write_bytes(plot.screenshot_as_png)
    img = Image.open(shot).convert("RGB")
    assert not_blank(shot.read_bytes())
    scale = img.width / plot.size["width"]
    drawn = 0
    for m in markers:  # each marker's centre is painted in colour (not white or grey)
        x = (m.location["x"] - plot.location["x"] + m.size["width"] / 2) * scale
        y = (m.location["y"] - plot.location["y"] + m.size["height"] / 2) * scale
        r, g, b = img.getpixel((min(int(x), img.width - 1), min(int(y), img.height - 1)))
        drawn += max(r, g, b) - min(r, g, b) > 40
    assert drawn >= len(valued), (drawn, len(valued))
