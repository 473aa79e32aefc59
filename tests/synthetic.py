"""Strategies driven by the real runner on a cheap objective (no torch: forks stay light)."""

from __future__ import annotations

import math
from pathlib import Path

from gsos.search.space import SearchSpace

# The optimum of :func:`objective`: off every strategy's start (the defaults, CMA-ES's and
# PSO's box centre, bilevel's start) and off every grid point, so that no strategy finds it
# by where it starts or where its grid falls (the old one, lr 10^-2.5 and dropout 0, was both).
OPTIMUM = {"log_lr": -3.3, "dropout_rate": 0.17, "num_fc_units": 171, "batch_size": 64}


def objective(params, trial_seed, noise=0.01):
    """A stand-in for training in which every hyperparameter matters and a trial's seed
    moves the result (sd ``noise``), as a real training's does; some configurations fail
    (a 4-layer, stride-2, kernel-5 network shrinks its image to nothing)."""
    import random

    if params["num_conv_layers"] == 4 and params["kernel"] == 5 and params["stride"] == 2:
        return {"status": "fail", "error": "RuntimeError: too small", "val_accuracy": None}
    acc = 0.95 - 0.06 * abs(math.log10(params["lr"]) - OPTIMUM["log_lr"])
    acc -= 0.15 * abs(params["dropout_rate"] - OPTIMUM["dropout_rate"])
    acc -= 0.03 * (params["optimizer"] == "sgd") + 0.01 * (params["num_conv_layers"] == 2)
    acc -= 0.02 * abs(math.log2(params["batch_size"] / OPTIMUM["batch_size"]))
    acc -= abs(params["num_fc_units"] - OPTIMUM["num_fc_units"]) / 10_000
    acc -= 0.005 * (params["kernel"] == 3) + 0.005 * (params["padding"] == "valid")
    acc += 0.02 * math.log(params["epoch"]) / math.log(9)
    acc += random.Random(trial_seed).gauss(0.0, noise)
    acc = min(max(acc, 0.05), 1.0)
    return {"status": "ok", "val_accuracy": acc, "test_accuracy": max(acc - 0.01, 0.0)}


def curve(final, epochs):
    """A learning curve that rises to ``final`` at ``epochs``: final - 0.1 (1/e - 1/epochs)."""
    return [
        {"epoch": e, "val_accuracy": final - 0.1 * (1 / e - 1 / epochs), "val_loss": 1 - final}
        for e in range(1, epochs + 1)
    ]


def watched(ev, out, epochs):
    """What training does with an ``after_epoch`` watcher: the curve up to where it stops."""
    points = []
    for point in curve(out["val_accuracy"], epochs):
        points.append(point)
        stop = ev.after_epoch(list(points)) if point["epoch"] < epochs else None
        if stop is not None:
            return {
                "status": "stopped",
                "val_accuracy": point["val_accuracy"],
                "epochs_run": point["epoch"],
                "curve": points,
                **stop,
            }
    return {"curve": points}


def hypergradient(objective, params, trial_seed, h=1e-4):
    """d(1 - accuracy)/d(log lr, logit dropout) by central differences of the objective."""

    def loss(log_lr, logit):
        moved = {**params, "lr": math.exp(log_lr), "dropout_rate": 1 / (1 + math.exp(-logit))}
        return 1 - objective(moved, trial_seed)["val_accuracy"]

    a = math.log(params["lr"])
    p = min(max(params["dropout_rate"], 1e-3), 0.95)
    b = math.log(p / (1 - p))
    return {
        "log_lr": (loss(a + h, b) - loss(a - h, b)) / (2 * h),
        "dropout_logit": (loss(a, b + h) - loss(a, b - h)) / (2 * h),
    }


