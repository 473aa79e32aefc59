"""FABOLAS's proposal: its time, and how closely a cheaper setting ranks the candidates as the
paper's settings do (issue 30).

The state is a real one: the first ``n`` observations of a FABOLAS run on the default digits,
told to a fresh optimiser (bench/results/fabolas_observations.csv, written from the run's
records.jsonl by ``--fabolas-records``). Every variant then scores the same 2,000
candidates (drawn as emukit draws them, from one fixed seed), and its acquisition (entropy
search per unit cost) is compared with the paper settings' (emukit's defaults: 10 HMC
samples after 100 burn-in steps keeping every 10th, a fresh chain each proposal,
representer chains of 50 + 100 steps) by Spearman's rank correlation; the paper settings
against themselves on another seed say how much of the disagreement is the sampling noise
the paper's own settings have. A continued chain (``hmc_continue``) is timed on its second
proposal (the first pays the burn-in, and is timed too), as a run pays it. Proposals run on
one BLAS thread (as every proposal does); the load average is recorded beside the times.

    python bench/run.py fabolas     # from bench/results/fabolas_observations.csv
    python bench/run.py fabolas --fabolas-records results/<exp>/runs/digits/fabolas/seed0
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

PAPER = dict(
    hyper_samples=10, hmc_burn_in=100, hmc_thin=10, hmc_continue=False, burn_in=50,
    mcmc_steps=100, cost_continue=False,
)  # fmt: skip
VARIANTS = {  # name: (settings over the config's, emukit's covariance)
    "paper": (PAPER, False),
    "paper, share on one scale": (PAPER, True),
    "paper, chain continued": ({**PAPER, "hmc_continue": True}, True),
    "5 samples, burn-in 20, every 5th, fresh": (
        dict(
            hyper_samples=5,
            hmc_burn_in=20,
            hmc_thin=5,
            hmc_continue=False,
            burn_in=50,
            mcmc_steps=1,
        ),
        True,
    ),  # fmt: skip
    "5 samples, every 5th, continued": (
        dict(
            hyper_samples=5, hmc_burn_in=20, hmc_thin=5, hmc_continue=True, burn_in=50, mcmc_steps=1
        ),
        True,
    ),  # fmt: skip
    "3 samples, every 5th, continued": (
        dict(
            hyper_samples=3, hmc_burn_in=20, hmc_thin=5, hmc_continue=True, burn_in=50, mcmc_steps=1
        ),
        True,
    ),  # fmt: skip
    "3 samples, every 5th, continued, representers 20 + 0": (
        dict(
            hyper_samples=3, hmc_burn_in=20, hmc_thin=5, hmc_continue=True, burn_in=20, mcmc_steps=0
        ),
        True,
    ),  # fmt: skip
    "one fit (no marginalisation)": (
        dict(marginalize=False, burn_in=50, mcmc_steps=1),
        True,
    ),  # fmt: skip
}
REFERENCE = "paper, share on one scale"  # what every variant is compared with
CANDIDATE_SEED = 12345


def observations_from_run(run_dir: Path) -> pd.DataFrame:
    """The evaluations of a FABOLAS run as the optimiser was told them: its box coordinates
    (u0 …), share s, loss (1 − validation accuracy; 1 for a failure), cost (full-training-set
    epochs) and whether it was a repeat."""
    n_train = json.loads((run_dir / "summary.json").read_text())["n_train"]
    path = run_dir / "records.jsonl"
    rows = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        u = [v for k, v in r["hp_vals"].items() if k != "s"]  # the optimiser's own order
        acc = r.get("val_accuracy")
        rows.append(
            {
                **{f"u{i}": x for i, x in enumerate(u)},
                "s": r["hp_vals"]["s"],
                "loss": 1.0 - acc if acc is not None else 1.0,
                "cost": r["sample_epochs"] / n_train,
                "repeat": bool(r.get("repeat", False)),
            }
        )
    return pd.DataFrame(rows)


def observations(table: pd.DataFrame) -> list[tuple[np.ndarray, float, float, float, bool]]:
    u = table[[c for c in table.columns if c.startswith("u")]].to_numpy()
    return [
        (u[i], float(r.s), float(r.loss), float(r.cost), bool(r.repeat))
        for i, r in enumerate(table.itertuples())
    ]


def scored_class():
    """Fabolas scoring a fixed candidate set and keeping its acquisition values."""
    from gsos.search.optimizers.fabolas import Fabolas

    class Scored(Fabolas):
        candidates: np.ndarray
        values: np.ndarray | None = None

        def _candidates(self) -> np.ndarray:
            return self.candidates

        def _per_cost(self, candidates, loss, cost, samples):
            self.values = super()._per_cost(candidates, loss, cost, samples)
            return self.values

    return Scored


def fixed_candidates(dim: int, s_min: float, n: int) -> np.ndarray:
    """emukit's uniform candidates (the share uniform on its raw scale), from one seed."""
    rng = np.random.default_rng(CANDIDATE_SEED)
    return np.hstack([rng.uniform(0, 1, (n, dim)), rng.uniform(s_min, 1, (n, 1))])


