"""BOIL's proposal on a real state (issue 30): why it chooses the epochs it does, and what its
acquisition optimiser's size costs.

The state is the first ``n`` evaluations of a BOIL run on the default digits
(bench/results/boil_observations.csv, written from a run's records.jsonl by ``--records``),
told to a fresh optimiser under each setting.

- ``diagnosis``: for each epoch count, the best of log EI − log cost over 4,000 random
  configurations at that count, split into its parts (log EI, the log of the predicted cost,
  the posterior mean and standard deviation in standardised units) beside the incumbent (the
  largest posterior mean), for BOIL's own model (a zero prior mean, the mean of the
  logistic-weighted accuracies), the trend in the epochs, and the weighted score. It says
  which term keeps short trainings out, or draws them in. ``spread`` beside it: the spread
  of one-epoch and nine-epoch scores over the run's nine-epoch curves under either score.
- ``optimiser``: the proposal with BoTorch's ``optimize_acqf`` at its usual 10 restarts from
  the best of 512 raw samples against smaller ones: CPU time, and the acquisition value each
  one's proposal has under 10, 512's acquisition (the same fitted model).

    python bench/boil.py                        # from bench/results/boil_observations.csv
    python bench/boil.py --records results/<exp>/runs/digits/boil/seed0
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
RESULTS = ROOT / "bench" / "results"
STATE = RESULTS / "boil_observations.csv"

MODELS = {  # name: settings over the configured ones
    "BOIL (zero mean, mean score)": {"trend": False, "score": "mean"},
    "trend, mean score": {"trend": True, "score": "mean"},
    "trend, weighted score": {"trend": True, "score": "weighted"},
}
OPTIMISERS = {"10 restarts, 512 raw": (10, 512), "5, 256": (5, 256), "3, 128": (3, 128)}


def observations_from_run(run_dir: Path) -> pd.DataFrame:
    """A BOIL run's evaluations as the optimiser was told them: box coordinates, epochs,
    status, cost (full-training-set epochs) and the learning curve's accuracies."""
    n_train = json.loads((run_dir / "summary.json").read_text())["n_train"]
    rows = []
    for line in (run_dir / "records.jsonl").read_text().splitlines():
        r = json.loads(line)
        rows.append(
            {
                **{f"u_{k}": v for k, v in r["hp_vals"].items()},
                **{f"p_{k}": v for k, v in r["params"].items()},
                "budget": r["budget"],
                "status": r["status"],
                "val_accuracy": r["val_accuracy"],
                "sample_epochs": r["sample_epochs"],
                "n_train": n_train,
                "curve": ";".join(f"{p['val_accuracy']:.6f}" for p in r.get("curve") or []),
            }
        )
    return pd.DataFrame(rows)


def default_boil_settings():
    import yaml

    from gsos.search.optimizers.boil import Settings

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return cfg, Settings.from_config(cfg["boil"])


def replayed(table: pd.DataFrame, n: int, settings, seed: int = 0):
    """A BOIL told the first ``n`` evaluations of the state."""
    from gsos.search.optimizers.base import Budget, Evaluation, Outcome, View
    from gsos.search.optimizers.boil import BOIL
    from gsos.search.space import SearchSpace

    cfg, _ = default_boil_settings()
    opt = BOIL(
        View.of(SearchSpace.from_config(cfg["search_space"])), seed, Budget(cost=1e9), settings
    )
    for i, r in enumerate(table.head(n).itertuples(index=False)):
        row = r._asdict()
        u = np.array([row[f"u_{name}"] for name in opt.names])
        params = {k[2:]: v for k, v in row.items() if k.startswith("p_")}
        curve = [{"epoch": e + 1, "val_accuracy": float(a)} for e, a in enumerate(
            str(row["curve"]).split(";")) if a and a != "nan"]  # fmt: skip
        ev = Evaluation(params=params, budget=int(row["budget"]), handle=u)
        cost = float(row["sample_epochs"]) / float(row["n_train"])
        accuracy = None if pd.isna(row["val_accuracy"]) else float(row["val_accuracy"])
        outcome = Outcome(
            iteration=i + 1, status=row["status"], val_accuracy=accuracy, cost=cost, curve=curve
        )
        opt.tell(ev, outcome)
        opt.proposals += 1
    return opt


def diagnosis(table: pd.DataFrame, sizes=(40, 100)) -> pd.DataFrame:
    import torch
    from botorch.acquisition import LogExpectedImprovement, PosteriorMean
    from botorch.optim import optimize_acqf

    _, base = default_boil_settings()
    rows = []
    for n in sizes:
        for name, over in MODELS.items():
            opt = replayed(table, n, replace(base, **over))
            proposal = opt.ask()  # fits the hyperparameters as a run would here
            data = opt._data()
            model = opt._model(data)
            d = data.x.shape[1]
            bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(torch.float64)
            torch.manual_seed(0)
            _, best = optimize_acqf(
                PosteriorMean(model), bounds, q=1, num_restarts=10, raw_samples=512
            )
            ei = LogExpectedImprovement(model, best_f=best.detach())
            coef = opt._cost_model(data)
            grid = np.random.default_rng(1).random((4000, d))
            for epochs in (1, 2, 3, 5, 9):
                z = torch.as_tensor(grid.copy())
                z[:, -1] = opt._scaled(epochs)
                with torch.no_grad():
                    post = model.posterior(z)
                    log_ei = ei(z[:, None, :])
                    cost = torch.clamp(z @ coef[1:] + coef[0], min=0.0) + 0.1
                value = log_ei - torch.log(cost)
                j = int(torch.argmax(value))
                rows.append(
                    {
                        "observations": n,
                        "model": name,
                        "epochs": epochs,
                        "best acquisition": float(value[j]),
                        "log EI": float(log_ei[j]),
                        "log cost": float(torch.log(cost[j])),
                        "posterior mean": float(post.mean[j, 0]),
                        "posterior sd": float(post.variance[j, 0].sqrt()),
                        "incumbent (largest mean)": float(best),
                        "proposal's epochs": proposal.budget,
                        "lengthscale_t": opt.hyper.lt,
                        "midpoint": opt.hyper.midpoint,
                        "growth": opt.hyper.growth,
                    }
                )
            print(pd.DataFrame(rows[-5:]).round(2).to_string(), flush=True)
    return pd.DataFrame(rows)