def value_function(ev, trial_seed, n_train, batch=32):
    """What the trainer's value_function hook reports, for a stand-in training objective
    v(λ) = 0.1 + 0.2·log10(1 + 10⁴λ) (increasing in λ, as the value function is); an outer
    step lands (seeded) near v̂ with a violation that shrinks as μ grows."""
    import random

    opts = ev.value_function
    lam = float(ev.params["weight_decay"])
    v = 0.1 + 0.2 * math.log10(1 + 1e4 * lam)
    slope = 0.2 * 1e4 * lam / ((1 + 1e4 * lam) * math.log(10))  # dv/dlog λ
    noise = random.Random(trial_seed).gauss(0.0, 0.01)
    out = {"phase": opts["phase"], "lambda": lam, "n_train": n_train, "steps": 0, "images": 0}
    out["images_per_step"] = 2 * batch
    out["val_objective"] = 0.5 + 0.1 * (math.log10(lam) + 3.5) ** 2 + noise
    if opts["phase"] == "lower":
        return {**out, "train_objective": v + noise, "dtrain_dlog_lambda": slope}
    g = (0.05 + noise) / (1 + opts["mu"])
    steps = opts["steps"]
    return {
        **out,
        "train_objective": opts["vhat"] + g,
        "violation": g,
        "dtrain_dlog_lambda": slope * (1 + 5 * g),
        "mu": opts["mu"],
        "rho": opts["rho"],
        "vhat": opts["vhat"],
        "steps": steps,
        "images": steps * 2 * batch,
    }


def run_synthetic(
    strategy,
    settings,
    seed,
    work,
    objective,
    groups_spec=(),
    cost_epochs=None,
    n_train=1000,
    records_name="synthetic",
    max_failure_fraction=0.5,
):
    """A strategy driven by the real runner on a cheap deterministic objective.

    ``objective(params, trial_seed)`` returns the outcome fields (status, val_accuracy, ...);
    the cost of an evaluation is its new epochs on ``n_train`` images, as in training. A
    failure is charged what it trained, as in training: what the objective says it trained
    (``sample_epochs``), by default nothing (it failed before its first step).
    """
    from gsos.atomic import atomic_write_text
    from gsos.search.groups import build_groups
    from gsos.search.optimizers.build import build_optimizer, run_budget
    from gsos.search.optimizers.registry import strategy as registered
    from gsos.search.runner import Runner

    space = SearchSpace.from_config(settings["search_space"])
    budget = run_budget(strategy, settings, cost_epochs)
    grouped = registered(strategy).grouped
    groups = (
        build_groups(space.names, settings["hpo"]["iterations"], groups_spec) if grouped else []
    )
    shares = [g.get("share") for g in groups_spec] if grouped else None
    optimizer = build_optimizer(strategy, space, seed, settings, budget, groups, shares)

    def evaluate(ev, trial_seed, resume, save):
        start = int(resume.read_text()) if resume is not None else 0  # the 'state': its epochs
        out = dict(objective(ev.params, trial_seed))
        epochs = int(ev.params["epoch"])
        if ev.after_epoch is not None and out.get("status") == "ok":
            out.update(watched(ev, out, epochs))
        new = int(out.get("epochs_run", epochs - start))
        out.setdefault("epochs_run", new)
        trained = 0 if out.get("status") == "fail" else new
        out.setdefault("sample_epochs", math.floor(trained * ev.data_fraction * n_train + 1e-9))
        if ev.hypergradient is not None and out.get("status") == "ok":
            out["hypergradient"] = hypergradient(objective, ev.params, trial_seed)
        if ev.value_function is not None and out.get("status") == "ok":
            out["value_function"] = value_function(ev, trial_seed, n_train)
            out["sample_epochs"] += out["value_function"]["images"]
        if save is not None:
            atomic_write_text(save, str(ev.params["epoch"]))
        return out

    runner = Runner(
        optimizer,
        evaluate,
        Path(work) / f"{records_name}.jsonl",
        seed=seed,
        n_train=n_train,
        base_record={"dataset": "synthetic", "strategy": strategy, "run_key": "k"},
        max_failure_fraction=max_failure_fraction,
        log=lambda m: None,
    )
    return runner.run()
