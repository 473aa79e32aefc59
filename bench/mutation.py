"""The mutation check of the core modules (issue 33): how much of their behaviour the tests pin.

    nice -n 15 python3 -m uv run --locked python bench/mutation.py [MODULE ...]

mutmut makes small changes to a module's code one at a time (a flipped comparison, a number
off by one, an argument dropped, a key misspelt) and runs, against each, only the tests that
call the function it changed: per module, the test files named in :data:`MODULES` run once
(mutmut records which test calls which function), then each mutant runs the tests of its
function, stopping at the first failure, in forked workers, two at a time. A mutant is
*killed* when a test fails (or it runs past its time limit), *survives* when none does, and
has *no tests* when no selected test calls its function. Modules run one after another
(``mutants/`` is scratch, remade for each); name some to run only those.

What this check leaves out, on purpose: prose. A string literal with white space in it is a
message or a log line, not a key or a status, and mutmut's rewrites of it ("XX...XX", upper
case) test only whether a test quotes the message; the tests of bad input check what a message
names where it matters (tests/test_bad_inputs.py).

Each survivor found equivalent (no input can tell it from the original) is listed, with the
reason, in bench/mutation_equivalent.csv; the results call it equivalent only while it still
survives. The results go to bench/results/mutation.csv (per module: generated, killed,
survived, no tests, timeout, equivalent, the share of mutants neither killed nor equivalent,
wall time) and bench/results/mutation_survivors.csv (each mutant not killed, and its change).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
EQUIVALENT = ROOT / "bench" / "mutation_equivalent.csv"

# Each core module and the tests that pin it (a slow test left out is named with --deselect).
MODULES: dict[str, list[str]] = {
    "search/records.py": ["tests/test_records.py", "tests/test_runner.py"],
    "search/runner.py": ["tests/test_runner.py", "tests/test_strategies.py"],
    "search/optimizers/hyperband.py": ["tests/test_hyperband.py"],
    "search/optimizers/repeats.py": ["tests/test_repeats.py", "tests/test_strategies.py"],
    "search/optimizers/grouped.py": ["tests/test_repeats.py", "tests/test_strategies.py"],
    "reports/stats.py": ["tests/test_stats.py", "tests/test_compared.py", "tests/test_tables.py"],
    "reports/strategies.py": ["tests/test_compared.py", "tests/test_tables.py"],
    "config.py": [
        "tests/test_config.py",
        "tests/test_config_checks.py",
        "tests/test_bad_inputs.py",
        # Snakemake and CLI runs in a subprocess: seconds each, and what they check of
        # config.py the in-process tests check too
        "--deselect",
        "tests/test_bad_inputs.py::test_until_hpo_on_a_cost_matched_plan_is_refused_before_any_job",
        "--deselect",
        "tests/test_bad_inputs.py::test_gsos_run_prints_the_warnings_before_any_job",
    ],
    "training/trainer.py": [
        "tests/test_trainer.py",
        "tests/test_train.py",
        "tests/test_device.py",
        "tests/test_golden.py",
        "tests/test_faults.py",
        # kills a job at random points, again and again, in subprocesses: what it checks of
        # the trainer (a resumed training equals one in one go) test_train.py checks
        "--deselect",
        "tests/test_faults.py::test_sigkill_at_random_points_loses_and_repeats_nothing",
    ],
    "training/model.py": ["tests/test_model.py"],
    "training/descent.py": ["tests/test_descent.py", "tests/test_device.py"],
    "training/curves.py": ["tests/test_methods.py"],
    "search/space.py": ["tests/test_space.py", "tests/test_config.py"],
    "search/groups.py": ["tests/test_strategies.py", "tests/test_config.py"],
}
FIELDS = ["module", "generated", "killed", "timeout", "survived", "no_tests", "equivalent",
          "not_killed_non_equivalent", "share_percent", "seconds"]  # fmt: skip


def _skip_prose() -> None:
    """Make mutmut leave string literals with white space in them (messages) alone."""
    import libcst as cst
    from mutmut.mutation import mutators

    original = mutators.operator_string

    def operator_string(node: cst.BaseString):
        value = node.evaluated_value if isinstance(node, cst.SimpleString) else ""
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if value and re.search(r"\s", value):
            return
        yield from original(node)

    ops = mutators.mutation_operators
    for i, (kind, op) in enumerate(ops):
        if op is original:
            ops[i] = (kind, operator_string)


def _equivalent() -> dict[str, str]:
    with EQUIVALENT.open() as f:
        return {row["mutant"]: row["reason"] for row in csv.DictReader(f)}


def _change(name: str, path: Path) -> str:
    """The mutant's change as '-old / +new' (its changed lines, stripped)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=path).splitlines()
    old = " ".join(x[1:].strip() for x in diff if x.startswith("-") and not x.startswith("---"))
    new = " ".join(x[1:].strip() for x in diff if x.startswith("+") and not x.startswith("+++"))
    return f"-{old} / +{new}"


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open() as f:
        return [row for row in csv.DictReader(line for line in f if not line.startswith("#"))]


