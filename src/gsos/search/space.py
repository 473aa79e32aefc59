"""The search space of paper Table 1 as data, and its translation to and from hyperopt.

A space is built from the config's ``search_space`` mapping so that every range and default
lives in config. hyperopt hands back indices for ``hp.choice`` and numpy scalars, so every
value that leaves this module goes through :func:`decode`, which returns plain Python values.
hyperopt (2-4 s to import, through scipy.stats) is imported only where a hyperopt space is
built: config validation and the workflow use this module too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Value = int | float | str

KINDS = ("choice", "loguniform", "uniform", "int")


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its kind, its range (or values) and its default."""

    name: str
    kind: str
    default: Value
    values: tuple[Value, ...] = ()
    low: float | None = None
    high: float | None = None

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.values
        if self.kind == "int" and (isinstance(value, bool) or int(value) != value):
            return False
        assert self.low is not None and self.high is not None
        return self.low <= float(value) <= self.high

    def to_hyperopt(self) -> Any:
        from gsos.search._hyperopt import hyperopt

        hp = hyperopt().hp

        if self.kind == "choice":
            return hp.choice(self.name, list(self.values))
        assert self.low is not None and self.high is not None
        if self.kind == "loguniform":
            return hp.loguniform(self.name, math.log(self.low), math.log(self.high))
        if self.kind == "uniform":
            return hp.uniform(self.name, self.low, self.high)
        return hp.uniformint(self.name, int(self.low), int(self.high))

    def cast(self, value: Any) -> Value:
        """Plain Python type for a value of this parameter (numpy scalars become int/float)."""
        if self.kind == "choice":
            for v in self.values:  # return the config's own object, not a numpy copy
                if v == value or str(v) == str(value):
                    return v
            raise ValueError(f"{self.name}: {value!r} is not one of {list(self.values)}")
        if self.kind == "int":
            return int(round(float(value)))
        return float(value)


# What the CNN builder needs a value for: each is searched (search_space) or fixed (config
# ``fixed``). Optional ones (weight_decay) are 0 when neither.
MODEL_HYPERPARAMETERS = (
    "num_conv_layers",
    "lr",
    "dropout_rate",
    "optimizer",
    "epoch",
    "stride",
    "padding",
    "kernel",
    "num_fc_units",
    "batch_size",
)


