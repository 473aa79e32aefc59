"""Benchmarks: the trainer against the machine's peak and a standard pipeline, TPE's overhead,
and where the default pipeline's five minutes go. Every figure is measured in one run.

    python3 -m uv run --locked python bench/run.py            # everything: about 15 minutes
    python3 -m uv run --locked python bench/run.py peak batch  # some of it
    python3 -m uv run --locked python bench/run.py --quick     # a smoke run (seconds)

Measurements that are compared are taken side by side and interleaved over repeats (these
machines are shared and noisy); tables give medians, and ratios are taken pair by pair. The
results go to bench/results/ (CSV, with the machine's description in machine.json and in
every file); bench/parity.py holds the fp32/bf16 accuracy evidence. Speed targets live here,
not in timed unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from machine import describe  # noqa: E402

from gsos.data import DeviceData  # noqa: E402
from gsos.model import CNN, Architecture  # noqa: E402
from gsos.space import SearchSpace  # noqa: E402
from gsos.train import TrainSettings, train_and_evaluate, warm_up  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGETS = {"fraction_of_peak": 0.6, "pipeline_seconds": 300.0, "tpe_overhead": 1.05}
PAPER_SHAPE = (3, 64, 64)  # the paper config's RGB datasets at their configured size


def synthetic(shape: tuple[int, int, int], n: int, n_classes: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return x, y


def device_data(x, y, n_classes: int, device) -> DeviceData:
    c = x.shape[1]
    return DeviceData(
        x={s: x.to(device) for s in ("train", "val", "test")},
        y={s: y.to(device) for s in ("train", "val", "test")},
        mean=torch.full((1, c, 1, 1), 0.5, device=device),
        std=torch.full((1, c, 1, 1), 0.25, device=device),
        n_classes=n_classes,
    )


def paper_params(cfg: dict) -> dict:
    return SearchSpace.from_config(cfg["search_space"]).defaults()


def paper_arch(cfg: dict) -> Architecture:
    return TrainSettings.from_config(cfg).arch


# --- a. the machine's peak and the trainer's share of it ---------------------------------------


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of an n×n matmul in ``dtype`` on the threads torch uses: the median of repeats."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / float(np.median(times)) / 1e9


def flops_per_sample(params: dict, shape, n_classes: int, arch: Architecture) -> float:
    """Forward and backward FLOPs of one training sample (convolutions and linear layers,
    counted by torch's FlopCounterMode; pooling, activations and the update are not)."""
    from torch.utils.flop_counter import FlopCounterMode

    bs = int(params["batch_size"])
    model = CNN(params, shape, n_classes, arch)
    x, y = torch.randn(bs, *shape), torch.randint(0, n_classes, (bs,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / bs


def train_seconds(params, data: DeviceData, settings: TrainSettings) -> float:
    return train_and_evaluate({**params, "epoch": 1}, data, 0, settings).train_seconds


def batch_efficiency(
    cfg: dict, batches=(32, 64, 128, 256), n: int = 1024, repeats: int = 3
) -> pd.DataFrame:
    """GFLOP/s of one training epoch on paper-size inputs (3×64×64, the paper config's CNN)
    in fp32 and in bf16 autocast (both NHWC, the trainer's default), against the matmul peak
    of the dtype each uses, measured in the same run, interleaved; and fp32 in NCHW, the
    layout before, for the ratio."""
    params, arch = paper_params(cfg), paper_arch(cfg)
    x, y = synthetic(PAPER_SHAPE, n, 10, seed=0)
    data = device_data(x, y, 10, torch.device("cpu"))
    paths = {  # name -> (settings, the dtype whose peak it is measured against)
        "fp32": (TrainSettings(arch=arch, precision="fp32"), torch.float32),
        "bf16": (TrainSettings(arch=arch, precision="bf16"), torch.bfloat16),
        "fp32 NCHW": (
            TrainSettings(arch=arch, precision="fp32", channels_last=False),
            torch.float32,
        ),
    }
    rows = []
    for bs in batches:
        p = {**params, "batch_size": bs}
        per_sample = flops_per_sample(p, PAPER_SHAPE, 10, arch)
        for settings, _ in paths.values():  # one-off costs of each path, untimed
            train_seconds(p, data, settings)
        for r in range(repeats):
            peaks = {d: matmul_peak(d) for d in (torch.float32, torch.bfloat16)}
            for name, (settings, dtype) in paths.items():
                s = train_seconds(p, data, settings)
                gflops = per_sample * n / s / 1e9
                rows.append(
                    {
                        "batch_size": bs,
                        "path": name,
                        "repeat": r,
                        "images_per_s": n / s,
                        "gflop_per_s": gflops,
                        "peak_gflop_per_s": peaks[dtype],
                        "fraction_of_peak": gflops / peaks[dtype],
                    }
                )
    raw = pd.DataFrame(rows)
    out = (
        raw.groupby(["batch_size", "path"], sort=False)
        .agg(
            images_per_s=("images_per_s", "median"),
            gflop_per_s=("gflop_per_s", "median"),
            peak_gflop_per_s=("peak_gflop_per_s", "median"),
            fraction_of_peak=("fraction_of_peak", "median"),
            fraction_of_peak_min=("fraction_of_peak", "min"),
            fraction_of_peak_max=("fraction_of_peak", "max"),
            repeats=("repeat", "size"),
        )
        .reset_index()
    )
    out["shape"] = "x".join(map(str, PAPER_SHAPE))
    out["mflop_per_sample"] = [
        flops_per_sample({**params, "batch_size": b}, PAPER_SHAPE, 10, arch) / 1e6
        for b in out["batch_size"]
    ]
    out["target"] = TARGETS["fraction_of_peak"]
    return out


# --- b. the trainer against the standard pipeline ----------------------------------------------


def write_image_folder(x, y, root: Path) -> None:
    from PIL import Image

    for i, (img, label) in enumerate(zip(x.numpy(), y.tolist(), strict=True)):
        d = root / f"class{label:02d}"
        d.mkdir(parents=True, exist_ok=True)
        arr = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
        Image.fromarray(arr).save(d / f"{i:06d}.png")


def standard(
    root: Path, shape, n_classes, params, arch, device, workers: int
) -> tuple[float, float]:
    """Images/s of the pipeline a researcher would otherwise write (torchvision ImageFolder on
    encoded images, a DataLoader, torch.optim, fp32, eager), and the share of the epoch spent
    waiting for data: the part a device-resident pipeline removes."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = [transforms.Grayscale(1)] if shape[0] == 1 else []
    tf += [transforms.ToTensor(), transforms.Normalize([0.5] * shape[0], [0.25] * shape[0])]
    ds = datasets.ImageFolder(str(root), transform=transforms.Compose(tf))
    loader = DataLoader(ds, batch_size=int(params["batch_size"]), shuffle=True, num_workers=workers)
    torch.manual_seed(0)
    model = CNN(params, shape, n_classes, arch).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(params["lr"]))
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    waiting, t = 0.0, time.perf_counter()
    for xb, yb in loader:  # time to the next batch = decoding and collating: the data share
        xb, yb = xb.to(device), yb.to(device)
        waiting += time.perf_counter() - t
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
    elapsed = time.perf_counter() - start
    return len(ds) / elapsed, waiting / elapsed


def throughput(cfg: dict, n: int, repeats: int, workers: int, device) -> pd.DataFrame:
    """Per paper dataset shape: this project's trainer (its automatic path) against the
    standard pipeline, one epoch each, interleaved; and the trainer's GFLOP/s."""
    params, settings = paper_params(cfg), TrainSettings.from_config(cfg)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ds in cfg["datasets"].items():
            if name == "digits":
                continue
            shape = (int(ds.get("channels", 1)), int(ds["image_size"]), int(ds["image_size"]))
            n_classes = int(ds.get("paper", {}).get("n_classes", 10))
            x, y = synthetic(shape, n, n_classes, seed=0)
            root = Path(tmp) / name
            write_image_folder(x, y, root)  # set-up, not timed
            data = device_data(x, y, n_classes, device)
            per_sample = flops_per_sample(params, shape, n_classes, settings.arch)
            bf16 = settings.bf16(device, CNN(params, shape, n_classes, settings.arch))
            dtype = torch.bfloat16 if bf16 else torch.float32
            train_seconds(params, data, settings)
            for r in range(repeats):  # interleaved: each pair shares the machine's state
                peak = matmul_peak(dtype)  # beside each measurement: one alone can be a dip
                a = n / train_seconds(params, data, settings)
                b, wait = standard(root, shape, n_classes, params, settings.arch, device, workers)
                rows.append(
                    {
                        "dataset": name,
                        "shape": "x".join(map(str, shape)),
                        "path": "bf16" if bf16 else "fp32",
                        "repeat": r,
                        "ours_images_per_s": a,
                        "standard_images_per_s": b,
                        "ratio": a / b,
                        "data_wait": wait,
                        "gflop_per_s": per_sample * a / 1e9,
                        "peak_gflop_per_s": peak,
                        "fraction_of_peak": per_sample * a / 1e9 / peak,
                    }
                )
    raw = pd.DataFrame(rows)
    out = (
        raw.groupby(["dataset", "shape", "path"], sort=False)
        .agg(
            ours_images_per_s=("ours_images_per_s", "median"),
            standard_images_per_s=("standard_images_per_s", "median"),
            speedup_median=("ratio", "median"),
            speedup_min=("ratio", "min"),
            speedup_max=("ratio", "max"),
            standard_data_wait_share=("data_wait", "median"),
            gflop_per_s=("gflop_per_s", "median"),
            peak_gflop_per_s=("peak_gflop_per_s", "median"),
            fraction_of_peak=("fraction_of_peak", "median"),
            repeats=("ratio", "size"),
        )
        .reset_index()
    )
    return out


# --- c. where the default pipeline's time goes -------------------------------------------------


def pipeline(run_dir: Path | None = None) -> tuple[pd.DataFrame, float]:
    """The README's run command on a fresh clone of this checkout (or an existing run in
    ``run_dir``), its wall time end to end, and the jobs' time split by what it was spent on:
    start-up (imports, data, warm-up), the optimiser (TPE etc.), training, evaluation, the
    per-epoch validation of learning curves, aggregation (tables, figures, report), Table 5
    and data preparation."""
    total = float("nan")
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp()) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(run_dir)], check=True)
        (run_dir / ".venv").symlink_to(ROOT / ".venv")
        env = {"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(Path.home())}
        t0 = time.perf_counter()
        for cmd in (
            ["snakemake", "--cores", "all"],
            ["snakemake", "--report", "reports/default/report.html"],
        ):
            subprocess.run(
                [sys.executable, "-m", *cmd], cwd=run_dir, env=env, check=True, capture_output=True
            )
        total = time.perf_counter() - t0
    bench = run_dir / "benchmarks" / "default"
    rows = {
        k: 0.0
        for k in (
            "start-up",
            "optimiser",
            "training",
            "evaluation",
            "learning curves",
            "aggregation",
            "table 5",
            "data preparation",
        )
    }
    for tsv in sorted((bench / "hpo").rglob("*.tsv")):
        wall = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
        rel = tsv.relative_to(bench / "hpo").with_suffix("")
        records = [
            json.loads(x)
            for x in (run_dir / "results" / "default" / "runs" / rel / "records.jsonl").open()
        ]
        train = sum(r.get("train_seconds") or 0 for r in records)
        curves = sum(r.get("curve_seconds") or 0 for r in records)
        evaluate = sum(r["eval_seconds"] for r in records) - train - curves
        suggest = sum(r["suggest_seconds"] for r in records)
        rows["training"] += train
        rows["evaluation"] += evaluate
        rows["learning curves"] += curves
        rows["optimiser"] += suggest
        rows["start-up"] += wall - records[-1]["elapsed_seconds"]
    for tsv in bench.glob("*.tsv"):
        wall = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
        rows["table 5" if tsv.stem == "table5" else "aggregation"] += wall
    for tsv in (bench / "prepare_data").glob("*.tsv"):
        rows["data preparation"] += float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
    df = pd.DataFrame({"part": list(rows), "job_seconds": list(rows.values())})
    df["share_of_job_seconds"] = df["job_seconds"] / df["job_seconds"].sum()
    return df, total


def startup(repeats: int = 5) -> pd.DataFrame:
    """Wall time of the commands a person waits on before any work: ``snakemake -n`` on a
    fresh clone (it plans the whole default run) and ``python -m gsos --help``, medians over
    repeats. With SLURM's client tools on PATH, snakemake's SLURM plugin asks sacct/squeue
    at import, so that case is measured apart (it waits much longer when no controller
    answers)."""
    import shutil

    run_dir = Path(tempfile.mkdtemp()) / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(run_dir)], check=True)
    venv_bin = str(ROOT / ".venv" / "bin")
    home = str(Path.home())
    basic = run_dir.parent / "bin"  # a shell and `which`, and no SLURM tools
    basic.mkdir()
    for tool in ("sh", "bash", "which", "env", "git"):
        if shutil.which(tool):
            (basic / tool).symlink_to(shutil.which(tool) or "")
    cases = [
        ("snakemake -n", [sys.executable, "-m", "snakemake", "-n", "-q"], f"{venv_bin}:{basic}")
    ]
    if shutil.which("sinfo"):
        cases.append(
            (
                "snakemake -n (SLURM tools on PATH)",
                [sys.executable, "-m", "snakemake", "-n", "-q"],
                f"{venv_bin}:{os.environ.get('PATH', '')}",
            )
        )
    cases.append(("python -m gsos --help", [sys.executable, "-m", "gsos", "--help"], venv_bin))
    rows = []
    for name, cmd, path in cases:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(
                cmd, cwd=run_dir, env={"PATH": path, "HOME": home}, check=True, capture_output=True
            )
            times.append(time.perf_counter() - t0)
        rows.append(
            {
                "command": name,
                "seconds_median": float(np.median(times)),
                "seconds_min": min(times),
                "seconds_max": max(times),
                "repeats": repeats,
                "target_seconds": 2.0 if name.startswith("snakemake") else 1.5,
            }
        )
    return pd.DataFrame(rows)


