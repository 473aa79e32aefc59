"""The conda files name the same packages as the locked uv environment."""

import re
import tomllib

import yaml
from conftest import ROOT

CONDA_TO_PYPI = {"pytorch": "torch"}
TOOLING = {"python", "pip"}


def names(specs) -> set[str]:
    out = set()
    for spec in specs:
        if isinstance(spec, str):
            name = re.split(r"[ <>=!\[]", spec.strip(), maxsplit=1)[0].lower()
            out.add(CONDA_TO_PYPI.get(name, name))
    return out - TOOLING


def pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return names(project["dependencies"])


def lock_names() -> set[str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"] for p in lock["package"]}


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert names(env["dependencies"]) == pyproject_names()
    assert pyproject_names() <= lock_names()


def test_rule_envs_use_only_locked_project_dependencies():
    used = set()
    for path in sorted((ROOT / "envs").glob("*.yaml")):
        deps = names(yaml.safe_load(path.read_text())["dependencies"])
        assert deps <= pyproject_names(), (path.name, deps - pyproject_names())
        used |= deps
    # every runtime dependency but the workflow engine and its executor is in some rule's env
    assert used == pyproject_names() - {"snakemake", "snakemake-executor-plugin-slurm"}


def test_every_rule_names_an_env_that_exists():
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'"\.\./\.\./(envs/[^"]+)"', smk.read_text()):
            assert (ROOT / env).is_file(), (smk.name, env)


def rule_threads() -> dict[str, str]:
    """Each rule's ``threads:`` as written in workflow/rules/*.smk."""
    out = {}
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n((?:[ \t].*\n|\n)*)", smk.read_text(), re.M):
            found = re.search(r"^\s+threads: (.+)$", body, re.M)
            if found:
                out[name] = found.group(1).split("#")[0].strip()
    return out


def test_the_slurm_profile_gives_every_multi_core_rule_its_cores():
    """pilot and measured_groups ran with the default cpus_per_task of 1 while running 4
    threads or processes: every rule with threads above 1 gets at least as many cores, and
    the rules that run the same HPO command ask for the same."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    default = profile["default-resources"]["cpus_per_task"]
    sets = profile.get("set-resources", {})
    threads = rule_threads()
    assert {"hpo", "pilot", "measured_groups", "table5"} <= set(threads)
    for rule, value in threads.items():
        cores = sets.get(rule, {}).get("cpus_per_task", default)
        if value.isdigit():
            assert cores >= int(value), (rule, value, cores)
    assert sets["pilot"] == sets["hpo"]  # the same command, the same job
