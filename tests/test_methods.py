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


def tpe_lc_run(paper_config, tmp_path, name="lc"):
    """tpe_lc at the cost simultaneous TPE spent on 30 trials (as the workflow matches it)."""
    s = tpe_lc_settings(paper_config)
    plain = run_synthetic("simultaneous", s, 3, tmp_path, curve_objective, records_name="tpe")
    cost = sum(r["sample_epochs"] for r in plain) / N_TRAIN
    return plain, run_synthetic(
        "tpe_lc", s, 3, tmp_path, curve_objective, cost_epochs=cost, records_name=name
    )


@pytest.fixture(scope="module")
def tpe_lc_runs(paper_config, tmp_path_factory):
    """One simultaneous run and the tpe_lc run at its cost, shared by the tests below (each
    takes about 15 s of extrapolation fits)."""
    return tpe_lc_run(paper_config, tmp_path_factory.mktemp("tpe_lc"))


def test_tpe_lc_stops_trials_that_cannot_beat_the_best(tpe_lc_runs):
    _, records = tpe_lc_runs
    budget_stops = [r for r in records if "cost budget" in (r.get("stop_reason") or "")]
    assert len(budget_stops) <= 1 and records[-1:] == budget_stops[-1:]  # the last, if any
    records = [r for r in records if r not in budget_stops]
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


def test_tpe_lc_spends_what_it_saves_on_more_trials(tpe_lc_runs):
    """Cost-matched: early stops buy more configurations, and the cost ends within 2 %."""
    plain, lc = tpe_lc_runs
    cost = [sum(r["sample_epochs"] for r in x) for x in (lc, plain)]
    assert 0.98 * cost[1] <= cost[0] <= cost[1]
    assert len(lc) > 1.2 * len(plain)


def test_tpe_lc_stops_some_real_trials(tmp_path, digits_files, default_config):
    s = tiny_hpo_settings(default_config, iterations=10, tpe_lc={"threshold": 0.5, "min_epochs": 2})
    s["search_space"]["epoch"] = {"type": "int", "low": 3, "high": 5, "default": 3}
    s["cost_epochs"] = 35.0  # about what 10 trials of 3-5 epochs cost
    run_digits_hpo(tmp_path, digits_files, s, "lc", strategy="tpe_lc")
    records = read_records(tmp_path / "lc.jsonl")
    stopped = [r for r in records if r["status"] == "stopped"]
    assert stopped, [(r["status"], r["val_accuracy"]) for r in records]
    for r in stopped:
        assert r["epochs_run"] < r["budget"]
        assert [p["epoch"] for p in r["curve"]] == list(range(1, r["epochs_run"] + 1))
        if "cost budget" in r["stop_reason"]:  # the last trial, cut where the budget ends
            assert r is records[-1]
        else:
            assert r["predicted_final_accuracy"] is not None


# --- bilevel: hypergradients ------------------------------------------------------------


def test_the_hypergradient_is_the_derivative_of_the_unrolled_validation_loss(paper_space, digits):
    from gsos.training.hypergrad import hypergradient
    from gsos.training.model import CNN
    from gsos.training.standins import cuda_rng_rules

    p = params(paper_space, epoch=1, dropout_rate=0.3, lr=0.05, optimizer="sgd")
    torch.manual_seed(0)
    model = CNN(p, digits.in_shape, digits.n_classes, SETTINGS.arch)

    def measure(**over):  # under CUDA's random-number rules: the draws are on the device
        with cuda_rng_rules():
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
    records = run_synthetic("bilevel", s, 0, tmp_path, curve_objective, cost_epochs=25.0)
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
    s["cost_epochs"] = 3.6  # 3 evaluations of 1 epoch and 5 unrolled steps (0.18 epochs) each
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


