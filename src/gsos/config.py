"""Config: layers, validation, and messages a user can act on.

Layers, each over the one before: ``config/config.yaml`` (the defaults, always loaded), then
every ``--configfile`` in the order given, then ``--config KEY=VALUE``. Mappings merge key by
key; lists and values replace. So a user's file holds only what differs, and
``--configfile config/paper.yaml mine.yaml`` is the paper's protocol on one's own data.
Snakemake passes nested ``--config`` values as strings (``hpo='{iterations: 10}'``); they
are typed here (int, float, true/false, null) before validation.

The JSON schema (workflow/schemas/config.schema.yaml) checks shapes and types; the checks
here are the ones a schema cannot express (defaults inside their ranges, groups that
partition the space). All problems are reported at once, each with the key to fix and the
layer that set it; a YAML syntax error with its file, line and column.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gsos.search.groups import check_partition, group_iterations
from gsos.search.space import MODEL_HYPERPARAMETERS, space_problems

CLI = "--config"


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
    """The schema, with the registered strategy and algorithm names as the allowed ones."""
    from gsos.search.optimizers.registry import ALGORITHMS, STRATEGIES

    schema = yaml.safe_load(Path(path).read_text())
    props = schema["properties"]
    props["run"]["properties"]["strategies"]["items"] = {"enum": list(STRATEGIES)}
    props["gsos"]["properties"]["inner"] = {
        "enum": list(ALGORITHMS),
        "description": "the algorithm inside each group of the 'gsos' strategy (paper - TPE)",
    }
    props["gsos"]["properties"]["continuous_inner"] = {
        "enum": [None, *(n for n, a in ALGORITHMS.items() if not a.multi_fidelity)],
        "description": "the algorithm for the 'gsos' groups whose members are all continuous "
        "(uniform or loguniform); null - gsos.inner for every group",
    }
    return schema


# --- layers -------------------------------------------------------------------------------


@dataclass
class Layer:
    source: str  # a file name, or --config
    values: dict[str, Any]


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the
    last one silently, so a second ``hpo:`` block would hide the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key]}); YAML would keep only the "
                    "last one: merge them into one",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep)


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML config file; a syntax error or a duplicate key names the file, line and column."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML syntax error: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config file must be a mapping of keys, not a {type(data).__name__}"
        )
    return data


def _scalar(text: str) -> Any:
    """A command-line value's type: int, float, true/false, null, else the string."""
    for cast in (int, float):
        with contextlib.suppress(ValueError):
            return cast(text)
    return {"true": True, "false": False, "null": None, "~": None}.get(text.lower(), text)


