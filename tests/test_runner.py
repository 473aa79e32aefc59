"""The runner (gsos.search.runner) on a scripted optimiser: the seeds a trial trains with,
what replay refuses, the failure policy, saved states, and the records it writes."""

import json

import pytest

from gsos.search.optimizers.base import Budget, Evaluation, Optimizer
from gsos.search.records import journal_path, read_records
from gsos.search.runner import Progress, ReplayMismatch, Runner, TooManyFailures, check_replay
from gsos.search.seeds import derive_seed

SEED = 7


def ev(x, budget=1, continues=None, keep_state=False, data_fraction=1.0, group="all", note=None):
    return Evaluation(
        params={"x": x, "epoch": budget},
        budget=budget,
        continues=continues,
        keep_state=keep_state,
        data_fraction=data_fraction,
        raw={"u": x / 10},
        group=group,
        note=note,
    )


class Script(Optimizer):
    """Proposes a fixed list of evaluations; keeps the states it is told to keep live."""

    def __init__(self, evaluations, live=()):
        self.evaluations, self.live, self.told = list(evaluations), set(live), []

    def ask(self):
        return self.evaluations[len(self.told)] if len(self.told) < len(self.evaluations) else None

    def tell(self, evaluation, outcome):
        self.told.append((evaluation, outcome))

    def live_states(self):
        return set(self.live)


class Trainer:
    """The evaluation: accuracy from x; records the seed, resume and save paths it got;
    may raise once at a given call (a kill) or fail given x values."""

    def __init__(self, kill_at=None, fail=()):
        self.calls, self.kill_at, self.fail = [], kill_at, set(fail)

    def __call__(self, evaluation, trial_seed, resume, save):
        self.calls.append((evaluation.params["x"], trial_seed, resume, save))
        if self.kill_at is not None and len(self.calls) == self.kill_at:
            raise KeyboardInterrupt  # killed mid-training: nothing recorded
        if save is not None:
            save.parent.mkdir(parents=True, exist_ok=True)
            save.write_text("state")
        if evaluation.params["x"] in self.fail:
            return {"status": "fail", "error": f"ValueError: x={evaluation.params['x']}",
                    "val_accuracy": None, "sample_epochs": 0}  # fmt: skip
        return {"status": "ok", "val_accuracy": 0.5 + evaluation.params["x"] / 100,
                "sample_epochs": 10 * evaluation.budget}  # fmt: skip


def runner(tmp_path, optimizer, evaluate, run_key="k", **kw):
    return Runner(
        optimizer,
        evaluate,
        tmp_path / "run.jsonl",
        seed=SEED,
        n_train=10,
        base_record={"dataset": "d", "strategy": "s", "run_key": run_key},
        log=kw.pop("log", lambda m: None),
        **kw,
    )


PLAN = [ev(1, keep_state=True), ev(2, keep_state=True), ev(1, budget=3, continues=1)]


def test_a_fresh_trial_trains_with_its_iterations_seed_and_a_continuation_with_its_parents(
    tmp_path,
):
    records = runner(tmp_path, Script(PLAN, live={1}), Trainer()).run()
    seeds = [r["trial_seed"] for r in records]
    assert seeds[:2] == [derive_seed(SEED, 2, 1), derive_seed(SEED, 2, 2)]
    assert seeds[2] == seeds[0] != derive_seed(SEED, 2, 3)


def test_a_continuation_after_a_kill_replays_with_its_parents_seed(tmp_path):
    """Killed while training iteration 3 (which continues 1): the rerun replays 1 and 2
    and trains 3 with iteration 1's seed, from iteration 1's saved state."""
    first = Trainer(kill_at=3)
    with pytest.raises(KeyboardInterrupt):
        runner(tmp_path, Script(PLAN, live={1}), first).run()
    assert len(read_records(journal_path(tmp_path / "run.jsonl"))) == 2
    again = Trainer()
    records = runner(tmp_path, Script(PLAN, live={1}), again).run()
    assert [c[0] for c in again.calls] == [1]  # only iteration 3 is trained
    _, seed, resume, save = again.calls[0]
    assert seed == records[0]["trial_seed"] == first.calls[0][1]
    assert (
        resume
        == journal_path(tmp_path / "run.jsonl").with_name("run.journal.jsonl.states") / "1.pt"
    )
    assert save is None
    assert [r["iteration"] for r in records] == [1, 2, 3]


