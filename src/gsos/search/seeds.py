"""Independent seeds for the parts of a run, derived from the run's seed."""

from __future__ import annotations

import numpy as np


def derive_seed(*parts: int) -> int:
    """An independent 31-bit seed for a (run seed, purpose, index) tuple.

    Purposes in use: 1 the optimiser of group k (k = 0 for ungrouped strategies), 2 the
    training of iteration i, 3 pilot runs (measured importance).
    """
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] & 0x7FFFFFFF)
