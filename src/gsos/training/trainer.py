"""Training and evaluation of one configuration: the objective behind every HPO iteration.

The data are already on the device as uint8 tensors (see :mod:`gsos.data.tensors`); batches are
index slices of them, normalised on the fly, so nothing is decoded or copied per epoch.
A non-finite training loss ends training early and marks the trial ``diverged``: that is a
result (the model is evaluated as it stands, near chance), not a crash.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gsos.data.tensors import DeviceData
from gsos.training.allocator import keep_freed_memory
from gsos.training.descent import SGD, Adam
from gsos.training.model import CNN, Architecture


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 itself (x86 AVX512_BF16 or AMX, Arm BF16). Read once
    per process: every trial asks, and /proc/cpuinfo runs to megabytes on large machines."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def cuda_capability(device: torch.device) -> tuple[int, int] | None:
    """A CUDA device's compute capability; None for any other device."""
    return torch.cuda.get_device_capability(device) if device.type == "cuda" else None


def tf32_in_use(device: torch.device) -> bool:
    """Whether fp32 work on ``device`` runs on TF32 tensor cores: on GPUs of compute
    capability 8.0 on (Ampere, Hopper), cuDNN's convolutions do by default
    (``torch.backends.cudnn.allow_tf32``), and matmuls where ``torch.backends.cuda.matmul.
    allow_tf32`` says so. TF32 keeps fp32's range with a 10-bit mantissa: not fp32."""
    capability = cuda_capability(device)
    if capability is None or tuple(capability) < (8, 0):
        return False
    return bool(torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32)


def precision_used(device: torch.device, bf16: bool) -> str:
    """The arithmetic a trial really ran in, for its record: ``bf16`` (autocast), ``tf32``
    (fp32 values, convolutions on TF32 tensor cores: see :func:`tf32_in_use`) or ``fp32``."""
    if bf16:
        return "bf16"
    return "tf32" if tf32_in_use(device) else "fp32"


