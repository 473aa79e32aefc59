"""Benchmarks: the trainer against the machine's peak and a standard pipeline, TPE's overhead,
where the default pipeline's five minutes go, and FABOLAS's proposal. Every figure is
measured in one run.

    python3 -m uv run --locked python bench/run.py            # everything: about 15 minutes
    python3 -m uv run --locked python bench/run.py peak batch  # some of it
    python3 -m uv run --locked python bench/run.py --quick     # a smoke run (seconds)

One module per part (peak, batch, throughput, pipeline, startup, tpe, projection, fabolas);
this file runs the parts asked for and writes each one's CSV.

Measurements that are compared are taken side by side and interleaved over repeats (these
machines are shared and noisy); tables give medians, and ratios are taken pair by pair. The
results go to bench/results/ (CSV, with the machine's description in machine.json and in
every file); bench/parity.py holds the fp32/bf16 accuracy evidence. Speed targets live here,
not in timed unit tests.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from common import RESULTS, TARGETS, paper_config
from machine import describe

from gsos.training.trainer import warm_up

PARTS = (
    "peak",
    "batch",
    "throughput",
    "pipeline",
    "miniature",
    "limit",
    "startup",
    "tpe",
    "projection",
    "fabolas",
)


def peak_table(quick: bool, device: torch.device) -> pd.DataFrame:
    from peak import PEAK_SHAPE, matmul_peak

    n, k = PEAK_SHAPE.get(device.type, PEAK_SHAPE["cpu"])
    n = 512 if quick else n
    return pd.DataFrame(
        [
            {
                "dtype": str(d).removeprefix("torch."),
                "device": device.type,
                "matrix": f"{n}x{n}, {k} back to back",
                "gflop_per_s": matmul_peak(d, device=device, n=n),
            }
            for d in (torch.float32, torch.bfloat16)
        ]
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("parts", nargs="*", help=f"some of {', '.join(PARTS)} (default: all)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--images", type=int, default=1024, help="synthetic images per dataset")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers (standard pipeline)")
    ap.add_argument("--run-dir", type=Path, help="analyse this finished default run instead")
    ap.add_argument(
        "--before",
        help="pipeline: first run the default with this commit's code (the old code), then with "
        "the head's, and compare their times and results (pipeline_results.csv)",
    )
    ap.add_argument(
        "--fabolas-records",
        type=Path,
        help="a FABOLAS run's folder (records.jsonl, summary.json): the state it proposes from",
    )
    ap.add_argument(
        "--fabolas-steps",
        default="ranking,covariance,timing,cost",
        help="which FABOLAS measurements: ranking (fabolas.csv, fabolas_summary.csv), "
        "covariance, timing, cost (the continued cost fit; fabolas_cost_fit.csv)",
    )
    a = ap.parse_args(argv)
    a.parts = a.parts or list(PARTS)
    unknown = sorted(set(a.parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown part(s) {unknown}; choose from {list(PARTS)}")
    cfg = paper_config()
    if a.quick:
        a.images, a.repeats = 64, 1
        cfg["datasets"] = {"Kuzushiji_49": cfg["datasets"]["Kuzushiji_49"]}
        cfg["model"]["base_filters"] = 4
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    warm_up(device)
    out = a.out if not a.quick else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    machine = describe()
    written = {}
    tput = None
    for part in a.parts:
        t0 = time.perf_counter()
        if part == "peak":
            df = peak_table(a.quick, device)
        elif part == "batch":
            from batch import batch_efficiency

            df = batch_efficiency(
                cfg, (32,) if a.quick else (32, 64, 128, 256), a.images, a.repeats
            )
        elif part == "throughput":
            from common import default_config
            from throughput import throughput

            small = default_config()  # the default's own inputs (digits, 8x8) and CNN
            df = tput = pd.concat(
                [
                    throughput(
                        small, a.images, a.repeats, a.workers, device, ["digits"], "default"
                    ),
                    throughput(cfg, a.images, a.repeats, a.workers, device),
                ],
                ignore_index=True,
            )
        elif part == "pipeline":
            if a.quick:
                continue
            from pipeline import pipeline, side_by_side

            if a.before is not None and a.run_dir is None:
                df, agree = side_by_side(a.before)
                agree.assign(machine=machine).to_csv(out / "pipeline_results.csv", index=False)
                a.run_dir = Path(df.attrs["after_run"])
            else:
                df, total, ran_in = pipeline(a.run_dir)
                a.run_dir = ran_in  # the miniature part reads the same run
                df["pipeline_wall_seconds"] = total
            df["target_seconds"] = TARGETS["pipeline_seconds"]
        elif part == "miniature":
            if a.run_dir is None:
                print(
                    "miniature: skipped (it needs a finished default run: pipeline, or --run-dir)"
                )
                continue
            from miniature import miniature

            df = miniature(a.run_dir)
        elif part == "limit":
            if a.run_dir is None:
                print("limit: skipped (it needs a finished default run: pipeline, or --run-dir)")
                continue
            from limit import limit

            df = limit(Path(a.run_dir) / "results" / "default", device, a.quick)
        elif part == "startup":
            from startup import startup

            df = startup(2 if a.quick else 5)
        elif part == "tpe":
            from tpe import tpe_overhead

            df = tpe_overhead(cfg, 20 if a.quick else 100, 1 if a.quick else 9)
        elif part == "fabolas":
            from common import default_config
            from fabolas import (
                cost_fit_effect,
                covariance_effect,
                fabolas_bench,
                observations_from_run,
                summary,
                timing,
            )

            state = RESULTS / "fabolas_observations.csv"
            if a.fabolas_records is not None:  # a new state, kept beside the results
                table = observations_from_run(a.fabolas_records)
                table.to_csv(out / "fabolas_observations.csv", index=False)
            else:
                table = pd.read_csv(state)
            steps = set(a.fabolas_steps.split(","))
            extra = {"covariance": covariance_effect, "timing": timing, "cost": cost_fit_effect}
            names = {"cost": "cost_fit"}
            for step, measure in extra.items():
                if step in steps and not a.quick:
                    measure(default_config(), table).assign(machine=machine).to_csv(
                        out / f"fabolas_{names.get(step, step)}.csv", index=False
                    )
            if "ranking" not in steps:  # timed apart from a full run of the part
                written[f"{part} ({a.fabolas_steps})"] = round(time.perf_counter() - t0, 1)
                continue
            df = fabolas_bench(default_config(), table, quick=a.quick)
            if not a.quick:
                summary(df).assign(machine=machine).to_csv(out / "fabolas_summary.csv", index=False)
        else:
            from projection import mean_epochs, projection

            if tput is None and (out / "throughput.csv").exists():  # measured in an earlier run
                tput = pd.read_csv(out / "throughput.csv")
            if tput is None:
                print("projection: skipped (it needs the throughput part)", flush=True)
                continue
            df = projection(cfg, tput, mean_epochs(cfg, []))
        df["machine"] = machine
        df.to_csv(out / f"{part}.csv", index=False)
        written[part] = round(time.perf_counter() - t0, 1)
        print(f"{part}: {written[part]} s\n{df.drop(columns='machine').to_string()}\n", flush=True)
    meta = {"machine": machine, "seconds": written, "date": time.strftime("%Y-%m-%d")}
    if (out / "machine.json").exists():  # parts run earlier keep their times
        earlier = json.loads((out / "machine.json").read_text())
        meta["seconds"] = {**earlier.get("seconds", {}), **written}
    if not a.quick:
        (out / "machine.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
