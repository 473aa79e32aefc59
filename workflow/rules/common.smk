import json
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from gsos.config import ConfigError, load_config, load_schema
from gsos.reports.studies import STUDIES_FILE
from gsos.search.optimizers.registry import PAPER_PAIR, STRATEGIES
from gsos.search.optimizers.registry import strategy as registered

# Layers: config/config.yaml (the defaults), each --configfile, then --config; validated
# before any job (gsos/config.py says how, and reports every problem at once).
try:
    _validated = load_config(
        Path(workflow.basedir) / "config" / "config.yaml",
        workflow.overwrite_configfiles,
        workflow.config_settings.config,
        load_schema(Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml"),
        check_files=workflow.is_main_process,  # folders and outputs, before any job
    )
except ConfigError as e:
    raise WorkflowError(str(e)) from None
config.clear()
config.update(_validated)


# Jobs run `python -m gsos` from this checkout's src/, also inside --sdm conda envs,
# which carry only the dependencies.
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={Path(workflow.basedir) / 'src'}"
    "${{PYTHONPATH:+:$PYTHONPATH}}; "
    f"export GSOS_PROGRESS_SECONDS={float(config['progress_seconds'])}; "
)

EXPERIMENT = config["experiment"]
RESULTS = f"results/{EXPERIMENT}"  # every experiment has its own results, reports and logs
REPORTS = f"reports/{EXPERIMENT}"
LOGS = f"logs/{EXPERIMENT}"
BENCH = f"benchmarks/{EXPERIMENT}"
RUN_DIR = f"{RESULTS}/runs/{{dataset}}/{{strategy}}/seed{{seed}}"  # one HPO run's folder
PILOT_DIR = f"{RESULTS}/pilots/{{dataset}}/{{strategy}}/seed{{seed}}"  # one pilot run's folder
DATASETS = config["run"]["datasets"]
RUN_STRATEGIES = config["run"]["strategies"]
SEEDS = config["run"]["seeds"]
PAPER_RUN = all(s in RUN_STRATEGIES for s in PAPER_PAIR)


wildcard_constraints:
    dataset="|".join(DATASETS),
    strategy="|".join(STRATEGIES),
    seed=r"\d+",


def say_config_warnings():
    """What a valid config will do that its author may not expect, said once at planning
    (before the run records its own config over the last one's)."""
    import sys

    from gsos.config import config_warnings, recorded_run_config

    if not workflow.is_main_process:
        return
    try:  # a run without --cores (writing the report) has no core count to ask for
        cores = workflow.cores if workflow.local_exec else None
    except WorkflowError:
        cores = None
    if cores == 0:
        raise WorkflowError("--cores 0 runs no job and waits for ever: give --cores 1 or more")
    last = recorded_run_config(config["experiment"])
    for warning in config_warnings(config, last[0] if last else None):
        print(f"warning: {warning}", file=sys.stderr)


say_config_warnings()


def check_device_here():
    """device: cuda on a machine with no GPU fails every HPO job minutes in, and GPUs that
    torch cannot use (a driver older than the wheel's CUDA, a container without the devices)
    would leave device: auto training on the CPU; say so at once.

    Only when jobs run on this machine: a cluster's login node often has no GPU while its
    compute nodes do (there, each HPO job checks for itself before loading any data).
    torch is imported only where GPUs are listed.
    """
    from gsos.training.gpus import gpu_visible, inventory, torch_gpu_problem

    if not workflow.local_exec or config["device"] == "cpu":
        return
    if config["device"] == "cuda" and not gpu_visible():
        raise WorkflowError(
            "device: cuda, but this machine shows no GPU (no nvidia-smi GPU, no /dev/nvidia*); "
            "set device: cpu or auto in the config, or run where the GPUs are"
        )
    problem = torch_gpu_problem(inventory())
    if problem is not None:
        raise WorkflowError(f"device: {config['device']}: {problem}")


def check_until_here():
    """Snakemake stops at the jobs of the rules given to --until, so the cost-matched hpo jobs,
    which wait for simultaneous TPE's hpo jobs, would never start, and Snakemake would end
    with "BUG: Out of jobs ready to be started". Said before any job (the --until rules are
    known once the run starts, not when the Snakefile is read)."""
    until = set(getattr(workflow.dag_settings, "until", None) or ())
    matched = [s for s in config["run"]["strategies"] if registered(s).cost_matched(config)]
    if until & {"hpo", "pilot"} and matched and config["hpo"]["cost"] == "match":
        raise WorkflowError(
            f"--until {' '.join(sorted(until))}: Snakemake stops at the jobs of a rule given "
            f"to --until, and the cost-matched runs ({', '.join(matched)}) are hpo jobs that "
            "wait for simultaneous TPE's, so they would never start. To run every HPO run "
            "without the report, ask for the target 'runs': snakemake --cores all runs"
        )