def typed(value: Any) -> Any:
    """Snakemake's ``--config`` values (nested ones arrive as strings) with their types."""
    if isinstance(value, str):
        return _scalar(value)
    if isinstance(value, Mapping):
        return {str(k): typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [typed(v) for v in value]
    return value


def merge(
    layers: Sequence[Layer],
) -> tuple[dict[str, Any], dict[str, str], list[str], dict[str, tuple[Any, str]]]:
    """Merge the layers; also say which layer set each key (dotted path -> source), and what
    in an overlay cannot be meant.

    ``key: null`` over a key that holds a mapping removes it (a hyperparameter of
    ``search_space``, a dataset under ``datasets``); over a value it sets the value null. An
    empty mapping in an overlay over a non-empty one changes nothing (mappings merge key by
    key), so it is reported rather than ignored. Also returns what ``null`` removed (path ->
    the removed value and the layer that removed it).
    """
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    problems: list[str] = []
    removed: dict[str, tuple[Any, str]] = {}

    def forget(path: str) -> None:
        for k in [k for k in origin if k == path or k.startswith(path + ".")]:
            del origin[k]

    def put(target: dict, values: Mapping, prefix: str, source: str, overlay: bool) -> None:
        for key, value in values.items():
            path = f"{prefix}{key}"
            below = target.get(key)
            if overlay and value is None and isinstance(below, dict):
                removed[path] = (target.pop(key), source)
                forget(path)
                origin[path] = source
                continue
            if overlay and isinstance(value, Mapping) and not value and below:
                problems.append(
                    f"{path}: an empty mapping in {source} changes nothing (mappings merge key "
                    f"by key); give the keys to change, or '<key>: null' to remove one "
                    f"[set in {source}]"
                )
                continue
            if isinstance(value, Mapping) and isinstance(below, dict):
                put(below, value, path + ".", source, overlay)
            else:
                target[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)
                forget(path)
            origin[path] = source

    for i, layer in enumerate(layers):
        put(out, layer.values, "", layer.source, overlay=i > 0)
    return out, origin, problems, removed


def keep_removed_fixed(
    cfg: dict[str, Any], origin: dict[str, str], removed: Mapping[str, tuple[Any, str]]
) -> None:
    """A hyperparameter removed from the search (``search_space: {name: null}``) keeps its
    default as a fixed value (config ``fixed``), unless ``fixed`` already gives one."""
    for path, (entry, source) in removed.items():
        section, _, name = path.partition(".")
        hyperparameter = section == "search_space" and "." not in name
        has_default = isinstance(entry, Mapping) and "default" in entry
        if hyperparameter and has_default and name not in (cfg.get("fixed") or {}):
            cfg.setdefault("fixed", {})[name] = entry["default"]
            origin[f"fixed.{name}"] = source


def experiment_name(layers: Sequence[Layer]) -> tuple[str, str]:
    """``--config experiment=`` if given; else the last config file's ``experiment`` key, or
    that file's name without its suffix; else the defaults' (``default``). Also where the
    name came from, for messages (a name made from a file's name is that file's)."""
    for layer in reversed(layers):
        if "experiment" in layer.values:
            return str(layer.values["experiment"]), layer.source
        if layer.source != CLI and layer is not layers[0]:
            source = f"{layer.source}: the experiment is named after this file; rename it or "
            return Path(layer.source).stem, source + "set experiment: <name> in it"
    return "default", layers[0].source if layers else "config/config.yaml"


def where_set(path: str, origin: Mapping[str, str]) -> str | None:
    while path:
        if path in origin:
            return origin[path]
        path = path.rpartition(".")[0]
    return None


def load_config(
    defaults: Path,
    files: Iterable[Path] = (),
    cli: Mapping[str, Any] | None = None,
    schema: Mapping[str, Any] | None = None,
    check_files: bool = False,
) -> dict[str, Any]:
    """Layer, name and validate the config; raise ConfigError listing every problem.

    ``check_files`` also checks what the run will read and write, before any job: image
    folders (there, readable, enough class folders and files) and the output folders
    (writable). The workflow asks for it when it plans a run; ``gsos status`` does not."""
    layers, problems = [], []
    for path in [Path(defaults), *map(Path, files)]:
        try:
            layers.append(Layer(str(path), load_yaml(path)))
        except ConfigError as e:
            problems.append(str(e))
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))
    if cli:
        layers.append(Layer(CLI, typed(dict(cli))))
    cfg, origin, problems, removed = merge(layers)
    keep_removed_fixed(cfg, origin, removed)
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))
    cfg["experiment"], origin["experiment"] = experiment_name(layers)
    if schema is None:
        return cfg
    return validate_config(cfg, schema, origin, check_files)


ROOT = Path(__file__).resolve().parents[2]  # the checkout: config/ and workflow/ live here


def load_layers(
    files: Sequence[Path] = (), cli: Sequence[str] = (), check_files: bool = False
) -> dict[str, Any]:
    """The config as the workflow layers it: config/config.yaml, then each file, then
    ``KEY=VALUE`` items as given to ``snakemake --config``; validated."""
    overrides = {}
    for item in cli or []:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value) if value.strip().startswith(("{", "[")) else value
    return load_config(
        ROOT / "config" / "config.yaml",
        files,
        overrides,
        load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml"),
        check_files,
    )


