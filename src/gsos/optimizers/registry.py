"""Every strategy, declared once. Imports nothing heavy: the workflow reads it to plan jobs.

A strategy is an algorithm (an optimiser module) applied either to the whole space or, for
the GSOS family, group by group (paper Algorithm 2 with the algorithm as its line 6). The
config schema's allowed names, the workflow's wildcard constraint and job parameters, the
tables and the figures all follow :data:`STRATEGIES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Algorithm:
    name: str
    factory: str  # "module:function" building the optimiser
    section: str | None  # the config section holding its options (None: it has none)
    multi_fidelity: bool = False  # epochs are its budget: it spends a training cost
    title: str = ""

    def make(self) -> Any:
        module, function = self.factory.split(":")
        return getattr(importlib.import_module(module), function)


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in [
        Algorithm("tpe", "gsos.optimizers.hyperopt_search:make_tpe", "tpe", title="TPE"),
        Algorithm("random", "gsos.optimizers.hyperopt_search:make_random", None, title="random"),
        Algorithm("grid", "gsos.optimizers.optuna_search:make_grid", "grid", title="grid"),
        Algorithm(
            "hyperband", "gsos.optimizers.hyperband:make_hyperband", "hyperband", True, "Hyperband"
        ),
        Algorithm("bohb", "gsos.optimizers.hyperband:make_bohb", "bohb", True, "BOHB"),
        Algorithm("cmaes", "gsos.optimizers.cmaes:make_cmaes", "cmaes", title="CMA-ES"),
        Algorithm("ga", "gsos.optimizers.optuna_search:make_ga", "ga", title="genetic algorithm"),
        Algorithm("pso", "gsos.optimizers.pso:make_pso", "pso", title="particle swarm"),
    ]
}


@dataclass(frozen=True)
class Strategy:
    name: str
    title: str
    algorithm: str | None  # None: the GSOS family, whose algorithm is ``inner``
    origin: str  # where it comes from, for the docs and the report
    inner: str | None = None  # GSOS family: the algorithm inside each group
    configurable_inner: bool = False  # gsos: config gsos.inner may change it

    @property
    def grouped(self) -> bool:
        return self.algorithm is None

    def inner_algorithm(self, config: Mapping[str, Any] | None = None) -> Algorithm:
        name = self.algorithm or self.inner
        if self.configurable_inner and config is not None:
            name = config.get("gsos", {}).get("inner", name)
        assert name is not None
        return ALGORITHMS[name]

    def multi_fidelity(self, config: Mapping[str, Any] | None = None) -> bool:
        return self.inner_algorithm(config).multi_fidelity

    def sections(self, config: Mapping[str, Any] | None = None) -> list[str]:
        """The config sections a job of this strategy needs besides the common ones."""
        section = self.inner_algorithm(config).section
        return [s for s in (section, "gsos" if self.grouped else None) if s]


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in [
        Strategy("gsos", "GSOS (TPE)", None, "GSOS paper, Algorithm 2", "tpe", True),
        Strategy("simultaneous", "Simultaneous TPE", "tpe", "GSOS paper, the baseline"),
        Strategy("random", "Random search", "random", "seed 004 (HPO methods overview)"),
        Strategy("grid", "Grid search", "grid", "seed 004"),
        Strategy("hyperband", "Hyperband", "hyperband", "seed 002; Li et al., JMLR 2018"),
        Strategy("bohb", "BOHB", "bohb", "seed 002; Falkner et al., ICML 2018"),
        Strategy(
            "gsos_hyperband", "GSOS (Hyperband)", None, "GSOS paper §7 (future work)", "hyperband"
        ),
        Strategy("gsos_bohb", "GSOS (BOHB)", None, "GSOS paper §7 (future work)", "bohb"),
        Strategy("cmaes", "CMA-ES", "cmaes", "seed 004; Hansen's CMA-ES (pycma)"),
        Strategy("ga", "Genetic algorithm", "ga", "seed 004; Optuna's NSGA-II, one objective"),
        Strategy("pso", "Particle swarm", "pso", "seed 004; pymoo's PSO"),
    ]
}

# The paper's pair, which Tables 3-5 and Figures 1-2 compare.
PAPER_PAIR = ("gsos", "simultaneous")


def strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; registered: {sorted(STRATEGIES)}") from None


def title(name: str) -> str:
    return STRATEGIES[name].title if name in STRATEGIES else name
