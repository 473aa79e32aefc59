"""GSOS and simultaneous records for fixed seeds, pinned before the strategy refactor.

Two levels: the strategy alone on a deterministic synthetic objective (machine-independent:
every proposal, seed and record field), and a real run on the prepared digits (training
included). Timing fields are left out; new record fields may be added, but every field the
golden files hold must keep its value.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gsos.search.records import TIMING_FIELDS

GOLDEN = Path(__file__).resolve().parent / "golden"
TIMING = TIMING_FIELDS
GROUPS = [
    {"name": "G1", "params": ["num_conv_layers", "lr", "dropout_rate"], "share": 4},
    {"name": "G2", "params": ["optimizer", "epoch"], "share": 3},
    {
        "name": "G3",
        "params": ["stride", "padding", "kernel", "num_fc_units", "batch_size"],
        "share": 3,
    },
]
SPACE = {
    "num_conv_layers": {"type": "choice", "values": [2, 3, 4], "default": 3},
    "lr": {"type": "loguniform", "low": 1.0e-5, "high": 1.0, "default": 0.01},
    "dropout_rate": {"type": "uniform", "low": 0.0, "high": 0.9, "default": 0.0},
    "optimizer": {"type": "choice", "values": ["adam", "sgd"], "default": "adam"},
    "epoch": {"type": "int", "low": 1, "high": 2, "default": 1},
    "stride": {"type": "choice", "values": [1, 2], "default": 1},
    "padding": {"type": "choice", "values": ["valid", "same"], "default": "same"},
    "kernel": {"type": "choice", "values": [3, 5], "default": 3},
    "num_fc_units": {"type": "int", "low": 64, "high": 256, "default": 64},
    "batch_size": {"type": "choice", "values": [32, 64, 128, 256], "default": 32},
}


def synthetic_outcome(params: dict, trial_seed: int) -> dict:
    """A deterministic stand-in for training: every hyperparameter moves the accuracy."""
    acc = 0.9 - 0.05 * abs(math.log10(params["lr"]) + 2.5) - 0.1 * params["dropout_rate"]
    acc -= 0.03 * (params["optimizer"] == "sgd") + 0.02 * (params["num_conv_layers"] == 4)
    acc -= 0.01 * (params["kernel"] == 3) + params["batch_size"] / 20_000
    acc -= 0.01 * (params["stride"] == 2) + 0.005 * (params["padding"] == "valid")
    acc += params["epoch"] / 1000 + params["num_fc_units"] / 100_000 + (trial_seed % 7) / 10_000
    acc = max(acc, 0.05)
    return {"status": "ok", "val_accuracy": acc, "test_accuracy": acc - 0.02}


def stripped(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def _settings(iterations: int) -> dict:
    return {
        "search_space": SPACE,
        "gsos": {"groups": GROUPS},
        "hpo": {"iterations": iterations},
        "tpe": {"n_startup_jobs": 3},
        "training": {"precision": "fp32", "channels_last": False},  # the arithmetic pinned
        "model": {"base_filters": 4},
        "device": "cpu",
    }


def synthetic_records(strategy: str, work: Path | None = None) -> list[dict]:
    """30 iterations of the strategy on the synthetic objective, seed 11."""
    import tempfile

    from synthetic import run_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        records = run_synthetic(
            strategy, _settings(30), 11, Path(work or tmp), synthetic_outcome, GROUPS
        )
    return stripped(records)


def real_records(strategy: str, work: Path) -> list[dict]:
    """10 iterations of a real run on the digits at 8x8 (1-2 epochs, 4 base filters), seed 5."""
    from gsos.data.prepare import prepare_dataset
    from gsos.data.tensors import save_prepared
    from gsos.search.groups import build_groups
    from gsos.search.records import read_records
    from gsos.search.run import run_hpo

    work.mkdir(parents=True, exist_ok=True)
    tensors, manifest = prepare_dataset(
        "digits", {"source": {"kind": "embedded", "name": "digits"}, "image_size": 8}
    )
    save_prepared(work / "data.pt", work / "manifest.json", tensors, manifest)
    settings = _settings(10)
    groups = build_groups(list(SPACE), 10, GROUPS) if strategy == "gsos" else []
    run_hpo(
        dataset="digits",
        strategy=strategy,
        seed=5,
        settings=settings,
        groups=groups,
        shares=[g["share"] for g in GROUPS] if groups else None,
        data_path=work / "data.pt",
        manifest_path=work / "manifest.json",
        records_path=work / f"{strategy}.jsonl",
        summary_path=work / f"{strategy}.json",
    )
    records = stripped(read_records(work / f"{strategy}.jsonl"))
    for r in records:
        r.pop("run_key")  # a hash of the settings, whose layout may change
    return records


# Floating-point losses are pinned to this relative tolerance: a CPU of another family
# (Intel with AMX against the AMD EPYC the files were made on) sums a convolution in another
# order and moves a loss in its 7th significant digit. Everything else is pinned exactly:
# configurations, budgets, statuses, seeds, and accuracies, which are whole images over a
# split's size (the same count gives the same float on any CPU).
LOSS_RTOL = 1e-5


def assert_same(got, want, where: str) -> None:
    """``got`` holds every field of ``want`` with its value (losses within LOSS_RTOL, at any
    depth: a learning curve's points too)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: {got!r} is not a mapping"
        for key, value in want.items():
            assert key in got, f"{where}: field {key!r} is gone"
            assert_same(got[key], value, f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} != {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    elif "loss" in where.rsplit(".", 1)[-1] and isinstance(want, float):
        assert got == pytest.approx(want, rel=LOSS_RTOL), f"{where}: {got!r} != {want!r}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def assert_golden(records: list[dict], name: str) -> None:
    golden = json.loads((GOLDEN / name).read_text())
    assert len(records) == len(golden)
    for i, (got, want) in enumerate(zip(records, golden, strict=True)):
        assert_same(got, want, f"record {i + 1}")


def test_losses_are_pinned_to_a_tolerance_and_the_rest_exactly():
    """What an Intel CPU changed (a loss in a curve, 1.2068576653 against 1.2068575803)
    passes; a changed accuracy (one image of 359) or configuration does not."""
    want = {"curve": [{"val_loss": 1.2068575803, "val_accuracy": 140 / 359}], "loss": 0.6}
    assert_same({"curve": [{"val_loss": 1.2068576653, "val_accuracy": 140 / 359}],
                 "loss": 0.6 * (1 + 1e-7)}, want, "r")  # fmt: skip
    with pytest.raises(AssertionError, match="val_accuracy"):
        assert_same({"curve": [{"val_loss": 1.2068575803, "val_accuracy": 141 / 359}],
                     "loss": 0.6}, want, "r")  # fmt: skip
    with pytest.raises(AssertionError, match="params.lr"):
        assert_same({"params": {"lr": 0.01}}, {"params": {"lr": 0.0100001}}, "r")


@pytest.mark.parametrize("strategy", ["gsos", "simultaneous"])
def test_strategy_records_are_unchanged_on_a_synthetic_objective(strategy):
    assert_golden(synthetic_records(strategy), f"{strategy}_synthetic.json")


FRESH = (
    "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[2]); "
    "import test_golden as g; "
    "print(json.dumps({s: g.real_records(s, Path(sys.argv[1]) / s) "
    "for s in ('gsos', 'simultaneous')}))"
)


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory) -> dict[str, list[dict]]:
    """Both real runs, GSOS then simultaneous, in one fresh interpreter, as the golden files
    were made: CPU convolutions in channels-last layout give slightly other values in a
    process that trained other networks before (a loss moved in the 4th digit, an accuracy
    by one image, after other tests' runs in the same worker; issue 22), and the golden
    files hold what this order gives. HPO jobs run one run each in their own process."""
    import subprocess
    import sys

    work = tmp_path_factory.mktemp("golden")
    run = subprocess.run(
        [sys.executable, "-c", FRESH, str(work), str(Path(__file__).parent)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("strategy", ["gsos", "simultaneous"])
def test_real_run_records_are_unchanged_on_the_digits(strategy, real_runs):
    assert_golden(real_runs[strategy], f"{strategy}_digits.json")
