"""Our SGD and Adam update parameters bit for bit as torch.optim's CPU implementations do."""

import pytest
import torch
from torch import nn

from gsos.training.descent import SGD, Adam


def model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(6 * 3 * 3, 32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )


def train(net, opt, steps=40):
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(2)
    for _ in range(steps):
        x = torch.randn(16, 1, 8, 8, generator=g)
        y = torch.randint(0, 10, (16,), generator=g)
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda p: SGD(p, lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
        (
            lambda p: SGD(p, lr=0.05, momentum=0.9),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        ),
        (lambda p: Adam(p, lr=0.003), lambda p: torch.optim.Adam(p, lr=0.003)),
        (lambda p: Adam(p, lr=0.5), lambda p: torch.optim.Adam(p, lr=0.5)),
        (
            lambda p: SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
        ),
        (
            lambda p: Adam(p, lr=0.003, weight_decay=1e-2),
            lambda p: torch.optim.Adam(p, lr=0.003, weight_decay=1e-2),
        ),
    ],
)
def test_same_parameters_as_torch_optim_bit_for_bit(ours, theirs):
    a, b = model(0), model(0)
    mine = train(a, ours(a.parameters()))
    reference = train(b, theirs(b.parameters()))
    for x, y in zip(mine, reference, strict=True):
        assert torch.equal(x, y)