def _write(path: Path, fields: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def report(module: str, seconds: float) -> dict[str, object]:
    """The module's counts and survivors, merged into bench/results/ (other modules kept)."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code

    path = Path("src/gsos") / module
    data = SourceFileMutationData(path=path)
    data.load()
    status = {k: status_by_exit_code[v] for k, v in data.exit_code_by_key.items()}
    counts = Counter(status.values())
    equivalent = _equivalent()
    survivors, eq = [], 0

    def by_place(name: str) -> tuple[str, int]:
        function, _, number = name.rpartition("__mutmut_")
        return function, int(number)

    for name, s in sorted(status.items(), key=lambda kv: by_place(kv[0])):
        if s in ("killed", "timeout"):
            continue
        reason = equivalent.get(name, "") if s == "survived" else ""
        eq += bool(reason)
        survivors.append({"module": module, "mutant": name, "status": s, "equivalent": reason,
                          "change": _change(name, path)})  # fmt: skip
    n = len(status)
    bad = n - counts["killed"] - counts["timeout"] - eq
    row = {"module": module, "generated": n, "killed": counts["killed"],
           "timeout": counts["timeout"], "survived": counts["survived"],
           "no_tests": counts["no tests"], "equivalent": eq, "not_killed_non_equivalent": bad,
           "share_percent": round(100 * bad / n, 1) if n else 0.0,
           "seconds": round(seconds)}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    order = list(MODULES)
    rows = [r for r in _read(RESULTS / "mutation.csv") if r["module"] != module] + [row]
    rows.sort(key=lambda r: order.index(r["module"]))
    _write(RESULTS / "mutation.csv", FIELDS, rows)
    kept = [r for r in _read(RESULTS / "mutation_survivors.csv") if r["module"] != module]
    everyone = sorted(kept + survivors, key=lambda r: order.index(r["module"]))
    _write(RESULTS / "mutation_survivors.csv", ["module", "mutant", "status", "equivalent",
                                                 "change"], everyone)  # fmt: skip
    return row


def relabel() -> None:
    """Apply bench/mutation_equivalent.csv anew to the committed results (after reasons were
    added or corrected), without running mutmut again."""
    equivalent = _equivalent()
    survivors = _read(RESULTS / "mutation_survivors.csv")
    for r in survivors:
        r["equivalent"] = equivalent.get(r["mutant"], "") if r["status"] == "survived" else ""
    rows = _read(RESULTS / "mutation.csv")
    for row in rows:
        eq = sum(1 for r in survivors if r["module"] == row["module"] and r["equivalent"])
        n = int(row["generated"])
        bad = n - int(row["killed"]) - int(row["timeout"]) - eq
        row.update(equivalent=eq, not_killed_non_equivalent=bad,
                   share_percent=round(100 * bad / n, 1) if n else 0.0)  # fmt: skip
    _write(RESULTS / "mutation.csv", FIELDS, rows)
    _write(RESULTS / "mutation_survivors.csv", list(survivors[0]), survivors)


def one(module: str) -> None:
    """mutmut on one module against its tests (run in a process of its own)."""
    import mutmut.configuration as configuration

    os.chdir(ROOT)
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    configuration._config = replace(
        configuration._load_config(),
        only_mutate=[f"src/gsos/{module}"],
        pytest_add_cli_args_test_selection=MODULES[module],
    )
    _skip_prose()
    from mutmut.__main__ import cli

    start = time.monotonic()
    try:
        cli.main(["run", "--max-children", "2"], standalone_mode=False)
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    row = report(module, time.monotonic() - start)
    print(*(f"{k}={v}" for k, v in row.items()), sep="  ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", choices=[[], *MODULES], metavar="MODULE",
                        help=f"only these (default: all of {', '.join(MODULES)})")  # fmt: skip
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--relabel", action="store_true", help="only reapply the equivalents")
    args = parser.parse_args()
    if args.relabel:
        relabel()
        return
    if args.one:
        one(args.one)
        return
    # subprocesses the tests start (a CLI, a forked job) import the mutated code too
    mutated = str(ROOT / "mutants" / "src")
    # the folder must exist when a module's process starts: a sys.path entry that is missing
    # at the first import is cached as having nothing, and then gsos is not found at all
    # (the stats run failed with pytest's exit code 4 on a fresh clone)
    Path(mutated).mkdir(parents=True, exist_ok=True)
    paths = [mutated, os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    start = time.monotonic()
    for module in args.modules or MODULES:
        print(f"== {module}", flush=True)
        subprocess.run([sys.executable, __file__, "--one", module], env=env, check=True)
    print(f"wall time {time.monotonic() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
