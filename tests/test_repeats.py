"""No configuration trained twice (gsos.search.optimizers.repeats) and GSOS's groups
(gsos.search.optimizers.grouped), on scripted optimisers whose answers are known."""

import math

import pytest

from gsos.search.optimizers.base import Budget, Evaluation, Optimizer, Outcome, View
from gsos.search.optimizers.grouped import GroupedSequential, GroupPlan
from gsos.search.optimizers.repeats import Memory, NoRepeats, configuration_key, view_size
from gsos.search.seeds import derive_seed
from gsos.search.space import SearchSpace

SPACE = SearchSpace.from_config(
    {
        "lr": {"type": "loguniform", "low": 1e-5, "high": 1.0, "default": 0.01},
        "optimizer": {"type": "choice", "values": ["adam", "sgd"], "default": "adam"},
        "kernel": {"type": "choice", "values": [3, 5], "default": 3},
        "epoch": {"type": "int", "low": 1, "high": 3, "default": 1},
    }
)


def ev(budget=1, continues=None, keep_state=False, data_fraction=1.0, **params):
    full = {"lr": 0.01, "optimizer": "adam", "kernel": 3, "epoch": budget, **params}
    return Evaluation(params=full, budget=budget, continues=continues, keep_state=keep_state,
                      data_fraction=data_fraction)  # fmt: skip


class Script(Optimizer):
    """Proposes ``proposals`` in order; records what it is told."""

    def __init__(self, proposals, live=()):
        self.proposals, self.told, self.live, self.asked = list(proposals), [], set(live), 0

    def ask(self):
        if self.asked >= len(self.proposals):
            return None
        self.asked += 1
        return self.proposals[self.asked - 1]

    def tell(self, evaluation, outcome):
        self.told.append((evaluation, outcome))

    def live_states(self):
        return set(self.live)


def outcome(i, acc=0.5, cost=1.0, status="ok"):
    return Outcome(i, status, acc, cost)


# --- repeats ------------------------------------------------------------------------------


def test_a_repeated_proposal_is_told_its_first_outcome_free_and_the_next_is_asked():
    inner = Script([ev(kernel=3), ev(kernel=3), ev(kernel=3), ev(kernel=5)])
    memory = Memory()
    opt = NoRepeats(inner, memory, size=100)
    first = opt.ask()
    opt.tell(first, outcome(1, 0.7, cost=2.0))
    second = opt.ask()  # the two repeats are told, not returned
    assert second.params["kernel"] == 5 and second.repeats_before == 2
    assert first.repeats_before == 0
    told = [o for _, o in inner.told]
    assert told[0] == outcome(1, 0.7, cost=2.0)
    assert [(o.iteration, o.val_accuracy, o.cost, o.repeat) for o in told[1:]] == [
        (1, 0.7, 0.0, True), (1, 0.7, 0.0, True),
    ]  # fmt: skip
    assert memory.repeats == 2 and opt.repeats_here == 2 and len(opt.repeats_told) == 2
    opt.tell(second, outcome(2, 0.9))
    assert opt.trained_here == 2 and len(opt.known_here) == 2
    assert memory.outcomes[configuration_key(first)].val_accuracy == 0.7


def test_the_first_outcome_of_a_configuration_is_the_one_remembered():
    memory = Memory()
    opt = NoRepeats(Script([]), memory, size=100)
    opt.tell(ev(kernel=5), outcome(1, 0.6))
    opt.tell(ev(kernel=5), outcome(2, 0.9))
    assert memory.outcomes[configuration_key(ev(kernel=5))].iteration == 1


def test_a_search_that_knows_every_configuration_is_done():
    inner = Script([ev(kernel=3), ev(kernel=5), ev(kernel=3)])
    memory = Memory()
    opt = NoRepeats(inner, memory, size=2, label="G2")
    for i in range(2):
        opt.tell(opt.ask(), outcome(i + 1))
    assert opt.ask() is None and opt.done
    assert inner.asked == 2  # not asked again once all are known
    assert memory.exhausted == [
        {"search": "G2", "distinct_configurations": 2, "trained": 2, "repeats_told": 0,
         "why": "all 2 configurations of its space are known"}
    ]  # fmt: skip
    assert opt.ask() is None and len(memory.exhausted) == 1  # said once


