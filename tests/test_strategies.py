import pytest

from gsos.strategies import build_groups, check_partition, run_strategy, split_iterations
from gsos.tpe import TPESettings

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
    """A deterministic stand-in for training, so the strategy logic is checked exactly."""
    score = 1.0 - abs(params["lr"] - 0.01) - params["dropout_rate"] / 10
    score -= 0.05 * (params["optimizer"] != "adam") + 0.001 * params["epoch"]
    score -= 0.01 * (params["kernel"] != 5) + params["batch_size"] / 10_000
    return max(score, 0.0)


def train(params, trial_seed):
    acc = fake_accuracy(params)
    return {
        "status": "ok",
        "val_accuracy": acc,
        "test_accuracy": acc - 0.01,
        "trial_seed": trial_seed,
    }


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
    with pytest.raises(ValueError, match="'lr' is in group 1 and group 2"):
        check_partition(paper_space.names, [["lr"], ["lr"]])
    with pytest.raises(ValueError, match="no group holds"):
        check_partition(paper_space.names, [["lr"]])
    with pytest.raises(ValueError, match="'momentum'"):
        check_partition(paper_space.names, [["momentum"], paper_space.names])


def test_gsos_follows_algorithm_2(paper_space):
    groups = build_groups("gsos", paper_space, 20, GROUPS)
    assert [g.iterations for g in groups] == [8, 6, 6]
    records = list(run_strategy(paper_space, groups, 0, train, TPESettings(n_startup_jobs=3)))
    assert [r["iteration"] for r in records] == list(range(1, 21))
    assert [r["group"] for r in records] == ["G1"] * 8 + ["G2"] * 6 + ["G3"] * 6
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


def test_each_group_has_its_own_fresh_tpe(paper_space):
    groups = build_groups("gsos", paper_space, 20, GROUPS)
    records = list(run_strategy(paper_space, groups, 0, train, TPESettings(n_startup_jobs=3)))
    seeds = {r["trial_seed"] for r in records}
    assert len(seeds) == 20  # every trial trains with its own seed
    other = list(run_strategy(paper_space, groups, 1, train, TPESettings(n_startup_jobs=3)))
    assert [r["params"] for r in other] != [r["params"] for r in records]


def test_simultaneous_searches_everything_at_once(paper_space):
    groups = build_groups("simultaneous", paper_space, 12, GROUPS)
    assert len(groups) == 1 and set(groups[0].params) == set(paper_space.names)
    records = list(run_strategy(paper_space, groups, 0, train, TPESettings(n_startup_jobs=3)))
    assert len(records) == 12 and {r["group"] for r in records} == {"all"}
    assert len({r["params"]["batch_size"] for r in records}) > 1
    assert len({r["params"]["optimizer"] for r in records}) > 1


def test_resume_replays_without_retraining(paper_space):
    groups = build_groups("gsos", paper_space, 10, GROUPS)
    settings = TPESettings(n_startup_jobs=2)
    full = list(run_strategy(paper_space, groups, 4, train, settings))
    calls = []

    def counting(params, seed):
        calls.append(seed)
        return train(params, seed)

    rest = list(
        run_strategy(
            paper_space,
            groups,
            4,
            counting,
            settings,
            history=full[:6],
            clock_offset=full[5]["elapsed_seconds"],
        )
    )
    assert len(calls) == 4
    strip = ("elapsed_seconds", "suggest_seconds", "eval_seconds")
    assert [{k: v for k, v in r.items() if k not in strip} for r in rest] == [
        {k: v for k, v in r.items() if k not in strip} for r in full[6:]
    ]
    assert rest[0]["elapsed_seconds"] >= full[5]["elapsed_seconds"]
