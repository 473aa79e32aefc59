"""`gsos run`: what Snakemake would answer with a traceback is said in one line each, before
Snakemake starts (it reads --configfile and --config before our Snakefile can check them)."""

import subprocess
import sys

import pytest
from conftest import ROOT


def gsos_run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gsos", "run", "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "args, files, expected",
    [
        (["--configfile", "nope.yaml"], {}, "--configfile nope.yaml: no such file"),
        (
            ["--config", "hpo.iterations=ten"],
            {},
            "--config hpo.iterations=ten: Snakemake's --config sets top-level keys only; "
            "write --config hpo='{iterations: ten}'",
        ),
        (["--configfile", "bad.yaml"], {"bad.yaml": "hpo: {iterations: 2\n"}, "bad.yaml:2:1"),
        (
            ["--configfile", "twice.yaml"],
            {"twice.yaml": "hpo: {iterations: 20}\nhpo: {iterations: 30}\n"},
            "twice.yaml:2:1: YAML syntax error: duplicate key 'hpo' (first at line 1)",
        ),
    ],
)
def test_mistakes_snakemake_would_trace_back_are_one_line_each(tmp_path, args, files, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    run = gsos_run("--cores", "1", *args, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.count(expected) == 1, run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / ".snakemake").exists()
