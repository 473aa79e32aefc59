"""The source documents' further methods: learning curves and tpe_lc, the bilevel
(hypergradient) strategy, and Hyperband over the share of the training data."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from conftest import run_digits_hpo, tiny_hpo_settings
from synthetic import run_synthetic

from gsos.search.optimizers.hyperband import schedule
from gsos.search.records import best_record, read_records
from gsos.training.curves import extrapolate
from gsos.training.model import Architecture
from gsos.training.trainer import TrainSettings, train_and_evaluate, training_subset

SETTINGS = TrainSettings(arch=Architecture(base_filters=4))
N_TRAIN = 1000


def params(space, **over):
    return {**space.defaults(), "epoch": 3, "lr": 0.003, "num_conv_layers": 2, **over}


# --- learning curves ---------------------------------------------------------------------


def test_a_saturating_curve_is_extrapolated_to_its_asymptote():
    epochs = [1, 2, 3, 4, 5]
    acc = [0.9 - 0.4 / e for e in epochs]
    p = extrapolate(epochs, acc, 50)
    assert p.mean == pytest.approx(0.9 - 0.4 / 50, abs=0.02)
    assert p.probability_above(0.95) < 0.05  # cannot reach it
    assert p.probability_above(0.80) > 0.95  # will pass it
    assert set(p.families) >= {"inverse", "pow3"}


def test_one_point_is_no_basis_for_stopping():
    p = extrapolate([1], [0.3], 10)
    assert p.probability_above(0.6) > 0.25


def test_training_records_its_validation_curve(paper_space, digits):
    r = train_and_evaluate(params(paper_space), digits, seed=0, settings=SETTINGS, curve=True)
    assert [p["epoch"] for p in r.curve] == [1, 2, 3]
    assert r.curve[-1]["val_accuracy"] == r.val_accuracy  # the last point is the result
    assert r.curve[-1]["val_loss"] == r.val_loss
    assert r.curve_seconds > 0
    plain = train_and_evaluate(params(paper_space), digits, seed=0, settings=SETTINGS)
    assert plain.curve is None
    # watching the curve changes nothing the model learns
    assert (plain.val_accuracy, plain.test_loss) == (r.val_accuracy, r.test_loss)


def test_a_watcher_stops_training_and_only_the_epochs_run_are_paid(paper_space, digits):
    seen = []

    def stop_after_two(curve):
        seen.append(len(curve))
        return {"predicted_final_accuracy": 0.5, "stop_reason": "test"} if len(curve) == 2 else None

    p = params(paper_space, epoch=5)
    r = train_and_evaluate(p, digits, seed=0, settings=SETTINGS, after_epoch=stop_after_two)
    assert seen == [1, 2]
    assert r.epochs_run == 2
    assert r.stopped == {"predicted_final_accuracy": 0.5, "stop_reason": "test"}
    assert r.sample_epochs == 2 * len(digits.y["train"])


def curve_objective(params, trial_seed):
    """A synthetic result whose curve (tests/synthetic.py) saturates towards it."""
    acc = 0.9 - 0.1 * abs(math.log10(params["lr"]) + 2.5) - 0.2 * params["dropout_rate"]
    return {"status": "ok", "val_accuracy": max(acc, 0.1), "test_accuracy": max(acc, 0.1)}


def tpe_lc_settings(paper_config, threshold=0.05):
    s = {k: paper_config[k] for k in ("search_space", "tpe_lc")}
    s.update(hpo={"iterations": 30}, tpe={"n_startup_jobs": 5})
    s["tpe_lc"] = {"threshold": threshold, "min_epochs": 3}
    return s


def test_tpe_lc_stops_trials_that_cannot_beat_the_best(paper_config, tmp_path):
    records = run_synthetic("tpe_lc", tpe_lc_settings(paper_config), 3, tmp_path, curve_objective)
    stopped = [r for r in records if r["status"] == "stopped"]
    assert 3 <= len(stopped) < len(records)
    for r in stopped:
        assert 3 <= r["epochs_run"] < r["budget"]
        assert r["sample_epochs"] == r["epochs_run"] * N_TRAIN
        assert len(r["curve"]) == r["epochs_run"]
        assert r["predicted_final_accuracy"] < max(
            x["val_accuracy"] for x in records if x["iteration"] < r["iteration"]
        )
        assert r["loss"] == pytest.approx(1 - r["predicted_final_accuracy"])
        assert "P(final > best" in r["stop_reason"]
    assert best_record(records)["status"] == "ok"  # a stopped trial is never the best
    watched = [r for r in records if r["status"] == "ok" and "curve" in r]
    assert watched and all(len(r["curve"]) == r["budget"] for r in watched)


def test_tpe_lc_saves_training_cost_against_tpe(paper_config, tmp_path):
    s = tpe_lc_settings(paper_config)
    lc = run_synthetic("tpe_lc", s, 3, tmp_path, curve_objective, records_name="lc")
    plain = run_synthetic("simultaneous", s, 3, tmp_path, curve_objective, records_name="tpe")
    cost = [sum(r["sample_epochs"] for r in x) for x in (lc, plain)]
    assert cost[0] < 0.9 * cost[1]


def test_tpe_lc_stops_some_real_trials(tmp_path, digits_files, default_config):
    s = tiny_hpo_settings(default_config, iterations=10, tpe_lc={"threshold": 0.5, "min_epochs": 2})
    s["search_space"]["epoch"] = {"type": "int", "low": 3, "high": 5, "default": 3}
    run_digits_hpo(tmp_path, digits_files, s, "lc", strategy="tpe_lc")
    records = read_records(tmp_path / "lc.jsonl")
    stopped = [r for r in records if r["status"] == "stopped"]
    assert stopped, [(r["status"], r["val_accuracy"]) for r in records]
    for r in stopped:
        assert r["epochs_run"] < r["budget"] and r["predicted_final_accuracy"] is not None
        assert [p["epoch"] for p in r["curve"]] == list(range(1, r["epochs_run"] + 1))


# --- bilevel: hypergradients ------------------------------------------------------------


def test_the_hypergradient_is_the_derivative_of_the_unrolled_validation_loss(paper_space, digits):
    from gsos.training.hypergrad import hypergradient
    from gsos.training.model import CNN

    p = params(paper_space, epoch=1, dropout_rate=0.3, lr=0.05, optimizer="sgd")
    torch.manual_seed(0)
    model = CNN(p, digits.in_shape, digits.n_classes, SETTINGS.arch)

    def measure(**over):
        return hypergradient(
            copy.deepcopy(model), {**p, **over}, digits, seed=1, steps=3, dtype=torch.float64
        )

    at = measure()
    h = 1e-5
    up, down = measure(lr=p["lr"] * math.exp(h)), measure(lr=p["lr"] * math.exp(-h))
    numeric = (up["hypergradient_val_loss"] - down["hypergradient_val_loss"]) / (2 * h)
    assert at["hypergradient"]["log_lr"] == pytest.approx(numeric, rel=1e-3)
    q = p["dropout_rate"]
    logit = math.log(q / (1 - q))

    def rate(z):
        return 1 / (1 + math.exp(-z))

    up, down = measure(dropout_rate=rate(logit + h)), measure(dropout_rate=rate(logit - h))
    numeric = (up["hypergradient_val_loss"] - down["hypergradient_val_loss"]) / (2 * h)
    assert at["hypergradient"]["dropout_logit"] == pytest.approx(numeric, rel=1e-3)
    assert at["hypergradient_images"] == 3 * p["batch_size"]


def test_bilevel_descends_towards_the_best_rates(default_config, tmp_path):
    s = {k: default_config[k] for k in ("search_space", "bilevel")}
    s["hpo"] = {"iterations": 25}
    records = run_synthetic("bilevel", s, 0, tmp_path, curve_objective)
    first, last = records[0]["params"], records[-1]["params"]
    gap = [abs(math.log10(r["lr"]) + 2.5) for r in (first, last)]
    assert gap[1] < gap[0] / 2
    assert last["dropout_rate"] < first["dropout_rate"]
    assert all(r["hypergradient"] is not None for r in records)
    # everything else stays at its default
    fixed = {k: v for k, v in first.items() if k not in ("lr", "dropout_rate")}
    assert all({k: r["params"][k] for k in fixed} == fixed for r in records)


def test_bilevel_trains_real_trials_with_their_hypergradients(
    tmp_path, digits_files, default_config
):
    s = tiny_hpo_settings(default_config, iterations=3, bilevel=default_config["bilevel"])
    run_digits_hpo(tmp_path, digits_files, s, "bl", strategy="bilevel")
    records = read_records(tmp_path / "bl.jsonl")
    assert [r["status"] for r in records] == ["ok"] * 3
    n = read_records(tmp_path / "bl.jsonl")[0]["sample_epochs"]
    for r in records:
        g = r["hypergradient"]
        assert math.isfinite(g["log_lr"]) and math.isfinite(g["dropout_logit"])
        assert r["hypergradient_images"] > 0  # counted in the cost
    assert len({r["params"]["lr"] for r in records}) == 3  # it moved
    assert n > 0


def test_gsos_can_descend_its_continuous_group_by_bilevel(paper_config, tmp_path):
    groups = [
        {"name": "rates", "params": ["lr", "dropout_rate"], "share": 1},
        {"name": "rest", "params": [n for n in paper_config["search_space"]
                                    if n not in ("lr", "dropout_rate")], "share": 1},
    ]  # fmt: skip
    s = {k: paper_config[k] for k in ("search_space", "bilevel")}
    s.update(
        hpo={"iterations": 16},
        tpe={"n_startup_jobs": 3},
        gsos={"inner": "tpe", "continuous_inner": "bilevel", "groups": groups},
    )
    records = run_synthetic("gsos", s, 0, tmp_path, curve_objective, groups)
    rates = [r for r in records if r["group"] == "rates"]
    rest = [r for r in records if r["group"] == "rest"]
    assert len(rates) == len(rest) == 8
    assert all(r.get("hypergradient") is not None for r in rates)
    assert all(r.get("hypergradient") is None for r in rest)
    assert len({r["params"]["num_conv_layers"] for r in rest}) > 1  # TPE searched the rest


def test_bilevel_inside_gsos_is_explained_not_run(default_config):
    from gsos.config import semantic_problems

    cfg = copy.deepcopy(default_config)
    cfg["gsos"]["inner"] = "bilevel"
    problems = semantic_problems(cfg)
    assert any("continuous_inner: bilevel" in p for p in problems), problems
    cfg["gsos"]["inner"] = "tpe"
    cfg["gsos"]["continuous_inner"] = "bilevel"
    problems = semantic_problems(cfg)
    assert any("none of gsos.groups holds only continuous" in p for p in problems), problems


# --- Hyperband over the data -------------------------------------------------------------


def test_data_shares_are_nested_and_never_cost_more_than_planned():
    small, large = (
        training_subset(1000, 1 / 9, torch.device("cpu")),
        training_subset(1000, 1 / 3, torch.device("cpu")),
    )
    assert len(small) == 111 and len(large) == 333
    assert set(small.tolist()) <= set(large.tolist())
    assert training_subset(1000, 1.0, torch.device("cpu")) is None


def test_fractional_brackets():
    brackets = schedule(1 / 9, 1.0, 3, whole=False)
    assert [[(r.n, round(r.budget, 4)) for r in b] for b in brackets] == [
        [(9, 0.1111), (3, 0.3333), (1, 1.0)],
        [(5, 0.3333), (1, 1.0)],
        [(3, 1.0)],
    ]


def test_hyperband_data_trains_real_trials_on_shares_of_the_data(
    tmp_path, digits_files, default_config
):
    s = tiny_hpo_settings(default_config, hyperband_data={"eta": 3, "min_fraction": 1 / 9})
    s["cost_epochs"] = 4.0
    run_digits_hpo(tmp_path, digits_files, s, "hd", strategy="hyperband_data")
    records = read_records(tmp_path / "hd.jsonl")
    n = len(torch.load(digits_files[0], weights_only=True)["y_train"])
    assert {r["data_fraction"] for r in records} >= {1 / 9, 1 / 3}
    for r in records:
        assert r["continues"] is None
        assert r["sample_epochs"] == math.floor(r["data_fraction"] * n + 1e-9) * r["epochs_run"]
    assert sum(r["sample_epochs"] for r in records) <= 4.0 * n


def test_learning_curves_figure_draws_every_recorded_curve(tmp_path):
    from gsos.reports.figures import learning_curves

    def trial(i, status, accs, seed):
        return {
            "dataset": "digits",
            "strategy": "tpe_lc",
            "seed": seed,
            "iteration": i,
            "status": status,
            "val_accuracy": accs[-1],
            "curve": [{"epoch": e + 1, "val_accuracy": a} for e, a in enumerate(accs)],
        }

    runs = [
        [trial(1, "ok", [0.3, 0.5, 0.6], s), trial(2, "stopped", [0.1, 0.12], s)] for s in (0, 1)
    ]
    runs.append([{**trial(1, "ok", [0.4], 0), "strategy": "random", "curve": None}])
    drawn = learning_curves(runs, tmp_path / "c.png")
    assert drawn == {("digits", "tpe_lc"): {"trials": 4, "stopped": 2}}  # random has none
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "c.pdf").stat().st_size > 0
    assert learning_curves([runs[2]], tmp_path / "none.png") == {}  # a figure that says so
    assert (tmp_path / "none.png").exists()