def record_this_run():
    """Write the config this run uses, for `gsos status` (which cannot know the run's
    --config); called on start, after the checks, so that a refused run leaves nothing."""
    from gsos.config import record_run_config

    record_run_config(config, Path(f"results/{EXPERIMENT}/run-config.yaml"))


def every_core(wildcards):
    """All cores of a local run, so that nothing runs beside a timing benchmark; 1 where
    there are none to count (a cluster job of its own, or writing the report)."""
    if not workflow.local_exec:
        return 1
    try:
        return workflow.cores
    except WorkflowError:
        return 1


def as_json(value):
    """Settings travel to the CLI as JSON params, so a changed setting reruns its jobs."""
    return json.dumps(value, sort_keys=True)


def dataset_settings(wildcards):
    return as_json(config["datasets"][wildcards.dataset])


def folder_content(wildcards):
    """A folder dataset's content (names, sizes, times of its visible files) as a rerun
    trigger: editing the folder prepares it again; other kinds have nothing to watch here."""
    from gsos.data.folders import fingerprint

    source = config["datasets"][wildcards.dataset]["source"]
    if source["kind"] != "folder":
        return ""
    return fingerprint(source["path"], source.get("test_path"))


def download_record(wildcards):
    """Downloaded kinds wait for their download; embedded and folder datasets need none."""
    if config["datasets"][wildcards.dataset]["source"]["kind"] in ("http", "kaggle"):
        return {"download": f"resources/{wildcards.dataset}/download.json"}
    return {}


def groups_settings():
    """Only what decides the groups file: editing the note or a strategy reruns nothing."""
    return as_json(
        {
            "search_space": list(config["search_space"]),
            "hpo": {"iterations": config["hpo"]["iterations"]},
            "groups": config["gsos"]["groups"],
        }
    )


def gsos_job_settings(st):
    """A GSOS job's inner algorithm(s); continuous_inner only when set (no rerun otherwise)."""
    out = {"inner": st.inner_algorithm(config).name}
    if st.continuous_algorithm(config) is not None:
        out["continuous_inner"] = st.continuous_algorithm(config).name
    return out


def hpo_settings(wildcards):
    """Only the settings this job's strategy uses (params are rerun triggers)."""
    st = registered(wildcards.strategy)
    s = {k: config[k] for k in ("search_space", "fixed", "training", "model", "device")}
    s["hpo"] = {"max_repeats": config["hpo"]["max_repeats"]}
    if not st.cost_matched(config):
        s["hpo"]["iterations"] = config["hpo"]["iterations"]
    for section in st.sections(config):
        s[section] = config[section]
    if st.grouped:  # the groups arrive in the groups file; the note is for people
        s["gsos"] = gsos_job_settings(st)
    return as_json(s)


def hpo_inputs(wildcards):
    """Data; the groups file for the GSOS family only (the dataset's measured groups for
    gsos_measured); for a multi-fidelity strategy whose budget matches simultaneous TPE's
    cost, that run's summary."""
    st = registered(wildcards.strategy)
    inputs = {
        "data": f"{RESULTS}/data/{wildcards.dataset}/data.pt",
        "manifest": f"{RESULTS}/data/{wildcards.dataset}/manifest.json",
    }
    if st.measured:
        inputs["groups"] = f"{RESULTS}/measured_groups/{wildcards.dataset}.json"
    elif st.grouped:
        inputs["groups"] = f"{RESULTS}/groups.json"
    if st.cost_matched(config) and config["hpo"]["cost"] == "match":
        inputs["match"] = run_path(wildcards.dataset, "simultaneous", wildcards.seed, "summary.json")
    return inputs


def hpo_options(wildcards, input):
    opts = []
    if "groups" in input.keys():
        opts.append(f"--groups {input.groups}")
    if "match" in input.keys():
        opts.append(f"--match-summary {input.match}")
    elif registered(wildcards.strategy).cost_matched(config):
        opts.append(f"--cost-epochs {config['hpo']['cost']}")
    return " ".join(opts)


# --- pilot runs and measured groups (gsos_measured) ------------------------------------------

PILOT = config["pilot"]
MEASURED = any(registered(s).measured for s in RUN_STRATEGIES)