def tell(opt, obs) -> None:
    from gsos.search.optimizers.base import Evaluation, Outcome

    u, s, loss, cost, repeat = obs
    i = len(opt.x) + 1
    ev = Evaluation(params={}, budget=1, data_fraction=s, handle=u)
    opt.tell(ev, Outcome(iteration=i, status="ok", val_accuracy=1 - loss, cost=cost, repeat=repeat))


def propose(cfg: dict, settings, consistent: bool, obs, n: int, seed: int, cands):
    """Time the proposal made with ``n`` observations told (for a continued chain, the
    one after a first proposal at n − 1); return (seconds, first seconds, values)."""
    from threadpoolctl import threadpool_limits

    from gsos.search.optimizers.base import Budget, View
    from gsos.search.space import SearchSpace

    view = View.of(SearchSpace.from_config(cfg["search_space"]))
    Scored = scored_class()
    opt = Scored(view, seed, Budget(cost=1e9), settings)
    opt.consistent, opt.candidates = consistent, cands
    first = float("nan")
    with threadpool_limits(1, user_api="blas"):
        if settings.marginalize and settings.hmc_continue:
            for o in obs[: n - 1]:
                tell(opt, o)
            t0 = time.perf_counter()
            opt.ask()
            first = time.perf_counter() - t0
            tell(opt, obs[n - 1])
        else:
            for o in obs[:n]:
                tell(opt, o)
        t0, c0 = time.perf_counter(), time.process_time()
        ev = opt.ask()
        opt.cpu_seconds = time.process_time() - c0
    return time.perf_counter() - t0, first, opt.values, ev, opt.cpu_seconds


