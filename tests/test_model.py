import itertools
import math

import pytest
import torch

from gsos.training.model import CNN, Architecture

ARCH_KEYS = ("num_conv_layers", "stride", "padding", "kernel", "num_fc_units", "dropout_rate")


def arch_corners(space):
    """Every corner of Table 1 that changes the network's shape (other keys do not)."""
    seen = {}
    for c in space.corners():
        seen.setdefault(tuple(c[k] for k in ARCH_KEYS), c)
    return list(seen.values())


@pytest.mark.parametrize("size, channels", [(4, 1), (4, 3), (8, 1), (28, 1)])
def test_every_corner_of_table1_runs_forward_and_backward(paper_space, size, channels):
    corners = arch_corners(paper_space)
    assert len(corners) == 3 * 2 * 2 * 2 * 2 * 2
    x = torch.rand(2, channels, size, size)
    for params in corners:
        model = CNN(params, (channels, size, size), n_classes=5, arch=Architecture(base_filters=4))
        out = model(x)
        assert out.shape == (2, 5), params
        assert torch.isfinite(out).all(), params
        out.sum().backward()


def test_small_inputs_are_adjusted_and_reported(paper_space):
    params = {
        **paper_space.defaults(),
        "num_conv_layers": 4,
        "stride": 2,
        "kernel": 5,
        "padding": "valid",
    }
    model = CNN(params, (1, 4, 4), 3)
    assert model.feature_shape[1:] == (1, 1)
    assert any("padded" in a for a in model.adjustments)
    assert any("skipped" in a for a in model.adjustments)


def test_large_input_needs_no_adjustment(paper_space):
    model = CNN(paper_space.defaults(), (3, 64, 64), 3)
    assert model.adjustments == []
    # 3 blocks of 'same' conv (stride 1) and 2x2 pooling: 64 -> 32 -> 16 -> 8
    assert model.feature_shape == (128, 8, 8)


def test_architecture_follows_section_5_2(paper_space):
    params = {
        **paper_space.defaults(),
        "num_conv_layers": 2,
        "dropout_rate": 0.3,
        "num_fc_units": 77,
    }
    model = CNN(params, (1, 16, 16), 10, Architecture(base_filters=8))
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Conv2d", "MaxPool2d", "ReLU"] * 2  # see the test below for the order
    head = [type(m).__name__ for m in model.head]
    assert head == ["Flatten", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert {m.p for m in model.head if isinstance(m, torch.nn.Dropout)} == {0.3}
    assert model.head[2].out_features == 77 and model.head[5].out_features == 10
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs)


@pytest.mark.parametrize("pool_size", [2, 3])
def test_pooling_before_relu_gives_the_papers_values_and_gradients(paper_space, pool_size):
    """conv -> max-pool -> ReLU computes exactly what the paper's conv -> ReLU -> max-pool
    does, forward and backward (they commute), bit for bit."""
    params = {**paper_space.defaults(), "num_conv_layers": 3, "padding": "valid"}
    model = CNN(params, (3, 17, 17), 4, Architecture(base_filters=6, pool_size=pool_size))
    paper_order, block = [], []
    for m in [*model.features, None]:  # the same conv and pool modules, in the paper's order
        if m is None or isinstance(m, torch.nn.Conv2d):
            if block:
                pools = [b for b in block if isinstance(b, torch.nn.MaxPool2d)]
                paper_order += [block[0], torch.nn.ReLU(), *pools]
            block = [m]
        elif not isinstance(m, torch.nn.ReLU):
            block.append(m)
    paper_order = torch.nn.Sequential(*paper_order)
    kinds = [type(m).__name__ for m in paper_order]
    assert kinds[:3] == ["Conv2d", "ReLU", "MaxPool2d"]
    x = torch.randn(5, 3, 17, 17)
    ours = model.features(x)
    theirs = paper_order(x)
    assert torch.equal(ours, theirs)
    g = torch.randn_like(ours)
    ours_grad = torch.autograd.grad(ours, list(model.features.parameters()), g)
    theirs_grad = torch.autograd.grad(theirs, list(model.features.parameters()), g)
    for a, b in zip(ours_grad, theirs_grad, strict=True):
        assert torch.equal(a, b)


def test_same_padding_with_stride_two_halves_rounding_up():
    for size, kernel in itertools.product([5, 7, 8], [3, 5]):
        params = {
            "num_conv_layers": 2,
            "stride": 2,
            "padding": "same",
            "kernel": kernel,
            "num_fc_units": 64,
            "dropout_rate": 0.0,
        }
        model = CNN(params, (1, size, size), 2, Architecture(base_filters=2, pool_size=1))
        expected = math.ceil(math.ceil(size / 2) / 2)  # "same": ceil(size / stride) per layer
        assert model.feature_shape[1] == expected
