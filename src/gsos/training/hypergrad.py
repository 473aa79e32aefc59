"""Hypergradients: how the validation loss moves with the learning rate and the dropout rate.

What the ``bilevel`` strategy descends. From a trained model's weights, a few training steps
are unrolled with the computation graph kept (plain SGD steps at the configuration's learning
rate, on minibatches drawn with the trial's seed) and the validation loss of the result is
differentiated with respect to log(learning rate) and logit(dropout rate). Dropout gets a
gradient through its relaxed ("concrete", Gal et al. 2017) form: a soft mask drawn from a
relaxed Bernoulli, which equals ordinary dropout as the temperature goes to 0. The
validation loss is computed without dropout (evaluation mode), so the dropout rate acts
only through the training steps, as in the bilevel problem. Short horizons bias the
hypergradient towards greedy choices (Wu et al. 2018); it is a local signal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from gsos.data.tensors import DeviceData


def concrete_dropout(x: torch.Tensor, p: torch.Tensor, temperature: float, gen) -> torch.Tensor:
    """Dropout with a relaxed Bernoulli mask: differentiable in the rate ``p``."""
    u = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype).clamp(1e-6, 1 - 1e-6)
    logit = torch.log(p) - torch.log1p(-p) + torch.log(u) - torch.log1p(-u)
    drop = torch.sigmoid(logit / temperature)
    return x * (1 - drop) / (1 - p)


def forward(model: nn.Module, weights: Mapping[str, torch.Tensor], x, p, temperature, gen):
    """The CNN with ``weights``; its dropout layers relaxed (``p`` None: no dropout)."""
    features = {k[len("features.") :]: v for k, v in weights.items() if k.startswith("features.")}
    h = functional_call(model.features, features, (x,))
    for i, layer in enumerate(model.head):
        if isinstance(layer, nn.Dropout):
            if p is not None:
                h = concrete_dropout(h, p, temperature, gen)
        elif isinstance(layer, nn.Linear):
            h = nn.functional.linear(h, weights[f"head.{i}.weight"], weights[f"head.{i}.bias"])
        else:
            h = layer(h)
    return h


def hypergradient(
    model: nn.Module,
    params: Mapping[str, Any],
    data: DeviceData,
    seed: int,
    steps: int = 5,
    temperature: float = 0.1,
    val_images: int = 512,
    dtype: torch.dtype = torch.float32,
) -> dict[str, Any]:
    """d(validation loss)/d(log lr) and d/d(logit dropout) through ``steps`` unrolled steps
    (``dtype`` float64 lets a test check them against finite differences)."""
    device = data.x["train"].device
    gen = torch.Generator(device=device).manual_seed(seed + 1)
    lr0 = float(params["lr"])
    p0 = min(max(float(params["dropout_rate"]), 1e-3), 0.95)
    log_lr = torch.tensor(math.log(lr0), device=device, dtype=dtype, requires_grad=True)
    logit_p = torch.tensor(math.log(p0 / (1 - p0)), device=device, dtype=dtype, requires_grad=True)
    weights = {n: w.detach().to(dtype).requires_grad_() for n, w in model.named_parameters()}
    model = model.to(dtype).to(memory_format=torch.contiguous_format)
    model.train()
    x, y = data.x["train"], data.y["train"]
    bs = min(int(params["batch_size"]), len(x))
    p = torch.sigmoid(logit_p)
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=gen, device=device)[:bs]
        loss = nn.functional.cross_entropy(
            forward(model, weights, data.normalise(x[idx]).to(dtype), p, temperature, gen), y[idx]
        )
        grads = torch.autograd.grad(loss, list(weights.values()), create_graph=True)
        weights = {
            n: w - torch.exp(log_lr) * g for (n, w), g in zip(weights.items(), grads, strict=True)
        }
    xv, yv = data.x["val"][:val_images], data.y["val"][:val_images]
    model.eval()
    val_loss = nn.functional.cross_entropy(
        forward(model, weights, data.normalise(xv).to(dtype), None, temperature, gen), yv
    )
    d_lr, d_p = torch.autograd.grad(val_loss, [log_lr, logit_p])
    finite = bool(torch.isfinite(d_lr) and torch.isfinite(d_p))
    return {
        "hypergradient": {
            "log_lr": float(d_lr) if finite else None,
            "dropout_logit": float(d_p) if finite else None,
        },
        "hypergradient_val_loss": float(val_loss.detach()),
        "hypergradient_images": steps * bs,  # training images the unrolled steps used
    }
