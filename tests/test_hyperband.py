"""Hyperband and BOHB (gsos.search.optimizers.hyperband) as a user sees them: which
configurations a rung promotes, how many, what a continuation costs, and where BOHB draws.

Pure Python on hand-told outcomes: R = 9 epochs, r_min = 1, eta = 3, so the first bracket
trains 9 configurations for 1 epoch, continues the best 3 to 3 epochs and the best of those
to 9."""

import math

import numpy as np
import pytest

from gsos.search.optimizers.base import Budget, Fidelity, Outcome, View
from gsos.search.optimizers.encoding import Box
from gsos.search.optimizers.hyperband import (
    Hyperband,
    KDESampler,
    RandomSampler,
    make_bohb,
    make_hyperband,
    make_hyperband_data,
    schedule,
)
from gsos.search.space import SearchSpace

SPACE = SearchSpace.from_config(
    {
        "lr": {"type": "loguniform", "low": 1e-5, "high": 1.0, "default": 0.01},
        "dropout_rate": {"type": "uniform", "low": 0.0, "high": 0.9, "default": 0.0},
        "optimizer": {"type": "choice", "values": ["adam", "sgd"], "default": "adam"},
        "epoch": {"type": "int", "low": 1, "high": 9, "default": 1},
    }
)
VIEW = View.of(SPACE, without=["epoch"])
EPOCHS = Fidelity("epoch", 1, 9)


def hyperband(budget=None, seed=0):
    budget = budget or Budget(evaluations=1000)
    return Hyperband(VIEW, budget, EPOCHS, 3, RandomSampler(Box(VIEW), np.random.default_rng(seed)))


class Driver:
    """Asks and tells like the runner: iteration numbers, and a cost of the new epochs."""

    def __init__(self, opt, n_train=1):
        self.opt, self.n_train, self.iteration, self.asked = opt, n_train, 0, []

    def ask(self):
        ev = self.opt.ask()
        if ev is not None:
            self.asked.append(ev)
        return ev

    def tell(self, ev, accuracy, status="ok", cost=None):
        self.iteration += 1
        if cost is None:
            below = self.asked[ev.continues - 1].budget if ev.continues else 0
            cost = ev.budget - below
        outcome = Outcome(self.iteration, status, accuracy, float(cost))
        self.opt.tell(ev, outcome)
        return outcome

    def rung(self, accuracies, statuses=None):
        evs = [self.ask() for _ in accuracies]
        statuses = statuses or ["ok"] * len(accuracies)
        for ev, acc, status in zip(evs, accuracies, statuses, strict=True):
            self.tell(ev, acc, status)
        return evs


RUNG0 = [0.50, 0.91, 0.40, 0.85, 0.60, 0.95, 0.70, 0.30, 0.20]  # best: 6, 2, 4 (iterations)


def test_a_rung_promotes_its_best_configurations_best_first():
    d = Driver(hyperband())
    first = d.rung(RUNG0)
    assert [ev.budget for ev in first] == [1] * 9 and all(ev.continues is None for ev in first)
    promoted = [d.ask() for _ in range(3)]
    assert [ev.continues for ev in promoted] == [6, 2, 4]
    for ev in promoted:  # the same configuration, now to 3 epochs, from its saved state
        assert ev.budget == 3 and ev.params["epoch"] == 3
        assert ev.raw == first[ev.continues - 1].raw
        assert ev.params == {**first[ev.continues - 1].params, "epoch": 3}
    for ev, acc in zip(promoted, [0.90, 0.97, 0.93], strict=True):
        d.tell(ev, acc)
    top = d.ask()
    assert top.continues == 11 and top.budget == 9  # 0.97: the second continuation
    assert top.raw == first[1].raw


