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


@pytest.mark.parametrize("size", range(1, 10))
@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_a_trimmed_convolution_computes_the_full_ones_values_and_gradients(size, kernel, stride):
    """Every padding a CNN can use (same, valid and the degraded valid): the convolution with
    only its used taps gives the full kernel's outputs, its input gradient, and the kept taps'
    weight gradients; every dropped tap's gradient is zero in the full one (it only met
    padding); it keeps fewer taps exactly where some never reach the input."""
    from gsos.training.model import conv_padding, trimmed, used_taps

    for padding in ("same", "valid"):
        pad = conv_padding(size, kernel, padding)
        if size + 2 * pad < kernel:
            continue
        torch.manual_seed(size * 100 + kernel * 10 + stride)
        full = torch.nn.Conv2d(2, 3, kernel, stride=stride, padding=pad).double()
        cut, taps = trimmed(torch.nn.Conv2d(2, 3, kernel, stride=stride, padding=pad), size, size)
        first, count, _ = used_taps(size, kernel, stride, pad)
        assert taps == count * count
        with torch.no_grad():
            cut.weight.copy_(full.weight[:, :, first : first + count, first : first + count])
            cut.bias.copy_(full.bias)
        cut = cut.double()
        x = torch.randn(4, 2, size, size, dtype=torch.float64, requires_grad=True)
        y_full, y_cut = full(x), cut(x)
        assert y_full.shape == y_cut.shape
        torch.testing.assert_close(y_cut, y_full, rtol=1e-12, atol=1e-12)
        g = torch.randn_like(y_full)
        gx_full, gw_full = torch.autograd.grad(y_full, (x, full.weight), g)
        gx_cut, gw_cut = torch.autograd.grad(y_cut, (x, cut.weight), g)
        torch.testing.assert_close(gx_cut, gx_full, rtol=1e-12, atol=1e-12)
        kept = gw_full[:, :, first : first + count, first : first + count]
        torch.testing.assert_close(gw_cut, kept, rtol=1e-12, atol=1e-12)
        dropped = gw_full.clone()
        dropped[:, :, first : first + count, first : first + count] = 0
        assert torch.count_nonzero(dropped) == 0
        reaching = {j for j in range(kernel) for i in range(y_full.shape[-1])
                    if 0 <= i * stride + j - pad < size}  # fmt: skip
        assert set(range(first, first + count)) >= reaching
        if reaching == set(range(kernel)):
            assert count == kernel
        if count < kernel:  # no more than the taps that reach
            assert (first, first + count - 1) == (min(reaching), max(reaching))


def test_the_cnn_draws_and_computes_what_the_full_kernels_would(paper_space):
    """A 4-layer CNN of 5x5 'same' kernels on 8x8 images (its last layers see 2x2 and 1x1
    maps, where most taps meet only padding): the same random draws as the network of full
    kernels, whose features and input gradients it gives, with far fewer parameters and
    FLOPs."""
    params = {**paper_space.defaults(), "num_conv_layers": 4, "kernel": 5, "stride": 1,
              "padding": "same", "dropout_rate": 0.0, "num_fc_units": 16}  # fmt: skip
    torch.manual_seed(7)
    model = CNN(params, (1, 8, 8), 10, Architecture(base_filters=4)).double()
    ours_after = torch.get_rng_state()
    torch.manual_seed(7)
    layers, channels, size, flops = [], 1, 8, 0
    for out in (4, 8, 16, 32):  # the paper's blocks with whole kernels: 8 -> 4 -> 2 -> 1 -> 1
        layers += [torch.nn.Conv2d(channels, out, 5, padding=2), torch.nn.ReLU()]
        flops += 2 * channels * out * 25 * size * size
        channels = out
        if size >= 2:
            layers.append(torch.nn.MaxPool2d(2))
            size //= 2
    head = [torch.nn.Linear(channels, 16), torch.nn.Linear(16, 10)]
    assert torch.equal(torch.get_rng_state(), ours_after)  # the same draws, in order
    reference = torch.nn.Sequential(*layers).double()
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5), (5, 5), (3, 3), (1, 1)]
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    ours, theirs = model.features(x), reference(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(ours)
    torch.testing.assert_close(
        torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(theirs, x, g)[0],
        rtol=1e-12, atol=1e-12,
    )  # fmt: skip
    for a, b in zip([model.head[2], model.head[5]], head, strict=True):
        assert torch.equal(a.weight.float(), b.weight)  # the head drawn as before, too
    n_ours = sum(p.numel() for p in model.features.parameters())
    assert n_ours < sum(p.numel() for p in reference.parameters()) / 2
    # the taps left out: 16 of 25 on the third layer's 2x2 map, 24 on the fourth's 1x1
    saved = 2 * (8 * 16 * 16 * 2 * 2 + 16 * 32 * 24 * 1 * 1)
    assert model.train_flops_per_sample == 3 * (flops - saved + 2 * (32 * 16 + 16 * 10))