@dataclass(frozen=True)
class Domain:
    """The values the CNN and its trainer can take for one hyperparameter: a searched range
    or choice and a fixed value are both checked against it, before any job."""

    kind: str  # "int" (a whole number), "float" or "choice"
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is outside (a learning rate > 0)
    high_open: bool = False
    values: tuple[Value, ...] = ()

    def text(self) -> str:
        if self.kind == "choice":
            return f"one of {list(self.values)}"
        what = "a whole number" if self.kind == "int" else "a number"
        lo = "" if self.low is None else f"{'>' if self.low_open else '≥'} {self.low:g}"
        hi = "" if self.high is None else f"{'<' if self.high_open else '≤'} {self.high:g}"
        return f"{what} {' and '.join(x for x in (lo, hi) if x)}".strip()

    def admits(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.values
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(value) or (self.kind == "int" and float(value) != int(value)):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (
            value > self.high or (self.high_open and value == self.high)
        )


DOMAINS: dict[str, Domain] = {
    "num_conv_layers": Domain("int", low=1),
    "lr": Domain("float", low=0, low_open=True),
    "dropout_rate": Domain("float", low=0, high=1, high_open=True),
    "optimizer": Domain("choice", values=("adam", "sgd")),
    "epoch": Domain("int", low=1),
    "stride": Domain("int", low=1),
    "padding": Domain("choice", values=("valid", "same")),
    "kernel": Domain("int", low=1),
    "num_fc_units": Domain("int", low=1),
    "batch_size": Domain("int", low=1),
    "weight_decay": Domain("float", low=0),
}


def space_problems(
    spec: Mapping[str, Mapping[str, Any]], fixed: Mapping[str, Any] | None = None
) -> list[str]:
    """Every problem of a ``search_space`` and ``fixed`` at once: names the CNN does not
    read, ranges that are empty or not of the hyperparameter's kind, values (searched or
    fixed) outside what the CNN can take, defaults outside their range."""
    problems = []
    known = ", ".join(DOMAINS)
    for name, entry in spec.items():
        where = f"search_space.{name}"
        domain = DOMAINS.get(name)
        if domain is None:
            problems.append(
                f"{where}: the CNN reads no hyperparameter named {name!r}, so searching it "
                f"would change nothing; it reads: {known}"
            )
            continue
        kind = entry.get("type")
        if kind not in KINDS:
            problems.append(f"{where}.type: {kind!r} is not one of {KINDS}")
            continue
        if kind == "choice":
            bad = [v for v in entry.get("values", []) if not domain.admits(v)]
            if bad:
                problems.append(
                    f"{where}.values: {bad} cannot be a {name}; {name} is {domain.text()}"
                )
            values = entry.get("values", [])
            if entry.get("default") not in values:
                problems.append(
                    f"{where}.default: {entry.get('default')!r} lies outside the space ({values})"
                )
            continue
        if domain.kind == "choice":
            problems.append(f"{where}.type: {name} is {domain.text()}: use type: choice")
            continue
        if domain.kind == "int" and kind in ("uniform", "loguniform"):
            problems.append(
                f"{where}.type: {name} is a whole number, so a {kind} range would be recorded "
                f"as, say, 3.29 and trained as 3; use type: int"
            )
            continue
        try:
            low, high = float(entry["low"]), float(entry["high"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"{where}: a {kind} range needs numbers low and high")
            continue
        for key, v in (("low", low), ("high", high)):
            if not domain.admits(int(v) if domain.kind == "int" and v == int(v) else v):
                problems.append(
                    f"{where}.{key}: {entry[key]!r} cannot be a {name} ({domain.text()})"
                )
        if not low < high:
            problems.append(f"{where}: low ({low:g}) must be below high ({high:g})")
        elif kind == "loguniform" and low <= 0:
            problems.append(f"{where}: a loguniform range needs low > 0")
        elif not low <= float(entry.get("default", low)) <= high or (
            kind == "int" and float(entry.get("default", low)) != int(entry.get("default", low))
        ):
            problems.append(
                f"{where}.default: {entry.get('default')!r} lies outside the space ({[low, high]})"
            )
    for name, value in (fixed or {}).items():
        domain = DOMAINS.get(name)
        if domain is None:
            problems.append(
                f"fixed.{name}: the CNN reads no hyperparameter named {name!r}; it reads: {known}"
            )
        elif name not in spec and not domain.admits(value):
            problems.append(
                f"fixed.{name}: {value!r} cannot be a {name}; {name} is {domain.text()}"
            )
    return problems


class SearchSpace:
    """An ordered set of :class:`Param` (the order is the config's), and the values of the
    hyperparameters that are not searched (``fixed``: config ``fixed``, which is where
    ``search_space: {name: null}`` puts a removed hyperparameter's default)."""

    def __init__(self, params: Iterable[Param], fixed: Mapping[str, Value] | None = None):
        self.params: dict[str, Param] = {p.name: p for p in params}
        self.fixed: dict[str, Value] = {
            k: v for k, v in (fixed or {}).items() if k not in self.params
        }

    @classmethod
    def from_config(
        cls, spec: Mapping[str, Mapping[str, Any]], fixed: Mapping[str, Value] | None = None
    ) -> SearchSpace:
        params = []
        for name, entry in spec.items():
            kind = entry["type"]
            if kind not in KINDS:
                raise ValueError(f"search_space.{name}.type: {kind!r} is not one of {KINDS}")
            if kind == "choice":
                p = Param(name, kind, entry["default"], values=tuple(entry["values"]))
            else:
                low, high = float(entry["low"]), float(entry["high"])
                if not low < high:
                    raise ValueError(
                        f"search_space.{name}: low ({low}) must be below high ({high})"
                    )
                if kind == "loguniform" and low <= 0:
                    raise ValueError(f"search_space.{name}: a loguniform range needs low > 0")
                p = Param(name, kind, entry["default"], low=low, high=high)
            if not p.contains(p.default):
                raise ValueError(
                    f"search_space.{name}.default: {p.default!r} lies outside the space "
                    f"({list(p.values) if p.kind == 'choice' else [p.low, p.high]})"
                )
            params.append(p)
        return cls(params, fixed)

    @property
    def names(self) -> list[str]:
        return list(self.params)

    @property
    def configuration_names(self) -> list[str]:
        """Every hyperparameter of a configuration: the searched ones, then the fixed ones."""
        return [*self.params, *self.fixed]

    def defaults(self) -> dict[str, Value]:
        """The starting configuration: searched hyperparameters at their defaults, the rest
        at their fixed values."""
        return {**{n: p.cast(p.default) for n, p in self.params.items()}, **self.fixed}

    def hyperopt_space(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """A hyperopt space over ``names`` only (all parameters when None)."""
        names = self.names if names is None else list(names)
        unknown = [n for n in names if n not in self.params]
        if unknown:
            raise KeyError(f"unknown hyperparameters {unknown}; the space has {self.names}")
        return {n: self.params[n].to_hyperopt() for n in names}

    def decode(self, space: Mapping[str, Any], hp_vals: Mapping[str, Any]) -> dict[str, Value]:
        """hyperopt's raw assignment (choice indices, numpy scalars) -> plain typed values.

        Our spaces are flat (one hp node per parameter), so this is a direct lookup; it gives
        what ``hyperopt.space_eval`` gives (a test pins that) without re-walking the pyll
        graph on every iteration, which cost about 1.3 ms of a 10 ms TPE step.
        """
        out = {}
        for name in space:
            p, raw = self.params[name], _scalar(hp_vals[name])
            out[name] = p.values[int(raw)] if p.kind == "choice" else p.cast(raw)
        return out

    def decode_with_space_eval(
        self, space: Mapping[str, Any], hp_vals: Mapping[str, Any]
    ) -> dict[str, Value]:
        """The reference decoding through hyperopt itself (for tests)."""
        from gsos.search._hyperopt import hyperopt

        space_eval = hyperopt().space_eval

        raw = space_eval(dict(space), {k: _scalar(v) for k, v in hp_vals.items()})
        return {k: self.params[k].cast(v) for k, v in raw.items()}

    def corners(self) -> list[dict[str, Value]]:
        """Every combination of the extremes of each parameter (choices: every value)."""
        axes: list[list[tuple[str, Value]]] = []
        for n, p in self.params.items():
            if p.kind == "choice":
                axes.append([(n, v) for v in p.values])
            else:
                assert p.low is not None and p.high is not None
                axes.append([(n, p.cast(p.low)), (n, p.cast(p.high))])
        combos: list[dict[str, Value]] = [{}]
        for axis in axes:
            combos = [{**c, k: v} for c in combos for k, v in axis]
        return combos


def _scalar(v: Any) -> Any:
    """hyperopt stores each value as a one-element list in ``misc['vals']``."""
    if isinstance(v, list | tuple):
        if len(v) != 1:
            raise ValueError(f"expected one value, got {v!r}")
        v = v[0]
    return v.item() if hasattr(v, "item") else v
