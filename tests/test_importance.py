import math

import numpy as np
import pytest
from hyperopt.pyll.stochastic import sample

from gsos.importance import encode, fanova, n_rrelieff, normalise, rrelieff


def synthetic_records(space, n=120, seed=0):
    """Accuracy driven by lr (and a little by num_conv_layers): both estimators must see it."""
    rng = np.random.default_rng(seed)
    hspace = space.hyperopt_space()
    records = []
    for _ in range(n):
        p = {k: space.params[k].cast(v) for k, v in sample(hspace, rng=rng).items()}
        acc = 0.9 - 0.15 * abs(math.log10(p["lr"]) + 3) + 0.05 * (p["num_conv_layers"] == 4)
        records.append({"status": "ok", "val_accuracy": acc + 0.01 * rng.random(), "params": p})
    records.append({"status": "fail", "val_accuracy": None, "params": records[0]["params"]})
    return records


def test_both_estimators_find_the_hyperparameter_that_matters(paper_space):
    records = synthetic_records(paper_space)
    for weights in (n_rrelieff(records, paper_space), fanova(records, paper_space)):
        assert set(weights) == set(paper_space.names)
        assert max(weights, key=weights.get) == "lr"
        assert weights["lr"] > 0.5 and sum(weights.values()) == pytest.approx(1.0)


def test_rrelieff_ranks_relevant_above_irrelevant_numeric_features():
    rng = np.random.default_rng(1)
    X = rng.random((150, 3))
    y = 2 * X[:, 0] + X[:, 1] + 0.01 * rng.random(150)
    w = rrelieff(X, y, np.zeros(3, dtype=bool))
    assert w[0] > w[1] > 0 > w[2]
    assert normalise(w)[2] == 0 and normalise(w).sum() == pytest.approx(1.0)


def test_encoding_skips_failed_trials_and_scales_to_unit_range(paper_space):
    records = synthetic_records(paper_space, n=20)
    X, y, categorical = encode(records, paper_space)
    assert X.shape == (20, 10) and len(y) == 20
    assert X.min() >= 0 and X.max() <= max(
        len(p.values) for p in paper_space.params.values() if p.kind == "choice"
    )
    numeric = X[:, ~categorical]
    assert numeric.min() >= 0 and numeric.max() <= 1