def test_max_repeats_in_a_row_ends_a_search():
    inner = Script([ev(kernel=3)] * 10 + [ev(kernel=5)])
    memory = Memory()
    opt = NoRepeats(inner, memory, size=math.inf, max_repeats=3)
    opt.tell(opt.ask(), outcome(1))
    assert opt.ask() is None
    assert memory.exhausted[0]["why"].startswith("3 repeated proposals in a row")
    assert memory.exhausted[0]["repeats_told"] == 3 and memory.exhausted[0]["search"] == "the run"
    inner2 = Script([ev(kernel=3)] * 2 + [ev(kernel=5)])
    opt2 = NoRepeats(inner2, Memory(), size=math.inf, max_repeats=3)
    opt2.tell(opt2.ask(), outcome(1))
    assert opt2.ask().params["kernel"] == 5  # two in a row are below the limit


def test_continuations_and_the_end_pass_through_untouched():
    cont = ev(budget=3, continues=1, kernel=3)
    inner = Script([ev(kernel=3), cont])
    memory = Memory()
    opt = NoRepeats(inner, memory, size=100)
    opt.tell(opt.ask(), outcome(1))
    got = opt.ask()
    assert got is cont
    opt.tell(got, outcome(2, 0.9))
    assert len(memory.outcomes) == 1 and opt.trained_here == 1  # a continuation is not new
    assert opt.ask() is None and not opt.done


def test_a_configuration_that_keeps_its_state_repeats_only_while_that_state_is_live():
    memory = Memory()
    first = ev(keep_state=True, kernel=3)
    live = NoRepeats(Script([first, first, ev(kernel=5)], live={1}), memory, size=100)
    live.tell(live.ask(), outcome(1))
    assert live.ask().params["kernel"] == 5  # told: its state 1 is still there
    gone = NoRepeats(Script([first], live=set()), memory, size=100)
    assert gone.ask() == first  # its state is gone: trained again, to keep one of its own
    assert gone.live_states() == set() and live.live_states() == {1}


def test_what_makes_two_evaluations_the_same_training():
    assert configuration_key(ev(kernel=3)) == configuration_key(ev(kernel=3))
    assert configuration_key(ev(kernel=3)) != configuration_key(ev(kernel=5))
    assert configuration_key(ev(budget=1)) != configuration_key(ev(budget=2, epoch=1))
    assert configuration_key(ev(data_fraction=0.5)) != configuration_key(ev())


def test_a_views_size_counts_its_configurations():
    assert view_size(View.of(SPACE, ["optimizer", "kernel"])) == 4
    assert view_size(View.of(SPACE, ["optimizer", "epoch"])) == 6  # 2 x (1..3)
    assert view_size(View.of(SPACE, ["kernel", "lr"])) == math.inf
    assert view_size(View.of(SPACE, ["kernel"]), fidelity=True) == math.inf


# --- GSOS's groups ------------------------------------------------------------------------


class Factory:
    """Makes each group's inner optimiser from a script of (params, accuracy) pairs."""

    def __init__(self, scripts, memory=None, exhaust=()):
        self.scripts, self.made, self.memory, self.exhaust = scripts, [], memory, set(exhaust)

    def __call__(self, view, seed, budget, label):
        proposals = [Evaluation(params=view.full(p), budget=1) for p in self.scripts[label]]
        n = budget.evaluations if budget.evaluations is not None else len(proposals)
        inner = Script(proposals[:n])
        if label in self.exhaust and self.memory is not None:
            self.memory.exhausted.append({"search": label, "trained": len(proposals),
                                          "repeats_told": 2, "why": "all known"})  # fmt: skip
        self.made.append((label, view, seed, budget, inner))
        return inner


def drive(opt, accuracy):
    seen, i = [], 0
    while (e := opt.ask()) is not None:
        i += 1
        opt.tell(e, Outcome(i, "ok", accuracy(e), 1.0))
        seen.append(e)
    return seen


