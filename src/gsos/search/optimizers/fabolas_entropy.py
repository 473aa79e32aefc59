"""FABOLAS's acquisition, batched: emukit's continuous-fidelity entropy search, scored for all
candidates at once.

emukit 0.5.1 scores a candidate x = (u, s) one at a time (``EntropySearch.evaluate`` loops over
the rows), and its representer points' MCMC asks for one expected improvement per walker and
step. Profiled on the default space, that is nearly all of a proposal: GPy called 20,000 times
for 2,000 candidates × 10 hyperparameter samples, and 76,000 single-point EI calls. The
arithmetic here is emukit's, term by term (Hennig & Schuler's innovations, EPMGP's p_min and
its derivatives, the same quantiles for the stochastic innovation, the same normalisation and
the same entropy), with the candidates as the columns of matrices and the walkers' densities
in one call per half-ensemble (emcee's ``vectorize``): the values equal the one-by-one values
to rounding (tests/test_gp_methods.py compares them on the same inputs).

One thing is not emukit's: the covariance between a candidate and the representer points.
``FabolasModel.get_covariance_between_points`` converts both inputs' share to its log scale
and then hands GPy the unconverted inputs, so the candidate's covariance with the
representers used the raw share s while its own variance used the log-scale share. Here both
use the log scale, the scale the model was fitted on (``consistent=False`` gives emukit's
version, for measuring what it changed; bench/fabolas.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def log_share(model: Any, x: np.ndarray) -> np.ndarray:
    """``x`` with its last column (the share s) on the model's log scale, as
    ``FabolasModel`` fits and predicts."""
    from emukit.examples.fabolas.fabolas_model import transform

    out = np.array(x, dtype=float, copy=True)
    out[:, -1] = transform(out[:, -1], model.s_min, model.s_max)
    return out


def covariance_between(model: Any, x1: np.ndarray, x2: np.ndarray, consistent: bool = True):
    """Posterior covariance (noiseless) between the rows of ``x1`` and of ``x2``, both given
    with the raw share. ``consistent=False`` is emukit 0.5.1's
    ``FabolasModel.get_covariance_between_points``: the share left raw."""
    if consistent:
        x1, x2 = log_share(model, x1), log_share(model, x2)
    return model.model.posterior_covariance_between_points(x1, x2, include_likelihood=False)


def expected_improvement(model: Any, x: np.ndarray) -> np.ndarray:
    """emukit's ``ExpectedImprovement`` (against the smallest observed loss, with the
    likelihood's noise), for all rows of ``x`` at once."""
    from scipy.stats import norm

    mean, variance = model.predict(x)
    sd = np.sqrt(variance)
    y_min = np.min(model.Y, axis=0)
    u = (y_min - mean) / sd
    return (sd * (u * norm.cdf(u) + norm.pdf(u)))[:, 0]


