"""GSOS (paper Algorithm 2) and simultaneous TPE, driven by the real runner on a stand-in
objective, so that the strategy logic is checked exactly."""

import json

import pytest
from synthetic import run_synthetic

from gsos.search.groups import build_groups, check_partition, split_iterations
from gsos.search.records import TIMING_FIELDS, read_records

GROUPS = [
    {"name": "G1", "params": ["num_conv_layers", "lr", "dropout_rate"], "share": 4},
    {"name": "G2", "params": ["optimizer", "epoch"], "share": 3},
    {
        "name": "G3",
        "params": ["stride", "padding", "kernel", "num_fc_units", "batch_size"],
        "share": 3,
    },
]


def fake_accuracy(params):
    score = 1.0 - abs(params["lr"] - 0.01) - params["dropout_rate"] / 10
    score -= 0.05 * (params["optimizer"] != "adam") + 0.001 * params["epoch"]
    score -= 0.01 * (params["kernel"] != 5) + params["batch_size"] / 10_000
    return max(score, 0.0)


def objective(params, trial_seed):
    acc = fake_accuracy(params)
    return {"status": "ok", "val_accuracy": acc, "test_accuracy": acc - 0.01}


def settings(paper_config, iterations, n_startup_jobs=3):
    return {
        "search_space": paper_config["search_space"],
        "hpo": {"iterations": iterations},
        "tpe": {"n_startup_jobs": n_startup_jobs},
        "gsos": {"groups": GROUPS},
    }


def run(paper_config, strategy, iterations, seed, tmp_path, name="r"):
    return run_synthetic(
        strategy,
        settings(paper_config, iterations),
        seed,
        tmp_path,
        objective,
        GROUPS,
        records_name=name,
    )


@pytest.mark.parametrize(
    "total, shares, expected",
    [
        (100, [4, 3, 3], [40, 30, 30]),
        (24, [4, 3, 3], [10, 7, 7]),
        (10, [4, 3, 3], [4, 3, 3]),
        (7, [1, 1, 1], [3, 2, 2]),
        (3, [100, 1, 1], [1, 1, 1]),
    ],
)
def test_split_iterations_adds_up(total, shares, expected):
    assert split_iterations(total, shares) == expected


def test_split_needs_one_iteration_per_group():
    with pytest.raises(ValueError, match="cannot give each"):
        split_iterations(2, [1, 1, 1])


def test_partition_errors_name_the_parameter(paper_space):
    names = paper_space.names
    with pytest.raises(ValueError, match="'lr' is in group 1 and group 2"):
        check_partition(names, [["lr"], ["lr"]])
    with pytest.raises(ValueError, match="no group holds"):
        check_partition(names, [["lr"]])
    with pytest.raises(ValueError, match="'momentum'"):
        check_partition(names, [["momentum"], names])


def test_gsos_follows_algorithm_2(paper_space, paper_config, tmp_path):
    groups = build_groups(paper_space.names, 20, GROUPS)
    assert [g.iterations for g in groups] == [8, 6, 6]
    records = run(paper_config, "gsos", 20, 0, tmp_path)
    assert [r["iteration"] for r in records] == list(range(1, 21))
    assert [r["group"] for r in records] == ["G1"] * 8 + ["G2"] * 6 + ["G3"] * 6
    assert [r["group_iteration"] for r in records[8:14]] == list(range(1, 7))
    defaults = paper_space.defaults()
    current = dict(defaults)
    for g in groups:
        recs = [r for r in records if r["group"] == g.name]
        assert len(recs) == g.iterations
        outside = {k: v for k, v in current.items() if k not in g.params}
        for r in recs:  # everything outside the group sits at the current configuration
            assert {k: r["params"][k] for k in outside} == outside
        best = max(recs, key=lambda r: (r["val_accuracy"], -r["iteration"]))
        current.update({k: best["params"][k] for k in g.params})  # carried forward
    # group 1 searched from the defaults
    assert all(r["params"]["optimizer"] == defaults["optimizer"] for r in records[:8])


def test_each_group_has_its_own_fresh_tpe(paper_config, tmp_path):
    records = run(paper_config, "gsos", 20, 0, tmp_path, "a")
    assert len({r["trial_seed"] for r in records}) == 20  # every trial trains with its own seed
    other = run(paper_config, "gsos", 20, 1, tmp_path, "b")
    assert [r["params"] for r in other] != [r["params"] for r in records]


def test_simultaneous_searches_everything_at_once(paper_config, tmp_path):
    records = run(paper_config, "simultaneous", 12, 0, tmp_path)
    assert len(records) == 12 and {r["group"] for r in records} == {"all"}
    assert len({r["params"]["batch_size"] for r in records}) > 1
    assert len({r["params"]["optimizer"] for r in records}) > 1


