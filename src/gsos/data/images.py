"""Decoding a folder of class subfolders into uint8 tensors, skipping what is not an image.

Unreadable, zero-byte and non-image files are skipped and listed with their reason (the Dog
Cat archive has many); hidden files and folders are not data at any depth (see
:mod:`gsos.data.folders`); mixed modes (grey, RGB, RGBA, palette, 16-bit) and mixed sizes are
converted to the configured channels and size here, so every later step sees one shape.
16-bit images are scaled to 8 bits (value / 257), not clipped; 32-bit integer and float
images have no agreed range and are skipped with that reason.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from gsos.data.dedup import pixel_key
from gsos.data.folders import is_hidden, walk
from gsos.errors import DataError
from gsos.progress import Ticker

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
MAX_PIXELS = 100_000_000  # datasets.<name>.max_pixels: a photo, not a decompression bomb
Image.MAX_IMAGE_PIXELS = None  # our own limit is checked first, from the header alone


@dataclass
class DecodedFolder:
    images: torch.Tensor  # N×C×S×S uint8
    labels: np.ndarray
    class_names: list[str]
    names: list[str] = field(default_factory=list)  # each image's path under the root
    keys: list[str] = field(default_factory=list)  # each image's pixel digest (duplicates)
    skipped: list[dict[str, str]] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    sha256: str = ""

    @property
    def n_image_files(self) -> int:
        """Files that are images by name, readable or not (what an archive's count counts)."""
        broken = sum(Path(s["file"]).suffix.lower() in IMAGE_SUFFIXES for s in self.skipped)
        return len(self.labels) + broken


def to_8bit(img: Image.Image) -> Image.Image:
    """16-bit grey scaled to 0..255; modes without a known range refused."""
    if img.mode.startswith("I;16") or (img.mode == "I" and img.format == "PNG"):
        arr = np.asarray(img).astype(np.int64)
        if arr.min() < 0 or arr.max() > 65535:
            raise ValueError(f"unsupported pixel format ({img.mode} outside 0..65535)")
        return Image.fromarray(((arr * 255 + 32767) // 65535).astype(np.uint8), "L")
    if img.mode in ("I", "F"):
        kind = "32-bit integer" if img.mode == "I" else "32-bit float"
        raise ValueError(f"unsupported pixel format ({kind}; save it as 8- or 16-bit)")
    return img


def decode_image(
    path: Path, size: int, channels: int, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, str, str, str]:
    """One file -> C×size×size uint8, its original mode and size, and its pixel digest.

    An image larger than ``max_pixels`` is refused from its header, before any pixel is
    decoded (a 20000×20000 PNG would take gigabytes). The EXIF orientation is applied, so a
    photo trains the way it is seen, not the way the camera stored it. Raises ValueError
    (with the reason) if the file is not a usable image.
    """
    if path.stat().st_size == 0:
        raise ValueError("zero-byte file")
    try:
        with Image.open(path) as img:
            if img.width * img.height > max_pixels:
                raise ValueError(
                    f"over the pixel limit ({img.width}x{img.height} = "
                    f"{img.width * img.height:,} pixels > datasets.<name>.max_pixels "
                    f"{max_pixels:,})"
                )
            img.load()  # a truncated file fails here, not later
            img = ImageOps.exif_transpose(img)
            mode, wh = img.mode, f"{img.width}x{img.height}"
            key = pixel_key(mode, (img.width, img.height), img.tobytes())
            img = to_8bit(img).convert("L" if channels == 1 else "RGB")
            img = img.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except UnidentifiedImageError as e:
        # a .jpg PIL cannot identify is a broken image, a .txt is simply not one
        reason = "unreadable image" if path.suffix.lower() in IMAGE_SUFFIXES else "not an image"
        raise ValueError(f"{reason} (no decoder recognised it)") from e
    except (OSError, SyntaxError) as e:
        raise ValueError(f"unreadable image ({e})") from e
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return arr, mode, wh, key


def class_folders(root: Path) -> tuple[dict[str, Path], list[str]]:
    """The class folders under ``root`` and the hidden entries there."""
    if not root.exists():
        raise DataError(
            f"{root}: no such folder; point source.path at a folder of class subfolders"
        )
    if not root.is_dir():
        raise DataError(
            f"{root} is a file, not a folder; point source.path at a folder of class subfolders"
        )
    try:
        entries = sorted(root.iterdir())
    except OSError as e:
        raise DataError(
            f"{root}: cannot read this folder ({e.strerror}); fix its permissions"
        ) from None
    hidden = [p.name for p in entries if is_hidden(p.name)]
    folders: dict[str, Path] = {}
    real: dict[str, str] = {}
    for p in entries:
        if p.is_dir() and not is_hidden(p.name):
            target = os.path.realpath(p)
            if target in real:
                raise DataError(
                    f"{p}: this class folder is a link to the class folder {real[target]!r}, "
                    "so every image would be in two classes; remove the link"
                )
            real[target] = p.name
            folders[p.name] = p
    if not folders:
        raise DataError(f"{root}: no class subfolders found; expected {root}/<class>/<image files>")
    return folders, hidden


def decode_folder(
    root: Path,
    size: int,
    channels: int,
    classes: Sequence[str] | None = None,
    say: Callable[[str], None] | None = None,
    max_pixels: int = MAX_PIXELS,
) -> DecodedFolder:
    """Decode ``root/<class>/**/<file>``; ``classes`` fixes which classes and their order.

    ``say`` gets a progress line every 10 s of a long decode (files done of all, time left).
    """
    root = Path(root)
    folders, hidden = class_folders(root)
    names = list(classes) if classes is not None else sorted(folders)
    missing = [n for n in names if n not in folders]
    if missing:
        raise DataError(
            f"{root}: class folder(s) {missing} missing (expected {names}; found {sorted(folders)})"
        )
    if len(names) < 2:
        raise DataError(
            f"{root}: found {len(names)} class folder ({', '.join(map(repr, names))}); "
            f"classification needs at least 2: add class subfolders ({root}/<class>/<images>)"
        )
    arrays, labels, files_kept, keys, skipped = [], [], [], [], []
    modes: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    digest = hashlib.sha256()
    listing = {name: walk(folders[name]) for name in names}
    ticker = Ticker(
        f"decoding {root}",
        sum(len(listed.visible) for listed in listing.values()),
        say or (lambda _: None),
        unit=" files",
    )
    for label, name in enumerate(names):
        files, hidden_here, links = listing[name]
        hidden += [str(h.relative_to(root)) for h in hidden_here]
        for link, why in links:
            rel = str(link.relative_to(root))
            skipped.append({"file": rel, "reason": "folder link not followed", "detail": why})
        n_before = len(arrays)
        for f in files:
            ticker.update()
            rel = str(f.relative_to(root))
            try:
                arr, mode, wh, key = decode_image(f, size, channels, max_pixels)
            except ValueError as e:
                skipped.append({"file": rel, "reason": str(e).split(" (")[0], "detail": str(e)})
                continue
            digest.update(rel.encode())
            digest.update(f.read_bytes())
            arrays.append(arr)
            labels.append(label)
            files_kept.append(rel)
            keys.append(key)
            modes[mode] += 1
            sizes[wh] += 1
        if len(arrays) == n_before:
            raise DataError(
                f"{folders[name]}: class {name!r} has no usable images "
                f"({len(files)} file(s), all skipped); add images or remove the folder"
            )
    ticker.close()
    return DecodedFolder(
        images=torch.from_numpy(np.stack(arrays)),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=names,
        names=files_kept,
        keys=keys,
        skipped=skipped,
        hidden=sorted(hidden),
        modes=dict(modes),
        sizes=dict(sizes.most_common(20)),
        sha256=digest.hexdigest(),
    )
