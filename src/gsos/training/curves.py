"""Learning-curve extrapolation (Domhan, Springenberg and Hutter, IJCAI 2015), a light version.

Domhan et al. fit a weighted combination of eleven parametric curve families to a running
trial's validation curve by MCMC and stop the trial when the probability that it ends above
the best accuracy so far is small. Here four of their families are each fitted by least
squares (``scipy.optimize.curve_fit``) and weighted by their BIC (a better fit with fewer
parameters weighs more); the prediction at the trial's last epoch is the weighted mean of the
families' predictions, its uncertainty the weighted spread and residual noise together (at
least MIN_SD), grown with the square root of how far it extrapolates; the probability of
beating the best is then a normal tail. No MCMC: with curves of a few to a hundred points,
the families' disagreement is the dominant uncertainty, and a trial costs a fraction of a
second to judge. (lcpfn, a learned prior-fitted network, needs torch <= 1.11; ifbo downloads
weights at run time.)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Family:
    name: str
    fn: Callable[..., np.ndarray]
    p0: tuple[float, ...]
    bounds: tuple[tuple[float, ...], tuple[float, ...]]


# accuracy against epoch x >= 1; every family rises towards an asymptote c (or, log2, slows)
FAMILIES = [
    Family("inverse", lambda x, c, a: c - a / x, (0.9, 0.5), ((0, -1), (1, 2))),
    Family("log2", lambda x, c, a: c + a * np.log(x), (0.5, 0.1), ((0, -1), (1, 1))),
    Family(
        "pow3", lambda x, c, a, k: c - a * x ** (-k), (0.9, 0.5, 1.0), ((0, -1, 0.01), (1, 2, 5))
    ),
    Family(
        "exp3",
        lambda x, c, a, b: c - a * np.exp(-b * x),
        (0.9, 0.5, 0.5),
        ((0, -2, 1e-3), (1, 5, 5)),
    ),
]


NOISE_FLOOR = 0.002  # accuracy noise no fit can go below (a perfect fit is luck)
MIN_SD = 0.01  # the least uncertainty of a prediction one epoch ahead


@dataclass(frozen=True)
class Prediction:
    mean: float
    sd: float
    families: dict[str, float]

    def probability_above(self, value: float) -> float:
        """P(final accuracy > value) under a normal with this mean and sd."""
        z = (value - self.mean) / self.sd
        return 0.5 * math.erfc(z / math.sqrt(2))


def extrapolate(epochs: Sequence[float], accuracy: Sequence[float], target: float) -> Prediction:
    """The accuracy a curve is headed for at epoch ``target``."""
    from scipy.optimize import curve_fit

    x, y = np.asarray(epochs, dtype=float), np.asarray(accuracy, dtype=float)
    n = len(x)
    preds, scores, rms = {}, {}, {}
    for f in FAMILIES:
        k = len(f.p0)
        if k > n:  # more parameters than points: not identifiable
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theta, _ = curve_fit(f.fn, x, y, p0=f.p0, bounds=f.bounds, maxfev=2000)
        except (RuntimeError, ValueError):
            continue
        preds[f.name] = float(np.clip(f.fn(np.array([target]), *theta)[0], 0.0, 1.0))
        mse = max(float(np.mean((f.fn(x, *theta) - y) ** 2)), NOISE_FLOOR**2)
        rms[f.name] = math.sqrt(mse)
        scores[f.name] = -0.5 * (n * math.log(mse) + k * math.log(max(n, 2)))  # -BIC / 2
    if not preds:  # nothing fitted: the last value, very uncertain
        return Prediction(float(y[-1]), 0.5, {})
    top = max(scores.values())
    w = {name: math.exp(s - top) for name, s in scores.items()}
    total = sum(w.values())
    mean = sum(w[f] * preds[f] for f in preds) / total
    spread = sum(w[f] * (preds[f] - mean) ** 2 for f in preds) / total
    noise = sum(w[f] * rms[f] for f in preds) / total
    reach = max(target / max(x[-1], 1.0), 1.0)  # extrapolating farther is less certain
    sd = max(math.sqrt(spread + noise**2), MIN_SD) * math.sqrt(reach)
    return Prediction(float(mean), sd, preds)
