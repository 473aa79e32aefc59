"""Config validation with messages a user can act on.

The JSON schema (workflow/schemas/config.schema.yaml) checks shapes and types; the checks
here are the ones a schema cannot express (defaults inside their ranges, groups that
partition the space). All problems are reported at once, each with the key to fix.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gsos.groups import check_partition, group_iterations
from gsos.space import SearchSpace


class ConfigError(ValueError):
    pass


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def _message(err: jsonschema.ValidationError) -> str:
    where = _where(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        return f"{where}: {err.message}; allowed keys here: {', '.join(allowed)}"
    if err.validator == "required":
        return f"{where}: {err.message}"
    desc = err.schema.get("description")
    return f"{where}: {err.message}" + (f" ({desc})" if desc else "")


def fill_defaults(cfg: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Add the schema's ``default`` for every missing key of every object, recursively."""
    for key, sub in schema.get("properties", {}).items():
        if key not in cfg and "default" in sub:
            cfg[key] = copy.deepcopy(sub["default"])
        if isinstance(cfg.get(key), dict):
            fill_defaults(cfg[key], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in cfg.items():
            if key not in schema.get("properties", {}) and isinstance(value, dict):
                fill_defaults(value, extra)
    return cfg


def load_schema(path: Path) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def validate_config(cfg: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return the config with defaults filled in, or raise ConfigError listing every problem.

    The checks a schema cannot express run even when the schema found problems, each one
    skipped only where it depends on a key the schema already reported: one run shows
    every problem.
    """
    cfg = copy.deepcopy(dict(cfg))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_message(e) for e in errors]
    broken = {_where(e.absolute_path) for e in errors}
    with contextlib.suppress(AttributeError, TypeError):  # a wrongly typed section: reported
        fill_defaults(cfg, schema)
    problems += semantic_problems(cfg, broken)
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))
    return cfg


def _touches(broken: set[str], *prefixes: str) -> bool:
    return any(b == p or b.startswith(p + ".") or p.startswith(b + ".") or b == "(top level)"
               for b in broken for p in prefixes)  # fmt: skip


def semantic_problems(cfg: Mapping[str, Any], broken: set[str] = frozenset()) -> list[str]:
    """Problems a schema cannot see; a check whose keys the schema reported is skipped."""
    problems: list[str] = []
    if not _touches(broken, "search_space"):
        try:
            SearchSpace.from_config(cfg["search_space"])
        except (ValueError, KeyError, TypeError) as e:
            problems.append(str(e))
    groups = cfg.get("gsos", {}).get("groups") if isinstance(cfg.get("gsos"), dict) else None
    names_ok = isinstance(cfg.get("search_space"), dict) and not _touches(broken, "search_space")
    if names_ok and groups is not None and not _touches(broken, "gsos.groups"):
        try:
            check_partition(list(cfg["search_space"]), [g["params"] for g in groups])
        except ValueError as e:
            problems.append(f"gsos.groups: {e}")
        names = [g["name"] for g in groups]
        if len(set(names)) != len(names) or "all" in names:
            problems.append(f"gsos.groups: names must be unique and not 'all' (got {names})")
        if not _touches(broken, "hpo.iterations"):
            try:
                group_iterations(int(cfg["hpo"]["iterations"]), groups)
            except ValueError as e:
                problems.append(f"gsos.groups: {e}")
    if not _touches(broken, "run.datasets", "datasets"):
        for name in cfg["run"]["datasets"]:
            if name not in cfg["datasets"]:
                problems.append(
                    f"run.datasets: {name!r} is not defined under datasets "
                    f"(defined: {sorted(cfg['datasets'])})"
                )
    return problems
