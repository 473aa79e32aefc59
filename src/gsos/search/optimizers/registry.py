"""Every strategy, declared once. Imports nothing heavy: the workflow reads it to plan jobs.

A strategy is an algorithm (an optimiser module) applied either to the whole space or, for
the GSOS family, group by group (paper Algorithm 2 with the algorithm as its line 6). The
config schema's allowed names, the workflow's wildcard constraint and job parameters, the
tables and the figures all follow :data:`STRATEGIES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Algorithm:
    name: str
    factory: str  # "module:function" (a module of this package) building the optimiser
    sections: tuple[str, ...] = ()  # the config sections holding its options
    # what its budget is, if not whole trainings: "epoch" (training epochs, which leave the
    # searched space) or "data" (the share of the training split); it spends a training cost
    fidelity: str | None = None
    title: str = ""
    # spends a training cost (sample-epochs) even at full fidelity: a strategy that saves
    # training (early stops, cheap steps) spends the savings on more evaluations
    cost_budget: bool = False
    # fits the network's weights on the validation split too (bilevel_vf's outer steps): its
    # validation accuracy is not held out, so it is judged on test accuracy only
    fits_validation: bool = False

    @property
    def multi_fidelity(self) -> bool:
        return self.fidelity is not None

    @property
    def cost_matched(self) -> bool:
        """Whether its run's budget is a training cost (by default the sample-epochs the
        simultaneous run of the same dataset and seed spent) rather than evaluations."""
        return self.multi_fidelity or self.cost_budget

    def make(self) -> Any:
        module, function = self.factory.split(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), function)


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in [
        Algorithm("tpe", "hyperopt_search:make_tpe", ("tpe",), title="TPE"),
        Algorithm("random", "hyperopt_search:make_random", title="random"),
        Algorithm("grid", "optuna_search:make_grid", ("grid",), title="grid"),
        Algorithm(
            "hyperband",
            "hyperband:make_hyperband",
            ("hyperband",),
            "epoch",
            "Hyperband",
        ),  # fmt: skip
        Algorithm("bohb", "hyperband:make_bohb", ("bohb",), "epoch", "BOHB"),
        Algorithm(
            "hyperband_data",
            "hyperband:make_hyperband_data",
            ("hyperband_data",),
            "data",
            "Hyperband over data",
        ),  # fmt: skip
        Algorithm("cmaes", "cmaes:make_cmaes", ("cmaes",), title="CMA-ES"),
        Algorithm("ga", "optuna_search:make_ga", ("ga",), title="genetic algorithm"),
        Algorithm("pso", "pso:make_pso", ("pso",), title="particle swarm"),
        Algorithm(
            "tpe_lc",
            "tpe_lc:make_tpe_lc",
            ("tpe", "tpe_lc"),
            title="TPE with learning curves",
            cost_budget=True,
        ),  # fmt: skip
        Algorithm(
            "bilevel",
            "bilevel:make_bilevel",
            ("bilevel",),
            title="hypergradient descent",
            cost_budget=True,
        ),  # fmt: skip
        Algorithm("fabolas", "fabolas:make_fabolas", ("fabolas",), "data", "FABOLAS"),
        Algorithm("boil", "boil:make_boil", ("boil",), title="BOIL", cost_budget=True),
        Algorithm(
            "bilevel_vf",
            "bilevel_vf:make_bilevel_vf",
            ("bilevel_vf",),
            title="value-function bilevel (GP + augmented Lagrangian)",
            cost_budget=True,
            fits_validation=True,
        ),  # fmt: skip
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
    measured: bool = False  # GSOS family: groups from measured importance (pilot runs)

    @property
    def grouped(self) -> bool:
        return self.algorithm is None

    def inner_algorithm(self, config: Mapping[str, Any] | None = None) -> Algorithm:
        name = self.algorithm or self.inner
        if self.configurable_inner and config is not None:
            name = config.get("gsos", {}).get("inner", name)
        assert name is not None
        return ALGORITHMS[name]

    def continuous_algorithm(self, config: Mapping[str, Any] | None = None) -> Algorithm | None:
        """gsos: the algorithm for groups of continuous hyperparameters only, if configured."""
        if not (self.configurable_inner and config is not None):
            return None
        name = config.get("gsos", {}).get("continuous_inner")
        return ALGORITHMS[name] if name else None

    def multi_fidelity(self, config: Mapping[str, Any] | None = None) -> bool:
        return self.inner_algorithm(config).multi_fidelity

    def cost_matched(self, config: Mapping[str, Any] | None = None) -> bool:
        """Whether a run's budget is a training cost (see :attr:`Algorithm.cost_matched`)."""
        return self.inner_algorithm(config).cost_matched

    @property
    def validation_held_out(self) -> bool:
        """Whether its runs' validation accuracy is held out (not trained on): only then can
        it rank or lead on validation accuracy."""
        return not (self.algorithm and ALGORITHMS[self.algorithm].fits_validation)

    def sections(self, config: Mapping[str, Any] | None = None) -> list[str]:
        """The config sections a job of this strategy needs besides the common ones."""
        own = list(self.inner_algorithm(config).sections)
        cont = self.continuous_algorithm(config)
        own += [s for s in (cont.sections if cont else ()) if s not in own]
        return own + (["gsos"] if self.grouped and not self.measured else [])


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
        Strategy(
            "gsos_measured",
            "GSOS (measured groups)",
            None,
            "GSOS paper §3 premise: groups from importance measured on pilot runs",
            "tpe",
            measured=True,
        ),
        Strategy("cmaes", "CMA-ES", "cmaes", "seed 004; Hansen's CMA-ES (pycma)"),
        Strategy("ga", "Genetic algorithm", "ga", "seed 004; Optuna's NSGA-II, one objective"),
        Strategy("pso", "Particle swarm", "pso", "seed 004; pymoo's PSO"),
        Strategy(
            "tpe_lc",
            "TPE with learning curves",
            "tpe_lc",
            "seed 002; Domhan et al., IJCAI 2015 (curve families fitted by least squares)",
        ),
        Strategy(
            "bilevel",
            "Bilevel (hypergradient)",
            "bilevel",
            "seed 003, by the hypergradient alternative (Maclaurin et al. 2015)",
        ),
        Strategy(
            "fabolas",
            "FABOLAS",
            "fabolas",
            "seed 002; Klein et al., EJS 2017 (emukit's implementation)",
        ),
        Strategy(
            "boil",
            "BOIL",
            "boil",
            "seed 002; Nguyen, Schulze, Osborne, NeurIPS 2020 (on BoTorch/GPyTorch)",
        ),
        Strategy(
            "bilevel_vf",
            "Bilevel (value function)",
            "bilevel_vf",
            "seed 003: GP of the lower level's value function and an augmented Lagrangian "
            "(Sinha, Gunwal, Kumar), on the L2 weight decay",
        ),
        Strategy(
            "hyperband_data",
            "Hyperband over data",
            "hyperband_data",
            "seed 002: FABOLAS's data-size fidelity, without its Gaussian process",
        ),
    ]
}

# The paper's pair, which Tables 3-5 and Figures 1-2 compare.
PAPER_PAIR = ("gsos", "simultaneous")


def strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; registered: {sorted(STRATEGIES)}") from None


def strategy_order(names: Iterable[str]) -> list[str]:
    """Registry order (the paper's pair first), then anything unknown."""
    names = set(names)
    return [s for s in STRATEGIES if s in names] + sorted(names - set(STRATEGIES))


def validation_held_out(name: str) -> bool:
    """See :attr:`Strategy.validation_held_out`; a strategy the registry does not know is
    taken as held out."""
    return STRATEGIES[name].validation_held_out if name in STRATEGIES else True


def title(name: str) -> str:
    return STRATEGIES[name].title if name in STRATEGIES else name
