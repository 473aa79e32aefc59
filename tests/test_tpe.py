import math
from functools import partial

import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, tpe

from gsos.tpe import TPESettings, run_tpe

NAMES = ["lr", "dropout_rate", "optimizer", "batch_size", "epoch"]


def loss_of(params):
    return (
        (math.log10(params["lr"]) + 3) ** 2
        + params["dropout_rate"]
        + (params["optimizer"] == "sgd")
        + params["batch_size"] / 256
        + params["epoch"] / 100
    )


def objective(params):
    return {"status": "ok", "loss": loss_of(params)}


def test_runner_proposes_exactly_what_fmin_proposes(paper_space):
    settings = TPESettings(n_startup_jobs=5)
    ours = list(
        run_tpe(
            paper_space,
            NAMES,
            paper_space.defaults(),
            20,
            seed=3,
            objective=objective,
            settings=settings,
        )
    )
    trials = Trials()
    fmin(
        lambda p: {"loss": loss_of(p), "status": STATUS_OK},
        paper_space.hyperopt_space(NAMES),
        algo=partial(tpe.suggest, n_startup_jobs=5),
        max_evals=20,
        trials=trials,
        rstate=np.random.default_rng(3),
        show_progressbar=False,
    )
    theirs = [{k: v[0] for k, v in t["misc"]["vals"].items()} for t in trials.trials]
    assert [o["hp_vals"] for o in ours] == theirs
    # and TPE does better than its random start on this easy objective
    losses = [o["loss"] for o in ours]
    assert min(losses[5:]) < min(losses[:5])


def test_fixed_parameters_are_held_and_values_are_plain(paper_space):
    fixed = {**paper_space.defaults(), "kernel": 5}
    for out in run_tpe(paper_space, ["lr"], fixed, 4, seed=0, objective=objective):
        assert set(out["params"]) == set(paper_space.names)
        assert {k: v for k, v in out["params"].items() if k != "lr"} == {
            k: v for k, v in fixed.items() if k != "lr"
        }
        assert type(out["params"]["lr"]) is float and set(out["hp_vals"]) == {"lr"}
        assert out["suggest_seconds"] >= 0


def test_resume_from_history_continues_the_same_stream(paper_space):
    settings = TPESettings(n_startup_jobs=3)
    full = list(run_tpe(paper_space, NAMES, paper_space.defaults(), 12, 9, objective, settings))
    calls = []

    def counting(params):
        calls.append(params)
        return objective(params)

    resumed = list(
        run_tpe(
            paper_space, NAMES, paper_space.defaults(), 12, 9, counting, settings, history=full[:7]
        )
    )
    assert len(calls) == 5  # nothing done is evaluated again
    assert [r["hp_vals"] for r in resumed] == [r["hp_vals"] for r in full[7:]]


def test_failed_trials_do_not_stop_the_loop(paper_space):
    def flaky(params):
        if params["optimizer"] == "sgd":
            return {"status": "fail", "loss": None}
        return objective(params)

    out = list(
        run_tpe(
            paper_space, NAMES, paper_space.defaults(), 10, 1, flaky, TPESettings(n_startup_jobs=3)
        )
    )
    assert len(out) == 10
    assert any(o["status"] == "fail" for o in out) and any(o["status"] == "ok" for o in out)


def test_table5_measures_hyperopt_and_optuna_in_one_run():
    from gsos.tpe_bench import table5

    df = table5([1, 3], iterations=12, eval_seconds=0.0, repeats=2, n_startup_jobs=5)
    assert set(df["library"]) == {"hyperopt", "optuna"} and len(df) == 4
    assert (df["min_seconds"] <= df["median_seconds"]).all()
    assert (df["median_seconds"] <= df["max_seconds"]).all() and (df["min_seconds"] > 0).all()
