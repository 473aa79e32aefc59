"""Hypergradients: how the validation loss moves with the learning rate and the dropout rate.

What the ``bilevel`` strategy descends. From a trained model's weights, a few training steps
are unrolled with the computation graph kept (steps of the configuration's own optimiser,
continuing from its trained state: Adam's moments and step count, or SGD's momentum buffer;
on minibatches drawn with the trial's seed) and the validation loss of the result is
differentiated with respect to log(learning rate) and logit(dropout rate). Unrolling plain
SGD for an Adam configuration gave the wrong sign in a third of cases: Adam's step is
lr · m̂ / (√v̂ + ε), not lr · g. Dropout gets a
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


def unrolled_update(
    params: Mapping[str, Any],
    weights: list[torch.Tensor],
    state: Mapping[str, Any] | None,
    momentum: float,
    dtype: torch.dtype,
):
    """The configuration's optimiser as a differentiable map from gradients to the step
    direction d (the update is w - lr * d), continuing from its trained ``state``: Adam's
    m̂ / (√v̂ + ε) with its moments and step count (torch's defaults: betas 0.9, 0.999, ε 1e-8),
    or SGD's momentum buffer (d = g without momentum)."""
    if params["optimizer"] == "adam":
        b1, b2, eps = 0.9, 0.999, 1e-8
        if state is not None:
            m = [t.detach().to(dtype) for t in state["exp_avg"]]
            v = [t.detach().to(dtype) for t in state["exp_avg_sq"]]
            t0 = int(state["steps"])
        else:
            m = [torch.zeros_like(w) for w in weights]
            v = [torch.zeros_like(w) for w in weights]
            t0 = 0
        count = [t0]

        def adam(grads: list[torch.Tensor]) -> list[torch.Tensor]:
            count[0] += 1
            t = count[0]
            for i, g in enumerate(grads):
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
            # √ with a floor far below ε: its derivative stays finite where v is 0
            return [
                (mi / (1 - b1**t)) / (torch.sqrt(vi / (1 - b2**t) + 1e-30) + eps)
                for mi, vi in zip(m, v, strict=True)
            ]

        return adam
    buffers = None
    if momentum and state is not None and state.get("buffers") is not None:
        buffers = [t.detach().to(dtype) for t in state["buffers"]]

    def sgd(grads: list[torch.Tensor]) -> list[torch.Tensor]:
        nonlocal buffers
        if not momentum:
            return grads
        buffers = (
            list(grads)
            if buffers is None
            else [momentum * b + g for b, g in zip(buffers, grads, strict=True)]
        )
        return buffers

    return sgd


def hypergradient(
    model: nn.Module,
    params: Mapping[str, Any],
    data: DeviceData,
    seed: int,
    steps: int = 5,
    temperature: float = 0.1,
    val_images: int = 512,
    dtype: torch.dtype = torch.float32,
    optimizer_state: Mapping[str, Any] | None = None,
    momentum: float = 0.0,
) -> dict[str, Any]:
    """d(validation loss)/d(log lr) and d/d(logit dropout) through ``steps`` unrolled steps of
    the configuration's optimiser from ``optimizer_state`` (its state after training; none:
    a fresh one), ``momentum`` for SGD (``dtype`` float64 lets a test check them against
    finite differences)."""
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
    decay = float(params.get("weight_decay", 0.0))
    update = unrolled_update(params, list(weights.values()), optimizer_state, momentum, dtype)
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=gen, device=device)[:bs]
        loss = nn.functional.cross_entropy(
            forward(model, weights, data.normalise(x[idx]).to(dtype), p, temperature, gen), y[idx]
        )
        grads = torch.autograd.grad(loss, list(weights.values()), create_graph=True)
        if decay:  # L2 inside the training objective, as the trainer's optimiser adds it
            grads = [g + decay * w for g, w in zip(grads, weights.values(), strict=True)]
        steps_ = update(list(grads))
        weights = {
            n: w - torch.exp(log_lr) * d for (n, w), d in zip(weights.items(), steps_, strict=True)
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