# --- d. TPE's overhead in our runner -----------------------------------------------------------


def tpe_overhead(cfg: dict, iterations: int, repeats: int) -> pd.DataFrame:
    """The project's runner (records written and fsynced) minus objective time, against raw
    hyperopt fmin minus objective time, on the same objective and seed, in process CPU time:
    nothing here sleeps, and wall-clock on a shared 2-core machine swings by ±40 %."""
    from functools import partial

    from gsos._hyperopt import hyperopt
    from gsos.optimizers.base import Budget, View
    from gsos.optimizers.hyperopt_search import HyperoptSearch, TPESettings
    from gsos.runner import Runner

    h = hyperopt()
    space = SearchSpace.from_config(cfg["search_space"])
    n_startup = int(cfg["tpe"]["n_startup_jobs"])

    def accuracy(p):
        return 1 / (1 + abs(np.log10(p["lr"]) + 3)) - p["dropout_rate"] / 10

    def run_ours(r: int) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            spent = 0.0

            def evaluate(ev, trial_seed, resume, save):
                nonlocal spent
                t = time.process_time()
                out = {"status": "ok", "val_accuracy": accuracy(ev.params), "test_accuracy": 0.0}
                spent += time.process_time() - t
                return out

            t0 = time.process_time()
            search = HyperoptSearch(
                View.of(space),
                r,
                Budget(evaluations=iterations),
                "tpe",
                TPESettings(n_startup_jobs=n_startup),
            )
            Runner(
                search,
                evaluate,
                Path(tmp) / "records.jsonl",
                seed=r,
                n_train=1,
                base_record={"run_key": "bench"},
                log=lambda m: None,
            ).run()
            return time.process_time() - t0 - spent

    def run_fmin(r: int) -> float:
        spent = 0.0

        def fn(params):
            nonlocal spent
            t = time.process_time()
            loss = 1 - accuracy({k: space.params[k].cast(v) for k, v in params.items()})
            spent += time.process_time() - t
            return {"loss": loss, "status": h.STATUS_OK}

        t0 = time.process_time()
        h.fmin(
            fn,
            space.hyperopt_space(),
            algo=partial(h.tpe.suggest, n_startup_jobs=n_startup),
            max_evals=iterations,
            trials=h.Trials(),
            rstate=np.random.default_rng(r),
            show_progressbar=False,
        )
        return time.process_time() - t0 - spent

    run_ours(99), run_fmin(99)  # warm both up before measuring
    rows = []
    for r in range(repeats):  # alternate which goes first, so order cannot bias the ratio
        first, second = (run_fmin, run_ours) if r % 2 else (run_ours, run_fmin)
        a, b = first(r), second(r)
        ours_s, raw_s = (b, a) if r % 2 else (a, b)
        rows.append(
            {"repeat": r, "ours_seconds": ours_s, "fmin_seconds": raw_s, "ratio": ours_s / raw_s}
        )
    df = pd.DataFrame(rows)
    return pd.DataFrame(
        [
            {
                "iterations": iterations,
                "repeats": repeats,
                "ours_seconds_median": df["ours_seconds"].median(),
                "fmin_seconds_median": df["fmin_seconds"].median(),
                "overhead_ratio_median": df["ratio"].median(),
                "overhead_ratio_min": df["ratio"].min(),
                "overhead_ratio_max": df["ratio"].max(),
                "target": TARGETS["tpe_overhead"],
            }
        ]
    )


