"""``gsos gpu-check``: the GPU path exercised end to end in about a minute, on the machine
that will run the experiment.

No GPU was lent to this project, so the CUDA path is kept right by construction and by CPU
tests that stand in for a GPU (tests/test_device.py). This command is the one a user with a
GPU runs first: it binds a GPU as an HPO job does, picks the precision as ``auto`` would,
warms up, trains a configuration in that precision, and checks that a training continued
from a saved state (what every Hyperband/BOHB promotion does) ends where one in one go ends.
On a CPU it runs the same checks on the CPU (its CPU half), so it runs anywhere.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PARAMS = {"num_conv_layers": 2, "lr": 0.003, "dropout_rate": 0.1, "optimizer": "adam",
          "epoch": 4, "stride": 1, "padding": "same", "kernel": 3, "num_fc_units": 64,
          "batch_size": 64}  # fmt: skip


def gpu_check(
    device_name: str = "auto", say: Callable[[str], None] = print, filters: int = 32
) -> list[dict]:
    """Run every check, saying each result as it comes; the results (name, ok, detail).
    ``filters``: the CNN's base filters (the paper config's 32; fewer for a quicker look)."""
    results: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        results.append({"check": name, "ok": bool(ok), "detail": detail})
        say(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    from gsos.training.gpus import bind_gpu, inventory

    found = inventory()
    units = ", ".join(found.units) or "none"
    detail = f"{len(found)} unit(s) via {found.source}: {units}"
    check(
        "GPU inventory",
        found.warning is None,
        detail + (f"; {found.warning}" if found.warning else ""),
    )
    with tempfile.TemporaryDirectory() as locks:
        slot = bind_gpu(device_name, 1, Path(locks), say=say, wait=5.0)
        check(
            "binding",
            device_name == "cpu" or not found.units or slot is not None,
            f"CUDA_VISIBLE_DEVICES={slot.gpu}" if slot else "not bound (CPU, or chosen already)",
        )
        _train_checks(device_name, check, filters)
        if slot is not None:
            slot.release()
    return results


def _train_checks(device_name: str, check: Callable[[str, bool, str], None], filters: int) -> None:
    import torch

    from gsos.data.prepare import prepare_dataset
    from gsos.data.tensors import load_prepared, save_prepared
    from gsos.training.model import CNN
    from gsos.training.trainer import TrainSettings, resolve_device, train_and_evaluate, warm_up_for

    device = resolve_device(device_name)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    check("device", True, f"{device} ({name})")
    settings = TrainSettings.from_config({"model": {"base_filters": filters}})
    with tempfile.TemporaryDirectory() as tmp:
        tensors, manifest = prepare_dataset(
            "digits", {"source": {"kind": "embedded", "name": "digits"}, "image_size": 16}
        )
        save_prepared(Path(tmp) / "d.pt", Path(tmp) / "m.json", tensors, manifest)
        data = load_prepared(Path(tmp) / "d.pt", device)
        model = CNN(PARAMS, data.in_shape, data.n_classes, settings.arch)
        bf16 = settings.bf16(device, model)
        check("precision", True, f"auto chooses {'bf16' if bf16 else 'fp32'} here")
        t0 = time.perf_counter()
        warmed = warm_up_for(device, settings)
        check("warm-up", warmed["device"].startswith(device.type),
              f"on {warmed['device']} in {time.perf_counter() - t0:.2f} s")  # fmt: skip
        for precision in ("fp32", "bf16") if bf16 else ("fp32",):
            s = TrainSettings.from_config(
                {"model": {"base_filters": filters}, "training": {"precision": precision}}
            )
            r = train_and_evaluate(PARAMS, data, 0, s)
            check(
                f"training ({precision})",
                r.val_accuracy > 0.5 and not r.diverged,
                f"val accuracy {r.val_accuracy:.3f} after {r.epochs_run} epochs, "
                f"{r.train_seconds:.2f} s",
            )
        whole = train_and_evaluate(PARAMS, data, 1, settings)
        state = Path(tmp) / "state.pt"
        train_and_evaluate({**PARAMS, "epoch": 2}, data, 1, settings, save=state)
        continued = train_and_evaluate(PARAMS, data, 1, settings, resume=state)
        gap = abs(whole.val_accuracy - continued.val_accuracy)
        exact = device.type == "cpu"  # cuDNN picks algorithms at run time: close, not equal
        check(
            "continuation from a saved state",
            gap == 0 if exact else gap <= 0.05,
            f"2 + 2 epochs: val accuracy {continued.val_accuracy:.4f}, 4 in one go "
            f"{whole.val_accuracy:.4f} ({'must be equal on a CPU' if exact else 'close'})",
        )
