"""No configuration trained twice by accident: a repeated proposal is told what it got.

TPE over a small space (GSOS's group of optimizer × epoch has 6 configurations in the default
space) proposes the same configuration again and again; trained each time with a new trial
seed, the run's "best" became the luckiest reseed of one configuration, a bias no other
strategy had. So every optimiser (and each GSOS group's) is wrapped: a proposal whose
configuration (every hyperparameter, the budget and the data share) was evaluated earlier in
the run is told that earlier outcome, without training and without charge, and the optimiser
is asked again. An optimiser is done (its budget passed on: a GSOS group's to the next group)
when every configuration of its view is known, or after ``max_repeats`` repeats in a row.

What a strategy means to train again is not a repeat: a continuation (Hyperband promoting a
configuration from its saved state). A Hyperband configuration that keeps a state for later
rungs repeats only while that earlier state is still live; otherwise it is trained again,
because it must be continued from a state of its own.

Everything here follows from what the optimiser was told, so resume by replay still holds:
asked again, the wrapper skips the same repeats and returns the same next evaluation.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from gsos.search.optimizers.base import Evaluation, Optimizer, Outcome, View

MAX_REPEATS = 50  # hpo.max_repeats: repeats in a row before an optimiser counts as exhausted


def configuration_key(ev: Evaluation) -> str:
    """What makes two evaluations the same training: the configuration, budget and share."""
    return json.dumps(
        {"params": ev.params, "budget": ev.budget, "data_fraction": ev.data_fraction},
        sort_keys=True,
        default=str,
    )


def view_size(view: View, fidelity: bool = False) -> float:
    """How many configurations a view holds (infinite with a continuous hyperparameter, or
    when a fidelity varies the budget)."""
    if fidelity:
        return math.inf
    size = 1.0
    for name in view.names:
        p = view.space.params[name]
        if p.kind == "choice":
            size *= len(p.values)
        elif p.kind == "int":
            assert p.low is not None and p.high is not None
            size *= int(p.high) - int(p.low) + 1
        else:
            return math.inf
    return size


@dataclass
class Memory:
    """Every configuration evaluated in a run, with its first outcome; and what was passed on
    because a search ran out of new configurations (shared by all of a run's groups)."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    exhausted: list[dict[str, Any]] = field(default_factory=list)
    repeats: int = 0


class NoRepeats(Optimizer):
    """``inner`` with repeats told, not trained (see the module docstring)."""

    def __init__(
        self,
        inner: Optimizer,
        memory: Memory,
        size: float,
        max_repeats: int = MAX_REPEATS,
        label: str = "the run",
    ):
        self.inner, self.memory, self.size = inner, memory, size
        self.max_repeats, self.label = max_repeats, label
        self.known_here: set[str] = set()  # configurations of this view, trained or told
        self.trained_here = 0
        self.repeats_here = 0
        self.repeats_told: list[tuple[Evaluation, Outcome]] = []  # a GSOS group's best sees them
        self.done = False

    def _exhaust(self, why: str) -> None:
        self.done = True
        self.memory.exhausted.append(
            {
                "search": self.label,
                "distinct_configurations": len(self.known_here),
                "trained": self.trained_here,
                "repeats_told": self.repeats_here,
                "why": why,
            }
        )

    def ask(self) -> Evaluation | None:
        if self.done:
            return None
        streak = 0
        while True:
            if len(self.known_here) >= self.size:
                self._exhaust(f"all {int(self.size)} configurations of its space are known")
                return None
            ev = self.inner.ask()
            if ev is None or ev.continues is not None:
                return ev
            key = configuration_key(ev)
            known = self.memory.outcomes.get(key)
            if known is None or (ev.keep_state and known.iteration not in self.live_states()):
                return dataclasses.replace(ev, repeats_before=streak)
            told = dataclasses.replace(known, cost=0.0, repeat=True)
            self.inner.tell(ev, told)
            self.repeats_told.append((ev, told))
            self.known_here.add(key)
            self.memory.repeats += 1
            self.repeats_here += 1
            streak += 1
            if streak >= self.max_repeats:
                self._exhaust(f"{streak} repeated proposals in a row (hpo.max_repeats)")
                return None

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        self.inner.tell(evaluation, outcome)
        if evaluation.continues is None:
            key = configuration_key(evaluation)
            self.memory.outcomes.setdefault(key, outcome)
            self.known_here.add(key)
            self.trained_here += 1

    def live_states(self) -> set[int]:
        return self.inner.live_states()
