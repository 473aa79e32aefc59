"""``gsos run``: the workflow, checked first, then its report.

Snakemake reads ``--configfile`` and ``--config`` itself before it reads the Snakefile, and
answers a missing file, a YAML error or a dotted key (``--config hpo.iterations=10``) with
its own traceback. This launcher takes the same arguments as ``snakemake``, checks the config
files, the ``--config`` items and the whole layered config first (every problem once, with the
key and the file to fix, no traceback), then runs Snakemake with the arguments unchanged, and
after a run that did work writes the experiment's report to
``reports/<experiment>/report.html``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from gsos.config import ConfigError, load_layers, load_yaml

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Snakemake arguments after which there is no run to report on
NO_REPORT = {
    "-n", "--dry-run", "--dryrun", "--report", "--unlock", "--lint", "--summary",
    "--detailed-summary", "--list-rules", "-l", "--dag", "--rulegraph", "--filegraph",
    "--cleanup-metadata", "--delete-all-output", "--list-changes", "--lc", "--help", "-h",
    "--version", "-v",
}  # fmt: skip


def config_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """The config files, ``--config`` items and working folder among Snakemake's arguments."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    p.add_argument("--configfile", "--configfiles", nargs="+", action="extend", default=[])
    p.add_argument("--config", "-C", nargs="*", action="extend", default=[])
    p.add_argument("--directory", "-d", default=None)
    p.add_argument("--cores", "-c", "--jobs", "-j", default=None)
    known, _ = p.parse_known_args(list(argv))
    return known


def argument_problems(
    files: Sequence[str], items: Sequence[str], cores: str | None = None
) -> list[str]:
    """What Snakemake would stop on with a traceback, or wait on for ever: unreadable or
    broken config files, ``--config`` items that are not KEY=VALUE with a top-level KEY, and
    ``--cores 0``."""
    problems = []
    if cores is not None and cores.strip() == "0":
        problems.append("--cores 0: no job could ever start; give --cores 1 or more (or all)")
    for f in files:
        path = Path(f)
        if not path.is_file():
            problems.append(f"--configfile {f}: no such file")
            continue
        try:
            load_yaml(path)
        except ConfigError as e:
            problems.append(str(e))
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            problems.append(
                f"--config {item}: write KEY=VALUE (for example hpo='{{iterations: 10}}')"
            )
        elif "." in key and all(IDENTIFIER.match(k) for k in key.split(".")):
            head, *rest = key.split(".")
            nested = value
            for k in reversed(rest):
                nested = f"{{{k}: {nested}}}"
            problems.append(
                f"--config {item}: Snakemake's --config sets top-level keys only; write "
                f"--config {head}='{nested}'"
            )
        elif not IDENTIFIER.match(key):
            problems.append(f"--config {item}: {key!r} is not a config key")
    return problems


def snakemake(argv: Sequence[str]) -> int:
    """Snakemake with ``argv``; its jobs' ``python`` is this interpreter (first on PATH), so
    they find the same packages however this command was started."""
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                   os.environ.get("PATH", "")])}  # fmt: skip
    return subprocess.call([sys.executable, "-m", "snakemake", *argv], env=env)


def run(argv: Sequence[str], say=print) -> int:
    """Check, run Snakemake with ``argv``, then write the report; the exit status."""
    a = config_arguments(argv)
    problems = argument_problems(a.configfile, a.config, a.cores)
    cfg = None
    if not problems:
        files = [Path(f).resolve() for f in a.configfile]
        here = Path.cwd()
        try:
            if a.directory:  # Snakemake works there: outputs are checked there
                os.chdir(a.directory)
            cfg = load_layers(files, a.config, check_files=True)
        except ConfigError as e:
            problems = [line.removeprefix("  - ") for line in str(e).splitlines()[1:]]
        except OSError as e:
            problems = [f"--directory {a.directory}: {e.strerror}"]
        finally:
            os.chdir(here)
    if problems:
        say("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))
        return 2
    assert cfg is not None
    status = snakemake(argv)
    if status != 0 or NO_REPORT & set(argv) or any(x.startswith("--report") for x in argv):
        return status
    report = Path("reports") / cfg["experiment"] / "report.html"
    status = snakemake([*_config_only(argv), "--report", str(report)])
    if status == 0:
        say(f"report: {Path(a.directory or '.') / report}")
    return status


def _config_only(argv: Sequence[str]) -> list[str]:
    """The arguments that decide the config and the folder (what ``--report`` needs)."""
    a = config_arguments(argv)
    out: list[str] = []
    if a.configfile:
        out += ["--configfile", *a.configfile]
    if a.config:
        out += ["--config", *a.config]
    if a.directory:
        out += ["--directory", a.directory]
    snakefile = [x for i, x in enumerate(argv) if i and argv[i - 1] in ("--snakefile", "-s")]
    if snakefile:
        out += ["--snakefile", snakefile[0]]
    return out