def pilot_settings(wildcards):
    """A pilot run's settings: its strategy's, with the pilot's own budget."""
    st = registered(PILOT["strategy"])
    s = {k: config[k] for k in ("search_space", "fixed", "training", "model", "device")}
    s["hpo"] = {"iterations": PILOT["iterations"], "max_repeats": config["hpo"]["max_repeats"]}
    for section in st.sections(config):
        s[section] = config[section]
    if st.grouped:
        s["gsos"] = gsos_job_settings(st)
    return as_json(s)


def pilot_inputs(wildcards):
    inputs = {
        "data": f"{RESULTS}/data/{wildcards.dataset}/data.pt",
        "manifest": f"{RESULTS}/data/{wildcards.dataset}/manifest.json",
    }
    if registered(PILOT["strategy"]).grouped:
        inputs["groups"] = f"{RESULTS}/groups.json"
    return inputs


def pilot_options(wildcards, input):
    opts = [f"--groups {input.groups}"] if "groups" in input.keys() else []
    if registered(PILOT["strategy"]).cost_matched(config):
        opts.append(f"--cost-epochs {PILOT['cost']}")
    return " ".join(opts)


def pilot_records(datasets):
    return expand(
        f"{PILOT_DIR}/records.jsonl", dataset=datasets, strategy=PILOT["strategy"], seed=PILOT["seeds"]
    )


def measure_inputs(wildcards):
    """The pilots a dataset's groups are measured on: its own, every other dataset's (the
    paper's transfer), or none (a weights file)."""
    source = config["measured_groups"]["source"]
    if source == "file":
        return {"weights": config["measured_groups"]["weights_file"]}
    if source == "same":
        return {"pilots": pilot_records([wildcards.dataset])}
    return {"pilots": pilot_records([d for d in DATASETS if d != wildcards.dataset])}


def measure_settings():
    """What decides a dataset's measured groups and their pilot charge (the number of
    datasets sharing leave_one_out pilots)."""
    keys = ("search_space", "pilot", "measured_groups")
    s = {k: config[k] for k in keys}
    s["hpo"] = {"iterations": config["hpo"]["iterations"]}
    if config["measured_groups"]["source"] == "leave_one_out":
        s["n_datasets"] = len(DATASETS)
    return as_json(s)


def measure_options(wildcards, input):
    if "weights" in input.keys():
        return f"--weights-file {input.weights}"
    return f"--pilots {' '.join(input.pilots)}"


def gpu_units():
    """GPU units (GPUs or MIG instances) this machine offers, counted once when the run is
    planned (0 on a cluster's submit host, where the scheduler binds GPUs)."""
    if not (workflow.is_main_process and workflow.local_exec) or config["device"] == "cpu":
        return 0
    from gsos.training.gpus import count_gpus

    return count_gpus()


GPU_UNITS = gpu_units()
USES_GPU = config["device"] == "cuda" or (config["device"] == "auto" and GPU_UNITS > 0)
if USES_GPU and GPU_UNITS:
    per_gpu = config["resources"]["jobs_per_gpu"]
    if "gpu" not in workflow.global_resources:
        # a local run starts no more GPU jobs than there are slots, unless --resources says
        workflow.register_resource("gpu", GPU_UNITS * per_gpu)
        why = f"{GPU_UNITS} GPU unit(s) x resources.jobs_per_gpu {per_gpu}"
    else:
        why = f"--resources gpu (or a profile's resources), for {GPU_UNITS} GPU unit(s)"
    slots = workflow.global_resources["gpu"]
    slots = getattr(slots, "value", slots)  # a Resource in Snakemake 9, an int before
    print(f"GPU slots: {slots} training job(s) at once ({why})", file=sys.stderr)


def hpo_resources():
    """Ask for a GPU when the job will train on one (device cuda, or auto where this machine
    shows GPUs); memory and runtime come from config.

    jobs_per_gpu, gpu_wait_minutes and oom_wait_minutes travel as resources, not params,
    so changing them never reruns a job.
    """
    res = {
        "mem_mb": config["resources"]["hpo_mem_mb"],
        "runtime": config["resources"]["hpo_runtime_min"],
        "jobs_per_gpu": config["resources"]["jobs_per_gpu"],
        "gpu_wait_minutes": config["resources"]["gpu_wait_minutes"],
        "oom_wait_minutes": config["resources"]["oom_wait_minutes"],
    }
    if USES_GPU:
        res["gpu"] = 1
    return res


def run_path(dataset, strategy_name, seed, name):
    return expand(f"{RUN_DIR}/{name}", dataset=dataset, strategy=strategy_name, seed=seed)[0]


