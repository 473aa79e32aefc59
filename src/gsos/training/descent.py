"""SGD and Adam as ``torch.optim`` computes them, in a few foreach kernels, without torch.optim.

Why not torch.optim: its first ``step`` imports ``torch._dynamo``, which costs about 4-5 s of
every HPO job's start-up here (more than a whole small run trains), and its per-parameter
Python loop is a visible share of a small model's step. These classes apply the same
arithmetic in the same order as torch.optim's default CPU implementation (single-tensor
SGD with optional momentum and weight decay; Adam with optional L2 weight decay, without
amsgrad), with ``torch._foreach_*``
kernels that update every parameter at once; a test checks that they give bit-identical
parameters to ``torch.optim.SGD`` and ``torch.optim.Adam`` over many steps on CPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class _Descent:
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0):
        self.params = [p for p in params if p.requires_grad]
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _grads(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The parameters that have a gradient, and their gradients with the L2 term
        ``weight_decay * p`` added (torch.optim's ``weight_decay``: the gradient of
        (weight_decay / 2) ||p||^2 in the training objective)."""
        with_grad = [p for p in self.params if p.grad is not None]
        grads = [p.grad for p in with_grad]
        if self.weight_decay != 0:
            grads = torch._foreach_add(grads, with_grad, alpha=self.weight_decay)
        return with_grad, grads  # type: ignore[return-value]


class SGD(_Descent):
    """p -= lr * g, or with momentum m: b = m * b + g (b = g at the first step), p -= lr * b."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr, weight_decay)
        self.momentum = float(momentum)
        self.buffers: list[torch.Tensor] | None = None

    @torch.no_grad()
    def step(self) -> None:
        params, grads = self._grads()
        if self.momentum != 0:
            if self.buffers is None:
                self.buffers = [g.clone().detach() for g in grads]
            else:
                torch._foreach_mul_(self.buffers, self.momentum)
                torch._foreach_add_(self.buffers, grads)
            grads = self.buffers
        torch._foreach_add_(params, grads, alpha=-self.lr)

    def state_dict(self) -> dict[str, Any]:
        return {"buffers": self.buffers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        buffers = state["buffers"]  # onto the parameters' device (a state is read on the CPU)
        self.buffers = (
            None
            if buffers is None
            else [b.to(p.device) for b, p in zip(buffers, self.params, strict=True)]
        )


class Adam(_Descent):
    """Kingma and Ba's Adam with torch's defaults (betas 0.9, 0.999; eps 1e-8)."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.steps = 0
        self.exp_avg = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]
        self.exp_avg_sq = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params
        ]

    @torch.no_grad()
    def step(self) -> None:
        params, grads = self._grads()
        if len(params) != len(self.params):
            raise RuntimeError("Adam here expects a gradient for every parameter")
        self.steps += 1
        torch._foreach_lerp_(self.exp_avg, grads, 1 - self.beta1)
        torch._foreach_mul_(self.exp_avg_sq, self.beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - self.beta2)
        step = float(self.steps)
        bias_correction1 = 1 - self.beta1**step
        bias_correction2 = 1 - self.beta2**step
        step_size = self.lr / bias_correction1
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, bias_correction2**0.5)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, self.exp_avg, denom, -step_size)

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        for mine, saved in (
            (self.exp_avg, state["exp_avg"]),
            (self.exp_avg_sq, state["exp_avg_sq"]),
        ):
            for t, s in zip(mine, saved, strict=True):
                t.copy_(s)
