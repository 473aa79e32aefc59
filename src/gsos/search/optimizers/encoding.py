"""The unit-box encoding of a search space, for optimisers that work on [0, 1]^d.

CMA-ES, particle swarms, Hyperband's random sampling and BOHB's kernel densities all see a
configuration as a point of the unit box, one coordinate per searched hyperparameter:

- a choice of k values takes the k equal bins of [0, 1] (value i is bin i);
- an integer range low..high takes high - low + 1 equal bins;
- a uniform range is linear, a log-uniform range linear in the logarithm.

So a uniform point of the box is a uniform (log-uniform) random configuration, and every
point of the box decodes to a valid one. :meth:`Box.vector` gives BOHB its mixed vector:
categorical coordinates as their index, the others as the box coordinate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from gsos.search.optimizers.base import Evaluation, View
from gsos.search.space import Value


class Box:
    def __init__(self, view: View):
        self.view = view
        self.params = [view.space.params[n] for n in view.names]

    @property
    def dim(self) -> int:
        return len(self.params)

    @property
    def categorical(self) -> np.ndarray:
        return np.array([p.kind == "choice" for p in self.params], dtype=bool)

    @property
    def levels(self) -> np.ndarray:
        """Number of values of each categorical coordinate (0 for the others)."""
        return np.array([len(p.values) if p.kind == "choice" else 0 for p in self.params])

    @property
    def bins(self) -> np.ndarray:
        """Number of equal bins of each coordinate: a choice's values, an integer range's
        whole numbers; 0 for a continuous one."""
        return np.array([
            len(p.values) if p.kind == "choice"
            else int(p.high) - int(p.low) + 1 if p.kind == "int" and p.high is not None
            and p.low is not None else 0
            for p in self.params
        ])  # fmt: skip

    def decode(self, u: Sequence[float]) -> dict[str, Value]:
        """Searched values for a box point (clipped into the box)."""
        out: dict[str, Value] = {}
        for p, x in zip(self.params, u, strict=True):
            x = min(max(float(x), 0.0), 1.0)
            assert p.kind == "choice" or (p.low is not None and p.high is not None)
            if p.kind == "choice":
                out[p.name] = p.values[min(int(x * len(p.values)), len(p.values) - 1)]
            elif p.kind == "int":
                span = int(p.high) - int(p.low) + 1
                out[p.name] = int(p.low) + min(int(x * span), span - 1)
            elif p.kind == "loguniform":  # exp(log(low)) can fall a hair below low
                lo, hi = math.log(p.low), math.log(p.high)
                out[p.name] = min(max(math.exp(lo + x * (hi - lo)), p.low), p.high)
            else:
                out[p.name] = min(max(p.low + x * (p.high - p.low), p.low), p.high)
        return out

    def evaluation(self, u: Sequence[float], handle: int) -> Evaluation:
        """A whole training of a box point (clipped into the box), the point kept as raw."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        params = self.view.full(self.decode(u))
        raw = {n: float(x) for n, x in zip(self.view.names, u, strict=True)}
        return Evaluation(params=params, budget=int(params["epoch"]), raw=raw, handle=handle)

    def encode(self, values: Mapping[str, Value]) -> np.ndarray:
        """The box point of a configuration (bin centres for discrete values)."""
        u = []
        for p in self.params:
            v = values[p.name]
            assert p.kind == "choice" or (p.low is not None and p.high is not None)
            if p.kind == "choice":
                u.append((list(p.values).index(p.cast(v)) + 0.5) / len(p.values))
            elif p.kind == "int":
                u.append((int(v) - int(p.low) + 0.5) / (int(p.high) - int(p.low) + 1))
            elif p.kind == "loguniform":
                lo, hi = math.log(p.low), math.log(p.high)
                u.append((math.log(float(v)) - lo) / (hi - lo))
            else:
                u.append((float(v) - p.low) / (p.high - p.low))
        return np.asarray(u, dtype=float)

    def vector(self, u: Sequence[float]) -> np.ndarray:
        """BOHB's mixed vector: the value index for categorical coordinates, else ``u``."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        levels = self.levels
        return np.where(self.categorical, np.minimum((u * levels).astype(int), levels - 1), u)

    def from_vector(self, v: Sequence[float]) -> np.ndarray:
        """The box point of a mixed vector (categorical index -> its bin centre)."""
        v = np.asarray(v, dtype=float)
        levels = np.maximum(self.levels, 1)
        return np.where(self.categorical, (v + 0.5) / levels, v)
