"""From a strategy's name and a run's settings to its optimiser and budget.

Light (no torch): the synthetic-objective tests and the workflow's planning use it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gsos.search.groups import Group
from gsos.search.optimizers.base import Budget, Optimizer, View
from gsos.search.optimizers.grouped import GroupedSequential, GroupPlan
from gsos.search.optimizers.registry import strategy as registered
from gsos.search.optimizers.repeats import MAX_REPEATS, Memory, NoRepeats, view_size
from gsos.search.seeds import derive_seed
from gsos.search.space import SearchSpace

FIDELITY = "epoch"


def run_budget(strategy: str, settings: Mapping[str, Any], cost_epochs: float | None) -> Budget:
    """Evaluations for the paper's protocol (equal iterations); a training cost for the
    cost-matched strategies (multi-fidelity ones, tpe_lc, bilevel)."""
    if registered(strategy).cost_matched(settings):
        if cost_epochs is None:
            raise ValueError(f"{strategy} is cost-matched: it needs a cost budget")
        return Budget(cost=float(cost_epochs))
    return Budget(evaluations=int(settings["hpo"]["iterations"]))


def build_optimizer(
    strategy: str,
    space: SearchSpace,
    seed: int,
    settings: Mapping[str, Any],
    budget: Budget,
    groups: Sequence[Group] = (),
    shares: Sequence[float] | None = None,
    patience: int | None = None,
) -> Optimizer:
    """The registered strategy's optimiser for one run."""
    st = registered(strategy)
    algorithm = st.inner_algorithm(settings)
    factory = algorithm.make()
    # an epoch fidelity leaves the searched space; a data fidelity keeps epochs searched
    fidelity = FIDELITY if algorithm.fidelity == "epoch" else None

    cont = st.continuous_algorithm(settings)
    cont_factory = cont.make() if cont else None
    memory = Memory()  # every configuration the run evaluated: repeats are told, not trained
    max_repeats = int(settings.get("hpo", {}).get("max_repeats", MAX_REPEATS))

    def inner(view: View, inner_seed: int, inner_budget: Budget, label: str) -> Optimizer:
        make = factory
        if cont_factory is not None and all(
            space.params[n].kind in ("uniform", "loguniform") for n in view.names
        ):  # gsos.continuous_inner: a group of continuous hyperparameters only
            make = cont_factory
        size = view_size(view, fidelity=algorithm.multi_fidelity)
        optimizer = make(view, inner_seed, inner_budget, settings)
        return NoRepeats(optimizer, memory, size, max_repeats, label)

    if not st.grouped:
        view = View.of(space, without=[fidelity] if fidelity else [])
        return inner(view, derive_seed(seed, 1, 0), budget, "the run")
    if not groups:
        raise ValueError(f"{strategy} searches group by group: it needs the groups file")
    if budget.cost is not None:
        weights = list(shares) if shares else [g.iterations for g in groups]
        plans = [
            GroupPlan(g.name, g.params, Budget(cost=budget.cost * w / sum(weights)), patience)
            for g, w in zip(groups, weights, strict=True)
        ]
    else:
        plans = [
            GroupPlan(g.name, g.params, Budget(evaluations=g.iterations), patience) for g in groups
        ]
    return GroupedSequential(space, seed, plans, inner, fidelity, memory)
