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

A kernel tap that only ever lands on zero padding (a 5x5 kernel on a 1x1 or 2x2 map, common
on small inputs deep in the network) multiplies zeros: its output share and its gradient are
exactly zero. Each convolution keeps only the taps that can touch its input
(:func:`used_taps`), initialised from the same draws as the full kernel, so the network
computes the same function and trains the same way (to rounding) with less work: on the
default's 8x8 digits, a 4-layer CNN of 5x5 'same' kernels sees a 1x1 map in its last layer,
where 24 of the 25 taps meet only padding, and the default run trained in 23 % less time
(bench/results/pipeline.csv: one pair of runs, old code then new).
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


def used_taps(size: int, kernel: int, stride: int, pad: int) -> tuple[int, int, int]:
    """Along one axis of a convolution, the taps that can touch the input (not only its zero
    padding): ``(first, count, padding)``, the first such tap, how many in a row, and the
    padding that gives the same outputs with only those. Output ``i`` reads input position
    ``i * stride + tap - pad``; tap ``j`` reaches the input for some output if ``pad - (n_out -
    1) * stride <= j < size + pad``. The whole kernel, unchanged, where the trimmed one would
    not give the same number of outputs (symmetric padding cannot always say so)."""
    n_out = conv_out(size, kernel, stride, pad)
    first = max(0, pad - (n_out - 1) * stride)
    count = min(kernel, size + pad) - first
    new_pad = pad - first
    if count < 1 or conv_out(size, count, stride, new_pad) != n_out:
        return 0, kernel, pad
    return first, count, new_pad


def trimmed(conv: nn.Conv2d, h: int, w: int) -> tuple[nn.Conv2d, int]:
    """``conv`` on an ``h`` x ``w`` input with only the taps that touch it (:func:`used_taps`),
    their weights as drawn for the full kernel (so random draws and initial values are those
    of the full layer); and the kernel taps it keeps, for counting FLOPs."""
    (sh, sw), (ph, pw) = conv.stride, conv.padding
    kh, kw = conv.kernel_size
    fh, nh, qh = used_taps(h, kh, sh, ph)
    fw, nw, qw = used_taps(w, kw, sw, pw)
    if (nh, nw) != (kh, kw):
        kept = conv.weight.detach()[:, :, fh : fh + nh, fw : fw + nw].clone()
        conv.weight = nn.Parameter(kept)
        conv.kernel_size, conv.padding = (nh, nw), (qh, qw)
    return conv, nh * nw


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
            conv, taps = trimmed(nn.Conv2d(channels, out_ch, k, stride=s, padding=(ph, pw)), h, w)
            layers.append(conv)
            h, w, channels, cin = conv_out(h, k, s, ph), conv_out(w, k, s, pw), out_ch, channels
            flops += 2 * cin * out_ch * taps * h * w  # the taps computed: not the padding's
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