def record_run_config(cfg: Mapping[str, Any], path: Path) -> None:
    """Write the layered config a run uses beside its results (``run-config.yaml``)."""
    from gsos.atomic import atomic_write_text

    text = yaml.safe_dump(dict(cfg), sort_keys=False)
    if not (Path(path).exists() and Path(path).read_text() == text):
        atomic_write_text(Path(path), text)


def recorded_run_config(experiment: str, root: Path = Path(".")) -> tuple[dict, Path] | None:
    """The config the last run of ``experiment`` recorded, if any."""
    path = Path(root) / "results" / experiment / "run-config.yaml"
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text()), path


def validate_config(
    cfg: Mapping[str, Any],
    schema: Mapping[str, Any],
    origin: Mapping[str, str] | None = None,
    check_files: bool = False,
) -> dict[str, Any]:
    """Return the config with defaults filled in, or raise ConfigError listing every problem.

    The checks a schema cannot express run even when the schema found problems, each one
    skipped only where it depends on a key the schema already reported: one run shows
    every problem. With ``origin`` (from :func:`merge`), each problem says which file set it.
    """
    cfg = copy.deepcopy(dict(cfg))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_message(e) for e in errors]
    broken = {_where(e.absolute_path) for e in errors}
    with contextlib.suppress(AttributeError, TypeError):  # a wrongly typed section: reported
        fill_defaults(cfg, schema)
    problems += semantic_problems(cfg, broken)
    if check_files:
        problems += filesystem_problems(cfg, broken)
    if problems:
        if origin:
            problems = [_with_origin(p, origin) for p in problems]
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))
    return cfg


KEY = re.compile(r"(?<![\w./-])([a-z_][a-z0-9_]*(?:\.[A-Za-z0-9_-]+)+)")


def _with_origin(problem: str, origin: Mapping[str, str]) -> str:
    """The problem, with the file that set each config key it names (the first named key
    leads); a problem naming keys set in different files names each file."""
    if "[set in " in problem or "not a config key]" in problem:
        return problem
    keys = []
    head = re.match(r"([A-Za-z0-9_.\-]+):", problem)
    for key in ([head.group(1)] if head else []) + KEY.findall(problem):
        if key not in keys and where_set(key, origin):
            keys.append(key)
    sources = {k: where_set(k, origin) for k in keys}
    if not sources:
        return problem
    if len(set(sources.values())) == 1:
        return f"{problem} [set in {next(iter(sources.values()))}]"
    return problem + " [" + "; ".join(f"{k} set in {v}" for k, v in sources.items()) + "]"


def _touches(broken: set[str], *prefixes: str) -> bool:
    return any(
        b == p or b.startswith(p + ".") or p.startswith(b + ".") or b == "(top level)"
        for b in broken
        for p in prefixes
    )


def nonfinite_problems(value: Any, path: str = "") -> list[str]:
    """Every number that is not finite (YAML's .inf and .nan), at any depth: a JSON schema
    takes them for numbers, and an infinite budget runs for ever."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{path or '(top level)'}: {value} is not a finite number"]
    if isinstance(value, Mapping):
        return [
            p
            for k, v in value.items()
            for p in nonfinite_problems(v, f"{path}.{k}" if path else str(k))
        ]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in nonfinite_problems(v, f"{path}[{i}]")]
    return []


MAX_RUNGS = 12  # successive-halving rungs a Hyperband bracket may have (Li et al.: 5 at eta 3)


def rungs(low: float, high: float, eta: float) -> int:
    """Rungs of Hyperband's largest bracket over the budgets low..high (s_max + 1)."""
    return int(math.floor(math.log(high / low) / math.log(eta) + 1e-9)) + 1