def test_each_group_searches_its_own_with_the_others_at_the_best_so_far():
    scripts = {
        "G1": [{"optimizer": "sgd"}, {"optimizer": "adam"}],
        "G2": [{"kernel": 5}, {"kernel": 3}, {"kernel": 5}],
    }
    factory = Factory(scripts)
    groups = [GroupPlan("G1", ("optimizer",), Budget(evaluations=2)),
              GroupPlan("G2", ("kernel", "epoch"), Budget(evaluations=3))]  # fmt: skip
    opt = GroupedSequential(SPACE, 11, groups, factory, fidelity="epoch")
    acc = {("sgd", 3): 0.8, ("adam", 3): 0.7, ("sgd", 5): 0.9}
    seen = drive(opt, lambda e: acc[(e.params["optimizer"], e.params["kernel"])])
    assert [(e.group, e.group_index) for e in seen] == [("G1", 1)] * 2 + [("G2", 2)] * 3
    (l1, v1, s1, b1, _), (l2, v2, s2, b2, _) = factory.made
    assert (v1.names, s1, b1) == (("optimizer",), derive_seed(11, 1, 0), Budget(evaluations=2))
    assert (v2.names, s2, b2) == (("kernel",), derive_seed(11, 1, 1), Budget(evaluations=3))
    assert v1.fixed["kernel"] == 3 and v2.fixed["optimizer"] == "sgd"  # G1's best carried on
    assert [e.params["optimizer"] for e in seen[2:]] == ["sgd"] * 3
    assert opt.current == {**SPACE.defaults(), "optimizer": "sgd", "kernel": 5}


def test_a_groups_best_is_the_earliest_of_the_highest_and_counts_repeats_told():
    """G2 proposes G1's best again (a repeat, told 0.95 without training) and two worse new
    ones: the group's best is the repeat, so the configuration keeps G1's kernel."""
    memory = Memory()
    factory = Factory({"G1": [{"kernel": 3}, {"kernel": 5}], "G2": [{"optimizer": "sgd"}] * 2})
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=2)),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=2))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory, memory=memory)
    drive(opt, lambda e: 0.9 if e.group == "G1" else 0.5)  # G1: a tie, the earlier wins
    assert opt.current["kernel"] == 3 and opt.current["optimizer"] == "sgd"
    factory = Factory({"G1": [{"kernel": 5}], "G2": [{"optimizer": "sgd"}]})
    opt = GroupedSequential(SPACE, 0, groups, factory, memory=Memory())
    while (e := opt.ask()) is not None:
        if e.group == "G2":
            inner = factory.made[-1][4]
            inner.repeats_told = [(Evaluation(params={**e.params, "optimizer": "adam"}, budget=1),
                                   Outcome(1, "ok", 0.95, 0.0, repeat=True))]  # fmt: skip
        opt.tell(e, Outcome(2 if e.group == "G2" else 1, "ok", 0.9 if e.group == "G1" else 0.6,
                            1.0))  # fmt: skip
    assert opt.current["optimizer"] == "adam" and opt.current["kernel"] == 5


def test_a_group_without_a_finished_trial_changes_nothing():
    factory = Factory({"G1": [{"kernel": 5}], "G2": [{"optimizer": "sgd"}]})
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=1)),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=1))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory)
    i = 0
    while (e := opt.ask()) is not None:
        i += 1
        opt.tell(e, Outcome(i, "fail", None, 0.0))
    assert opt.current == SPACE.defaults()


def test_what_a_group_leaves_unspent_goes_to_the_next_which_says_why():
    memory = Memory()
    factory = Factory({"G1": [{"kernel": 3}, {"kernel": 5}], "G2": [{"optimizer": "sgd"}] * 9},
                      memory, exhaust={"G1"})  # fmt: skip
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=5)),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=4))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory, memory=memory)
    seen = drive(opt, lambda e: 0.5)
    assert factory.made[1][3] == Budget(evaluations=4 + 3)  # G1 trained 2 of its 5
    assert len(seen) == 9
    notes = [e.note for e in seen if e.note]
    assert notes == ["group G1 ran out of new configurations (all known; 2 trained, 2 repeats "
                     "told, not trained): 3 evaluations passed on"]  # fmt: skip
    assert seen[2].note == notes[0] and memory.exhausted[0]["passed_on"] == "3 evaluations"