def test_a_rung_keeps_floor_n_over_eta_and_only_finished_trials():
    """9 results keep 3; of 5 (the second bracket's first rung) 1; failures, divergences
    and stopped trials are not promoted, however good they looked."""
    d = Driver(hyperband())
    statuses = ["ok", "fail", "ok", "diverged", "ok", "stopped", "ok", "ok", "ok"]
    d.rung(RUNG0, statuses)  # iterations 2, 4 and 6 did not finish
    promoted = [d.ask() for _ in range(3)]
    assert [ev.continues for ev in promoted] == [7, 5, 1]  # 0.70, 0.60, 0.50
    for ev, acc in zip(promoted, [0.5, 0.6, 0.7], strict=True):
        d.tell(ev, acc)
    assert d.ask().continues == 12
    d.tell(d.asked[-1], 0.8)
    second = d.rung([0.1, 0.2, 0.3, 0.4, 0.5])  # bracket s = 1: 5 at 3 epochs, 1 to 9
    assert [ev.budget for ev in second] == [3] * 5
    nxt = d.ask()
    assert nxt.continues == d.iteration and nxt.budget == 9  # only the best of 5
    d.tell(nxt, 0.6)
    third = d.ask()  # bracket s = 0: 3 fresh configurations at 9 epochs
    assert third.continues is None and third.budget == 9


def test_a_rung_with_fewer_finished_trials_than_places_promotes_only_those():
    d = Driver(hyperband())
    d.rung(RUNG0, ["fail"] * 7 + ["ok", "ok"])
    promoted = [d.ask() for _ in range(2)]
    assert [ev.continues for ev in promoted] == [8, 9]  # 0.30, then 0.20: not 3 of them
    for ev in promoted:
        d.tell(ev, 0.5)
    nxt = d.ask()  # 2 results keep floor(2 / 3) = 0: the next bracket (s = 1) begins
    assert (nxt.continues, nxt.budget) == (None, 3)


def test_a_rung_where_nothing_finished_starts_the_next_bracket():
    d = Driver(hyperband())
    d.rung(RUNG0, ["fail"] * 9)
    ev = d.ask()
    assert ev.continues is None and ev.budget == 3  # bracket s = 1 begins


def test_a_tie_promotes_the_earlier_evaluation():
    d = Driver(hyperband())
    d.rung([0.5, 0.9, 0.5, 0.9, 0.5, 0.9, 0.5, 0.9, 0.5])
    assert [d.ask().continues for _ in range(3)] == [2, 4, 6]


def test_a_repeat_told_in_a_rung_is_promoted_once():
    """A configuration proposed twice in a rung is told its first outcome (same iteration):
    it takes one place, continued from that evaluation's state."""
    d = Driver(hyperband())
    evs = [d.ask() for _ in range(9)]
    for i, (ev, acc) in enumerate(zip(evs, RUNG0, strict=True)):
        if i == 8:  # the last is a repeat of iteration 6, told its outcome, not trained
            d.opt.tell(ev, Outcome(6, "ok", 0.95, 0.0, repeat=True))
        else:
            d.tell(ev, acc)
    assert [d.ask().continues for _ in range(3)] == [6, 2, 4]


def test_a_continuation_is_charged_only_its_new_epochs():
    """The first bracket costs 9 x 1 + 3 x (3 - 1) + 1 x (9 - 3) = 21 epochs: a budget of
    exactly that runs it whole, each continuation as planned."""
    d = Driver(hyperband(Budget(cost=21.0)))
    d.rung(RUNG0)
    promoted = [d.ask() for _ in range(3)]
    assert [(ev.budget, ev.keep_state) for ev in promoted] == [(3, True)] * 3
    for ev, acc in zip(promoted, [0.9, 0.97, 0.93], strict=True):
        assert d.tell(ev, acc).cost == 2
    top = d.ask()
    assert (top.budget, top.continues, top.keep_state) == (9, 11, False)
    d.tell(top, 0.98)
    assert d.opt.spent.cost == pytest.approx(21.0)
    assert d.ask() is None  # not one epoch left