def test_resume_replays_without_retraining(paper_config, tmp_path):
    full = run(paper_config, "gsos", 10, 4, tmp_path, "full")
    journal = tmp_path / "killed.journal.jsonl"
    lines = (tmp_path / "full.journal.jsonl").read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:6]))  # killed after 6 iterations
    calls = []

    def counting(params, trial_seed):
        calls.append(trial_seed)
        return objective(params, trial_seed)

    resumed = run_synthetic(
        "gsos", settings(paper_config, 10), 4, tmp_path, counting, GROUPS, records_name="killed"
    )
    assert len(calls) == 4
    strip = TIMING_FIELDS
    assert [{k: v for k, v in r.items() if k not in strip} for r in resumed] == [
        {k: v for k, v in r.items() if k not in strip} for r in full
    ]
    assert resumed[6]["elapsed_seconds"] >= full[5]["elapsed_seconds"]
    assert read_records(journal) == resumed


def test_a_changed_optimiser_cannot_resume_a_journal(paper_config, tmp_path):
    from gsos.search.runner import ReplayMismatch

    run(paper_config, "gsos", 10, 4, tmp_path, "full")
    journal = tmp_path / "x.journal.jsonl"
    journal.write_text((tmp_path / "full.journal.jsonl").read_text())
    with pytest.raises(ReplayMismatch, match="iteration 1: the optimiser proposes"):
        run_synthetic(  # another seed proposes other configurations
            "gsos", settings(paper_config, 10), 5, tmp_path, objective, GROUPS, records_name="x"
        )


def test_adaptive_group_budgets_pass_on_what_a_stalled_group_did_not_spend(paper_space):
    """A group that stops improving ends early; the next group gets the rest; the last
    group spends everything left."""
    from gsos.search.optimizers.base import Budget, Outcome
    from gsos.search.optimizers.build import build_optimizer

    groups = build_groups(paper_space.names, 30, GROUPS)  # 12, 9, 9
    s = {"search_space": {}, "hpo": {"iterations": 30}, "tpe": {"n_startup_jobs": 3}}
    opt = build_optimizer(
        "gsos", paper_space, 0, s, Budget(evaluations=30), groups, [4, 3, 3], patience=4
    )
    seen = []
    while (ev := opt.ask()) is not None:
        # group 1 never improves after its first trial; the others always do
        acc = 0.5 if ev.group == "G1" else 0.5 + len(seen) / 100
        opt.tell(ev, Outcome(len(seen) + 1, "ok", acc, 1.0))
        seen.append(ev.group)
    assert len(seen) == 30  # nothing is lost
    assert seen[:5] == ["G1"] * 5 and seen[5] == "G2"  # 1 trial + 4 without a gain
    assert seen.count("G3") == 30 - 5 - seen.count("G2")
    assert seen.count("G2") == 9 + 7  # its own 9 and the 7 G1 did not spend


def test_a_group_of_six_configurations_trains_six_and_passes_the_rest_on(default_config, tmp_path):
    """GSOS's optimizer x epoch group (2 x 3 configurations) with 30 trials: TPE proposes the
    same few again and again; each repeat is told its outcome, not trained again, and once
    all six are known the group's 24 trials go to the next group, which says why."""
    groups = [
        {"name": "A", "params": ["optimizer", "epoch"], "iterations": 30},
        {"name": "B", "params": [n for n in default_config["search_space"]
                                 if n not in ("optimizer", "epoch")], "iterations": 70},
    ]  # fmt: skip
    space = {
        **default_config["search_space"],
        "epoch": {"type": "int", "low": 1, "high": 3, "default": 1},
    }
    s = {
        "search_space": space,
        "hpo": {"iterations": 100},
        "tpe": {"n_startup_jobs": 15},
        "gsos": {"groups": groups},
    }
    records = run_synthetic("gsos", s, 0, tmp_path, objective, groups)
    a = [r for r in records if r["group"] == "A"]
    b = [r for r in records if r["group"] == "B"]
    assert len(a) == 6 and len({(r["params"]["optimizer"], r["params"]["epoch"]) for r in a}) == 6
    assert len(b) == 70 + 24 and len(records) == 100
    assert "group A ran out of new configurations" in b[0]["note"]
    assert "24 evaluations passed on" in b[0]["note"]
    assert sum(r["repeats_before"] for r in a) > 0  # TPE did propose repeats
    keys = [repr(sorted(r["params"].items())) for r in records]
    assert len(set(keys)) == len(keys)  # no configuration trained twice