def representer_log_density(model: Any, dim: int):
    """emukit's proposal for the representer points: log EI at the full share, −inf outside
    the unit box or where EI is not a number; vectorised over walkers."""

    def log_p(u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(u)
        out = np.full(len(u), -np.inf)
        inside = np.all((u >= 0.0) & (u <= 1.0), axis=1)
        if inside.any():
            x = np.hstack([u[inside], np.ones((int(inside.sum()), 1))])
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.log(np.clip(expected_improvement(model, x), 0.0, np.inf))
            out[inside] = np.where(np.isnan(value), -np.inf, value)
        return out

    return log_p


def sample_representers(
    model: Any, dim: int, n: int, burn_in: int, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """emukit's ``AffineInvariantEnsembleSampler`` for the representer points (n walkers from
    uniform starts, ``burn_in`` then ``steps`` moves; ``steps`` may be 0), with the walkers'
    densities computed a half-ensemble at a time. Draws from numpy's global random state
    (the starts, and emcee copies it), as emukit does. Returns the points with the full
    share appended and their log densities, walkers of zero density dropped."""
    import emcee

    start = np.random.uniform(0.0, 1.0, size=(n, dim))
    sampler = emcee.EnsembleSampler(n, dim, representer_log_density(model, dim), vectorize=True)
    state = sampler.run_mcmc(start, burn_in) if burn_in > 0 else None
    if steps > 0:
        state = sampler.run_mcmc(state if state is not None else start, steps)
    if state is None:  # no moves at all: the uniform starts
        points, log_q = start, representer_log_density(model, dim)(start)
    else:
        points, log_q = state.coords, state.log_prob
    if np.any(np.isnan(log_q)) or np.any(np.isposinf(log_q)):
        raise RuntimeError(f"representer points with invalid log density: {log_q}")
    keep = ~np.isneginf(log_q)
    points = np.hstack([points[keep], np.ones((int(keep.sum()), 1))])
    return points, log_q[keep][:, None]


SQ2 = np.sqrt(2.0)
LOG_2PI = np.log(2.0) + np.log(np.pi)
EPS = float(np.finfo(np.float32).eps)


def joint_min(mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, ...]:
    """EPMGP (Cunningham, Hennig, Lacoste-Julien) as emukit's ``epmgp.joint_min(mu, sigma,
    with_derivatives=True)`` computes it: for each representer k, expectation propagation on
    the D − 1 factors "k below l", then log P(k is the minimum) and its derivatives in the
    means and the covariance, renormalised over k.

    emukit runs the D expectation-propagation problems one after the other, a Python call
    per factor update (about 0.7 s for 50 representer points, per hyperparameter sample).
    They are independent, so here they advance in lockstep, each factor update applied to
    every problem still running as one array operation; a problem stops where emukit's
    would (converged after a sweep, a failed factor, or 50 sweeps) and keeps its state."""
    from scipy import special

    d = len(mu)
    ks = np.arange(d)
    m = np.tile(mu, (d, 1))  # problem k's marginal means and covariance
    v = np.tile(sigma, (d, 1, 1))
    p = np.zeros((d, d - 1))  # its messages' precisions, precision-means and log scales
    mp = np.zeros((d, d - 1))
    log_s = np.zeros((d, d - 1))
    running = np.ones(d, dtype=bool)
    failed = np.zeros(d, dtype=bool)
    buffer = np.empty((d, d, d))
    for _ in range(50):
        if not running.any():
            break
        diff = np.zeros(d)
        for i in range(d - 1):
            b = np.nonzero(running & ~failed)[0]
            if len(b) == 0:
                break
            k, j = ks[b], np.where(i < ks[b], i, i + 1)  # problem k's i-th factor: k < j
            vc_c = (v[b, j, j] - 2 * v[b, k, j] + v[b, k, k]) / 2.0
            vc = (v[b, :, j] - v[b, :, k]) / SQ2
            c_m = (m[b, j] - m[b, k]) / SQ2
            pi, mpi = p[b, i], mp[b, i]
            with np.errstate(all="ignore"):
                c_v_nic = np.maximum(vc_c / (1 - pi * vc_c), 0)
                c_m_ni = c_m + c_v_nic * (pi * c_m - mpi)
                z = c_m_ni / np.sqrt(c_v_nic + 1e-25)
            z[np.isnan(z)] = -np.inf
            low, high = z < -6, z > 6
            mid = ~(low | high)
            failed[b[low]] = True  # emukit: d is NaN, the problem stops, log P = -inf
            dp, dmp = np.zeros(len(b)), np.zeros(len(b))
            new_p, new_mp, new_s = np.zeros(len(b)), np.zeros(len(b)), np.zeros(len(b))
            if mid.any():
                zm, cv, cm = z[mid], c_v_nic[mid], c_m_ni[mid]
                with np.errstate(all="ignore"):
                    log_phi = -0.5 * (zm * zm + LOG_2PI)
                    log_cdf = np.log(0.5 * special.erfc(-zm / SQ2))
                    e = np.exp(log_phi - log_cdf)
                    alpha = e / np.sqrt(cv)
                    beta = alpha * (alpha * cv + cm)
                    r = beta / (1 - beta)
                    pn = r / cv
                    mpn = r * (alpha + cm / cv) + alpha
                    dp[mid] = np.maximum(-pi[mid] + EPS, pn - pi[mid])
                    dmp[mid] = np.maximum(-mpi[mid] + EPS, mpn - mpi[mid])
                    new_p[mid] = pi[mid] + dp[mid]
                    new_mp[mid] = mpi[mid] + dmp[mid]
                    new_s[mid] = (
                        log_cdf
                        - 0.5 * (np.log(beta) - np.log(new_p[mid]) - np.log(cv))
                        + (alpha * alpha) / (2 * beta) * cv
                    )
            dp[high], dmp[high] = -pi[high], -mpi[high]  # the message removed
            ok = ~low
            bo = b[ok]
            with np.errstate(all="ignore"):
                scale = dp[ok] / (1 + dp[ok] * vc_c[ok])
                shift = (dmp[ok] - c_m[ok] * dp[ok]) / (1 + dp[ok] * vc_c[ok])
            vo = vc[ok]
            step = np.multiply(vo[:, :, None], vo[:, None, :], out=buffer[: len(bo)])
            step *= scale[:, None, None]
            if len(bo) == d:  # every problem: in place
                v -= step
                m += shift[:, None] * vo
                nan = np.isnan(step).any()
            else:
                v[bo] = v[bo] - step
                m[bo] = m[bo] + shift[:, None] * vo
                nan = np.isnan(v[bo]).any()
            if nan:
                raise RuntimeError("expectation propagation in entropy search: NaN variance")
            p[bo, i], mp[bo, i], log_s[bo, i] = new_p[ok], new_mp[ok], new_s[ok]
            diff[bo] += np.abs(np.maximum(dmp[ok], dp[ok]))
        done = running & ~failed & (np.abs(diff) < 0.001)
        running &= ~(done | failed)
    log_p = np.zeros(d)
    dlogp_dmu = np.zeros((d, d))
    dlogp_dmudmu = np.zeros((d, d, d))
    dlogp_dsigma = np.zeros((d, d * (d + 1) // 2))
    tril = np.tril_indices(d)
    for k in range(d):
        if failed[k]:
            log_p[k] = -np.inf
            continue
        log_p[k], dlogp_dmu[k], dlogp_dmudmu[k], dsigma = _min_factor_moments(
            mu, sigma, k, p[k], mp[k], log_s[k]
        )
        dlogp_dsigma[k] = dsigma[tril]
    return _renormalised(log_p, dlogp_dmu, dlogp_dsigma, dlogp_dmudmu)


def _min_factor_moments(mu, sigma, k, p, mp, log_s):
    """log Z of "k is the minimum" from the converged messages, and its derivatives in the
    means (first and second) and in the covariance (symmetric, diagonal counted once)."""
    d = len(mu)
    c = np.delete(np.where(np.arange(d)[:, None] == k, -1.0, np.eye(d)) / SQ2, k, axis=1)
    big_r = np.sqrt(p) * c
    r = np.sum(mp * c, axis=1)
    nz = mp != 0
    mpm = np.sum(mp[nz] * mp[nz] / p[nz])
    irsr = np.eye(d - 1) + big_r.T @ sigma @ big_r
    a = big_r @ np.linalg.solve(irsr, big_r.T)
    a = 0.5 * (a.T + a)
    b = mu + sigma @ r
    ab = a @ b
    for jitter in (0.0, 1e-10, 1e-6):  # emukit's fall-backs
        try:
            chol = np.linalg.cholesky(irsr + jitter * np.eye(d - 1))
            break
        except np.linalg.LinAlgError:
            if jitter == 1e-6:
                raise
    log_det = 2 * np.sum(np.log(np.diagonal(chol)))
    log_z = 0.5 * (r @ sigma @ r - b @ ab - log_det) + mu @ r + np.sum(log_s) - 0.5 * mpm
    bta = b @ a
    ds = -a - 2 * np.outer(r, ab) + np.outer(r, r) + np.outer(bta, ab)
    ds = 0.5 * (ds + ds.T - np.diag(np.diagonal(ds)))
    return log_z, r - ab, -a, ds


def _renormalised(log_p, dmu, dsigma, dmudmu):
    """emukit's last step: P(k is the minimum) normalised over k (log P of a failed problem
    set to −500), the derivatives adjusted for the normalisation."""
    log_p = np.where(np.isinf(log_p), -500.0, log_p)
    z = np.sum(np.exp(log_p))
    top = np.max(log_p)
    s = top + np.log(np.sum(np.exp(log_p - top)))
    s = top if np.isinf(s) else s
    w = np.exp(log_p)[:, None]
    zm = np.sum(w * dmu, axis=0) / z
    zs = np.sum(w * dsigma, axis=0) / z
    gg = np.einsum("kij,k->ij", dmudmu + np.einsum("ki,kj->kij", dmu, dmu), w[:, 0]) / z
    # emukit adds zm_j² to column j (``Zm.T * Zm`` of a 1-d array), where the derivative of the
    # normaliser would have the outer product zm zmᵀ; kept, to be emukit's arithmetic
    return log_p - s, dmu - zm, dsigma - zs, dmudmu + (zm * zm - gg)[None]


class EntropySearch:
    """emukit's ``ContinuousFidelityEntropySearch`` for one GP (one hyperparameter sample):
    p_min over representer points at the full share, and the expected change of its entropy
    if a candidate were evaluated, for many candidates at once."""

    def __init__(
        self,
        model: Any,
        representers: np.ndarray,
        log_q: np.ndarray,
        innovations: int,
        consistent: bool = True,
    ):
        from scipy.stats import norm

        self.model, self.consistent = model, consistent
        self.representers, self.log_q = representers, log_q
        mu, _ = model.predict(representers)
        var = model.predict_covariance(representers)
        log_p, self.dlogp_dmu, self.dlogp_dsigma, self.dlogp_dmudmu = joint_min(mu.reshape(-1), var)
        self.log_p = log_p[:, None]
        self.entropy = np.sum(np.exp(self.log_p) * (self.log_p + log_q), axis=0)
        q = 1 / (innovations + 1)
        self.w = norm.ppf(np.linspace(q, 1 - q, innovations))  # emukit's fixed quantiles
        n = len(representers)
        self.rows, self.cols = np.nonzero(np.triu(np.ones((n, n))).T)  # emukit's order

    def innovations(self, x: np.ndarray) -> np.ndarray:
        """dm (representers × candidates): the change of the representers' means per unit of
        the candidate's standardised outcome (emukit's ``_innovations``, one column each)."""
        _, var = self.model.model.predict(
            log_share(self.model, x), full_cov=False, include_likelihood=False
        )
        sd = np.sqrt(np.clip(var[:, 0], 1e-10, np.inf))
        cov = covariance_between(self.model, self.representers, x, self.consistent)
        return cov / sd[None, :]

    def score(self, x: np.ndarray, chunk: int = 250) -> np.ndarray:
        """The entropy change for each row of ``x`` (what emukit's ``evaluate`` returns for
        each, one at a time)."""
        return np.concatenate([self._score(x[i : i + chunk]) for i in range(0, len(x), chunk)])

    def _score(self, x: np.ndarray) -> np.ndarray:
        n, m = len(self.representers), len(x)
        dm = self.innovations(x)  # n × m
        dv = -(dm[self.rows] * dm[self.cols])  # the variance's change, emukit's tril order
        outer = (dm[:, None, :] * dm[None, :, :]).reshape(n * n, m)
        trace = (self.dlogp_dmudmu.reshape(n, n * n) @ outer)[:, :, None]  # n × m × 1
        deterministic = (self.dlogp_dsigma @ dv)[:, :, None] + 0.5 * trace
        stochastic = (self.dlogp_dmu @ dm)[:, :, None] * self.w[None, None, :]  # n × m × k
        predicted = (self.log_p[:, :, None] + deterministic) + stochastic
        top = np.max(predicted, axis=0)  # m × k
        lse = top + np.log(np.sum(np.exp(predicted - top[None]), axis=0))
        bad = np.any(np.isinf(lse), axis=1)  # emukit: the max alone where any is infinite
        lse[bad] = top[bad]
        predicted = predicted - lse[None]
        h = np.sum(np.exp(predicted) * (predicted + self.log_q[:, :, None]), axis=0)  # m × k
        return np.mean(h, axis=1) - self.entropy[0]