def test_the_hypergradient_of_an_adam_configuration_points_where_adam_training_goes(
    digits, tmp_path
):
    """bilevel unrolls the configuration's own optimiser (Adam from its trained state): the
    sign of d(val loss)/d(log lr) agrees with finite differences of the trained model's
    validation loss after continuing training with Adam at lr e^±h (real dropout, the same
    minibatches, averaged over mask draws) in at least 16 of 18 Adam configurations
    (measured: 17; the plain-SGD unroll it replaces, 15 here and 12 in the review)."""
    from gsos.training.descent import Adam
    from gsos.training.hypergrad import hypergradient
    from gsos.training.model import CNN
    from gsos.training.trainer import TrainSettings, train_and_evaluate

    settings = TrainSettings.from_config(
        {"model": {"base_filters": 8}, "training": {"precision": "fp32", "channels_last": False}}
    )
    base = {"num_conv_layers": 2, "optimizer": "adam", "epoch": 1, "stride": 1,
            "padding": "same", "kernel": 3, "num_fc_units": 64, "batch_size": 32}  # fmt: skip
    steps, h, x, y = 5, 0.05, digits.x["train"], digits.y["train"]

    def continued(model, state, params, lr, mask_seed):
        model = copy.deepcopy(model).double()
        opt = Adam(model.parameters(), lr=lr)
        opt.load_state_dict({"steps": state["steps"],
                             "exp_avg": [t.double() for t in state["exp_avg"]],
                             "exp_avg_sq": [t.double() for t in state["exp_avg_sq"]]})  # fmt: skip
        gen = torch.Generator().manual_seed(1)  # hypergradient's minibatches (seed + 1)
        torch.manual_seed(mask_seed)
        model.train()
        for _ in range(steps):
            idx = torch.randperm(len(x), generator=gen)[: params["batch_size"]]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(digits.normalise(x[idx]).double()),
                                                     y[idx])  # fmt: skip
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            xv, yv = digits.x["val"][:512], digits.y["val"][:512]
            out = model(digits.normalise(xv).double())
            return float(torch.nn.functional.cross_entropy(out, yv))

    agree = 0
    for lr in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2):
        for rate in (0.1, 0.3, 0.5):
            params = {**base, "lr": lr, "dropout_rate": rate}
            train_and_evaluate(params, digits, 0, settings, save=tmp_path / "state.pt")
            saved = torch.load(tmp_path / "state.pt", weights_only=False)
            model = CNN(params, digits.in_shape, digits.n_classes, settings.arch)
            model.load_state_dict(saved["model"])
            fd = sum(
                continued(model, saved["optimizer"], params, lr * math.exp(s * h), ms) * s
                for ms in range(3)
                for s in (1, -1)
            ) / (2 * h * 3)
            g = hypergradient(
                copy.deepcopy(model), params, digits, 0, steps=steps,
                optimizer_state=saved["optimizer"],
            )["hypergradient"]["log_lr"]  # fmt: skip
            agree += (g > 0) == (fd > 0)
    assert agree >= 16, agree


def test_bohb_bandwidths_are_hpbandsters(default_config):
    """Normal-reference bandwidths for every coordinate, at least min_bandwidth and with no
    upper cap; the sampling density widens continuous ones by bandwidth_factor only."""
    import numpy as np

    from gsos.search.optimizers.base import View
    from gsos.search.optimizers.encoding import Box
    from gsos.search.optimizers.hyperband import KDE
    from gsos.search.space import SearchSpace

    space = SearchSpace.from_config(default_config["search_space"])
    box = Box(View.of(space, without=["epoch"]))
    rng = np.random.default_rng(0)
    data = np.array([box.vector(rng.random(box.dim)) for _ in range(12)])
    kde = KDE.fit(data, box, 1e-3)
    n, d = data.shape
    rule = np.maximum(1.06 * data.std(axis=0, ddof=1) * n ** (-1 / (4 + d)), 1e-3)
    assert np.allclose(kde.bandwidth, rule)
    cat = box.categorical
    assert (kde.bandwidth[cat] > (box.levels[cat] - 1) / box.levels[cat]).any()  # uncapped
    wide = kde.widened(3.0, 1e-3)
    assert np.allclose(wide.bandwidth[cat], kde.bandwidth[cat])
    assert np.allclose(wide.bandwidth[~cat], 3.0 * kde.bandwidth[~cat])