def test_the_last_evaluation_is_cut_to_the_budget_left():
    """20.5 epochs: the top rung's 6 new epochs do not fit; 5 do, so it trains to 3 + 5."""
    d = Driver(hyperband(Budget(cost=20.5)))
    d.rung(RUNG0)
    for ev, acc in zip([d.ask() for _ in range(3)], [0.9, 0.97, 0.93], strict=True):
        d.tell(ev, acc)
    last = d.ask()
    assert (last.budget, last.params["epoch"], last.continues, last.keep_state) == (8, 8, 11, False)
    d.tell(last, 0.9)
    assert d.ask() is None


def test_under_one_epoch_left_ends_the_run():
    d = Driver(hyperband(Budget(cost=9.5)))
    d.rung(RUNG0)
    assert d.ask() is None


def test_an_evaluation_budget_ends_the_run_at_its_count():
    d = Driver(hyperband(Budget(evaluations=10, cost=1000.0)))
    d.rung(RUNG0)
    assert d.ask() is not None
    d.tell(d.asked[-1], 0.9)
    assert d.ask() is None


def test_live_states_are_those_a_later_rung_may_continue():
    d = Driver(hyperband())
    d.rung(RUNG0, ["ok"] * 8 + ["fail"])
    assert d.opt.live_states() == set(range(1, 9))  # every finished one, until the rung ends
    promoted = [d.ask() for _ in range(3)]
    assert d.opt.live_states() == {6, 2, 4}  # the promoted; the others' states are dropped
    d.tell(promoted[0], 0.9)
    assert d.opt.live_states() == {2, 4, 10}  # 6 continued into 10, which may go on
    for ev in promoted[1:]:
        d.tell(ev, 0.8)
    assert d.opt.live_states() == {10, 11, 12}
    top = d.ask()
    assert top.continues == 10 and d.opt.live_states() == {10}
    d.tell(top, 0.99)
    assert not top.keep_state and d.opt.live_states() == set()


def test_brackets_repeat_after_the_last():
    d = Driver(hyperband())
    for _ in range(2):
        d.rung(RUNG0)
        d.rung([0.5, 0.6, 0.7])
        d.rung([0.8])
        d.rung([0.1, 0.2, 0.3, 0.4, 0.5])
        d.rung([0.9])
        sizes = d.rung([0.1, 0.2, 0.3])
        assert [ev.budget for ev in sizes] == [9, 9, 9]
    assert d.ask().budget == 1  # bracket s = 2 again


