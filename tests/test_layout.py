"""The package's layout shows the pipeline: stages in the order data flow, imports pointing down.

Read from the source with ``ast`` (nothing is imported), so a new module that imports a later
stage, or a cycle, fails here with the module and the import named.
"""

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "src" / "gsos"
# The stages in the order data flow; a module may import its own stage, the top-level modules
# and the stages before its own.
STAGES = ["data", "training", "search", "reports"]
TOP = {"atomic", "config", "errors", "progress", "cli", "launch", "__init__", "__main__"}
# the top-level modules that are infrastructure every stage may use (the rest sit above stages)
BASE = {"atomic", "errors", "progress"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("gsos"):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("gsos")}
    return out


def stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_at_most_eight_modules_beside_the_stage_subpackages():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert len(modules) <= 8 and modules <= TOP, sorted(modules)
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subpackages == set(STAGES)
    for stage in STAGES:  # each says what it offers
        assert ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))


def test_imports_point_down_the_stages_and_make_no_cycle():
    graph = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}
    wrong = []
    for module, targets in graph.items():
        here = stage_of(module)
        for target in targets:
            there = stage_of(target)
            if here in STAGES and there in STAGES and STAGES.index(there) > STAGES.index(here):
                wrong.append(f"{module} imports the later stage {target}")
            if here in STAGES and there not in STAGES and there not in BASE and there:
                wrong.append(f"{module} imports {target}, which sits above the stages")
    assert not wrong, wrong

    def visit(node, path):
        if node in path:
            raise AssertionError(f"import cycle: {' -> '.join([*path, node])}")
        for nxt in graph.get(node, ()):
            if nxt in graph:
                visit(nxt, [*path, node])

    for module in graph:
        visit(module, [])
