"""Dataset preparation: every source ends in the same tensors-plus-manifest layout.

A prepared dataset is ``data.pt`` (uint8 images N×C×H×W and int64 labels for the train,
validation and test splits, plus the train split's per-channel mean and std) and
``manifest.json`` (class names, counts per class and split, source checksum, settings).
Images stay uint8 so the largest paper dataset fits on a GPU; training normalises per batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gsos.data.folders import fingerprint
from gsos.data.images import MAX_PIXELS
from gsos.data.tensors import SPLITS
from gsos.errors import DataError


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize N×C×H×W uint8 images to size×size (bilinear, antialiased)."""
    if images.shape[-2:] == (size, size):
        return images.clone()
    x = F.interpolate(
        images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return x.round().clamp(0, 255).to(torch.uint8)


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey <-> RGB on N×C×H×W uint8 (ITU-R 601 luma for RGB -> grey)."""
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise DataError(f"cannot convert {c}-channel images to {channels} channels")


def stratified_split(
    labels: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    class_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """A fixed split: per class, a seeded shuffle, then test, validation, and the rest train.

    ``test_fraction`` may be 0 when the dataset brings its own test split; ``class_names``
    name the classes in messages.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_test = round(len(idx) * test_fraction)
        n_val = round(len(idx) * val_fraction)
        if test_fraction > 0:
            n_test = max(n_test, 1)
        n_val = max(n_val, 1)
        if len(idx) - n_test - n_val < 1:
            need = (2 if test_fraction > 0 else 1) + 1
            who = repr(class_names[cls]) if class_names is not None else str(cls)
            raise DataError(
                f"class {who} has {len(idx)} image(s); the split needs at least {need} "
                "(one each for train, validation and test). Add images or lower "
                "split.validation / split.test in the config."
            )
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {s: np.sort(np.concatenate(parts[s])) for s in SPLITS}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def prepare_arrays(
    images: torch.Tensor,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    name: str,
    image_size: int,
    channels: int,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    source: Mapping[str, Any],
    test_images: torch.Tensor | None = None,
    test_labels: np.ndarray | None = None,
    keys: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    test_keys: Sequence[str] | None = None,
    test_names: Sequence[str] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Deduplicate, resize, convert and split decoded uint8 images; return tensors and manifest.

    When ``test_images`` is given (an official test split), only validation is split off
    the training images. ``keys`` are the images' pixel digests (computed from ``images``
    when not given) and ``names`` how the manifest names them; exact duplicates are removed
    before the split by the rule of :mod:`gsos.data.dedup`.
    """
    from gsos.data.dedup import array_keys, deduplicate

    labels = np.asarray(labels, dtype=np.int64)
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise DataError(
            f"{name}: expected N×C×H×W uint8 images, got {images.dtype} {tuple(images.shape)}"
        )
    if len(images) != len(labels):
        raise DataError(f"{name}: {len(images)} images but {len(labels)} labels")
    official_test = test_images is not None
    n_source = len(images) + (len(test_images) if official_test else 0)
    dedup = deduplicate(
        keys if keys is not None else array_keys(images.numpy()),
        labels,
        names if names is not None else [f"image {i}" for i in range(len(images))],
        class_names,
        test_keys=(
            (test_keys if test_keys is not None else array_keys(test_images.numpy()))
            if official_test
            else ()
        ),
        test_names=(
            (test_names or [f"test image {i}" for i in range(len(test_images))])
            if official_test
            else ()
        ),
    )
    if not dedup.keep.all():
        images = images[torch.from_numpy(dedup.keep)]
        labels = labels[dedup.keep]
    present = np.unique(labels)
    if len(present) < 2:
        removed = int((~dedup.keep).sum())
        why = (
            f" after removing {removed} duplicate image(s) (identical images under different "
            "classes are all removed; the manifest lists them)"
            if removed
            else ""
        )
        raise DataError(
            f"{name}: {len(present)} class(es) with images{why}; classification needs at least 2"
        )
    split = stratified_split(
        labels, val_fraction, 0.0 if official_test else test_fraction, split_seed, class_names
    )
    x = convert_channels(resize_uint8(images, image_size), channels)
    tensors: dict[str, torch.Tensor] = {}
    for s in ("train", "val") if official_test else SPLITS:
        sel = torch.from_numpy(split[s])
        tensors[f"x_{s}"] = x[sel].contiguous()
        tensors[f"y_{s}"] = torch.from_numpy(labels[split[s]])
    if official_test:
        assert test_labels is not None
        tx = convert_channels(resize_uint8(test_images, image_size), channels)
        tensors["x_test"] = tx.contiguous()
        tensors["y_test"] = torch.from_numpy(np.asarray(test_labels, dtype=np.int64))
    train = tensors["x_train"].float() / 255.0
    tensors["mean"] = train.mean(dim=(0, 2, 3))
    tensors["std"] = train.std(dim=(0, 2, 3)).clamp_min(1e-3)
    counts = {
        s: {class_names[c]: int((tensors[f"y_{s}"] == c).sum()) for c in range(len(class_names))}
        for s in SPLITS
    }
    manifest = {
        "name": name,
        "class_names": list(class_names),
        "n_classes": len(class_names),
        "image_size": image_size,
        "channels": channels,
        "shape": [channels, image_size, image_size],
        "counts": counts,
        "n_images": {s: sum(counts[s].values()) for s in SPLITS},
        "split": {
            "validation": val_fraction,
            "test": "official" if official_test else test_fraction,
            "seed": split_seed,
        },
        "normalisation": {
            "mean": [round(float(v), 6) for v in tensors["mean"]],
            "std": [round(float(v), 6) for v in tensors["std"]],
        },
        "source": dict(source),
        "n_source_images": n_source,
        "duplicates": dedup.manifest(),
    }
    return tensors, manifest


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, 1,797 images of 8×8 (values 0..16) and their labels.

    Read straight from the file scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``,
    what ``load_digits`` reads), without importing scikit-learn: that import costs about 4 s,
    most of a preparation job. Falls back to ``load_digits`` if the file has moved.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        d = load_digits()
        return np.asarray(d.images, dtype=np.float64), np.asarray(d.target)
    data = np.loadtxt(path, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def load_digits_source() -> tuple[torch.Tensor, np.ndarray, list[str], dict[str, Any]]:
    """scikit-learn's 1,797 8×8 digits (values 0..16), as uint8 0..255 images."""
    raw, target = digits_arrays()
    imgs = np.round(raw * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    source = {
        "kind": "embedded",
        "name": "digits",
        "origin": "sklearn.datasets.load_digits",
        "sha256": sha256_bytes(raw.tobytes(), np.asarray(target).tobytes()),
    }
    return torch.from_numpy(imgs), np.asarray(target), [str(n) for n in range(10)], source


def prepare_dataset(
    name: str,
    cfg: Mapping[str, Any],
    resources: Path = Path("resources"),
    say: Callable[[str], None] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Prepare one configured dataset (``datasets.<name>`` of the config).

    Downloaded kinds (http, kaggle) read ``resources/<name>/data``, which the download step
    fills; ``source.format`` says whether it holds class folders or npz arrays.
    """
    src = cfg["source"]
    split = cfg.get("split", {})
    common = {
        "name": name,
        "image_size": int(cfg["image_size"]),
        "channels": int(cfg.get("channels", 1)),
        "val_fraction": float(split.get("validation", 0.2)),
        "test_fraction": float(split.get("test", 0.2)),
        "split_seed": int(split.get("seed", 0)),
    }
    kind = src["kind"]
    if kind == "embedded":
        if src.get("name", "digits") != "digits":
            raise DataError(f"datasets.{name}.source.name: only 'digits' is embedded")
        images, labels, classes, source = load_digits_source()
        tensors, manifest = prepare_arrays(images, labels, classes, source=source, **common)
    elif kind == "folder":
        tensors, manifest = prepare_folder(
            Path(src["path"]),
            source={
                "kind": "folder",
                "path": src["path"],
                "content": fingerprint(src["path"], src.get("test_path")),
            },
            test_path=Path(src["test_path"]) if src.get("test_path") else None,
            classes=cfg.get("classes"),
            say=say,
            max_pixels=int(cfg.get("max_pixels", MAX_PIXELS)),
            **common,
        )
    elif kind in ("http", "kaggle"):
        root = Path(resources) / name / "data"
        if not root.is_dir():
            raise DataError(f"{root}: not downloaded; run the workflow (it downloads first)")
        source = {"kind": kind, **{k: src[k] for k in ("dataset",) if k in src}}
        if kind == "kaggle":
            parts = src["dataset"].split("/")
            source["version"] = int(parts[2]) if len(parts) == 3 else "latest (not pinned)"
        if src.get("format", "folder") == "npz":
            tensors, manifest = prepare_npz(root, src, source=source, **common)
        else:
            train = locate(root, src["train"])
            test = locate(root, src["test"]) if src.get("test") else None
            tensors, manifest = prepare_folder(
                train,
                source=source,
                test_path=test,
                classes=cfg.get("classes"),
                say=say,
                max_pixels=int(cfg.get("max_pixels", MAX_PIXELS)),
                **common,
            )
    else:
        raise DataError(f"datasets.{name}.source.kind: unknown kind {kind!r}")
    if cfg.get("paper"):
        manifest["paper_comparison"] = compare_with_paper(manifest, cfg["paper"])
    return tensors, manifest


def compare_with_paper(manifest: Mapping[str, Any], paper: Mapping[str, Any]) -> dict[str, Any]:
    """Prepared counts beside paper Table 2; the report shows any difference.

    ``n_images`` counts the image files of the source, unreadable ones and duplicates
    included but not other files (Thumbs.db, notes) or hidden ones, as an archive's own
    count would; ``n_usable_images`` is what was prepared. ``paper.note`` (config) says why
    a known difference exists.
    """
    prepared = {
        "n_images": manifest["n_source_images"],
        "n_usable_images": sum(manifest["n_images"].values()),
        "n_classes": manifest["n_classes"],
    }
    rows: dict[str, Any] = {}
    for key in ("n_images", "n_classes"):
        if key in paper:
            rows[key] = {
                "paper": paper[key],
                "prepared": prepared[key],
                "difference": prepared[key] - paper[key],
            }
    rows["n_usable_images"] = prepared["n_usable_images"]
    rows["differs"] = any(r["difference"] != 0 for k, r in rows.items() if isinstance(r, dict))
    if paper.get("note"):
        rows["note"] = paper["note"]
    return rows


def locate(root: Path, pattern: str) -> Path:
    """The one folder under ``root`` matching ``pattern`` (a glob) that holds class folders."""
    matches = sorted(p for p in root.glob(pattern) if p.is_dir())
    classlike = [
        m
        for m in matches
        if sum(1 for c in m.iterdir() if c.is_dir() and any(f.is_file() for f in c.iterdir())) >= 2
    ]
    if len(classlike) == 1:
        return classlike[0]
    seen = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())[:15]
    raise DataError(
        f"{root}: {len(classlike)} folders match {pattern!r} and hold class subfolders "
        f"({[str(m.relative_to(root)) for m in classlike] or 'none'}); folders there: {seen}. "
        "Fix source.train / source.test in the config."
    )


def _npz_array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: missing; check source.train / source.test in the config")
    with np.load(path) as z:
        return z[z.files[0]]


def prepare_npz(
    root: Path, src: Mapping[str, Any], *, source: dict[str, Any], **common: Any
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Arrays of N×H×W (grey) or N×H×W×C uint8 images with integer labels (Kuzushiji-49)."""

    def images(spec: Mapping[str, str]) -> tuple[torch.Tensor, np.ndarray]:
        x = _npz_array(root / spec["images"])
        y = _npz_array(root / spec["labels"]).astype(np.int64).ravel()
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)), y

    x, y = images(src["train"])
    tx, ty = images(src["test"]) if src.get("test") else (None, None)
    n_classes = int(max(y.max(), ty.max() if ty is not None else 0)) + 1
    names = list(src.get("class_names") or [str(i) for i in range(n_classes)])
    return prepare_arrays(x, y, names, source=source, test_images=tx, test_labels=ty, **common)


def prepare_folder(
    path: Path,
    *,
    source: dict[str, Any],
    test_path: Path | None = None,
    classes: Sequence[str] | None = None,
    say: Callable[[str], None] | None = None,
    max_pixels: int = MAX_PIXELS,
    **common: Any,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A folder of class subfolders (and optionally an official test folder alike).

    ``classes`` (config ``datasets.<name>.classes``) keeps a subset of the class folders, in
    the given order; by default every class folder is used, in sorted order.
    """
    from gsos.data.images import class_folders, decode_folder

    size, channels = common["image_size"], common["channels"]
    left_out: list[str] = []
    if classes is not None:
        available = sorted(class_folders(Path(path))[0])
        for c in classes:
            if c not in available:
                raise DataError(
                    f"classes: {c!r} is not a class folder of {path} (there: {available}); "
                    "fix datasets.<name>.classes in the config"
                )
        left_out = [c for c in available if c not in classes]
    train = decode_folder(path, size, channels, classes, say, max_pixels)
    test = (
        decode_folder(test_path, size, channels, train.class_names, say, max_pixels)
        if test_path
        else None
    )
    skipped = train.skipped + (test.skipped if test else [])
    source = {**source, "sha256": train.sha256, "modes": train.modes, "sizes": train.sizes}
    if test:
        source["test_sha256"] = test.sha256
    tensors, manifest = prepare_arrays(
        train.images,
        train.labels,
        train.class_names,
        source=source,
        test_images=test.images if test else None,
        test_labels=test.labels if test else None,
        keys=train.keys,
        names=train.names,
        test_keys=test.keys if test else None,
        test_names=test.names if test else None,
        **common,
    )
    manifest["n_source_images"] = train.n_image_files + (test.n_image_files if test else 0)
    reasons: dict[str, int] = {}
    for s in skipped:
        reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
    manifest["skipped"] = {"count": len(skipped), "by_reason": reasons, "files": skipped}
    hidden = train.hidden + ([f"(test) {h}" for h in test.hidden] if test else [])
    manifest["hidden"] = {"count": len(hidden), "entries": hidden}
    if classes is not None:
        manifest["classes_left_out"] = left_out
    return tensors, manifest


def prepare_to_files(
    name: str,
    settings: Mapping[str, Any],
    resources: Path,
    data_path: Path,
    manifest_path: Path,
    download_record: Path | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The ``prepare`` verb: one dataset into ``data.pt`` and ``manifest.json`` (with the
    download's checksums when it was downloaded); returns the manifest."""
    from gsos.data.tensors import save_prepared

    tensors, manifest = prepare_dataset(name, settings, Path(resources), say=say)
    if download_record is not None:
        manifest["source"]["files"] = json.loads(Path(download_record).read_text())["files"]
    save_prepared(data_path, manifest_path, tensors, manifest)
    return manifest