@functools.cache
def cpu_model() -> str | None:
    """The CPU's model name (/proc/cpuinfo), for records: runs on other CPUs are not timed
    alike."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model", "Hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or None


def device_facts(device: torch.device) -> dict[str, Any]:
    """What a run's records name of the device it trained on: the model (``device_name``: a
    GPU's name, or the CPU's), the NVIDIA ``driver``'s version and the CUDA version torch
    was built for (``torch_cuda``; both None on a CPU), and a GPU's compute ``capability``.
    Wall-clock times of runs on different devices are not comparable; afterwards, these say
    which runs those were."""
    if device.type != "cuda":
        return {"device_name": cpu_model(), "driver": None, "torch_cuda": None, "capability": None}
    from gsos.training.gpus import gpu_facts

    capability = cuda_capability(device)
    return {
        "device_name": torch.cuda.get_device_name(device),
        "driver": gpu_facts().driver,
        "torch_cuda": torch.version.cuda,
        "capability": ".".join(map(str, capability)) if capability else None,
    }


def bf16_pays(
    device_type: str,
    capability: tuple[int, int] | None,
    cpu_native: bool,
    flops_per_sample: float,
    min_mflop: float,
) -> bool:
    """``precision: auto``'s rule. On a CUDA GPU: compute capability 8.0 or more (Ampere on),
    where cuDNN has bf16 convolutions; below (V100 7.0, T4 7.5) ``is_bf16_supported()`` is
    true through emulation while convolutions fall back to slow kernels, so fp32. On a CPU:
    native bf16 (AVX512_BF16, AMX) and a CNN of at least ``min_mflop`` MFLOP per training
    image (below that bf16 was slower than fp32 here: bench/results). Never elsewhere."""
    if device_type == "cuda":
        return capability is not None and tuple(capability) >= (8, 0)
    if device_type == "cpu":
        return cpu_native and flops_per_sample >= min_mflop * 1e6
    return False


CHUNK_ELEMENTS = 1 << 22  # values gathered and normalised at once: 16 MB of float32


@dataclass
class TrainSettings:
    """Training choices the paper leaves open (config ``training``)."""

    sgd_momentum: float = 0.0
    eval_batch_size: int = 1024
    arch: Architecture = field(default_factory=Architecture)
    precision: str = "auto"  # "fp32", "bf16" (autocast) or "auto" (see bf16())
    channels_last: bool = True
    bf16_min_mflop: float = 2.0
    cpu_micro_batch_elements: int = 1 << 19

    def micro_batch(self, device: torch.device, batch_size: int, image_elements: int) -> int:
        """How many images go through the network at once. On a CPU a large batch of large
        images is cut into micro-batches of at most ``cpu_micro_batch_elements`` input values
        (a power of two images), their gradients summed before the one optimiser step: the
        same gradient, and activations that stay in the caches (batch 256 of 3x64x64 trained
        1.5x faster as 8 x 32 here, bench/results/batch.csv). 0 never cuts; GPUs never do."""
        limit = self.cpu_micro_batch_elements
        if device.type != "cpu" or limit <= 0 or batch_size * image_elements <= limit:
            return batch_size
        fits = max(1, limit // image_elements)
        return 1 << (fits.bit_length() - 1)

    def bf16(self, device: torch.device, model: CNN) -> bool:
        """Whether to train in bf16 autocast. ``auto``: see :func:`bf16_pays`; the device's
        capability is read here (a CUDA GPU's compute capability, a CPU's flags)."""
        if self.precision != "auto":
            return self.precision == "bf16"
        return bf16_pays(
            device.type,
            cuda_capability(device),
            cpu_has_native_bf16(),
            model.train_flops_per_sample,
            self.bf16_min_mflop,
        )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TrainSettings:
        """The settings of config ``training`` (this class's fields) and ``model``
        (:class:`Architecture`'s), each cast to its default's type; a key a (test's partial)
        config lacks keeps the dataclass's default, declared once, there."""

        def read(kind: type, section: Mapping[str, Any]) -> dict[str, Any]:
            names = [f.name for f in fields(kind) if f.name != "arch"]
            return {n: type(getattr(kind, n))(section[n]) for n in names if n in section}

        arch = Architecture(**read(Architecture, cfg.get("model", {})))
        return cls(**read(cls, cfg.get("training", {})), arch=arch)


@dataclass
class TrialResult:
    val_accuracy: float
    val_loss: float | None
    test_accuracy: float
    test_loss: float | None
    epochs_run: int
    train_seconds: float
    diverged: bool
    sample_epochs: int
    adjustments: list[str]
    precision: str = "fp32"  # what it really ran in: fp32, tf32 or bf16 (precision_used)
    curve: list[dict[str, Any]] | None = None  # validation after each epoch trained here
    curve_seconds: float = 0.0
    stopped: dict[str, Any] | None = None  # why training stopped early (learning curves)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the hypergradient

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out


@dataclass
class Meter:
    """Training images processed so far (sample-epochs): what a trial that fails part-way
    is charged, the same rule as for any other trial."""

    images: int = 0


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda when present; asking for cuda without one is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            "device: cuda was asked for but torch sees no GPU; set device: cpu or auto"
        )
    return torch.device(name)


def warm_up(
    device: torch.device | str = "cpu", bf16: bool = False, channels_last: bool = True
) -> dict[str, Any]:
    """Pay the one-off costs of training on ``device`` (kernel selection, first allocations;
    on CUDA the cuDNN and cuBLAS start-up, which take seconds) before the clock starts, so
    that a run's first trial, and so its time to best, does not carry them. A convolution,
    pooling and linear layer, forward and backward in the precision and memory format the
    trials use, then a step of each optimiser. Returns what it ran, and where."""
    device = torch.device(device)
    layer = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2)
    ).to(device)
    x = torch.ones(2, 1, 4, 4, device=device)
    if channels_last:
        layer, x = (
            layer.to(memory_format=torch.channels_last),
            x.contiguous(memory_format=torch.channels_last),
        )
    for opt in (Adam(layer.parameters(), lr=1e-3), SGD(layer.parameters(), lr=0.1)):
        with autocast(device, bf16):
            loss = layer(x).float().sum()
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {"device": str(loss.device), "bf16": bf16, "channels_last": channels_last}


