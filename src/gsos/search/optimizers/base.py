"""The interface every HPO strategy implements, and the values that cross it.

An optimiser is built from a view of the search space (which hyperparameters it searches,
the others fixed), a seed, a budget and its options. ``ask()`` returns the next
:class:`Evaluation` (a full configuration and its fidelity budget in epochs) or ``None``
when its budget is spent; ``tell(evaluation, outcome)`` reports the result. Its state
depends only on its seed and what it was told: a killed run is rebuilt by asking again
and telling the recorded outcomes (resume by replay), which :mod:`gsos.search.runner` does and
checks. The runner alone owns timing, records, the failure policy and resume.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gsos.search.space import SearchSpace, Value

# Trial statuses that carry an accuracy an optimiser learns from; 'fail' (an exception)
# carries none. 'stopped' (stopped early by a strategy) carries the accuracy it reached.
OBSERVED = ("ok", "diverged", "stopped")
WORST_LOSS = 1.0  # a failed trial, for optimisers that need a number: zero accuracy


@dataclass(frozen=True)
class View:
    """The part of the space an optimiser searches; every other hyperparameter is fixed."""

    space: SearchSpace
    names: tuple[str, ...]
    fixed: Mapping[str, Value] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        space: SearchSpace,
        names: Sequence[str] | None = None,
        fixed: Mapping[str, Value] | None = None,
        without: Sequence[str] = (),
    ) -> View:
        """A view over ``names`` (default: all) minus ``without``, the rest at ``fixed``
        (default: the space's defaults)."""
        names = [n for n in (names or space.names) if n not in without]
        base = dict(space.defaults())
        base.update(fixed or {})
        return cls(space, tuple(names), {k: v for k, v in base.items() if k not in names})

    def full(self, values: Mapping[str, Value]) -> dict[str, Value]:
        """A complete configuration, in the space's order (fixed hyperparameters last)."""
        merged = {**self.fixed, **values}
        return {n: merged[n] for n in self.space.configuration_names}


@dataclass(frozen=True)
class Budget:
    """How much a run (or a GSOS group) may spend: a number of evaluations, or a training
    cost in full-training-set epochs (sample-epochs / training images)."""

    evaluations: int | None = None
    cost: float | None = None

    def __post_init__(self) -> None:
        if self.evaluations is None and self.cost is None:
            raise ValueError("a budget needs evaluations or cost")


@dataclass(frozen=True)
class Fidelity:
    """What a multi-fidelity strategy's budget is, from ``low`` to ``high``: training epochs
    (``name`` "epoch", the hyperparameter's range, which leaves the searched space) or the
    share of the training split (``name`` DATA_FRACTION, with epochs still searched)."""

    name: str
    low: float
    high: float

    @property
    def whole(self) -> bool:
        """Whether budgets are whole numbers (epochs)."""
        return self.name != DATA_FRACTION


DATA_FRACTION = "data_fraction"


@dataclass(frozen=True)
class Evaluation:
    """One thing to evaluate: train ``params`` to ``budget`` epochs.

    ``continues`` is the iteration whose saved state (model, optimiser, data order) this
    evaluation continues, so only ``budget`` minus that state's epochs are trained;
    ``keep_state`` asks the runner to save the state afterwards (it may be continued).
    ``raw`` is the optimiser's own encoding, recorded; ``handle`` is private to it.
    """

    params: dict[str, Value]
    budget: int
    continues: int | None = None
    keep_state: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    group: str = "all"
    group_index: int = 1
    data_fraction: float = 1.0
    handle: Any = field(default=None, compare=False, repr=False)
    # called with the learning curve after each epoch; may stop the training early
    after_epoch: Any = field(default=None, compare=False, repr=False)
    # also measure d(validation loss)/d(log lr, logit dropout), with these options
    hypergradient: Mapping[str, Any] | None = None
    # report the training objective, or take an augmented-Lagrangian step (bilevel_vf)
    value_function: Mapping[str, Any] | None = None
    # repeated proposals told their earlier outcome while this one was asked for (recorded)
    repeats_before: int = 0
    # why the budget moved (a GSOS group that ran out of new configurations), recorded
    note: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What an optimiser is told about an evaluation (the same live and in replay)."""

    iteration: int
    status: str
    val_accuracy: float | None
    cost: float  # full-training-set epochs this evaluation trained
    hypergradient: Mapping[str, float] | None = None
    value_function: Mapping[str, Any] | None = None  # what bilevel_vf's evaluation measured
    curve: Sequence[Mapping[str, Any]] | None = None  # validation after each epoch (BOIL)
    repeat: bool = False  # a repeated proposal told an earlier outcome: no training, no charge

    @property
    def loss(self) -> float | None:
        """1 - validation accuracy: what every strategy minimises (None for a failure)."""
        if self.status not in OBSERVED or self.val_accuracy is None:
            return None
        return 1.0 - float(self.val_accuracy)

    @property
    def loss_or_worst(self) -> float:
        loss = self.loss
        return WORST_LOSS if loss is None or not math.isfinite(loss) else loss


def outcome_of(record: Mapping[str, Any], n_train: int) -> Outcome:
    """The outcome a record tells; used for live results and for replay alike.

    A trial stopped early by learning-curve extrapolation tells the accuracy it was predicted
    to reach, as Domhan et al. do, not the one it had when it was stopped.
    """
    accuracy = record.get("val_accuracy")
    if record["status"] == "stopped" and record.get("predicted_final_accuracy") is not None:
        accuracy = record["predicted_final_accuracy"]
    return Outcome(
        iteration=int(record["iteration"]),
        status=str(record["status"]),
        val_accuracy=accuracy,
        cost=float(record.get("sample_epochs") or 0) / max(n_train, 1),
        hypergradient=record.get("hypergradient"),
        value_function=record.get("value_function"),
        curve=record.get("curve"),
    )


class Optimizer(ABC):
    """One HPO strategy. Subclasses keep all their randomness in their own seeded state."""

    @abstractmethod
    def ask(self) -> Evaluation | None:
        """The next evaluation, or None when the budget is spent."""

    @abstractmethod
    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        """The result of an evaluation that ``ask`` returned."""

    def live_states(self) -> set[int]:
        """Iterations whose saved states may still be continued (the runner drops others)."""
        return set()


class CountingBudget:
    """Evaluations and cost spent against a :class:`Budget`."""

    def __init__(self, budget: Budget):
        self.budget = budget
        self.evaluations = 0
        self.cost = 0.0

    def fits(self, cost: float = 0.0) -> bool:
        """Whether one more evaluation of this ``cost`` stays inside the budget."""
        b = self.budget
        if b.evaluations is not None and self.evaluations >= b.evaluations:
            return False
        return b.cost is None or self.cost + cost <= b.cost + 1e-9

    def left(self) -> float | None:
        """The training cost still to spend (None without a cost budget)."""
        return None if self.budget.cost is None else max(0.0, self.budget.cost - self.cost)

    def spend(self, cost: float) -> None:
        self.evaluations += 1
        self.cost += cost

    def spend_on(self, outcome: Outcome) -> None:
        """What an outcome costs: nothing for a repeat (see :mod:`.repeats`)."""
        if not outcome.repeat:
            self.spend(outcome.cost)


def settings_from(cls: type, section: Mapping[str, Any]) -> Any:
    """A strategy's frozen settings dataclass from its config section: each field the section
    holds, cast to the type of the field's default (YAML gives 1 where 1.0 is meant), the
    defaults for the rest. A field whose default is None takes an int or None."""
    values = {}
    for name in cls.__dataclass_fields__:  # type: ignore[attr-defined]
        if name in section:
            default, value = getattr(cls, name), section[name]
            values[name] = value if value is None else type(default or 0)(value)
    return cls(**values)


def np_seed(seed: int) -> int:
    """A seed for libraries that read 0 as 'seed from the clock' (pycma): never 0."""
    return int(seed) % (2**31 - 2) + 1


class IsolatedNumpyRandom:
    """Runs a library that draws from numpy's global random state (pycma) on a private copy
    of it, so nothing else in the process can move its stream."""

    def __init__(self, seed: int):
        prev = np.random.get_state()
        np.random.seed(np_seed(seed))
        self._state = np.random.get_state()
        np.random.set_state(prev)

    def __enter__(self) -> IsolatedNumpyRandom:
        self._prev = np.random.get_state()
        np.random.set_state(self._state)
        return self

    def __exit__(self, *exc: object) -> None:
        self._state = np.random.get_state()
        np.random.set_state(self._prev)
