"""GSOS (paper Algorithm 2) with any algorithm inside each group.

Start from the default configuration. For each group in order, a fresh optimiser (its own
seed) searches that group's hyperparameters, every other one fixed at the current
configuration, within the group's budget; then the group's best configuration (highest
validation accuracy, the earliest on a tie) gives the group's values to the current one.
With TPE inside this is the paper's GSOS; simultaneous TPE is the same loop with a single
group of every hyperparameter. With a multi-fidelity algorithm inside (Hyperband, BOHB; the
paper's §7), epochs are the budget, not a searched hyperparameter, and group budgets are
shares of the run's training cost instead of its evaluations. Whatever a group leaves
unspent (an exhausted grid, a bracket that no longer fits, or, with a patience, a group that
stopped improving) moves on to the next group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gsos.search.optimizers.base import Budget, Evaluation, Optimizer, Outcome, View
from gsos.search.optimizers.repeats import Memory
from gsos.search.records import best_record
from gsos.search.seeds import derive_seed
from gsos.search.space import SearchSpace

InnerFactory = Callable[[View, int, Budget, str], Optimizer]  # view, seed, budget, label


@dataclass(frozen=True)
class GroupPlan:
    name: str
    params: tuple[str, ...]
    budget: Budget
    patience: int | None = None  # adaptive budgets: end after this many evaluations w/o a gain


class GroupedSequential(Optimizer):
    def __init__(
        self,
        space: SearchSpace,
        seed: int,
        groups: Sequence[GroupPlan],
        make_inner: InnerFactory,
        fidelity: str | None = None,
        memory: Memory | None = None,
    ):
        self.space, self.seed, self.groups = space, seed, list(groups)
        self.make_inner, self.fidelity = make_inner, fidelity
        self.memory = memory if memory is not None else Memory()
        self.note: str | None = None  # why the next group got more budget, for its record
        self.current = space.defaults()
        self.index = -1  # the group being searched
        self.inner: Optimizer | None = None
        self.told: list[tuple[Evaluation, Outcome]] = []
        self.unspent = (0, 0.0)  # evaluations and cost left by earlier groups
        self.given = Budget(evaluations=0)  # what the group being searched was given

    def _finish_group(self) -> None:
        if self.inner is None:
            return
        group = self.groups[self.index]
        repeats = getattr(self.inner, "repeats_told", [])  # told, not trained: still results
        done = [
            {
                "status": o.status,
                "val_accuracy": o.val_accuracy,
                "iteration": o.iteration,
                "params": e.params,
            }
            for e, o in [*self.told, *repeats]
        ]
        best = best_record(done)
        if best is not None:
            searched = [n for n in group.params if n != self.fidelity]
            self.current.update({k: best["params"][k] for k in searched})
        budget = self.given  # the group's own and what earlier groups passed on to it
        used_evals = len(self.told)
        used_cost = sum(o.cost for _, o in self.told)
        left_evals = (budget.evaluations or 0) - used_evals
        left_cost = (budget.cost or 0.0) - used_cost
        self.unspent = (max(left_evals, 0), max(left_cost, 0.0))
        ran_out = [e for e in self.memory.exhausted if e["search"] == group.name]
        if ran_out and (self.unspent[0] or self.unspent[1]) and self.index + 1 < len(self.groups):
            left = (
                f"{self.unspent[0]} evaluations"
                if self.unspent[0]
                else (f"{self.unspent[1]:.2f} epochs of training cost")
            )
            self.note = (
                f"group {group.name} ran out of new configurations ({ran_out[-1]['why']}; "
                f"{ran_out[-1]['trained']} trained, {ran_out[-1]['repeats_told']} repeats told, "
                f"not trained): {left} passed on"
            )
            ran_out[-1]["passed_on"] = left
        self.inner, self.told = None, []

    def _start_next_group(self) -> bool:
        self._finish_group()
        while self.index + 1 < len(self.groups):
            self.index += 1
            group = self.groups[self.index]
            names = [n for n in group.params if n != self.fidelity]
            b = group.budget
            budget = Budget(
                evaluations=None if b.evaluations is None else b.evaluations + self.unspent[0],
                cost=None if b.cost is None else b.cost + self.unspent[1],
            )
            if not names:  # only the fidelity was in it: nothing to search, budget moves on
                self.unspent = (budget.evaluations or 0, budget.cost or 0.0)
                continue
            view = View.of(self.space, names, fixed=self.current)
            seed = derive_seed(self.seed, 1, self.index)
            self.inner = self.make_inner(view, seed, budget, group.name)
            self.given, self.unspent = budget, (0, 0.0)
            return True
        return False

    def _stalled(self) -> bool:
        """A group with a patience that has not improved for that many evaluations is done
        (unless it is the last: it spends what is left)."""
        patience = self.groups[self.index].patience if self.inner is not None else None
        if patience is None or self.index == len(self.groups) - 1:
            return False
        best, since = -1.0, 0
        for _, o in self.told:
            acc = o.val_accuracy if o.status == "ok" and o.val_accuracy is not None else -1.0
            best, since = (acc, 0) if acc > best else (best, since + 1)
        return since >= patience

    def ask(self) -> Evaluation | None:
        while True:
            if self.inner is not None and not self._stalled():
                ev = self.inner.ask()
                if ev is not None:
                    group = self.groups[self.index]
                    ev = dataclasses.replace(ev, group=group.name, group_index=self.index + 1)
                    if self.note is not None:
                        ev, self.note = dataclasses.replace(ev, note=self.note), None
                    return ev
            if not self._start_next_group():
                return None

    def tell(self, evaluation: Evaluation, outcome: Outcome) -> None:
        assert self.inner is not None, "tell without ask"
        self.inner.tell(evaluation, outcome)
        self.told.append((evaluation, outcome))

    def live_states(self) -> set[int]:
        return self.inner.live_states() if self.inner is not None else set()
