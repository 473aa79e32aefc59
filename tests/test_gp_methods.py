"""FABOLAS (emukit) and BOIL (BoTorch) do what their papers say, with the real libraries:
FABOLAS's initial design and its isolated random state, BOIL's curve compression, its
logistic fitted with the GP, and its virtual observations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gsos.search.optimizers.base import Budget, Outcome, View
from gsos.search.optimizers.boil import BOIL, BOUNDS, START, Data, compress, fit_hyper
from gsos.search.optimizers.boil import Settings as BoilSettings
from gsos.search.optimizers.fabolas import Fabolas
from gsos.search.optimizers.fabolas import Settings as FabolasSettings
from gsos.search.space import SearchSpace

SMALL = FabolasSettings(
    n_init=10, min_fraction=1 / 64, marginalize=False, num_eval_points=10,
    representer_points=20, innovations=10, burn_in=1, mcmc_steps=2, gp_restarts=1,
)  # fmt: skip


def space(default_config) -> SearchSpace:
    return SearchSpace.from_config(default_config["search_space"])


def outcome(i: int, accuracy: float, cost: float, curve=None) -> Outcome:
    return Outcome(iteration=i, status="ok", val_accuracy=accuracy, cost=cost, curve=curve)


def test_fabolas_starts_with_emukits_design_on_growing_shares(default_config):
    """fmin_fabolas: a Latin hypercube of configurations, on 1/512, 1/256, … 1/4 of the
    data in turn, raised to s_min; then proposals anywhere in [s_min, 1]."""
    opt = Fabolas(View.of(space(default_config)), 3, Budget(cost=100.0), SMALL)
    shares, points = [], []
    for i in range(12):
        ev = opt.ask()
        shares.append(ev.data_fraction)
        points.append(ev.handle)
        loss = 0.5 - 0.3 * ev.data_fraction + 0.1 * float(np.sum(ev.handle))
        opt.tell(ev, outcome(i + 1, 1 - loss, ev.data_fraction * ev.budget))
    assert shares[:10] == [1 / 64] * 4 + [1 / 32, 1 / 16, 1 / 8, 1 / 4] + [1 / 64] * 2
    design = np.array(points[:10])
    for column in design.T:  # one point in each tenth of every coordinate
        assert sorted(np.floor(column * 10).astype(int)) == list(range(10))
    assert all(1 / 64 <= s <= 1.0 for s in shares[10:])


def test_fabolas_keeps_numpys_global_random_state_apart(default_config):
    """Its proposals do not depend on, nor move, numpy's global random state."""

    def proposals(global_seed: int) -> tuple[list, tuple]:
        np.random.seed(global_seed)
        opt = Fabolas(View.of(space(default_config)), 5, Budget(cost=100.0), SMALL)
        out = []
        for i in range(12):
            ev = opt.ask()
            out.append((ev.params, ev.data_fraction))
            opt.tell(ev, outcome(i + 1, 0.5 + 0.4 * ev.data_fraction, ev.data_fraction))
        return out, np.random.get_state()[1][:5].tolist()

    a, state_a = proposals(1)
    b, _ = proposals(2)
    assert a == b
    np.random.seed(1)
    assert state_a == np.random.get_state()[1][:5].tolist()


def test_fabolas_cuts_its_last_share_to_the_budget(default_config):
    opt = Fabolas(View.of(space(default_config)), 3, Budget(cost=0.2), SMALL)
    spent, i = 0.0, 0
    while (ev := opt.ask()) is not None:
        i += 1
        cost = ev.data_fraction * ev.budget
        spent += cost
        opt.tell(ev, outcome(i, 0.5, cost))
    assert spent == pytest.approx(0.2, abs=1e-6) and spent <= 0.2 + 1e-9


def test_boils_compression_weights_late_epochs_more():
    curve = [0.2, 0.5, 0.7, 0.8]
    m0, g0 = 0.5, 1.5
    z = np.linspace(-6, 6, 9)[:4]
    expected = np.mean(np.array(curve) / (1 + np.exp(-g0 * (z - m0))))
    assert float(compress(curve, m0, g0, 9)) == pytest.approx(expected)
    # the same accuracies reached later score higher than reached early
    assert float(compress([0.8, 0.8, 0.2, 0.2], m0, g0, 9)) < float(
        compress([0.2, 0.2, 0.8, 0.8], m0, g0, 9)
    )


def test_boil_fits_the_logistic_with_the_gp_on_the_marginal_likelihood():
    from gsos.search.optimizers.boil import negative_mll

    rng = np.random.default_rng(0)
    x = rng.random((12, 3))
    curves = [
        [float(0.9 - 0.5 * np.exp(-e * (0.5 + xi[0]))) for e in range(1, 1 + int(2 + 7 * xi[-1]))]
        for xi in x
    ]
    x[:, -1] = [(len(c) - 1) / 8 for c in curves]
    data = Data(x, curves)
    h = fit_hyper(data, 5e-4, 9, starts=20, seed=1)
    fitted = (h.lx, h.lt, h.midpoint, h.growth)
    assert all(lo <= v <= hi for v, (lo, hi) in zip(fitted, BOUNDS, strict=True))
    start = [min(max(v, lo), hi) for v, (lo, hi) in zip(START, BOUNDS, strict=True)]

    def nll(theta) -> float:
        return float(negative_mll(torch.tensor(theta, dtype=torch.float64), data, 5e-4, 9))

    assert nll(fitted) < nll(start) - 0.05  # better than BOIL's starting values
    assert (h.midpoint, h.growth) != (START[2], START[3])  # the logistic moved


def test_boil_adds_virtual_observations_from_each_curve(default_config):
    s = dict(default_config["search_space"])
    s["epoch"] = {"type": "int", "low": 1, "high": 9, "default": 1}
    opt = BOIL(View.of(SearchSpace.from_config(s)), 0, Budget(cost=50.0), BoilSettings())
    ev = opt.ask()
    assert ev.budget == 9  # BOIL's start: the longest training
    curve = [{"epoch": e, "val_accuracy": 1 - 0.5 / e} for e in range(1, 10)]
    opt.tell(ev, outcome(1, curve[-1]["val_accuracy"], 9.0, curve))
    real = [o for o in opt.observations if not o.virtual]
    virtual = [o for o in opt.observations if o.virtual]
    assert len(real) == 1 and 1 <= len(virtual) <= 8  # at most max_augment·t, whole epochs
    for o in virtual:
        assert o.t < 1 and o.curve == [p["val_accuracy"] for p in curve[: len(o.curve)]]
        assert o.cost == pytest.approx(9.0 * len(o.curve) / 9)
        assert math.isclose(o.t, (len(o.curve) - 1) / 8)


def test_boil_does_not_take_a_failure_for_a_free_training(default_config):
    """A configuration that fails at once costs almost nothing; entered at that cost, BOIL's
    cost model predicted near-zero cost there and the cost-aware acquisition (EI divided by
    it) kept proposing what fails (5 of 9 trials failed on the contract's objective)."""
    s = dict(default_config["search_space"])
    s["epoch"] = {"type": "int", "low": 1, "high": 9, "default": 1}
    opt = BOIL(View.of(SearchSpace.from_config(s)), 0, Budget(cost=50.0), BoilSettings())
    ev = opt.ask()
    failed = Outcome(iteration=1, status="fail", val_accuracy=None, cost=0.0)
    opt.tell(ev, failed)
    real = [o for o in opt.observations if not o.virtual]
    assert real[0].curve == [0.0] * ev.budget  # zero accuracy throughout
    assert real[0].cost == ev.budget  # at the epochs it was planned for, not free