def fidelity_ranges(cfg: Mapping[str, Any]) -> dict[str, tuple[str, float, float, float]]:
    """Per Hyperband-like section: (what its budget is, lowest, highest, eta), where the
    config gives them."""
    out = {}
    epoch = cfg["search_space"].get("epoch", {})
    if epoch.get("type") == "int" and "low" in epoch and "high" in epoch:
        for section in ("hyperband", "bohb"):
            out[section] = ("epochs", float(epoch["low"]), float(epoch["high"]),
                            float(cfg[section]["eta"]))  # fmt: skip
    hd = cfg["hyperband_data"]
    out["hyperband_data"] = ("data share", float(hd["min_fraction"]), 1.0, float(hd["eta"]))
    return out


def _rung_problems(cfg: Mapping[str, Any], broken: set[str]) -> list[str]:
    """An eta barely above 1 makes thousands of rungs: a run that never ends."""
    if _touches(broken, "search_space", "hyperband", "bohb", "hyperband_data"):
        return []
    problems = []
    for section, (what, low, high, eta) in fidelity_ranges(cfg).items():
        if low > 0 and high > low and rungs(low, high, eta) > MAX_RUNGS:
            problems.append(
                f"{section}.eta: {eta:g} over {what} {low:g}..{high:g} makes "
                f"{rungs(low, high, eta):,} rungs of successive halving (at most {MAX_RUNGS}); "
                "Li et al. use 3"
            )
    return problems


def semantic_problems(cfg: Mapping[str, Any], broken: set[str] = frozenset()) -> list[str]:
    """Problems a schema cannot see; a check whose keys the schema reported is skipped."""
    problems: list[str] = nonfinite_problems(cfg)
    broken = broken | {p.split(":")[0] for p in problems}
    problems += _rung_problems(cfg, broken)
    if not _touches(broken, "search_space", "fixed"):
        problems += space_problems(cfg["search_space"], cfg.get("fixed"))
        fixed = cfg.get("fixed") or {}
        for name in MODEL_HYPERPARAMETERS:
            if name not in cfg["search_space"] and name not in fixed:
                problems.append(
                    f"search_space: {name} is neither searched nor fixed; the CNN needs a value: "
                    f"add it to search_space, or give it under fixed ({name}: <value>)"
                )
        if not _touches(broken, "run.strategies") and "epoch" not in cfg["search_space"]:
            from gsos.search.optimizers.registry import STRATEGIES

            for name in cfg["run"]["strategies"]:
                st = STRATEGIES.get(name)
                if st is not None and st.inner_algorithm(cfg).fidelity == "epoch":
                    problems.append(
                        f"run.strategies: {name} spends epochs as its budget, so it needs "
                        "epoch in search_space (its range is the budget's range)"
                    )
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
                problems.append(f"hpo.iterations: {e} (the groups of gsos.groups)")
    problems += _measured_problems(cfg, broken)
    problems += _bilevel_problems(cfg, broken)
    problems += _split_problems(cfg, broken)
    if not _touches(broken, "run.datasets", "datasets"):
        for name in cfg["run"]["datasets"]:
            if name not in cfg["datasets"]:
                problems.append(
                    f"run.datasets: {name!r} is not defined under datasets "
                    f"(defined: {sorted(cfg['datasets'])})"
                )
    return problems


def _split_problems(cfg: Mapping[str, Any], broken: set[str]) -> list[str]:
    """A split whose validation and test shares leave no training images."""
    problems = []
    if _touches(broken, "datasets"):
        return problems
    for name, d in cfg["datasets"].items():
        split = d.get("split") or {}
        val, test = float(split.get("validation", 0.2)), float(split.get("test", 0.2))
        if d["source"].get("test_path") or d["source"].get("test"):
            test = 0.0  # an official test split: only validation comes out of the images
        if val + test >= 1:
            problems.append(
                f"datasets.{name}.split: validation {val} + test {test} = {val + test:g} "
                "leaves no images to train on; keep the sum below 1"
            )
    return problems