def test_replay_tells_the_optimiser_what_was_recorded(tmp_path):
    runner(tmp_path, Script(PLAN, live={1}), Trainer()).run()
    script = Script(PLAN, live={1})
    trainer = Trainer()
    records = runner(tmp_path, script, trainer).run()
    assert trainer.calls == [] and len(records) == 3
    outcomes = [o for _, o in script.told]
    assert [(o.iteration, o.status, o.val_accuracy, o.cost) for o in outcomes] == [
        (1, "ok", 0.51, 1.0), (2, "ok", 0.52, 1.0), (3, "ok", 0.51, 3.0),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "changed",
    [
        [ev(1, keep_state=True), ev(2, keep_state=True), ev(1, budget=3, continues=2)],
        [ev(1, keep_state=True), ev(2, keep_state=True), ev(1, budget=3)],
        [ev(1, keep_state=True), ev(2, keep_state=True), ev(1, budget=2, continues=1)],
        [ev(1, keep_state=True), ev(3, keep_state=True), ev(1, budget=3, continues=1)],
    ],
    ids=["other-parent", "not-continued", "other-budget", "other-params"],
)
def test_replay_refuses_a_journal_whose_evaluations_differ(tmp_path, changed):
    runner(tmp_path, Script(PLAN, live={1}), Trainer()).run()
    with pytest.raises(ReplayMismatch, match="the journal holds"):
        runner(tmp_path, Script(changed), Trainer()).run()


def test_replay_refuses_a_journal_whose_data_shares_differ(tmp_path):
    plan = [ev(1, data_fraction=1 / 9), ev(2, data_fraction=1 / 3)]
    runner(tmp_path, Script(plan), Trainer()).run()
    other = [ev(1, data_fraction=1 / 9), ev(2, data_fraction=1.0)]
    with pytest.raises(ReplayMismatch, match="iteration 2"):
        runner(tmp_path, Script(other), Trainer()).run()
    assert len(runner(tmp_path, Script(plan), Trainer()).run()) == 2  # the same: resumes


def test_replay_refuses_a_journal_longer_than_the_optimiser_proposes(tmp_path):
    runner(tmp_path, Script(PLAN, live={1}), Trainer()).run()
    with pytest.raises(ReplayMismatch, match="iteration 3: the optimiser proposes nothing more"):
        runner(tmp_path, Script(PLAN[:2]), Trainer()).run()


def test_check_replay_of_journals_from_before_budgets_were_recorded():
    old = {"iteration": 1, "params": {"x": 1, "epoch": 1}}
    other = Evaluation(params={"x": 1, "epoch": 1}, budget=5, continues=2)
    check_replay(other, old)  # budget and continues not compared
    with pytest.raises(ReplayMismatch):
        check_replay(ev(2), old)
    new = {**old, "budget": 1, "continues": None}
    check_replay(ev(1), new)  # no data_fraction recorded: not compared
    with pytest.raises(ReplayMismatch):
        check_replay(ev(1, budget=2), new)
    with pytest.raises(ReplayMismatch):
        check_replay(ev(1, continues=3), new)


def test_a_journal_of_other_settings_is_moved_aside_not_resumed(tmp_path):
    first = Trainer(kill_at=3)
    with pytest.raises(KeyboardInterrupt):
        runner(tmp_path, Script(PLAN, live={1}), first).run()
    journal = journal_path(tmp_path / "run.jsonl")
    states = journal.with_name(journal.name + ".states")
    assert (states / "1.pt").exists()
    said = []
    again = Trainer()
    records = runner(tmp_path, Script(PLAN[:2]), again, run_key="other", log=said.append).run()
    assert [c[0] for c in again.calls] == [1, 2] and len(records) == 2
    stale = journal.with_name(journal.name + ".stale")
    assert len(read_records(stale)) == 2 and records[0]["run_key"] == "other"
    assert any("moved it to" in m for m in said)
    assert not states.exists()


def test_states_are_kept_while_live_and_removed_at_the_end(tmp_path):
    seen = []

    class Watch(Script):
        def tell(self, evaluation, outcome):
            super().tell(evaluation, outcome)
            states = journal_path(tmp_path / "run.jsonl").with_name("run.journal.jsonl.states")
            seen.append(sorted(p.name for p in states.glob("*.pt")))

    runner(tmp_path, Watch(PLAN, live={1}), Trainer()).run()
    # told before the runner drops what is not live: 1 and 2 saved, then 2 dropped
    assert seen == [["1.pt"], ["1.pt", "2.pt"], ["1.pt"]]
    assert not (tmp_path / "run.journal.jsonl.states").exists()


