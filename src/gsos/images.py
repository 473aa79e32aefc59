"""Decoding a folder of class subfolders into uint8 tensors, skipping what is not an image.

Unreadable, zero-byte and non-image files are skipped and listed with their reason (the Dog
Cat archive has many); mixed modes (grey, RGB, RGBA, palette) and mixed sizes are converted
to the configured channels and size here, so every later step sees one shape.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gsos.data import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
Image.MAX_IMAGE_PIXELS = 200_000_000  # a photo, not a decompression bomb


@dataclass
class DecodedFolder:
    images: torch.Tensor  # N×C×S×S uint8
    labels: np.ndarray
    class_names: list[str]
    skipped: list[dict[str, str]] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    sha256: str = ""


def decode_image(path: Path, size: int, channels: int) -> tuple[np.ndarray, str, str]:
    """One file -> C×size×size uint8, its original mode and size. Raises ValueError if unusable."""
    if path.stat().st_size == 0:
        raise ValueError("zero-byte file")
    try:
        with Image.open(path) as img:
            img.load()  # a truncated file fails here, not later
            mode, wh = img.mode, f"{img.width}x{img.height}"
            img = img.convert("L" if channels == 1 else "RGB")
            img = img.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except UnidentifiedImageError as e:
        # a .jpg PIL cannot identify is a broken image, a .txt is simply not one
        reason = "unreadable image" if path.suffix.lower() in IMAGE_SUFFIXES else "not an image"
        raise ValueError(f"{reason} (no decoder recognised it)") from e
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"unreadable image ({e})") from e
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return arr, mode, wh


def class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(
            f"{root}: no such folder; point source.path at a folder of class subfolders"
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no class subfolders found; expected {root}/<class>/<image files>")
    return folders


def decode_folder(
    root: Path, size: int, channels: int, classes: Iterable[str] | None = None
) -> DecodedFolder:
    """Decode ``root/<class>/**/<file>``; ``classes`` fixes the label order (e.g. a test split)."""
    root = Path(root)
    folders = {p.name: p for p in class_folders(root)}
    names = list(classes) if classes is not None else sorted(folders)
    missing = [n for n in names if n not in folders]
    if missing:
        raise DataError(
            f"{root}: class folder(s) {missing} missing (expected the same classes as training)"
        )
    arrays, labels, skipped = [], [], []
    modes: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    digest = hashlib.sha256()
    for label, name in enumerate(names):
        files = sorted(p for p in folders[name].rglob("*") if p.is_file())
        n_before = len(arrays)
        for f in files:
            rel = str(f.relative_to(root))
            try:
                arr, mode, wh = decode_image(f, size, channels)
            except ValueError as e:
                skipped.append({"file": rel, "reason": str(e).split(" (")[0], "detail": str(e)})
                continue
            digest.update(rel.encode())
            digest.update(f.read_bytes())
            arrays.append(arr)
            labels.append(label)
            modes[mode] += 1
            sizes[wh] += 1
        if len(arrays) == n_before:
            raise DataError(
                f"{folders[name]}: class {name!r} has no usable images "
                f"({len(files)} file(s), all skipped); add images or remove the folder"
            )
    return DecodedFolder(
        images=torch.from_numpy(np.stack(arrays)),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=names,
        skipped=skipped,
        modes=dict(modes),
        sizes=dict(sizes.most_common(20)),
        sha256=digest.hexdigest(),
    )