def run_records(strategies=None, datasets=None):
    return expand(
        f"{RUN_DIR}/records.jsonl",
        dataset=datasets or DATASETS,
        strategy=strategies or RUN_STRATEGIES,
        seed=SEEDS,
    )


# HPO and pilot jobs run the same command: one run of one strategy, its inputs and outputs
# named alike by both rules.
HPO_COMMAND = (
    "python -m gsos --log {log} hpo --dataset {wildcards.dataset}"
    " --strategy {wildcards.strategy} --seed {wildcards.seed}"
    " --settings {params.settings:q} {params.options}"
    " --data {input.data} --manifest {input.manifest} --records {output.records}"
    " --summary {output.summary} --threads {threads}"
    " --jobs-per-gpu {resources.jobs_per_gpu} --gpu-wait-minutes {resources.gpu_wait_minutes}"
    " --oom-wait-minutes {resources.oom_wait_minutes}"
    " --progress --progress-seconds {resources.progress_seconds}"
)


FORMATS = ["csv", "md", "tex", "html"]

# The report's categories, in the order a reader wants them (Snakemake sorts them by name).
SUMMARY = "1. Summary"
COMPARED = "2. Every strategy"
PAPER = "3. The paper's tables and figures"
IMPORTANCE = "4. Importance"
TIMING = "5. Timing (Table 5)"
PUBLISHED = "6. Published beside reproduced"


def table_outputs(*names, category):
    """Every format of each table; the HTML one goes into the report (shown inline)."""
    out = {}
    for name in names:
        for ext in FORMATS:
            path = f"{REPORTS}/{name}.{ext}"
            if ext == "html":
                path = report(path, caption=f"../report/{name}.rst", category=category)
            out[f"{name}_{ext}"] = path
    return out


PAPER_TABLES = ["headline", "table3", "table4", "paired_tests", "runs"]
PUBLISHED_TABLES = [
    "table3_vs_published",
    "table4_vs_published",
    "headline_vs_published",
    "table4_published_check",
    "headline_published_check",
]
STRATEGY_TABLES = ["strategies", "ranks"]
# the paper's own artifacts (Table 5's TPE timing, Figure 1's importance): a switch, on for
# the default and the paper's protocol, off for the own-images preset
PAPER_ARTIFACTS = config["paper_artifacts"]
# published comparisons only where a dataset of the paper ran (its entry has paper figures)
PAPER_DATASET_RAN = any(config["datasets"][d].get("paper") for d in DATASETS)
PAIR_RAN = "simultaneous" in RUN_STRATEGIES and "gsos" in RUN_STRATEGIES


STUDIES = f"{RESULTS}/{STUDIES_FILE}"  # every run as an Optuna study (gsos.reports.studies)


def pilot_runs():
    """The pilot runs this experiment makes: those some dataset's measured groups read."""
    if not MEASURED or config["measured_groups"]["source"] == "file":
        return []
    from types import SimpleNamespace

    inputs = [measure_inputs(SimpleNamespace(dataset=d))["pilots"] for d in DATASETS]
    return sorted({p for files in inputs for p in files})


def studies_settings():
    """The experiment and its config, the studies' attributes (the report's own entry left
    out: it is not a setting, and it changes once the report exists)."""
    return as_json(
        {
            "experiment": EXPERIMENT,
            "config": {k: v for k, v in config.items() if k != "summary_page"},
        }
    )


def measured_group_files():
    return expand(f"{RESULTS}/measured_groups/{{dataset}}.json", dataset=DATASETS) if MEASURED else []


def final_outputs():
    tables = [*STRATEGY_TABLES, "summary", "comparisons"]
    figures = ["anytime", "ranks", "learning_curves"]
    if MEASURED:
        tables.append("measured_importance")
    if PAPER_RUN:
        tables += PAPER_TABLES
        figures += ["figure2", "convergence"]
        if PAPER_DATASET_RAN:
            tables += PUBLISHED_TABLES
    if PAPER_ARTIFACTS:
        tables.append("table5")
        figures.append("table5")
        if PAIR_RAN:  # Figure 1's estimates need simultaneous runs
            tables.append("importance")
            figures.append("figure1")
    return [
        STUDIES,
        *expand(f"{REPORTS}/{{table}}.{{ext}}", table=tables, ext=FORMATS),
        *expand(f"{REPORTS}/{{figure}}.{{ext}}", figure=figures, ext=["png", "pdf"]),
    ]


def summary_page():
    """The experiment's summary as an HTML fragment, for the report's first page (the report
    is made after the run, so the file is there by then; a bare path otherwise)."""
    path = Path(f"{REPORTS}/summary_page.html")
    return str(path.resolve()) if path.exists() else ""
