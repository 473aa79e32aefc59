import numpy as np
import pytest

from gsos.search.space import SearchSpace


def test_paper_table1_defaults_and_kinds(paper_space):
    assert paper_space.defaults() == {
        "num_conv_layers": 3,
        "lr": 0.01,
        "dropout_rate": 0.0,
        "optimizer": "adam",
        "epoch": 10,
        "stride": 1,
        "padding": "same",
        "kernel": 3,
        "num_fc_units": 64,
        "batch_size": 32,
    }


def test_decode_turns_choice_indices_and_numpy_scalars_into_plain_values(paper_space):
    space = paper_space.hyperopt_space(["optimizer", "epoch", "lr", "batch_size"])
    raw = {
        "optimizer": [np.int64(1)],
        "epoch": [np.float64(37.0)],
        "lr": [np.float64(0.5)],
        "batch_size": [np.int64(3)],
    }
    out = paper_space.decode(space, raw)
    assert out == {"optimizer": "sgd", "epoch": 37, "lr": 0.5, "batch_size": 256}
    assert type(out["epoch"]) is int and type(out["lr"]) is float
    assert type(out["batch_size"]) is int and type(out["optimizer"]) is str


def test_hyperopt_samples_stay_in_range(paper_space):
    from hyperopt.pyll.stochastic import sample

    space = paper_space.hyperopt_space()
    rng = np.random.default_rng(0)
    for _ in range(200):
        point = sample(space, rng=rng)
        for name, value in point.items():
            assert paper_space.params[name].contains(paper_space.params[name].cast(value)), name


def test_subspace_only_holds_named_parameters(paper_space):
    assert set(paper_space.hyperopt_space(["lr", "kernel"])) == {"lr", "kernel"}
    with pytest.raises(KeyError, match="momentum"):
        paper_space.hyperopt_space(["momentum"])


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"type": "int", "low": 10, "high": 100, "default": 5}, "outside the space"),
        ({"type": "choice", "values": ["adam"], "default": "sgd"}, "outside the space"),
        ({"type": "loguniform", "low": 0, "high": 1, "default": 0.1}, "low > 0"),
        ({"type": "uniform", "low": 1, "high": 0, "default": 0.5}, "below high"),
    ],
)
def test_bad_entries_are_refused_with_the_key(entry, message):
    with pytest.raises(ValueError, match=message) as err:
        SearchSpace.from_config({"x": entry})
    assert "search_space.x" in str(err.value)


def test_corners_cover_every_choice_and_both_bounds(paper_space):
    corners = paper_space.corners()
    assert len(corners) == 3 * 2**8 * 4
    assert {c["batch_size"] for c in corners} == {32, 64, 128, 256}
    assert {c["lr"] for c in corners} == {1e-5, 1.0}


def test_direct_decoding_equals_hyperopts_space_eval(paper_space):
    from hyperopt.pyll.stochastic import sample

    space = paper_space.hyperopt_space()
    rng = np.random.default_rng(3)
    for _ in range(100):
        point = sample(space, rng=rng)  # values; turn choices back into hyperopt's indices
        raw = {
            k: [paper_space.params[k].values.index(v)]
            if paper_space.params[k].kind == "choice"
            else [np.float64(v)]
            for k, v in point.items()
        }
        assert paper_space.decode(space, raw) == paper_space.decode_with_space_eval(space, raw)