def filesystem_problems(cfg: Mapping[str, Any], broken: set[str] = frozenset()) -> list[str]:
    """What a run would find wrong on disk: the image folders of the datasets it runs, and
    the folders it writes to (results, reports, logs, benchmarks of the experiment)."""
    from gsos.atomic import writable_problem
    from gsos.data.folders import folder_problems, test_path_problems

    problems = []
    if not _touches(broken, "run.datasets", "datasets"):
        for name in cfg["run"]["datasets"]:
            d = cfg["datasets"].get(name)
            if not d or d["source"]["kind"] != "folder":
                continue
            split = d.get("split") or {}
            official = bool(d["source"].get("test_path"))
            need = 2 if official else (3 if float(split.get("test", 0.2)) > 0 else 2)
            found = []
            for key in ("path", "test_path"):
                if d["source"].get(key):
                    where = f"datasets.{name}.source.{key}"
                    per_class = need if key == "path" else 1
                    found += folder_problems(where, d["source"][key], per_class)
            if official and not found:
                found += test_path_problems(
                    f"datasets.{name}.source.test_path",
                    d["source"]["path"],
                    d["source"]["test_path"],
                )
            problems += found
    for folder in ("results", "reports", "logs", "benchmarks"):
        problem = writable_problem(Path(folder) / str(cfg.get("experiment", "default")))
        if problem:  # the folder is the problem, not the config that names it
            problems.append(f"the run writes to {problem} [a folder, not a config key]")
    return problems


def _bilevel_problems(cfg: Mapping[str, Any], broken: set[str]) -> list[str]:
    """bilevel descends the learning and dropout rates only: alone it needs them in the
    space; inside GSOS it can only search a group of nothing else (gsos.continuous_inner)."""
    from gsos.search.optimizers.bilevel import CONTINUOUS
    from gsos.search.optimizers.registry import ALGORITHMS

    problems: list[str] = []
    if _touches(broken, "run", "gsos", "search_space"):
        return problems
    space, gsos = cfg["search_space"], cfg["gsos"]
    if "bilevel" in cfg["run"]["strategies"]:
        missing = [n for n in CONTINUOUS if n not in space]
        if missing:
            problems.append(f"run.strategies: bilevel needs {missing} in search_space")
    problems += _bilevel_vf_problems(space, gsos, cfg["run"]["strategies"])
    if gsos["inner"] == "bilevel":
        problems.append(
            "gsos.inner: bilevel searches only lr and dropout_rate, and the groups hold every "
            "hyperparameter; set gsos.continuous_inner: bilevel instead (it then searches the "
            "groups of continuous hyperparameters, the inner algorithm the others)"
        )
    inner_cont = gsos["continuous_inner"]
    if inner_cont is not None:
        if ALGORITHMS[gsos["inner"]].multi_fidelity:
            problems.append(
                f"gsos.continuous_inner: {gsos['inner']} (gsos.inner) spends a training cost, "
                f"{inner_cont} evaluations; use them apart"
            )
        kinds = {n: space[n]["type"] for n in space}
        continuous = [
            g for g in gsos["groups"]
            if all(kinds.get(n) in ("uniform", "loguniform") for n in g["params"])
        ]  # fmt: skip
        if not continuous:
            problems.append(
                f"gsos.continuous_inner: {inner_cont} would search no group: none of "
                "gsos.groups holds only continuous (uniform or loguniform) hyperparameters"
            )
        if inner_cont == "bilevel":
            for g in continuous:
                others = [n for n in g["params"] if n not in CONTINUOUS]
                if others:
                    problems.append(
                        f"gsos.continuous_inner: bilevel descends only {sorted(CONTINUOUS)}; "
                        f"group {g['name']} also holds {others}"
                    )
    return problems


WEIGHT_DECAY_EXAMPLE = (
    "weight_decay: {type: loguniform, low: 1.0e-6, high: 1.0e-2, default: 1.0e-4}"
)


