"""``gsos gpu-check``: go or no-go for the GPU path, on the machine that will run the
experiment, in about a minute.

No GPU was lent to this project, so the CUDA path is kept right by construction and by CPU
tests that stand in for a GPU (tests/test_device.py). This command is the one a user with a
GPU runs first. It fails (exit 1) where torch cannot use the GPUs the machine lists, names
the binding (its own slot, or the scheduler's CUDA_VISIBLE_DEVICES), and then, on the
device, runs each path that differs there: the precision ``auto`` picks, the warm-up,
training, a Hyperband/BOHB continuation across a save and load that must end where a run
in one go ends (torch's deterministic algorithms, a tight tolerance: one image of accuracy,
1e-4 of the loss), a continuation across devices, one ``bilevel_vf`` outer step, one
``bilevel`` hypergradient and one data-share (``fabolas``, ``hyperband_data``) evaluation.
On a CPU it runs the same checks on the CPU under CUDA's random-number rules
(:mod:`gsos.training.standins`), so that its CPU half catches what the GPU would refuse.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

PARAMS = {"num_conv_layers": 2, "lr": 0.003, "dropout_rate": 0.1, "optimizer": "adam",
          "epoch": 4, "stride": 1, "padding": "same", "kernel": 3, "num_fc_units": 64,
          "batch_size": 64}  # fmt: skip
AL_STEP = {"phase": "al", "steps": 3, "vhat": 0.5, "mu": 0.1, "rho": 10.0}  # bilevel_vf
LOSS_TOLERANCE = 1e-4  # relative: a broken continuation moves the loss by 1e-2 and more


class Checks:
    """The results so far, each said as it comes: ``checks(name, ok, detail)``; a check run
    through :meth:`guard` that raises fails, saying why, and the others still run."""

    def __init__(self, say: Callable[[str], None]):
        self.say, self.results = say, []  # type: ignore[var-annotated]

    def __call__(self, name: str, ok: bool, detail: str) -> None:
        self.results.append({"check": name, "ok": bool(ok), "detail": detail})
        self.say(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    def guard(self, name: str, run: Callable[[], None]) -> None:
        try:
            run()
        except Exception as e:  # noqa: BLE001 - a go/no-go says FAIL, not a traceback
            first = (str(e).strip().splitlines() or [""])[0]
            self(name, False, f"{type(e).__name__}: {first}")

    @property
    def passed(self) -> bool:
        return all(r["ok"] for r in self.results)


def gpu_check(
    device_name: str = "auto",
    say: Callable[[str], None] = print,
    filters: int = 32,
    env: dict[str, str] | None = None,
    image_size: int = 16,
) -> list[dict]:
    """Run every check, saying each result as it comes; the results (name, ok, detail).
    ``filters`` and ``image_size``: the CNN's base filters (the paper config's 32) and the
    digits' side (fewer and smaller for a quicker look, as the tests take).
    ``env``: the environment whose CUDA_VISIBLE_DEVICES binds (this process's)."""
    checks = Checks(say)
    env = os.environ if env is None else env  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as locks:
        slot, listed = preflight(device_name, checks, env, Path(locks), say)
        if checks.passed:
            try:
                _train_checks(device_name, listed, checks, filters, image_size)
            finally:
                if slot is not None:
                    slot.release()
    return checks.results


def preflight(
    device_name: str, checks: Checks, env: dict[str, str], lock_dir: Path, say: Callable
) -> tuple[Any, bool]:
    """The GPUs listed, whether torch can use them, and the binding; the slot held (None
    on the CPU) and whether GPUs are listed. Training checks run only where these pass: on
    GPUs torch cannot use they would run on the CPU and prove nothing."""
    from gsos.training.gpus import bind_gpu, inventory, torch_gpu_problem

    found = inventory(env)
    units = ", ".join(found.units) or "none"
    detail = f"{len(found)} unit(s) via {found.source}: {units}"
    checks(
        "GPU inventory",
        found.warning is None,
        detail + (f"; {found.warning}" if found.warning else ""),
    )
    listed = device_name != "cpu" and bool(found.units)
    if device_name != "cpu":
        problem = torch_gpu_problem(found)
        if device_name == "cuda" and not found.units:
            problem = "device: cuda, but no GPU is listed here (nvidia-smi, /dev/nvidia*)"
        checks("torch can use the GPUs", problem is None, problem or _torch_sees(found))
        if problem is not None:
            return None, listed
    slot = bind_gpu(device_name, 1, lock_dir, env=env, say=say, wait=5.0)
    checks(
        "binding",
        slot is not None or not listed,
        slot.describe() if slot else "none: the checks run on the CPU",
    )
    return slot, listed


def _torch_sees(found: Any) -> str:
    import torch

    if not found.units:
        return "no GPU listed: the checks run on the CPU"
    return (
        f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees "
        f"{torch.cuda.device_count()} GPU(s)"
    )


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[list[warnings.WarningMessage]]:
    """torch's deterministic algorithms for the duration, so that a continuation can be held
    to a run in one go: cuDNN picks deterministic convolutions, cuBLAS a fixed workspace
    (CUBLAS_WORKSPACE_CONFIG, set before the first cuBLAS call: gpu-check sets it first);
    an operation without a deterministic kernel warns (collected, yielded) instead of
    failing. Everything is put back afterwards."""
    import torch

    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark = before[2]


def continuation_matches(whole: Any, continued: Any, n_val: int) -> tuple[bool, str]:
    """Whether a continued training ended where one in one go ended: accuracies within one
    validation image, losses within LOSS_TOLERANCE (relative). A continuation that restores
    its state wrongly (data order, random state, optimiser) is off by far more."""
    gap_acc = abs(whole.val_accuracy - continued.val_accuracy)
    a, b = whole.val_loss, continued.val_loss
    loss_ok = a is not None and b is not None and abs(a - b) <= LOSS_TOLERANCE * max(1.0, abs(a))
    ok = loss_ok and gap_acc <= 1.0 / max(n_val, 1) + 1e-12
    return ok, (
        f"val accuracy {continued.val_accuracy:.4f} vs {whole.val_accuracy:.4f} in one go, "
        f"val loss {b} vs {a}"
    )


def _train_checks(
    device_name: str, listed: bool, checks: Checks, filters: int, image_size: int
) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts
    from gsos.training.standins import cuda_rng_rules
    from gsos.training.trainer import device_facts, resolve_device

    device = resolve_device(device_name)
    facts = device_facts(device)
    checks(
        "device",
        device.type == ("cuda" if listed else "cpu"),  # GPUs listed and usable: on one
        f"{device}: {facts['device_name']}"
        + (f", driver {facts['driver']}, CUDA {facts['torch_cuda']}, capability "
           f"{facts['capability']}" if device.type == "cuda" else ""),
    )  # fmt: skip
    # on a CPU, the CPU stands in for the GPU and refuses what CUDA refuses
    on_device = cuda_rng_rules if device.type == "cpu" else contextlib.nullcontext
    with tempfile.TemporaryDirectory() as tmp:
        _checks_on(device, checks, filters, image_size, Path(tmp), on_device)


def _checks_on(
    device: Any,
    checks: Checks,
    filters: int,
    image_size: int,
    tmp: Path,
    on_device: Callable[[], Any],
) -> None:
    """The training checks; ``on_device()`` is the context each training on the device runs
    in (CUDA's random-number rules where a CPU stands in for the GPU)."""
    import torch

    from gsos.data.prepare import prepare_dataset
    from gsos.data.tensors import load_prepared, save_prepared
    from gsos.training.model import CNN
    from gsos.training.trainer import (
        TrainSettings,
        precision_used,
        train_and_evaluate,
        warm_up_for,
    )

    def train(*args: Any, **kwargs: Any) -> Any:
        with on_device():
            return train_and_evaluate(*args, **kwargs)

    settings = TrainSettings.from_config({"model": {"base_filters": filters}})
    tensors, manifest = prepare_dataset(
        "digits", {"source": {"kind": "embedded", "name": "digits"}, "image_size": image_size}
    )
    save_prepared(tmp / "d.pt", tmp / "m.json", tensors, manifest)
    data = load_prepared(tmp / "d.pt", device)
    n_val, state = len(data.y["val"]), tmp / "state.pt"
    model = CNN(PARAMS, data.in_shape, data.n_classes, settings.arch)
    bf16 = settings.bf16(device, model)
    checks("precision", True, f"auto trains in {precision_used(device, bf16)} here")

    def warm() -> None:
        t0 = time.perf_counter()
        warmed = warm_up_for(device, settings)
        checks("warm-up", warmed["device"].startswith(device.type),
               f"on {warmed['device']} in {time.perf_counter() - t0:.2f} s")  # fmt: skip

    def training(precision: str) -> None:
        s = TrainSettings.from_config(
            {"model": {"base_filters": filters}, "training": {"precision": precision}}
        )
        r = train(PARAMS, data, 0, s)
        checks(
            f"training ({precision})",
            r.val_accuracy > 0.5 and not r.diverged,
            f"val accuracy {r.val_accuracy:.3f} after {r.epochs_run} epochs, "
            f"{r.train_seconds:.2f} s, recorded as {r.precision}",
        )

    whole: list[Any] = []

    def continuation() -> None:
        with deterministic_algorithms() as nondeterministic:
            whole.append(train(PARAMS, data, 1, settings))
            train({**PARAMS, "epoch": 2}, data, 1, settings, save=state)
            continued = train(PARAMS, data, 1, settings, resume=state)
        ok, detail = continuation_matches(whole[0], continued, n_val)
        ops = sorted({str(w.message).split(" ")[0] for w in nondeterministic
                      if "deterministic" in str(w.message)})  # fmt: skip
        checks(
            "Hyperband continuation across a save and load",
            ok and continued.epochs_run == 2,
            f"2 + 2 epochs against 4 in one go (deterministic algorithms): {detail}"
            + (f"; operations without a deterministic kernel: {', '.join(ops)}" if ops else ""),
        )

    def across() -> None:
        _across_devices(device, data, settings, state, whole[0], checks, n_val)

    def bilevel_vf() -> None:
        vf = train(
            {**PARAMS, "epoch": 1, "weight_decay": 1e-3},
            data, 2, settings, value_function=AL_STEP,
        ).extra["value_function"]  # fmt: skip
        checks(
            "bilevel_vf outer step",
            vf["steps"] == AL_STEP["steps"] and _finite(vf["violation"]),
            f"{vf['steps']} inner steps on minibatches drawn for the device, constraint "
            f"violation {vf['violation']}",
        )

    def bilevel() -> None:
        hg = train({**PARAMS, "epoch": 1}, data, 3, settings, hypergradient={})
        d = hg.extra["hypergradient"]["log_lr"]
        checks("bilevel hypergradient", _finite(d), f"d(val loss)/d(log lr) {d}")

    def data_share() -> None:
        share = train({**PARAMS, "epoch": 2}, data, 4, settings, data_fraction=1 / 3)
        n_share = math.floor(len(data.y["train"]) / 3)
        checks(
            "data-share evaluation (fabolas, hyperband_data)",
            share.sample_epochs == 2 * n_share and _finite(share.val_loss),
            f"a third of the training split ({n_share} images) for 2 epochs: "
            f"val accuracy {share.val_accuracy:.3f}",
        )

    checks.guard("warm-up", warm)
    for precision in ("fp32", "bf16") if bf16 else ("fp32",):
        checks.guard(f"training ({precision})", lambda p=precision: training(p))
    checks.guard("Hyperband continuation across a save and load", continuation)
    if whole:
        checks.guard("continuation across devices", across)
    checks.guard("bilevel_vf outer step", bilevel_vf)
    checks.guard("bilevel hypergradient", bilevel)
    checks.guard("data-share evaluation (fabolas, hyperband_data)", data_share)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _across_devices(
    device: Any,
    data: Any,
    settings: Any,
    state: Path,
    whole: Any,
    checks: Checks,
    n_val: int,
) -> None:
    """A state saved on the training device continued on the CPU (a GPU run's state; on a
    CPU, one saved under CUDA's rules): every random state must restore on the other
    device. On a CPU the result must equal the run in one go; across a GPU and a CPU the
    arithmetic differs, so the continuation must only run and learn."""
    from gsos.data.tensors import DeviceData
    from gsos.training.trainer import train_and_evaluate

    if device.type == "cuda":
        host = DeviceData(
            x={k: v.cpu() for k, v in data.x.items()},
            y={k: v.cpu() for k, v in data.y.items()},
            mean=data.mean.cpu(),
            std=data.std.cpu(),
            n_classes=data.n_classes,
        )
        continued = train_and_evaluate(PARAMS, host, 1, settings, resume=state)
        ok, detail = (
            continued.val_accuracy > 0.5,
            (
                f"saved on {device}, continued on the CPU: val accuracy "
                f"{continued.val_accuracy:.4f} ({whole.val_accuracy:.4f} in one go on the GPU)"
            ),
        )
    else:  # the state was saved under CUDA's rules: continued on a plain CPU
        continued = train_and_evaluate(PARAMS, data, 1, settings, resume=state)
        ok, detail = continuation_matches(whole, continued, n_val)
        detail = "saved on the stand-in GPU, continued on the CPU: " + detail
    checks("continuation across devices", ok and continued.epochs_run == 2, detail)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def summary(results: list[Mapping[str, Any]]) -> str:
    """The command's last line: all passed, or which failed."""
    failed = [r["check"] for r in results if not r["ok"]]
    if failed:
        return f"gpu-check: {len(failed)} check(s) failed: {', '.join(failed)}"
    return f"gpu-check: all {len(results)} checks passed"