def fabolas_bench(cfg: dict, table: pd.DataFrame, sizes=(40, 100), repeats=3, quick=False):
    from scipy.stats import spearmanr

    from gsos.search.optimizers.fabolas import Settings

    base = Settings.from_config(cfg["fabolas"])
    obs = observations(table)
    dim = len(obs[0][0])
    cands = fixed_candidates(dim, base.min_fraction, base.num_eval_points)
    variants = VARIANTS
    if quick:
        sizes, repeats = (base.n_init + 2,), 1
        variants = {k: v for k, v in VARIANTS.items() if "continued" in k or k == REFERENCE}
    rows = []
    for n in sizes:
        if n > len(obs):
            raise ValueError(f"the state has {len(obs)} evaluations; {n} are needed")
        over, consistent = variants[REFERENCE]
        reference = propose(cfg, replace(base, **over), consistent, obs, n, 0, cands)[2]
        for name, (over, consistent) in variants.items():
            settings = replace(base, **over)
            # the reference's seed 0 is what all are compared with; its seeds 1.. say how
            # much the paper's settings disagree with themselves
            for seed in range(1, repeats + 1) if name == REFERENCE else range(repeats):
                load = os.getloadavg()[0]
                seconds, first, values, ev, _ = propose(
                    cfg, settings, consistent, obs, n, seed, cands
                )
                rho = float(spearmanr(values, reference)[0])
                best = int(np.argmax(values))
                ref_rank = float((reference < reference[best]).mean())
                rows.append(
                    {
                        "observations": n,
                        "variant": name,
                        "seed": seed,
                        "proposal_seconds": seconds,
                        "first_proposal_seconds": first,
                        "spearman_vs_reference": rho,
                        "argmax_share": float(cands[best, -1]),
                        "argmax_percentile_under_reference": ref_rank,
                        "load_average_1min": load,
                    }
                )
                print(
                    f"n={n} {name} seed {seed}: {seconds:.2f} s (first {first:.2f} s), "
                    f"rho {rho:.3f}, share {cands[best, -1]:.3f}, load {load:.1f}",
                    flush=True,
                )
    df = pd.DataFrame(rows)
    df["blas_threads"] = 1
    df["reference"] = REFERENCE
    return df


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Medians per variant and size (the table config/README.md quotes)."""
    return (
        df.groupby(["observations", "variant"], sort=False)
        .agg(
            proposals=("seed", "size"),
            seconds_median=("proposal_seconds", "median"),
            seconds_max=("proposal_seconds", "max"),
            first_seconds_median=("first_proposal_seconds", "median"),
            spearman_median=("spearman_vs_reference", "median"),
            spearman_min=("spearman_vs_reference", "min"),
            load_median=("load_average_1min", "median"),
        )
        .reset_index()
    )


def covariance_effect(cfg: dict, table: pd.DataFrame, sizes=(40, 100), seeds=5) -> pd.DataFrame:
    """What emukit's covariance (the candidate's share raw against the representers, log in
    its own variance) changes in the proposals: the same optimiser seed, hence the same HMC
    samples and representer points, with either covariance; the chosen share and whether
    the proposal is the same, in our setting (s_min 1/8, overhead 40) and in emukit's
    (s_min 1/64, no overhead), where small shares, and the two scales, differ most."""
    from scipy.stats import spearmanr

    from gsos.search.optimizers.fabolas import Settings

    base = Settings.from_config(cfg["fabolas"])
    obs = observations(table)
    regimes = {
        "ours": {},
        "emukit's s_min and no overhead": {"min_fraction": 1 / 64, "overhead": 0.0},
    }
    rows = []
    for regime, over in regimes.items():
        settings = replace(base, **over)
        cands = fixed_candidates(len(obs[0][0]), settings.min_fraction, settings.num_eval_points)
        for n in sizes:
            for seed in range(seeds):
                fixed = propose(cfg, settings, True, obs, n, seed, cands)
                emukit = propose(cfg, settings, False, obs, n, seed, cands)
                a, b = int(np.argmax(fixed[2])), int(np.argmax(emukit[2]))
                rows.append(
                    {
                        "regime": regime,
                        "observations": n,
                        "seed": seed,
                        "spearman": float(spearmanr(fixed[2], emukit[2])[0]),
                        "same proposal": a == b,
                        "share (one scale)": float(cands[a, -1]),
                        "share (emukit's)": float(cands[b, -1]),
                    }
                )
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def timing(cfg: dict, table: pd.DataFrame, n: int = 100, repeats: int = 5) -> pd.DataFrame:
    """The configured defaults, the defaults with the cost GP refitted from 3 restarts every
    proposal (emukit's) and the paper settings at ``n`` observations, side by side and
    interleaved: wall-clock and the process's CPU time of each proposal (one BLAS thread,
    no torch: the CPU time is what the proposal takes on a core of its own, which a shared
    machine's wall-clock is not), the 1-minute load average before and after it."""
    from gsos.search.optimizers.fabolas import Settings

    base = Settings.from_config(cfg["fabolas"])
    obs = observations(table)
    cands = fixed_candidates(len(obs[0][0]), base.min_fraction, base.num_eval_points)
    variants = (
        ("defaults", base),
        ("defaults, cost GP refitted (3 restarts)", replace(base, cost_continue=False)),
        ("paper", replace(base, **PAPER)),
    )
    rows = []
    for seed in range(repeats):
        for name, settings in variants:
            load = os.getloadavg()[0]
            wall, first, _, _, cpu = propose(cfg, settings, True, obs, n, seed, cands)
            rows.append(
                {
                    "observations": n,
                    "settings": name,
                    "seed": seed,
                    "proposal_seconds": wall,
                    "proposal_cpu_seconds": cpu,
                    "first_proposal_seconds": first,
                    "load_average_1min": load,
                    "load_average_1min_after": os.getloadavg()[0],
                }
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def cost_fit_effect(
    cfg: dict, table: pd.DataFrame, sizes=(40, 100), seeds: int = 3
) -> pd.DataFrame:
    """What the continued cost fit (``cost_continue``) changes. As a run does it: the cost
    GP fitted afresh (``gp_restarts`` restarts) on the first proposal's observations, then
    from each proposal's fit on the next, one observation more each time, up to ``n``;
    against a fresh fit at ``n`` (emukit's, every proposal) on the same observations, from
    ``seeds`` random states. Reported: each fit's CPU time and log marginal likelihood, the
    largest relative difference of the predicted cost over the 2,000 candidates, and the
    Spearman correlation of the acquisition ranking when the same entropy-search gain is
    divided by either prediction plus the overhead (and with no overhead, where the cost
    weighs most)."""
    from emukit.examples.fabolas.fabolas_model import FabolasModel, linear
    from scipy.stats import spearmanr
    from threadpoolctl import threadpool_limits

    from gsos.search.optimizers.base import IsolatedNumpyRandom
    from gsos.search.optimizers.fabolas import Settings, quiet

    base = Settings.from_config(cfg["fabolas"])
    obs = observations(table)
    cands = fixed_candidates(len(obs[0][0]), base.min_fraction, base.num_eval_points)
    gain = np.random.default_rng(CANDIDATE_SEED + 1).gamma(2.0, 1.0, len(cands))
    rows = []

    def data(k):
        kept = [o for o in obs[:k] if not o[4]]  # repeats carry no cost
        x = np.array([np.append(o[0], o[1]) for o in kept])
        return x, np.array([[o[3]] for o in kept])

    def fit(k, start=None, restarts=1):
        model = FabolasModel(*data(k), base.min_fraction, 1.0, linear)
        if start is not None:
            model.model[:] = start
        model.n_restarts = restarts
        c0 = time.process_time()
        model.optimize()
        return model, time.process_time() - c0

    for seed in range(seeds):
        with IsolatedNumpyRandom(seed), quiet(), threadpool_limits(1, user_api="blas"):
            warm, _ = fit(base.n_init + 1, restarts=base.gp_restarts)
            for k in range(base.n_init + 2, max(sizes) + 1):
                warm, warm_cpu = fit(k, warm.model.param_array.copy())
                if k not in sizes:
                    continue
                fresh, fresh_cpu = fit(k, restarts=base.gp_restarts)
                cw = np.maximum(warm.predict(cands)[0][:, 0], 1e-4)
                cf = np.maximum(fresh.predict(cands)[0][:, 0], 1e-4)
                row = {
                    "observations": k,
                    "seed": seed,
                    "continued_fit_cpu_seconds": warm_cpu,
                    "fresh_fit_cpu_seconds": fresh_cpu,
                    "continued_log_likelihood": float(warm.model.log_likelihood()),
                    "fresh_log_likelihood": float(fresh.model.log_likelihood()),
                    "predicted_cost_max_relative_difference": float(np.max(np.abs(cw / cf - 1))),
                }
                for overhead in (base.overhead, 0.0):
                    a, b = gain / (cw + overhead), gain / (cf + overhead)
                    row[f"spearman_overhead_{overhead:g}"] = float(spearmanr(a, b)[0])
                    row[f"same_argmax_overhead_{overhead:g}"] = int(np.argmax(a) == np.argmax(b))
                rows.append(row)
                print(row, flush=True)
    return pd.DataFrame(rows)