def _bilevel_vf_problems(
    space: Mapping[str, Any], gsos: Mapping[str, Any], strategies: list[str]
) -> list[str]:
    """bilevel_vf searches weight_decay alone, on its log scale: it needs it searched (and
    loguniform), and inside GSOS only a group of nothing else."""
    problems = []
    uses = "bilevel_vf" in strategies or gsos["continuous_inner"] == "bilevel_vf"
    wd = space.get("weight_decay")
    if uses and wd is None:
        problems.append(
            "run.strategies: bilevel_vf searches weight_decay (L2 regularisation inside the "
            "training objective), which search_space lacks; add "
            f"{WEIGHT_DECAY_EXAMPLE} to search_space (and to one of gsos.groups)"
        )
    elif uses and wd.get("type") != "loguniform":
        problems.append(
            "search_space.weight_decay: bilevel_vf works on log λ; make it loguniform, e.g. "
            + WEIGHT_DECAY_EXAMPLE
        )
    if gsos["inner"] == "bilevel_vf":
        problems.append(
            "gsos.inner: bilevel_vf searches only weight_decay, and the groups hold every "
            "hyperparameter; set gsos.continuous_inner: bilevel_vf instead (it then searches "
            "a group of weight_decay alone, the inner algorithm the others)"
        )
    if gsos["continuous_inner"] == "bilevel_vf":
        for g in gsos["groups"]:
            others = [n for n in g["params"] if n != "weight_decay"]
            if "weight_decay" in g["params"] and others:
                problems.append(
                    f"gsos.continuous_inner: bilevel_vf searches only weight_decay; group "
                    f"{g['name']} also holds {others} (give weight_decay a group of its own)"
                )
    return problems


def _measured_problems(cfg: Mapping[str, Any], broken: set[str]) -> list[str]:
    """Pilot runs and measured groups (gsos_measured) that cannot work as configured."""
    from gsos.search.optimizers.registry import STRATEGIES

    problems = []
    if not _touches(broken, "pilot", "run.seeds"):
        pilot = cfg["pilot"]
        if pilot["strategy"] not in STRATEGIES or STRATEGIES[pilot["strategy"]].measured:
            allowed = [n for n, s in STRATEGIES.items() if not s.measured]
            problems.append(f"pilot.strategy: {pilot['strategy']!r} is not one of {allowed}")
        shared = sorted(set(pilot["seeds"]) & set(cfg["run"]["seeds"]))
        if shared:
            problems.append(
                f"pilot.seeds: {shared} are also run.seeds; pilot runs need seeds of their own"
            )
    if not _touches(broken, "measured_groups", "run.datasets", "search_space"):
        mg = cfg["measured_groups"]
        if mg["source"] == "file" and not mg["weights_file"]:
            problems.append("measured_groups.weights_file: source is file, so give the file")
        uses = any(STRATEGIES[s].measured for s in cfg["run"]["strategies"] if s in STRATEGIES)
        if uses and mg["source"] == "leave_one_out" and len(cfg["run"]["datasets"]) < 2:
            problems.append(
                "measured_groups.source: leave_one_out measures each dataset's groups on the "
                "others; run.datasets has only one (use same, or file)"
            )
        sizes = mg["rule"].get("sizes")
        cuts = mg["rule"].get("cumulative")
        n_groups = len(sizes) if sizes is not None else (len(cuts) + 1 if cuts else None)
        fixed = mg["budget"] in ("shares", "adaptive") and n_groups is not None
        if fixed and len(mg["shares"]) != n_groups:
            problems.append(
                f"measured_groups.shares: {len(mg['shares'])} share(s) {mg['shares']} for "
                f"the {n_groups} group(s) measured_groups.rule makes; give one per group"
            )
        if uses and sizes is not None and sum(sizes) != len(cfg["search_space"]):
            problems.append(
                f"measured_groups.rule.sizes: {sizes} add up to {sum(sizes)}, but the search "
                f"space has {len(cfg['search_space'])} hyperparameters"
            )
    return problems


# --- warnings: legitimate but degenerate set-ups, said at planning time --------------------