def test_unspent_cost_is_passed_on_too_and_said_in_epochs():
    memory = Memory()
    factory = Factory({"G1": [{"kernel": 3}], "G2": [{"optimizer": "sgd"}] * 3}, memory,
                      exhaust={"G1"})  # fmt: skip
    groups = [GroupPlan("G1", ("kernel",), Budget(cost=5.0)),
              GroupPlan("G2", ("optimizer",), Budget(cost=4.0))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory, memory=memory)
    seen = drive(opt, lambda e: 0.5)
    assert factory.made[1][3] == Budget(cost=4.0 + 4.0)
    assert seen[1].note.endswith(": 4.00 epochs of training cost passed on")


def test_a_group_that_stops_short_without_running_out_passes_its_budget_on_silently():
    factory = Factory({"G1": [{"kernel": 3}], "G2": [{"optimizer": "sgd"}] * 9})
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=3)),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=2))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory)
    seen = drive(opt, lambda e: 0.5)
    assert len(seen) == 5 and not any(e.note for e in seen)


def test_a_group_of_only_the_fidelity_passes_its_budget_on():
    factory = Factory({"G2": [{"kernel": 5}] * 9})
    groups = [GroupPlan("G1", ("epoch",), Budget(cost=3.0)),
              GroupPlan("G2", ("kernel",), Budget(cost=2.0))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory, fidelity="epoch")
    assert opt.ask().group == "G2"
    assert [m[0] for m in factory.made] == ["G2"] and factory.made[0][3] == Budget(cost=5.0)
    assert factory.made[0][2] == derive_seed(0, 1, 1)


def test_a_group_that_stops_improving_ends_unless_it_is_the_last():
    factory = Factory({"G1": [{"kernel": 3}] * 10, "G2": [{"optimizer": "sgd"}] * 10})
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=10), patience=2),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=3), patience=1)]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory)
    accs = iter([0.5, 0.6, 0.6, 0.55] + [0.1] * 20)  # no gain after the 2nd: 2 more, then stop
    seen = drive(opt, lambda e: next(accs))
    assert [e.group for e in seen] == ["G1"] * 4 + ["G2"] * 9  # the last spends all (3 + 6)


def test_a_failed_trial_is_no_gain():
    factory = Factory({"G1": [{"kernel": 3}] * 5, "G2": [{"optimizer": "sgd"}] * 5})
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=5), patience=2),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=1))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory)
    statuses = iter(["ok", "fail", "fail", "ok"])
    seen, i = [], 0
    while (e := opt.ask()) is not None:
        i += 1
        status = next(statuses, "ok")
        opt.tell(e, Outcome(i, status, 0.5 if status == "ok" else None, 1.0))
        seen.append(e.group)
    assert seen == ["G1"] * 3 + ["G2"] * 3


def test_live_states_and_tell_go_to_the_group_searching():
    factory = Factory({"G1": [{"kernel": 3}]})
    opt = GroupedSequential(SPACE, 0, [GroupPlan("G1", ("kernel",), Budget(evaluations=1))],
                            factory)  # fmt: skip
    assert opt.live_states() == set()
    with pytest.raises(AssertionError, match="tell without ask"):
        opt.tell(ev(), outcome(1))
    e = opt.ask()
    factory.made[0][4].live = {7}
    assert opt.live_states() == {7}
    opt.tell(e, outcome(1))
    assert factory.made[0][4].told == [(e, outcome(1))]
    assert opt.ask() is None and opt.live_states() == set()


def test_budget_passed_on_is_passed_on_again_when_the_next_group_also_runs_out():
    """G1 trains 2 of its 5 and runs out: 3 go to G2 (4 + 3 = 7). G2 trains 1 and runs out:
    all 6 it did not spend go to G3, so the run trains its 12 evaluations (3 were lost)."""
    memory = Memory()
    factory = Factory(
        {"G1": [{"kernel": 3}, {"kernel": 5}], "G2": [{"optimizer": "sgd"}],
         "G3": [{"epoch": 2}] * 20},
        memory, exhaust={"G1", "G2"},
    )  # fmt: skip
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=5)),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=4)),
              GroupPlan("G3", ("epoch",), Budget(evaluations=3))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory, memory=memory)
    seen = drive(opt, lambda e: 0.5)
    assert [m[3] for m in factory.made] == [
        Budget(evaluations=5), Budget(evaluations=7), Budget(evaluations=3 + 6),
    ]  # fmt: skip
    assert len(seen) == 12
    assert seen[3].note.endswith(": 6 evaluations passed on")


