import json
from pathlib import Path

from snakemake.exceptions import WorkflowError

from gsos.config import ConfigError, load_schema, validate_config

try:
    _validated = validate_config(
        config, load_schema(Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml")
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
)

DATASETS = config["run"]["datasets"]
STRATEGIES = config["run"]["strategies"]
SEEDS = config["run"]["seeds"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    strategy="gsos|simultaneous",
    seed=r"\d+",


def check_device_here():
    """device: cuda on a machine with no GPU fails every HPO job minutes in; say so at once.

    Only when jobs run on this machine: a cluster's login node often has no GPU while its
    compute nodes do (there, each HPO job checks for itself before loading any data).
    """
    from gsos.gpus import gpu_visible

    if config["device"] == "cuda" and workflow.local_exec and not gpu_visible():
        raise WorkflowError(
            "device: cuda, but this machine shows no GPU (no nvidia-smi GPU, no /dev/nvidia*); "
            "set device: cpu or auto in the config, or run where the GPUs are"
        )


def as_json(value):
    """Settings travel to the CLI as JSON params, so a changed setting reruns its jobs."""
    return json.dumps(value, sort_keys=True)


def dataset_settings(wildcards):
    return as_json(config["datasets"][wildcards.dataset])


def folder_content(wildcards):
    """A folder dataset's content (names, sizes, times of its visible files) as a rerun
    trigger: editing the folder prepares it again; other kinds have nothing to watch here."""
    from gsos.folders import fingerprint

    source = config["datasets"][wildcards.dataset]["source"]
    if source["kind"] != "folder":
        return ""
    return fingerprint(source["path"], source.get("test_path"))


def download_record(wildcards):
    """Downloaded kinds wait for their download; embedded and folder datasets need none."""
    if config["datasets"][wildcards.dataset]["source"]["kind"] in ("http", "kaggle"):
        return {"download": f"resources/{wildcards.dataset}/download.json"}
    return {}


def hpo_settings():
    keys = ("search_space", "hpo", "tpe", "gsos", "model", "training", "device")
    return as_json({k: config[k] for k in keys})


def hpo_resources():
    """Ask for a GPU only when the config says cuda; memory and runtime come from config.

    jobs_per_gpu travels as a resource, not a param, so changing it never reruns a job.
    """
    res = {
        "mem_mb": config["resources"]["hpo_mem_mb"],
        "runtime": config["resources"]["hpo_runtime_min"],
        "jobs_per_gpu": config["resources"]["jobs_per_gpu"],
    }
    if config["device"] == "cuda":
        res["gpu"] = 1
    return res


def run_records(dataset=None):
    return expand(
        "results/runs/{dataset}/{strategy}/seed{seed}/records.jsonl",
        dataset=[dataset] if dataset else DATASETS,
        strategy=STRATEGIES,
        seed=SEEDS,
    )


def simultaneous_records():
    """Importance is estimated where every hyperparameter varies: the simultaneous runs."""
    return expand(
        "results/runs/{dataset}/simultaneous/seed{seed}/records.jsonl", dataset=DATASETS, seed=SEEDS
    )


FORMATS = ["csv", "md", "tex", "html"]


def table_outputs(*names):
    """Every format of each table; the HTML one goes into the report (shown inline)."""
    out = {}
    for name in names:
        for ext in FORMATS:
            path = f"reports/{name}.{ext}"
            if ext == "html":
                path = report(path, caption=f"../report/{name}.rst", category="Tables")
            out[f"{name}_{ext}"] = path
    return out


TABLES = [
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


def final_outputs():
    figures = ["figure1", "figure2", "convergence", "table5"]
    tables = [*TABLES, "table5"]
    if "simultaneous" in STRATEGIES:
        tables.append("importance")
    else:
        figures.remove("figure1")  # Figure 1's estimates need simultaneous runs
    return [
        *expand("reports/{table}.{ext}", table=tables, ext=["csv", "md", "tex", "html"]),
        *expand("reports/{figure}.{ext}", figure=figures, ext=["png", "pdf"]),
    ]