USELESS_LAYERS = 2  # convolutions on 1×1 maps beyond which a warning is said


def _range_max(entry: Mapping[str, Any]) -> float | None:
    if entry.get("type") == "choice":
        nums = [v for v in entry.get("values", []) if isinstance(v, int | float)]
        return max(nums) if nums else None
    return entry.get("high")


def config_warnings(cfg: Mapping[str, Any], recorded: Mapping[str, Any] | None = None) -> list[str]:
    """What a valid config will do that its author may not expect: Hyperband with one rung
    (random search at the full budget), TPE that never leaves its random start, convolutions
    on maps already 1×1, and an experiment name whose results were made with other settings
    (``recorded``: the config its last run recorded)."""
    from gsos.search.optimizers.registry import STRATEGIES

    out = []
    used = [STRATEGIES[s] for s in cfg["run"]["strategies"] if s in STRATEGIES]
    fidelities = {st.inner_algorithm(cfg).name: st.name for st in used if st.multi_fidelity(cfg)}
    for section, (what, low, high, eta) in fidelity_ranges(cfg).items():
        if section in fidelities and low > 0 and rungs(low, high, eta) < 2:
            out.append(
                f"{section}: {what} {low:g}..{high:g} with eta {eta:g} give one rung, so "
                f"{fidelities[section]} trains every configuration at the full budget: random "
                f"search. A range of at least eta ({eta:g}×) gives it rungs to halve over"
            )
    startup = int(cfg["tpe"]["n_startup_jobs"])
    iterations = int(cfg["hpo"]["iterations"])
    tpe_users = [st.name for st in used if st.inner_algorithm(cfg).name in ("tpe", "tpe_lc")]
    whole = [n for n in tpe_users if not STRATEGIES[n].grouped]
    if whole and startup >= iterations:
        out.append(
            f"tpe.n_startup_jobs: {startup} random starts of {iterations} iterations "
            f"(hpo.iterations): {', '.join(whole)} never leave(s) the random start (random search)"
        )
    if "gsos" in tpe_users:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            budgets = group_iterations(iterations, cfg["gsos"]["groups"])
            random_groups = [
                g["name"] for g, n in zip(cfg["gsos"]["groups"], budgets, strict=True)
                if n <= startup
            ]  # fmt: skip
            if random_groups:
                out.append(
                    f"tpe.n_startup_jobs: {startup} random starts, and gsos group(s) "
                    f"{', '.join(random_groups)} have no more iterations than that: they are "
                    "random search"
                )
    layers = _range_max(cfg["search_space"].get("num_conv_layers", {}))
    layers = cfg.get("fixed", {}).get("num_conv_layers", layers)
    pool = int(cfg["model"].get("pool_size", 2))
    if isinstance(layers, int | float) and pool > 1:
        for name in cfg["run"]["datasets"]:
            size = int(cfg["datasets"].get(name, {}).get("image_size", 0) or 0)
            if size < 1:
                continue
            useful, s = 0, size
            while s > 1:
                s //= pool
                useful += 1
            if layers - useful > USELESS_LAYERS:
                out.append(
                    f"search_space.num_conv_layers: up to {int(layers)} layers, but a "
                    f"{size}×{size} image of {name} is 1×1 after {useful} (pool {pool}): the "
                    f"other {int(layers) - useful} convolve single pixels"
                )
    if recorded:
        changed = _differences(recorded, cfg)
        if changed:
            out.append(
                f"experiment {cfg['experiment']!r} already holds results made with other "
                f"settings ({', '.join(changed[:5])}"
                + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
                + "): jobs whose settings changed run again and replace them. To keep both, "
                "give this config its own experiment name (experiment: <name>)"
            )
    return out


SETTLED = ("run", "progress_seconds", "resources", "paper_artifacts")  # change no result


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ (what decides results only)."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        if not prefix and key in SETTLED:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _differences(a, b, path + ".")
        elif a != b:
            out.append(path)
    return out
