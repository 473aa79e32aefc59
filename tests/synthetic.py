"""Strategies driven by the real runner on a cheap objective (no torch: forks stay light)."""

from __future__ import annotations

from pathlib import Path

from gsos.space import SearchSpace


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
):
    """A strategy driven by the real runner on a cheap deterministic objective.

    ``objective(params, trial_seed)`` returns the outcome fields (status, val_accuracy, ...);
    the cost of an evaluation is its new epochs on ``n_train`` images, as in training.
    """
    from gsos.atomic import atomic_write_text
    from gsos.groups import build_groups
    from gsos.optimizers.build import build_optimizer, run_budget
    from gsos.optimizers.registry import strategy as registered
    from gsos.runner import Runner

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
        new = int(ev.params["epoch"]) - start
        out.setdefault("epochs_run", new)
        out.setdefault("sample_epochs", int(round(new * ev.data_fraction * n_train)))
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
        log=lambda m: None,
    )
    return runner.run()