def warm_up_for(device: torch.device, settings: TrainSettings) -> dict[str, Any]:
    """:func:`warm_up` in what this run's trials may use on ``device``: channels-last as
    configured, and bf16 wherever precision could choose it there."""
    could = bf16_pays(device.type, cuda_capability(device), cpu_has_native_bf16(), math.inf, 0.0)
    bf16 = settings.precision == "bf16" or (settings.precision == "auto" and could)
    return warm_up(device, bf16=bf16, channels_last=settings.channels_last)


def make_optimizer(params: Mapping[str, Any], model: nn.Module, momentum: float) -> Adam | SGD:
    """torch.optim's arithmetic without torch.optim (see :mod:`gsos.training.descent` for why).

    ``weight_decay`` (optional: 0 unless searched or fixed) is L2 regularisation inside the
    training objective, (weight_decay / 2) ||w||^2, as torch.optim's ``weight_decay``."""
    lr = float(params["lr"])
    decay = float(params.get("weight_decay", 0.0))
    if params["optimizer"] == "adam":
        return Adam(model.parameters(), lr=lr, weight_decay=decay)
    if params["optimizer"] == "sgd":
        return SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=decay)
    raise ValueError(f"optimizer must be adam or sgd, not {params['optimizer']!r}")


def batch_input(data: DeviceData, xb: torch.Tensor, channels_last: bool) -> torch.Tensor:
    xb = data.normalise(xb)
    return xb.contiguous(memory_format=torch.channels_last) if channels_last else xb


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on ``device``, or nothing (autocast knows CPU and CUDA, not every
    device a test stands in with)."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: DeviceData,
    split: str,
    batch_size: int,
    bf16: bool = False,
    channels_last: bool = False,
) -> tuple[float, float | None]:
    """Accuracy and mean cross-entropy on one split; loss is None when not finite."""
    model.eval()
    x, y = data.x[split], data.y[split]
    correct = torch.zeros((), device=x.device)
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    for i in range(0, len(x), batch_size):
        with autocast(x.device, bf16):
            logits = model(batch_input(data, x[i : i + batch_size], channels_last)).float()
        yb = y[i : i + batch_size]
        correct += (logits.argmax(1) == yb).sum()
        loss_sum += nn.functional.cross_entropy(logits, yb, reduction="sum").double()
    n = max(len(x), 1)
    loss = float(loss_sum) / n
    return float(correct) / n, (loss if math.isfinite(loss) else None)


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    """Random states are CPU byte tensors whatever device trains: the CPU one always
    restored, the CUDA one where this evaluation trains on CUDA and the saved one has it."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def data_order(seed: int) -> torch.Generator:
    """The generator of a trial's per-epoch shuffles: on the CPU whatever device trains, so
    its state can be saved on one device and restored on another (a CUDA generator's state
    does not fit a CPU generator, and the RNG setters take CPU byte tensors only)."""
    return torch.Generator().manual_seed(seed)


def save_state(path: Path, model: nn.Module, opt: Adam | SGD, gen, epochs: int) -> None:
    """Everything a later evaluation needs to continue training exactly where this one ended."""
    from gsos.atomic import atomic_write_bytes

    device = next(model.parameters()).device
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "generator": gen.get_state(),
        "rng": _rng_state(device),
        "epochs": epochs,
    }
    atomic_write_bytes(Path(path), lambda f: torch.save(state, f))


def resume_state(
    path: Path, model: nn.Module, opt: Adam | SGD, gen: torch.Generator, device: torch.device
) -> int:
    """Continue from a saved state: read on the CPU (a state saved on another device, or
    random states mapped to a GPU, would not restore), weights and optimiser state copied
    onto ``device``, random states restored; the epochs already trained."""
    state = torch.load(path, map_location="cpu", weights_only=True)  # tensors, numbers, dicts
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["generator"])
    _set_rng_state(state["rng"], device)
    return int(state["epochs"])


# (curve so far: one {epoch, val_accuracy, val_loss} per epoch) -> None to go on, or a dict
# saying why to stop (``predicted_final_accuracy``, ``probability``), for learning-curve
# extrapolation
AfterEpoch = Callable[[list[dict[str, Any]]], dict[str, Any] | None]

SUBSET_SEED = 20261127  # the fixed order data fractions are taken in (nested: 1/9 in 1/3)


def training_subset(n: int, fraction: float, device: torch.device) -> torch.Tensor | None:
    """The training images a data-fraction evaluation uses: the first ``fraction`` of one
    fixed random order, so a larger fraction holds every image of a smaller one. Rounded
    down, so an evaluation never costs more than its share of the budget."""
    if fraction >= 1.0:
        return None
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SUBSET_SEED))
    return order[: max(1, math.floor(fraction * n + 1e-9))].to(device)  # never above


def train_and_evaluate(
    params: Mapping[str, Any],
    data: DeviceData,
    seed: int,
    settings: TrainSettings,
    *,
    resume: Path | None = None,
    save: Path | None = None,
    curve: bool = False,
    after_epoch: AfterEpoch | None = None,
    data_fraction: float = 1.0,
    hypergradient: Mapping[str, Any] | None = None,
    value_function: Mapping[str, Any] | None = None,
    meter: Meter | None = None,
) -> TrialResult:
    """Train one configuration to ``params['epoch']`` epochs and evaluate it.

    From scratch, or, with ``resume``, from a state saved by an earlier evaluation of the
    same configuration (model, optimiser, data-order generator and random state), training
    only the missing epochs: with per-epoch shuffles drawn from one generator and the random
    state restored, 3 epochs and then 6 more give exactly what 9 in one go give (on CPU).
    ``save`` writes the state at the end, for a later evaluation to continue.

    ``curve`` evaluates the validation split after every epoch (a learning curve; its time is
    counted apart from training); ``after_epoch`` sees that curve and may stop training early.
    ``data_fraction`` trains on that share of the training split (see training_subset).
    ``meter`` counts the training images processed as training goes (read when it raises).
    ``hypergradient`` (its options) also measures how the validation loss moves with the
    learning and dropout rates (:mod:`gsos.training.hypergrad`); its unrolled steps count as
    training images. ``value_function`` (its options) reports the final training objective,
    or runs one augmented-Lagrangian step on the trained state
    (:mod:`gsos.training.value_function`); its steps count as training images too.
    """
    device = data.x["train"].device
    keep_freed_memory()  # each step's large blocks reused, not faulted in again (once a process)
    torch.manual_seed(seed)
    gen = data_order(seed)
    model = CNN(params, data.in_shape, data.n_classes, settings.arch).to(device)
    bf16, cl = settings.bf16(device, model), settings.channels_last
    if cl:  # NHWC: oneDNN's and cuDNN's fast convolutions, and a 10x faster CPU max-pool
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(params, model, settings.sgd_momentum)
    done = 0
    if resume is not None:
        done = resume_state(resume, model, opt, gen, device)
    loss_fn = nn.CrossEntropyLoss()
    x, y = data.x["train"], data.y["train"]
    subset = training_subset(len(x), data_fraction, device)
    if subset is not None:
        x, y = x[subset], y[subset]
    n, bs = len(x), int(params["batch_size"])
    epochs, diverged, epochs_run = int(params["epoch"]), False, 0
    points: list[dict[str, Any]] = []
    stopped: dict[str, Any] | None = None
    curve_seconds = 0.0
    start = time.perf_counter()
    # Batches are gathered and normalised a chunk of them at a time (one gather and one
    # normalisation per chunk instead of per step; the values are the same), each chunk a
    # whole number of batches and at most CHUNK_ELEMENTS values, whatever the dataset.
    per_chunk = max(1, CHUNK_ELEMENTS // (bs * x[0].numel())) * bs
    micro = settings.micro_batch(device, bs, x[0].numel())
    for epoch in range(done + 1, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        epoch_loss = torch.zeros((), device=device)
        for c in range(0, n, per_chunk):
            idx = order[c : c + per_chunk]
            xc, yc = batch_input(data, x[idx], cl), y[idx]
            for i in range(0, len(idx), bs):
                xb, yb = xc[i : i + bs], yc[i : i + bs]
                opt.zero_grad()
                if micro >= len(yb):
                    with autocast(device, bf16):
                        loss = loss_fn(model(xb).float(), yb)
                    loss.backward()
                    epoch_loss += loss.detach()
                else:  # the batch's mean loss as a weighted sum of its micro-batches' means
                    for j in range(0, len(yb), micro):
                        xj, yj = xb[j : j + micro], yb[j : j + micro]
                        with autocast(device, bf16):
                            part = loss_fn(model(xj).float(), yj) * (len(yj) / len(yb))
                        part.backward()
                        epoch_loss += part.detach()
                opt.step()
                if meter is not None:
                    meter.images += len(yb)
        epochs_run += 1
        if not torch.isfinite(epoch_loss):  # one sync per epoch, not per step
            diverged = True
            break
        if curve or after_epoch is not None:
            t0 = time.perf_counter()
            acc, vloss = evaluate(model, data, "val", settings.eval_batch_size, bf16, cl)
            points.append({"epoch": epoch, "val_accuracy": acc, "val_loss": vloss})
            curve_seconds += time.perf_counter() - t0
            if after_epoch is not None and epoch < epochs:
                stopped = after_epoch(points)
                if stopped is not None:
                    break
    extra: dict[str, Any] = {}
    if value_function is not None and not diverged and stopped is None:
        from gsos.training.value_function import constrained_evaluation

        ebs = settings.eval_batch_size
        extra = constrained_evaluation(
            model, opt, params, data, gen, value_function,
            prepare=lambda xb: batch_input(data, xb, cl),
            measure=lambda split: evaluate(model, data, split, ebs, False, cl)[1],
        )  # fmt: skip
        if meter is not None:
            meter.images += extra["value_function"]["images"]
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - start - curve_seconds
    if save is not None and not diverged and stopped is None:
        save_state(save, model, opt, gen, done + epochs_run)
    if points and not diverged:  # the last point of the curve is this model on validation
        val_acc, val_loss = points[-1]["val_accuracy"], points[-1]["val_loss"]
    else:
        val_acc, val_loss = evaluate(model, data, "val", settings.eval_batch_size, bf16, cl)
    test_acc, test_loss = evaluate(model, data, "test", settings.eval_batch_size, bf16, cl)
    if hypergradient is not None and not diverged and stopped is None:
        from gsos.training.hypergrad import hypergradient as measure

        h = hypergradient
        extra = measure(
            model,
            params,
            data,
            seed,
            steps=int(h.get("unroll_steps", 5)),
            temperature=float(h.get("temperature", 0.1)),
            val_images=int(h.get("val_images", 512)),
            optimizer_state=opt.state_dict(),
            momentum=settings.sgd_momentum,
        )
    return TrialResult(
        val_accuracy=val_acc,
        val_loss=val_loss,
        test_accuracy=test_acc,
        test_loss=test_loss,
        epochs_run=epochs_run,
        train_seconds=train_seconds,
        diverged=diverged,
        sample_epochs=n * epochs_run
        + extra.get("hypergradient_images", 0)
        + extra.get("value_function", {}).get("images", 0),
        adjustments=list(model.adjustments),
        precision=precision_used(device, bf16),
        curve=points if curve or after_epoch is not None else None,
        curve_seconds=curve_seconds,
        stopped=stopped,
        extra=extra,
    )