def test_records_say_what_was_evaluated_and_count_per_group(tmp_path):
    plan = [ev(1, group="G1"), ev(2, group="G1"), ev(3, group="G2", note="passed on")]
    said = []
    records = runner(tmp_path, Script(plan), Trainer(), log=said.append).run()
    r = records[2]
    assert (r["iteration"], r["group"], r["group_iteration"], r["note"]) == (
        3,
        "G2",
        1,
        "passed on",
    )
    assert [x["group_iteration"] for x in records] == [1, 2, 1]
    assert (r["seed"], r["params"], r["hp_vals"], r["budget"]) == (SEED, {"x": 3, "epoch": 1},
                                                                   {"u": 0.3}, 1)  # fmt: skip
    assert (r["continues"], r["data_fraction"], r["repeats_before"]) == (None, 1.0, 0)
    assert r["loss"] == pytest.approx(0.47) and r["dataset"] == "d"
    assert "note" not in records[0]
    assert records[1]["elapsed_seconds"] >= records[0]["elapsed_seconds"] >= 0
    assert read_records(journal_path(tmp_path / "run.jsonl")) == records
    assert "passed on" in said and "3 G2 budget 1 val=0.5300" in said


def test_resumed_records_count_groups_and_time_on_from_the_journal(tmp_path):
    plan = [ev(1, group="G1"), ev(2, group="G1"), ev(3, group="G1")]
    with pytest.raises(KeyboardInterrupt):
        runner(tmp_path, Script(plan), Trainer(kill_at=3)).run()
    said = []
    records = runner(tmp_path, Script(plan), Trainer(), log=said.append).run()
    assert records[2]["group_iteration"] == 3
    assert records[2]["elapsed_seconds"] >= records[1]["elapsed_seconds"]
    assert "resuming after iteration 2" in said


def test_a_run_stops_once_more_than_the_allowed_share_of_trials_fail(tmp_path):
    plan = [ev(x) for x in range(1, 9)]
    with pytest.raises(TooManyFailures, match=r"3 of 5 trials failed.*ValueError: x=5"):
        runner(tmp_path, Script(plan), Trainer(fail={1, 3, 5})).run()
    assert len(read_records(journal_path(tmp_path / "run.jsonl"))) == 5  # finished ones kept


def test_half_failed_is_not_more_than_half_and_four_failures_are_too_few_to_judge(tmp_path):
    plan = [ev(x) for x in range(1, 7)]
    records = runner(tmp_path, Script(plan), Trainer(fail={4, 5, 6})).run()
    assert [r["status"] for r in records] == ["ok"] * 3 + ["fail"] * 3
    (tmp_path / "b").mkdir()
    records = runner(tmp_path / "b", Script(plan[:4]), Trainer(fail={1, 2, 3, 4})).run()
    assert len(records) == 4
    (tmp_path / "c").mkdir()
    with pytest.raises(TooManyFailures):
        runner(tmp_path / "c", Script(plan), Trainer(fail={1, 2}), max_failure_fraction=0.2).run()


def test_progress_says_what_is_done_the_best_and_the_time_left(tmp_path):
    lines = []
    p = Progress("r", Budget(cost=10.0), lines.append, every=0.0)
    plan = [ev(x) for x in range(1, 6)]
    runner(tmp_path, Script(plan), Trainer(), progress=p).run()
    assert lines[0].startswith("[r] 1 evaluation, 10% of the cost budget, best val 0.5100")
    assert "time left: estimated once a tenth" in lines[0]
    assert lines[2].startswith("[r] 3 evaluations, 30% of the cost budget, best val 0.5300")
    assert "s left" in lines[2] and "estimated" not in lines[2]
    assert lines[-1].endswith("done") and "50% of the cost budget" in lines[-1]
    p2 = Progress("e", Budget(evaluations=4), lines.append, every=3600.0)
    p2([], 10, final=True)
    assert lines[-1] == "[e] 0/4 trials, no successful trial yet, 0 s elapsed, done"
    assert p2.fraction([{"x": 1}] * 2, 10) == 0.5
    assert Progress("z", Budget(cost=0.0), lines.append, 0.0).fraction([], 10) == 1.0


def test_a_record_is_plain_json_as_it_is_read_back(tmp_path):
    import numpy as np

    class Numpy(Trainer):
        def __call__(self, *a):
            out = super().__call__(*a)
            return {**out, "val_accuracy": np.float32(0.75), "extra": (1, 2)}

    records = runner(tmp_path, Script([ev(1)]), Numpy()).run()
    assert records[0]["extra"] == [1, 2] and isinstance(records[0]["val_accuracy"], float)
    assert json.loads(json.dumps(records[0])) == records[0]


# --- timing, the console, and resuming a torn journal --------------------------------------


def test_a_torn_last_line_is_cut_off_before_the_run_appends(tmp_path):
    plan = [ev(1), ev(2), ev(3)]
    with pytest.raises(KeyboardInterrupt):
        runner(tmp_path, Script(plan), Trainer(kill_at=3)).run()
    journal = journal_path(tmp_path / "run.jsonl")
    with journal.open("ab") as f:
        f.write(b'{"iteration": 3, "stat')  # killed while writing
    records = runner(tmp_path, Script(plan), Trainer()).run()
    assert (
        [r["iteration"] for r in read_records(journal)]
        == [1, 2, 3]
        == [r["iteration"] for r in records]
    )