# --- e. the paper protocol's cost --------------------------------------------------------------


def mean_epochs(cfg: dict, records: list[Path]) -> dict[str, float]:
    """Mean epochs per trial, per strategy: from run records when given, else from the budget
    (simultaneous: TPE over the epoch range, taken as its midpoint; GSOS: group 1 trains at the
    default, the epoch group searches the range, later groups at its best, taken as the
    midpoint)."""
    if records:
        from gsos.records import read_records

        trials = [r for p in records for r in read_records(p)]
        df = pd.DataFrame(
            [{"strategy": t["strategy"], "epoch": t["params"]["epoch"]} for t in trials]
        )
        return df.groupby("strategy")["epoch"].mean().to_dict()
    e = cfg["search_space"]["epoch"]
    mid, default = (e["low"] + e["high"]) / 2, e["default"]
    groups = cfg["gsos"]["groups"]
    k = next(i for i, g in enumerate(groups) if "epoch" in g["params"])
    shares = [g.get("share", g.get("iterations")) for g in groups]
    before = sum(shares[:k]) / sum(shares)  # trials trained at the default epoch count
    return {"simultaneous": mid, "gsos": before * default + (1 - before) * mid}


def projection(cfg: dict, tput: pd.DataFrame, epochs: dict[str, float]) -> pd.DataFrame:
    """Device-hours of the paper's datasets × 2 strategies × 5 seeds × 100 trials here."""
    rows = []
    seeds, iters = len(cfg["run"]["seeds"]), int(cfg["hpo"]["iterations"])
    val = 0.2
    for _, t in tput.iterrows():
        ds = cfg["datasets"][t["dataset"]]
        n_train = int(ds.get("paper", {}).get("n_images", 0) * (1 - val) * 0.8)
        for strategy, e in epochs.items():
            hours = seeds * iters * e * n_train / t["ours_images_per_s"] / 3600
            rows.append(
                {
                    "dataset": t["dataset"],
                    "strategy": strategy,
                    "n_train_images": n_train,
                    "mean_epochs_per_trial": e,
                    "images_per_s": t["ours_images_per_s"],
                    "device_hours": hours,
                }
            )
    return pd.DataFrame(rows)