def test_brackets_follow_hyperbands_schedule():
    whole = [[(r.n, r.budget) for r in b] for b in schedule(1, 9, 3)]
    assert whole == [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    assert [[(r.n, r.budget) for r in b] for b in schedule(1, 27, 3)][0] == [
        (27, 1), (9, 3), (3, 9), (1, 27)
    ]  # fmt: skip
    assert [[(r.n, r.budget) for r in b] for b in schedule(2, 8, 2)] == [
        [(4, 2), (2, 4), (1, 8)],
        [(3, 4), (1, 8)],
        [(3, 8)],
    ]


def test_data_shares_train_afresh_and_the_last_is_cut_to_a_share_that_fits():
    """Over the data: each rung trains the configuration's own epochs on a larger share,
    never continued; the last one gets the share the cost budget has left, if it is worth
    it (at least a third of the smallest share)."""
    space = SearchSpace.from_config(
        {
            "lr": {"type": "loguniform", "low": 1e-5, "high": 1.0, "default": 0.01},
            "epoch": {"type": "int", "low": 1, "high": 9, "default": 2},
        }
    )
    view = View.of(space, ["lr"])  # epochs fixed at 2
    opt = make_hyperband_data(view, 0, Budget(cost=2 * (9 / 9 + 3 / 3) + 0.5), {})
    d = Driver(opt)
    evs = []
    for _ in range(12):
        ev = d.ask()
        evs.append(ev)
        d.tell(ev, 0.5 + 0.01 * len(evs), cost=ev.budget * ev.data_fraction)
    assert [round(ev.data_fraction, 4) for ev in evs] == [0.1111] * 9 + [0.3333] * 3
    assert all(ev.continues is None and ev.budget == 2 and not ev.keep_state for ev in evs)
    last = d.ask()  # 0.5 epochs left: a share of 0.25 of 2 epochs
    assert last.data_fraction == pytest.approx(0.25) and last.budget == 2
    d.tell(last, 0.9, cost=0.5)
    assert d.ask() is None


def test_a_share_too_small_to_be_worth_it_ends_the_run():
    space = SearchSpace.from_config(
        {
            "lr": {"type": "loguniform", "low": 1e-5, "high": 1.0, "default": 0.01},
            "epoch": {"type": "int", "low": 1, "high": 9, "default": 1},
        }
    )
    opt = make_hyperband_data(View.of(space, ["lr"]), 0, Budget(cost=9 / 9 + 0.03), {})
    d = Driver(opt)
    for _ in range(9):
        ev = d.ask()
        d.tell(ev, 0.5, cost=ev.data_fraction)
    assert d.ask() is None  # 0.03 < (1/9) / 3


def test_factories_read_their_settings():
    hb = make_hyperband(VIEW, 0, Budget(evaluations=5), {"hyperband": {"eta": 2}})
    assert hb.eta == 2 and isinstance(hb.sampler, RandomSampler)
    assert [r.budget for r in hb.rungs] == [1, 2, 4, 9]  # 4.5 rounds to 4
    assert hb.fidelity == Fidelity("epoch", 1, 9)
    bohb = make_bohb(
        VIEW,
        0,
        Budget(evaluations=5),
        {"bohb": {"eta": 3, "random_fraction": 0.5, "top_fraction": 0.2, "n_candidates": 7,
                  "bandwidth_factor": 2.0, "min_bandwidth": 0.01, "min_points": 4}},
    )  # fmt: skip
    s = bohb.sampler
    assert isinstance(s, KDESampler) and bohb.eta == 3
    assert (s.random_fraction, s.top_fraction, s.n_candidates) == (0.5, 0.2, 7)
    assert (s.bandwidth_factor, s.min_bandwidth, s.min_points) == (2.0, 0.01, 4)
    default = make_bohb(VIEW, 0, Budget(evaluations=5), {}).sampler
    assert (default.random_fraction, default.top_fraction, default.n_candidates) == (
        pytest.approx(1 / 3), 0.15, 64,
    )  # fmt: skip
    assert (default.bandwidth_factor, default.min_bandwidth, default.min_points) == (3, 1e-3, None)
    data = make_hyperband_data(VIEW, 0, Budget(evaluations=5), {})
    assert data.fidelity.low == pytest.approx(1 / 9) and data.eta == 3
    assert make_hyperband(VIEW, 0, Budget(evaluations=5), {}).eta == 3


def test_the_same_seed_draws_the_same_configurations():
    a, b, c = (make_hyperband(VIEW, s, Budget(evaluations=5), {}) for s in (1, 1, 2))
    ra, rb, rc = ([x.ask().raw for _ in range(3)] for x in (a, b, c))
    assert ra == rb and ra != rc


# --- BOHB ---------------------------------------------------------------------------------


def continuous_box():
    space = SearchSpace.from_config(
        {
            "lr": {"type": "loguniform", "low": 1e-5, "high": 1.0, "default": 0.01},
            "dropout_rate": {"type": "uniform", "low": 0.0, "high": 0.9, "default": 0.0},
        }
    )
    return Box(View.of(space))


def test_bohb_proposes_where_the_good_density_beats_the_bad():
    """Good configurations near (0.2, 0.2) and near (0.8, 0.8); bad ones only near
    (0.8, 0.8). Candidates drawn around the good ones fall near both, but only near
    (0.2, 0.2) is good much likelier than bad: BOHB proposes there."""
    rng = np.random.default_rng(0)
    sampler = KDESampler(continuous_box(), np.random.default_rng(1), random_fraction=0.0,
                         top_fraction=0.5, n_candidates=32, bandwidth_factor=1.0)  # fmt: skip
    for centre, loss in [((0.2, 0.2), 0.1), ((0.8, 0.8), 0.1), ((0.8, 0.8), 0.9)]:
        for _ in range(8):
            sampler.observe(np.clip(np.array(centre) + rng.normal(0, 0.03, 2), 0, 1), 3, loss)
    proposals = np.array([sampler.sample() for _ in range(20)])
    near_good = np.linalg.norm(proposals - 0.2, axis=1) < 0.15
    assert near_good.mean() >= 0.9, proposals


def test_bohb_fits_on_the_largest_budget_with_enough_observations():
    box = continuous_box()
    sampler = KDESampler(box, np.random.default_rng(0), top_fraction=0.5)
    assert sampler.model() is None  # nothing observed: random
    for i in range(6):
        sampler.observe(np.array([0.1 * i, 0.5]), 1, 0.1 * i)
    good, bad = sampler.model()
    assert np.allclose(good.data[:, 0], [0.0, 0.1, 0.2]) and len(bad.data) == 3  # lowest loss
    for i in range(5):  # two on budget 3 too few (3 good and 3 bad needed: dim + 1)
        sampler.observe(np.array([0.9, 0.1 * i]), 3, None if i == 0 else 0.1 * i)
    good, _ = sampler.model()
    assert np.allclose(good.data[:, 0], [0.0, 0.1, 0.2])  # still budget 1
    sampler.observe(np.array([0.9, 0.9]), 3, 0.05)
    good, bad = sampler.model()  # budget 3 has 6: its best 3 (a failure is the worst)
    assert np.allclose(good.data, [[0.9, 0.9], [0.9, 0.1], [0.9, 0.2]])
    assert [0.9, 0.0] in bad.data.tolist()
    assert sampler.observations[3][0][1] == math.inf


def test_bohb_takes_the_top_fraction_as_good_once_it_outnumbers_the_minimum():
    sampler = KDESampler(continuous_box(), np.random.default_rng(0), top_fraction=0.5,
                         min_points=2)  # fmt: skip
    for i in range(10):
        sampler.observe(np.array([0.05 * i, 0.5]), 1, 1.0 - 0.1 * i)
    good, bad = sampler.model()
    assert len(good.data) == 5 and len(bad.data) == 5
    assert min(good.data[:, 0]) > max(bad.data[:, 0])  # the lowest losses are the good


def test_bohb_draws_at_random_with_its_random_fraction_or_without_a_model():
    box = continuous_box()
    fresh = KDESampler(box, np.random.default_rng(3))
    assert np.allclose(fresh.sample(), np.random.default_rng(3).random(2))
    always = KDESampler(box, np.random.default_rng(3), random_fraction=1.0, min_points=1)
    for i in range(4):
        always.observe(np.array([0.5, 0.5]), 1, 0.1 * i)
    rng = np.random.default_rng(3)
    rng.random()  # the coin
    assert np.allclose(always.sample(), rng.random(2))


def test_bohb_densities_mix_gaussian_and_aitchison_aitken_kernels():
    from gsos.search.optimizers.hyperband import KDE

    kde = KDE(np.array([[0.5, 1.0]]), np.array([0.1, 0.2]), np.array([False, True]),
              np.array([0, 3]))  # fmt: skip
    gauss = math.exp(-0.5) / (0.1 * math.sqrt(2 * math.pi))  # one bandwidth away
    assert kde.pdf(np.array([0.6, 1.0])) == pytest.approx(gauss * 0.8)  # same level: 1 - bw
    assert kde.pdf(np.array([0.6, 2.0])) == pytest.approx(gauss * 0.1)  # other: bw / (3 - 1)
    two = KDE(np.array([[0.5, 1.0], [0.7, 1.0]]), np.array([0.1, 0.2]), np.array([False, True]),
              np.array([0, 3]))  # fmt: skip
    assert two.pdf(np.array([0.6, 1.0])) == pytest.approx(gauss * 0.8)  # the mean of both


def test_bohb_draws_stay_in_the_box_and_keep_categories_by_their_bandwidth():
    from gsos.search.optimizers.hyperband import KDE, truncated_normal

    rng = np.random.default_rng(0)
    assert all(0.0 <= truncated_normal(rng, 0.99, 0.5) <= 1.0 for _ in range(200))
    assert truncated_normal(rng, 50.0, 0.1) == 1.0  # no draw inside: clipped
    assert truncated_normal(rng, -50.0, 0.1) == 0.0
    kde = KDE(np.array([[0.5, 1.0]]), np.array([0.01, 0.1]), np.array([False, True]),
              np.array([0, 3]))  # fmt: skip
    draws = np.array([kde.draw(rng) for _ in range(400)])
    assert np.abs(draws[:, 0] - 0.5).max() < 0.06
    kept = (draws[:, 1] == 1.0).mean()
    assert 0.85 < kept < 0.98  # kept with 1 - bw, else any level (1 of 3 again)
    assert set(draws[:, 1]) <= {0.0, 1.0, 2.0}


def test_bohb_widens_only_continuous_bandwidths_for_its_candidates():
    from gsos.search.optimizers.hyperband import KDE

    kde = KDE(np.zeros((1, 2)), np.array([0.0001, 0.2]), np.array([False, True]), np.array([0, 3]))
    wide = kde.widened(3.0, 0.01)
    assert wide.bandwidth.tolist() == pytest.approx([0.03, 0.2])
    fit = KDE.fit(np.array([[0.2, 0.0]]), continuous_box(), 0.05)
    assert fit.bandwidth.tolist() == [0.05, 0.05]  # one point: no spread, the minimum


# --- the edges of the budget, and what BOHB is told --------------------------------------


def continued(budget):
    """The first bracket on a cost budget, its first two rungs told (9 + 3 x 2 epochs if
    they fit): the evaluations asked."""
    d = Driver(hyperband(Budget(cost=budget)))
    d.rung(RUNG0)
    for acc in (0.9, 0.97, 0.93):
        ev = d.ask()
        if ev is None:
            break
        d.tell(ev, acc)
    return d


def test_continuations_that_fit_exactly_keep_their_state_for_the_next_rung():
    d = continued(15.0)  # 9 + 3 x (3 - 1): each continuation costs 2, not 3 or 4
    assert [(ev.budget, ev.keep_state) for ev in d.asked[9:]] == [(3, True)] * 3
    assert d.ask() is None  # nothing left for the top rung


def test_a_continuation_cut_short_keeps_no_state():
    d = continued(14.0)  # the third continuation has 1 epoch left, not 2
    last = d.asked[-1]
    assert (last.budget, last.continues, last.keep_state) == (2, 4, False)
    assert d.ask() is None


@pytest.mark.parametrize("budget, epochs", [(20.0, 8), (16.0, 4)])
def test_a_whole_number_of_epochs_left_is_trained_to_the_last(budget, epochs):
    """5 (or 1) epochs left exactly: all of them are trained, not one fewer."""
    d = continued(budget)
    last = d.ask()
    assert (last.budget, last.params["epoch"], last.continues) == (epochs, epochs, 11)


def test_less_than_the_first_rung_ends_the_run_before_it_starts():
    assert hyperband(Budget(cost=0.5)).ask() is None


def test_a_tie_promotes_the_earlier_evaluation_whatever_order_it_is_told_in():
    """A repeat of an earlier bracket's configuration is told that evaluation's outcome
    (its earlier iteration) after the rung's fresh ones: on a tie it still goes first."""
    opt = hyperband()
    evs = [opt.ask() for _ in range(9)]
    for i, ev in enumerate(evs[:8]):
        opt.tell(ev, Outcome(20 + i, "ok", 0.9 if i == 0 else 0.5, 1.0))
    opt.tell(evs[8], Outcome(3, "ok", 0.9, 0.0, repeat=True))
    assert [opt.ask().continues for _ in range(3)] == [3, 20, 21]


def test_a_finished_trial_without_an_accuracy_is_not_promoted():
    d = Driver(hyperband())
    evs = [d.ask() for _ in range(9)]
    for ev, acc in zip(evs, [None] + RUNG0[1:], strict=True):
        d.tell(ev, acc)  # iteration 1 'ok' with no accuracy: nothing to rank it by
    assert [d.ask().continues for _ in range(3)] == [6, 2, 4]


def test_data_share_evaluations_carry_their_configuration():
    space = SearchSpace.from_config(
        {
            "lr": {"type": "loguniform", "low": 1e-5, "high": 1.0, "default": 0.01},
            "epoch": {"type": "int", "low": 1, "high": 9, "default": 2},
        }
    )
    view = View.of(space, ["lr"])
    opt = make_hyperband_data(view, 0, Budget(evaluations=9), {})
    ev = opt.ask()
    u = ev.raw["lr"]
    assert ev.params == {"lr": pytest.approx(10 ** (-5 + 5 * u)), "epoch": 2}
    assert ev.budget == 2 and 0 <= u <= 1


def test_the_last_data_share_is_worth_it_down_to_a_third_of_the_smallest():
    """Left exactly a third of the smallest share (1/27 of one epoch): trained."""
    space = SearchSpace.from_config(
        {
            "lr": {"type": "loguniform", "low": 1e-5, "high": 1.0, "default": 0.01},
            "epoch": {"type": "int", "low": 1, "high": 9, "default": 1},
        }
    )
    opt = make_hyperband_data(View.of(space, ["lr"]), 0, Budget(cost=1 + 1 / 27), {})
    d = Driver(opt)
    for _ in range(9):
        ev = d.ask()
        d.tell(ev, 0.5, cost=1 / 9)
    last = d.ask()
    assert last is not None and last.data_fraction == pytest.approx(1 / 27)


def test_bohb_is_told_each_configuration_at_its_budget():
    """BOHB models each budget apart: its observations are keyed by the rung's epochs (or
    data share), hold the configuration's vector and its loss (inf for a failure)."""
    opt = make_bohb(VIEW, 0, Budget(evaluations=100), {})
    d = Driver(opt)
    evs = d.rung(RUNG0, ["ok"] * 8 + ["fail"])
    obs = opt.sampler.observations
    assert list(obs) == [1]
    box = Box(VIEW)
    for ev, (vector, loss), acc in zip(evs, obs[1], RUNG0, strict=True):
        u = [ev.raw[n] for n in VIEW.names]
        assert np.allclose(vector, box.vector(u))
        assert loss == (math.inf if ev is evs[-1] else pytest.approx(1 - acc))
    d.tell(d.ask(), 0.9)
    assert list(obs) == [1, 3] and len(obs[3]) == 1
    shares = Hyperband(VIEW, Budget(evaluations=100), Fidelity("data_fraction", 1 / 9, 1.0), 3,
                       KDESampler(box, np.random.default_rng(0)))  # fmt: skip
    ev = shares.ask()
    shares.tell(ev, Outcome(1, "ok", 0.5, 0.1))
    assert list(shares.sampler.observations) == [pytest.approx(1 / 9)]


def test_bohb_and_hyperband_data_read_their_own_sections_and_seeds():
    settings = {"bohb": {"eta": 2}, "hyperband_data": {"eta": 2, "min_fraction": 0.25}}
    bohb = make_bohb(VIEW, 0, Budget(evaluations=5), settings)
    assert bohb.eta == 2 and [r.budget for r in bohb.rungs] == [1, 2, 4, 9]
    data = make_hyperband_data(VIEW, 0, Budget(evaluations=5), settings)
    assert data.eta == 2 and data.fidelity.low == 0.25 and data.rungs[0].budget == 0.25
    assert make_bohb(VIEW, 0, Budget(evaluations=5), {}).eta == 3
    for make in (make_bohb, make_hyperband_data):
        a, b, c = (make(VIEW, s, Budget(evaluations=5), {}) for s in (4, 4, 5))
        ra, rb, rc = ([x.ask().raw for _ in range(3)] for x in (a, b, c))
        assert ra == rb and ra != rc


def test_schedule_rounds_rungs_to_whole_epochs_unless_told_otherwise():
    assert [[r.budget for r in b] for b in schedule(1, 10, 3)] == [[1, 3, 10], [3, 10], [10]]
    fractional = schedule(1, 10, 3, whole=False)
    assert [r.budget for r in fractional[0]] == pytest.approx([10 / 9, 10 / 3, 10])


def test_bohb_bandwidths_follow_the_normal_reference_rule():
    """1.06 sd n^(-1/(4 + d)) for every coordinate (two points: their sample sd), at least
    min_bandwidth, as statsmodels fits them for HpBandSter."""
    from gsos.search.optimizers.hyperband import KDE

    box = continuous_box()
    for data in (np.array([[0.1, 0.2], [0.5, 0.9]]),
                 np.random.default_rng(3).random((7, 2))):  # fmt: skip
        n, d = data.shape
        rule = 1.06 * data.std(axis=0, ddof=1) * n ** (-1 / (4 + d))
        assert KDE.fit(data, box, 1e-3).bandwidth == pytest.approx(rule)
    same = KDE.fit(np.array([[0.3, 0.3], [0.3, 0.3]]), box, 0.02)
    assert same.bandwidth.tolist() == [0.02, 0.02]


def test_a_category_of_two_levels_shares_the_rest_of_its_kernel():
    from gsos.search.optimizers.hyperband import KDE

    kde = KDE(np.array([[0.0]]), np.array([0.2]), np.array([True]), np.array([2]))
    assert kde.pdf(np.array([0.0])) == pytest.approx(0.8)
    assert kde.pdf(np.array([1.0])) == pytest.approx(0.2)  # bw / (2 - 1)


def test_the_widened_density_draws_categories_from_their_levels():
    from gsos.search.optimizers.hyperband import KDE

    kde = KDE(np.array([[0.5, 2.0]]), np.array([0.05, 0.9]), np.array([False, True]),
              np.array([0, 3]))  # fmt: skip
    rng = np.random.default_rng(0)
    draws = np.array([kde.widened(2.0, 1e-3).draw(rng) for _ in range(300)])
    assert set(draws[:, 1]) == {0.0, 1.0, 2.0}


def test_a_truncated_normal_is_redrawn_not_piled_up_at_the_edge():
    from gsos.search.optimizers.hyperband import truncated_normal

    rng = np.random.default_rng(0)
    draws = np.array([truncated_normal(rng, 0.99, 0.5) for _ in range(400)])
    assert (draws == 1.0).mean() < 0.01 and 0.3 < draws.mean() < 0.8


def test_the_evaluation_cut_to_the_budget_is_the_last_even_when_told_for_free():
    """Inside GSOS a repeated proposal is told its earlier outcome at no cost. The evaluation
    cut to what the budget has left is the run's last: told as a free repeat, it must not let
    the bracket go on (it went on, and promoted a configuration whose state was long gone:
    FileNotFoundError in the contract test of gsos_hyperband)."""
    d = Driver(hyperband(Budget(cost=23.0)))
    d.rung(RUNG0)
    for acc in (0.9, 0.97, 0.93):
        d.tell(d.ask(), acc)
    d.tell(d.ask(), 0.98)  # the first bracket: 21 epochs
    cut = d.ask()  # bracket s = 1 trains 3 epochs; 2 are left
    assert (cut.budget, cut.continues, cut.keep_state) == (2, None, False)
    d.opt.tell(cut, Outcome(4, "ok", 0.85, 0.0, repeat=True))  # a repeat: nothing spent
    assert d.ask() is None
