"""A CPU that refuses what a GPU refuses: CUDA's random-number rules, enforced on the CPU.

No GPU is lent to this project, and on a CPU a generator and a draw are always on the same
device, so code that hands a CPU generator to a draw on the GPU passes every CPU test and
then fails on the first GPU (PyTorch: "Expected a 'cuda' device type for generator but found
'cpu'"); a generator's state saved on one device does not restore on the other (a CUDA
generator's state is 16 bytes, a CPU one's 5056). ``meta`` stands in for a GPU's memory,
not for these rules. Inside :func:`cuda_rng_rules` the CPU plays the GPU in this respect:

- the training device is the GPU. A generator made for a device (``torch.Generator(
  device=...)``) is a GPU generator; a draw that names its device (``torch.randperm(n,
  device=...)``, ``torch.rand(..., device=...)``, ``randn``, ``randint``) draws on the GPU.
  A generator made without a device, and a draw without ``device=``, are on the host (the
  trainer's data order: drawn on the host, then moved).
- A draw refuses a generator of the other kind, with CUDA's message.
- A GPU generator's state does not fit a host generator, nor a host state a GPU generator.

It cannot see draws through tensor methods (``uniform_``, ``bernoulli_``) or ``*_like``
factories, and a host draw that names ``device="cpu"`` counts as one on the GPU (a false
alarm, never a miss). The values drawn are the CPU's own, so results are those of a CPU run.
``gsos gpu-check`` runs its CPU half under these rules, and so do the tests of every path
that draws random numbers on the training device (bilevel, bilevel_vf, continuations).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

DRAWS = frozenset({"randperm", "rand", "randn", "randint"})
_MARK = 0xC0  # appended to a stand-in GPU generator's state: it no longer fits a host one


class GPUGenerator(torch.Generator):
    """A CPU generator standing in for one on the GPU: it draws what a CPU generator draws,
    but its state is not a host generator's (one byte longer), as a CUDA state is not."""

    def get_state(self) -> torch.Tensor:
        return torch.cat([super().get_state(), torch.tensor([_MARK], dtype=torch.uint8)])

    def set_state(self, new_state: torch.Tensor) -> GPUGenerator:
        host = torch.Generator().get_state().numel()
        if new_state.numel() != host + 1 or int(new_state[-1]) != _MARK:
            raise RuntimeError(
                f"RNG state is wrong size: a GPU generator's state, given one of "
                f"{new_state.numel()} bytes (a host generator's state)"
            )
        super().set_state(new_state[:-1].clone())
        return self


def _generator_factory(real: type) -> type:
    class Generator(real):  # type: ignore[misc, valid-type]
        """``torch.Generator`` inside the rules: with a device, a :class:`GPUGenerator`."""

        def __new__(cls, device: Any = None) -> Any:
            return real() if device is None else GPUGenerator()

    return Generator


class _Rules:
    """The draws of :data:`DRAWS`, each replaced by one that checks its generator first
    (module attributes, not a TorchFunctionMode: a mode would put every torch call of a
    training through Python, several times slower)."""

    def __init__(self) -> None:
        self.refused = 0
        self.real = {name: getattr(torch, name) for name in DRAWS}

    def checked(self, name: str) -> Any:
        real = self.real[name]

        def draw(*args: Any, **kwargs: Any) -> Any:
            gen = kwargs.get("generator")
            if gen is not None:
                draw_on_gpu = kwargs.get("device") is not None
                gen_on_gpu = isinstance(gen, GPUGenerator)
                if draw_on_gpu != gen_on_gpu:
                    self.refused += 1
                    want, found = ("cuda", "cpu") if draw_on_gpu else ("cpu", "cuda")
                    raise RuntimeError(
                        f"Expected a '{want}' device type for generator but found '{found}' "
                        f"(torch.{name}; CUDA's rule, enforced by gsos's CPU stand-in)"
                    )
            return real(*args, **kwargs)

        return draw


@contextlib.contextmanager
def cuda_rng_rules() -> Iterator[_Rules]:
    """CUDA's random-number rules on the CPU for the duration (see the module's docstring).
    Yields the rules, whose ``refused`` counts the draws they refused. Code that took a
    draw function before (``from torch import randperm``) is not checked."""
    real = torch.Generator
    rules = _Rules()
    torch.Generator = _generator_factory(real)  # type: ignore[misc]
    for name in DRAWS:
        setattr(torch, name, rules.checked(name))
    try:
        yield rules
    finally:
        torch.Generator = real  # type: ignore[misc]
        for name, draw in rules.real.items():
            setattr(torch, name, draw)