# --- main --------------------------------------------------------------------------------------

PARTS = ("peak", "batch", "throughput", "pipeline", "startup", "tpe", "projection")


def paper_config() -> dict:
    from gsos.config import load_config, load_schema

    return load_config(
        ROOT / "config" / "config.yaml",
        [ROOT / "config" / "paper.yaml"],
        None,
        load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml"),
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
    warm_up()
    out = a.out if not a.quick else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    machine = describe()
    written = {}
    tput = None
    for part in a.parts:
        t0 = time.perf_counter()
        if part == "peak":
            df = pd.DataFrame(
                [
                    {
                        "dtype": str(d).removeprefix("torch."),
                        "matrix": "2048x2048",
                        "gflop_per_s": matmul_peak(d, 512 if a.quick else 2048),
                    }
                    for d in (torch.float32, torch.bfloat16)
                ]
            )
        elif part == "batch":
            df = batch_efficiency(
                cfg, (32,) if a.quick else (32, 64, 128, 256), a.images, a.repeats
            )
        elif part == "throughput":
            df = tput = throughput(cfg, a.images, a.repeats, a.workers, device)
        elif part == "pipeline":
            if a.quick:
                continue
            df, total = pipeline(a.run_dir)
            df["pipeline_wall_seconds"] = total
            df["target_seconds"] = TARGETS["pipeline_seconds"]
        elif part == "startup":
            df = startup(2 if a.quick else 5)
        elif part == "tpe":
            df = tpe_overhead(cfg, 20 if a.quick else 100, 1 if a.quick else 9)
        else:
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
