"""The CNN of paper §5.2, built for one configuration of Table 1.

``num_conv_layers`` blocks of conv -> ReLU -> max-pool (same kernel, stride and padding in
every conv), then dropout -> FC(num_fc_units) -> ReLU -> dropout -> FC(classes). Softmax is
folded into the cross-entropy loss. Each block computes max-pool before ReLU, which gives
exactly the same values and gradients (the two commute) with a quarter of ReLU's memory
traffic; a test checks the equality against the paper's order.

Degradation rule (the paper is silent; SPEC §3): a configuration never crashes on a small
input. Spatial sizes are tracked while building, and
- a 'valid' conv whose input is smaller than its kernel gets just enough zero padding to
  produce a 1-pixel output along that axis;
- a max-pool is skipped along an axis whose size is below the pool size.
Every such adjustment is listed in ``CNN.adjustments`` so records can say it happened.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Architecture:
    """Choices the paper does not make (filters, pool size); see config/README.md."""

    base_filters: int = 32
    filter_growth: float = 2.0
    max_filters: int = 256
    pool_size: int = 2


def conv_padding(size: int, kernel: int, padding: str) -> int:
    """Symmetric padding for one axis; 'same' gives ceil(size/stride) outputs (odd kernels)."""
    if padding == "same":
        return kernel // 2
    if padding == "valid":
        return max(0, math.ceil((kernel - size) / 2))
    raise ValueError(f"padding must be 'same' or 'valid', not {padding!r}")


def conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


class CNN(nn.Module):
    def __init__(
        self,
        params: Mapping[str, Any],
        in_shape: tuple[int, int, int],
        n_classes: int,
        arch: Architecture = Architecture(),
    ):
        super().__init__()
        channels, h, w = in_shape
        k, s = int(params["kernel"]), int(params["stride"])
        self.adjustments: list[str] = []
        layers: list[nn.Module] = []
        flops = 0  # multiply-adds × 2 of one forward pass: convolutions and linear layers
        for i in range(int(params["num_conv_layers"])):
            out_ch = min(arch.max_filters, round(arch.base_filters * arch.filter_growth**i))
            ph, pw = conv_padding(h, k, params["padding"]), conv_padding(w, k, params["padding"])
            if params["padding"] == "valid" and (ph or pw):
                self.adjustments.append(f"conv{i + 1}: input {h}x{w} < kernel {k}, padded")
            layers.append(nn.Conv2d(channels, out_ch, k, stride=s, padding=(ph, pw)))
            h, w, channels, cin = conv_out(h, k, s, ph), conv_out(w, k, s, pw), out_ch, channels
            flops += 2 * cin * out_ch * k * k * h * w
            kh = arch.pool_size if h >= arch.pool_size else 1
            kw = arch.pool_size if w >= arch.pool_size else 1
            if (kh, kw) != (1, 1):
                layers.append(nn.MaxPool2d((kh, kw)))
                h, w = h // kh, w // kw
            # ReLU after the pool: max-pooling and ReLU commute exactly (ReLU is monotone), in
            # values and gradients, and on the pooled map ReLU reads a quarter of the memory
            layers.append(nn.ReLU(inplace=True))
            if (kh, kw) != (arch.pool_size, arch.pool_size):
                self.adjustments.append(f"pool{i + 1}: map {h}x{w} below pool size, skipped")
        self.features = nn.Sequential(*layers)
        self.feature_shape = (channels, h, w)
        fc = int(params["num_fc_units"])
        p = float(params["dropout_rate"])
        flops += 2 * (channels * h * w * fc + fc * n_classes)
        # training: the forward pass, and the backward pass at about twice its cost
        self.train_flops_per_sample = 3 * flops
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(p),
            nn.Linear(channels * h * w, fc),
            nn.ReLU(),
            nn.Dropout(p),
            nn.Linear(fc, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