def test_the_synthetic_optimum_is_off_every_start_and_grid_point(default_config):
    """Strategies compared on the synthetic objective must find its optimum, not start on it
    (CMA-ES's and PSO's box centre, the defaults, bilevel's start) or land on it by their grid."""
    import math

    from synthetic import OPTIMUM

    from gsos.search.optimizers.base import View
    from gsos.search.optimizers.encoding import Box
    from gsos.search.optimizers.optuna_search import grid
    from gsos.search.space import SearchSpace

    space = SearchSpace.from_config(default_config["search_space"])
    view = View.of(space)
    starts = [space.defaults(), Box(view).decode([0.5] * Box(view).dim)]
    starts.append({"lr": space.defaults()["lr"], "dropout_rate": default_config["bilevel"][
        "start_dropout"]})  # fmt: skip
    points = grid(view, default_config["grid"]["points"])
    for lr in [s["lr"] for s in starts] + list(points["lr"]):
        assert abs(math.log10(lr) - OPTIMUM["log_lr"]) > 0.2, lr
    for rate in [s["dropout_rate"] for s in starts] + list(points["dropout_rate"]):
        assert abs(rate - OPTIMUM["dropout_rate"]) > 0.1, rate
    for units in [s["num_fc_units"] for s in starts[:2]] + list(points["num_fc_units"]):
        assert abs(units - OPTIMUM["num_fc_units"]) > 10, units


def test_strategy_settings_take_their_config_section_typed():
    """One reader for every strategy's settings: YAML's 1 becomes the float a field means,
    a field left out keeps its default, and null stays null where the default is None."""
    from gsos.search.optimizers.bilevel_vf import Settings

    s = Settings.from_config({"rho": 1, "lower_epochs": 3, "unknown": 5})
    assert s.rho == 1.0 and isinstance(s.rho, float) and s.lower_epochs == 3
    assert s.n_init == Settings.n_init
    assert Settings.from_config({"lower_epochs": None}).lower_epochs is None


def test_the_groups_file_carries_each_groups_members_budget_and_share(tmp_path):
    """`gsos groups` writes the configured groups with their iteration budgets and shares; the
    HPO job reads back exactly those (and no patience: budgets by shares, not adaptive); no
    file, no groups."""
    from gsos.search.groups import load_groups, write_groups

    space = {n: {} for n in ("lr", "dropout_rate", "optimizer", "epoch", "batch_size")}
    spec = [
        {"name": "G1", "params": ["lr", "dropout_rate"], "share": 5},
        {"name": "G2", "params": ["optimizer"], "share": 3},
        {"name": "G3", "params": ["epoch", "batch_size"], "share": 2},
    ]
    out = tmp_path / "groups.json"
    write_groups({"search_space": space, "hpo": {"iterations": 20}, "groups": spec}, out)
    groups, shares, patience = load_groups(out)
    assert [(g.name, g.params, g.iterations) for g in groups] == [
        ("G1", ("lr", "dropout_rate"), 10),
        ("G2", ("optimizer",), 6),
        ("G3", ("epoch", "batch_size"), 4),
    ]
    assert shares == [5.0, 3.0, 2.0] and patience is None
    assert json.loads(out.read_text())["source"] == "config gsos.groups"
    content = json.loads(out.read_text())  # a group without a share: budgets not by shares
    content["groups"][1]["share"] = None
    content["patience"] = 15
    out.write_text(json.dumps(content))
    assert load_groups(out)[1:] == (None, 15)
    assert load_groups(None) == ([], None, None)


@pytest.mark.parametrize(
    "total, shares, expected",
    [
        (7, [1, 1, 2], [2, 2, 3]),  # the largest remainders (0.75, 0.75) get the two left over
        (5, [100, 1, 1], [3, 1, 1]),  # every group one at least, taken from the largest
        (5, [1, 1, 100], [1, 1, 3]),  # ... wherever the largest stands
        (10, [1, 1, 1], [4, 3, 3]),  # a tie: the group listed first
    ],
)
def test_iterations_split_by_largest_remainder_with_one_for_every_group(total, shares, expected):
    assert split_iterations(total, shares) == expected


def test_ties_in_the_split_go_to_the_groups_listed_first():
    """Many groups, remainders tied in blocks (where an unstable sort reorders them): among
    equal remainders, the extra iterations go in the order the groups are listed."""
    fractions = [0.25, 0.25, 0.5, 0.5, 0.5, 0.75, 0.25, 0.75, 0.5, 0.25] * 5 + [0.5, 0.75, 0.25]
    shares = [2 + f for f in fractions]  # shares summing to the total: exact = the share
    total = int(sum(shares))
    assert total == sum(shares)
    left = total - 2 * len(shares)
    first = sorted(range(len(shares)), key=lambda i: -fractions[i])[:left]  # Python: stable
    assert split_iterations(total, shares) == [3 if i in first else 2 for i in range(len(shares))]


def test_a_bad_grouping_is_named_by_its_place():
    with pytest.raises(ValueError, match="group 2 names 'nope'"):
        check_partition(["lr", "epoch"], [["lr"], ["nope", "epoch"]])
    with pytest.raises(ValueError, match="'iterations' or every group 'share', not a mix"):
        mixed = [{"name": "a", "params": ["lr"], "share": 1},
                 {"name": "b", "params": ["epoch"], "iterations": 5}]  # fmt: skip
        build_groups(["lr", "epoch"], 10, mixed)