def test_a_configuration_is_the_same_whatever_the_order_or_type_of_its_values():
    import numpy as np

    a = Evaluation(params={"lr": 0.01, "kernel": 3}, budget=1)
    b = Evaluation(params={"kernel": 3, "lr": 0.01}, budget=1)
    assert configuration_key(a) == configuration_key(b)
    c = Evaluation(params={"lr": np.float32(0.5), "kernel": np.int64(3)}, budget=1)
    assert configuration_key(c) == configuration_key(c)  # numpy values: still a key


def test_a_cost_group_that_ran_out_at_once_passes_its_cost_on_in_epochs():
    memory = Memory()
    factory = Factory({"G1": [], "G2": [{"optimizer": "sgd"}] * 3}, memory, exhaust={"G1"})
    groups = [GroupPlan("G1", ("kernel",), Budget(cost=5.0)),
              GroupPlan("G2", ("optimizer",), Budget(cost=4.0))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory, memory=memory)
    seen = drive(opt, lambda e: 0.5)
    assert factory.made[1][3] == Budget(cost=9.0)
    assert seen[0].note.endswith(": 5.00 epochs of training cost passed on")


def test_a_group_that_spent_all_its_evaluations_passes_nothing_on():
    memory = Memory()
    factory = Factory({"G1": [{"kernel": 3}, {"kernel": 5}], "G2": [{"optimizer": "sgd"}] * 3},
                      memory, exhaust={"G1"})  # fmt: skip
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=2)),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=2))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory, memory=memory)
    seen, i = [], 0
    while (e := opt.ask()) is not None:
        i += 1
        opt.tell(e, Outcome(i, "ok", 0.5, 0.0))  # trained at no cost (a stand-in)
        seen.append(e)
    assert len(seen) == 4 and not any(e.note for e in seen)
    assert factory.made[1][3] == Budget(evaluations=2)
    assert "passed_on" not in memory.exhausted[0]


def test_the_last_group_running_out_passes_nothing_on():
    memory = Memory()
    factory = Factory({"G1": [{"kernel": 3}] * 2, "G2": [{"optimizer": "sgd"}]}, memory,
                      exhaust={"G2"})  # fmt: skip
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=2)),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=5))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory, memory=memory)
    assert len(drive(opt, lambda e: 0.5)) == 3
    assert memory.exhausted[-1]["search"] == "G2" and "passed_on" not in memory.exhausted[-1]


def test_an_evaluation_group_of_only_the_fidelity_passes_its_evaluations_on():
    factory = Factory({"G2": [{"kernel": 5}] * 9})
    groups = [GroupPlan("G1", ("epoch",), Budget(evaluations=3)),
              GroupPlan("G2", ("kernel",), Budget(evaluations=2))]  # fmt: skip
    opt = GroupedSequential(SPACE, 0, groups, factory, fidelity="epoch")
    assert len(drive(opt, lambda e: 0.5)) == 5
    assert factory.made[0][3] == Budget(evaluations=5)


def test_failures_and_unfinished_trials_are_never_a_gain():
    """With a patience of 2, two failures in a row from the start end the group; a trial
    that diverged or was stopped early is no gain either, whatever accuracy it had."""
    groups = [GroupPlan("G1", ("kernel",), Budget(evaluations=6), patience=2),
              GroupPlan("G2", ("optimizer",), Budget(evaluations=1))]  # fmt: skip

    def groups_seen(first: list[tuple[str, float | None]]) -> list[str]:
        """The group of each evaluation when the first outcomes are these, then ok at 0.5."""
        factory = Factory({"G1": [{"kernel": 3}] * 6, "G2": [{"optimizer": "sgd"}] * 9})
        outcomes = iter(first)
        opt = GroupedSequential(SPACE, 0, groups, factory)
        seen, i = [], 0
        while (e := opt.ask()) is not None:
            i += 1
            status, acc = next(outcomes, ("ok", 0.5))
            opt.tell(e, Outcome(i, status, acc, 1.0))
            seen.append(e.group)
        return seen

    assert groups_seen([("fail", None), ("fail", None)]) == ["G1"] * 2 + ["G2"] * 5
    seen = groups_seen([("ok", 0.5), ("diverged", 0.9), ("stopped", 0.95)])
    assert seen == ["G1"] * 3 + ["G2"] * 4