def test_a_one_record_journal_of_other_settings_is_moved_aside(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        runner(tmp_path, Script([ev(1), ev(2)]), Trainer(kill_at=2)).run()
    records = runner(tmp_path, Script([ev(5)]), Trainer(), run_key="new").run()
    assert [r["params"]["x"] for r in records] == [5]


def test_resuming_says_after_which_iteration(tmp_path):
    plan = [ev(x) for x in range(1, 6)]
    with pytest.raises(KeyboardInterrupt):
        runner(tmp_path, Script(plan), Trainer(kill_at=4)).run()
    said = []
    runner(tmp_path, Script(plan), Trainer(), log=said.append).run()
    assert said[0] == "resuming after iteration 3"


def test_records_time_the_ask_the_evaluation_and_the_run(tmp_path):
    import time

    class Slow(Trainer):
        def __call__(self, *a):
            time.sleep(0.05)
            return super().__call__(*a)

    records = runner(tmp_path, Script([ev(1), ev(2)]), Slow()).run()
    for r in records:
        assert 0.05 <= r["eval_seconds"] < 30 and 0 <= r["suggest_seconds"] < 30
        assert r["elapsed_seconds"] >= r["eval_seconds"] and r["wall_time"] > 1.7e9
    assert records[0]["elapsed_seconds"] < 1.0  # a fresh run starts its clock at 0
    assert records[1]["elapsed_seconds"] >= records[0]["elapsed_seconds"] + 0.05
    assert records[0]["group_index"] == 1


def test_the_console_says_each_trials_outcome(tmp_path):
    class Mixed(Trainer):
        def __call__(self, evaluation, *a):
            out = super().__call__(evaluation, *a)
            x = evaluation.params["x"]
            if x == 2:
                return {**out, "status": "stopped", "stop_reason": "cannot beat the best"}
            if x == 3:
                return {"status": "diverged", "error": "loss is nan", "val_accuracy": 0.1,
                        "sample_epochs": 10}  # fmt: skip
            return out

    said = []
    runner(tmp_path, Script([ev(1), ev(2), ev(3), ev(4)]), Mixed(fail={4}), log=said.append).run()
    assert said == [
        "1 all budget 1 val=0.5100",
        "2 all budget 1 val=0.5200 STOPPED cannot beat the best",
        "3 all budget 1 DIVERGED loss is nan",
        "4 all budget 1 FAIL ValueError: x=4",
    ]


def test_progress_is_said_at_most_every_so_often_and_not_past_the_end():
    lines = []
    p = Progress("r", Budget(evaluations=4), lines.append, every=3600.0)
    recs = [{"iteration": i, "status": "ok", "val_accuracy": 0.5, "elapsed_seconds": 12.0 * i}
            for i in range(1, 5)]  # fmt: skip
    p(recs[:1], 10)
    p(recs[:2], 10)  # within the hour: quiet
    assert len(lines) == 1 and "12 s elapsed" in lines[0] and "1/4 trials" in lines[0]
    often = Progress("r", Budget(evaluations=4), lines.append, every=0.0)
    often(recs, 10)  # the whole budget: left to the final line
    assert len(lines) == 1
    often(recs, 10, final=True)
    assert lines[-1] == "[r] 4/4 trials, best val 0.5000, 48 s elapsed, done"


def test_time_left_is_estimated_from_a_tenth_of_the_budget_on():
    lines = []
    p = Progress("r", Budget(cost=30.0), lines.append, every=0.0)
    recs = [{"iteration": i, "status": "ok", "val_accuracy": 0.5, "sample_epochs": 10,
             "elapsed_seconds": 5.0 * i} for i in range(1, 4)]  # fmt: skip
    p(recs, 10)  # 3 of 30 epochs: exactly a tenth, 15 s: 135 s to go
    assert lines[-1].endswith("10% of the cost budget, best val 0.5000, 15 s elapsed, ~135 s left")


def test_progress_counts_spent_epochs_and_caps_at_the_budget():
    p = Progress("r", Budget(cost=2.0), print, every=0.0)
    assert p.fraction([{"sample_epochs": None}, {"sample_epochs": 1}], 1) == 0.5
    assert p.fraction([{"sample_epochs": 5}], 1) == 1.0
    assert Progress("r", Budget(cost=0.5), print, 0.0).fraction([{"sample_epochs": 1}], 4) == 0.5
    assert Progress("r", Budget(evaluations=2), print, 0.0).fraction([{}] * 5, 1) == 1.0
    assert Progress("r", Budget(cost=4.0), print, 0.0).fraction([{"sample_epochs": 2}], 0) == 0.5