def spread(table: pd.DataFrame) -> pd.DataFrame:
    """Over the state's nine-epoch curves: the spread (standard deviation) of the one-epoch
    prefix's score and of the whole curve's, under either score, at BOIL's starting
    logistic and at the ones fitted in the diagnosis; and the rank correlation of the
    accuracy after one epoch with that after nine (how much a one-epoch training says)."""
    from scipy.stats import spearmanr

    curves = [
        [float(a) for a in str(c).split(";")]
        for c in table.loc[table.budget == 9, "curve"]
        if len(str(c).split(";")) == 9
    ]
    from gsos.search.optimizers.boil import compress

    rows = []
    for m0, g0 in ((0.0, 1.0), (1.74, 0.5), (-2.0, 0.5)):
        weights = 1 / (1 + np.exp(-g0 * (np.linspace(-6, 6, 9) - m0)))
        for weighted in (False, True):

            def score(c, weighted=weighted, weights=weights, m0=m0, g0=g0):
                if weighted:
                    w = weights[: len(c)]
                    return float(np.sum(np.array(c) * w) / np.sum(w))
                return float(compress(c, m0, g0, 9))

            s1 = np.array([score(c[:1]) for c in curves])
            s9 = np.array([score(c) for c in curves])
            pooled = np.concatenate([s1, s9]).std(ddof=1)
            rows.append(
                {
                    "midpoint": m0,
                    "growth": g0,
                    "score": "weighted" if weighted else "mean (BOIL)",
                    "curves": len(curves),
                    "one-epoch score mean": float(s1.mean()),
                    "nine-epoch score mean": float(s9.mean()),
                    "one-epoch score sd": float(s1.std(ddof=1)),
                    "nine-epoch score sd": float(s9.std(ddof=1)),
                    "sd ratio (1 / 9 epochs)": float(s1.std(ddof=1) / s9.std(ddof=1)),
                    "gap of means in pooled sds": float((s9.mean() - s1.mean()) / pooled),
                    "spearman acc@1 vs acc@9": float(
                        spearmanr([c[0] for c in curves], [c[-1] for c in curves])[0]
                    ),
                }
            )
    return pd.DataFrame(rows)


def optimiser(table: pd.DataFrame, sizes=(50, 100, 200), seeds=3) -> pd.DataFrame:
    import torch

    _, base = default_boil_settings()
    rows = []
    for n in sizes:
        for seed in range(seeds):
            opt = replayed(table, n, base, seed)
            opt._acquire()  # the fit, shared by every variant below
            reference = None
            for name, (restarts, raw) in OPTIMISERS.items():
                o = copy.deepcopy(opt)
                o.settings = replace(base, num_restarts=restarts, raw_samples=raw)
                load = os.getloadavg()[0]
                c0, t0 = time.process_time(), time.perf_counter()
                u, epochs = o._acquire()
                cpu, wall = time.process_time() - c0, time.perf_counter() - t0
                x = torch.as_tensor(np.append(u, o._scaled(epochs)))[None, None, :]
                if reference is None:
                    reference = o.acquisition
                with torch.no_grad():
                    value = float(reference(x))
                rows.append(
                    {
                        "observations": n,
                        "model observations": len(o.observations),
                        "seed": seed,
                        "optimiser": name,
                        "cpu_seconds": cpu,
                        "wall_seconds": wall,
                        "load_average_1min": load,
                        "epochs": epochs,
                        "acquisition under 10/512's": value,
                    }
                )
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    key = ["observations", "seed"]
    ref = df[df.optimiser == next(iter(OPTIMISERS))].set_index(key)
    col = "acquisition under 10/512's"
    df["shortfall vs 10/512"] = (
        ref.loc[list(zip(df.observations, df.seed, strict=True)), col].to_numpy() - df[col]
    )
    return df


def main(argv=None) -> None:
    warnings.simplefilter("ignore")
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("parts", nargs="*", default=["diagnosis", "spread", "optimiser"])
    ap.add_argument("--records", type=Path, help="a BOIL run's folder: a new state")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    if a.records is not None:
        table = observations_from_run(a.records)
        table.to_csv(a.out / STATE.name, index=False)
    else:
        table = pd.read_csv(STATE)
    from machine import describe

    machine = describe()
    parts = {"diagnosis": diagnosis, "spread": spread, "optimiser": optimiser}
    for part in a.parts:
        df = parts[part](table).assign(machine=machine)
        df.to_csv(a.out / f"boil_{part}.csv", index=False)
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(f"--- {part}\n{df.drop(columns='machine').round(3)}\n", flush=True)


if __name__ == "__main__":
    main()
