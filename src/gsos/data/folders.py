"""Which files of an image folder are data, and a fingerprint of them.

One rule for every depth: a file or folder whose name starts with "." (``.ipynb_checkpoints``,
``.DS_Store``, macOS ``._*`` resource forks) or is ``__MACOSX`` is not data. Jupyter's
checkpoint folders hold byte-identical copies of images, so decoding them would put an image
in two splits. Preparation and the workflow's rerun check both use this module, so they
agree on what the dataset is. It imports nothing heavy: the workflow calls it while it builds
the DAG.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

HIDDEN_NAMES = {"__MACOSX"}


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name in HIDDEN_NAMES


def walk(root: Path) -> tuple[list[Path], list[Path]]:
    """Visible files under ``root`` (sorted) and the hidden entries that were left out.

    A hidden folder is listed once, not file by file; nothing below it is read.
    """
    visible: list[Path] = []
    hidden: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in sorted(dirnames):
            if is_hidden(d):
                hidden.append(here / d)
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for f in sorted(filenames):
            (hidden if is_hidden(f) else visible).append(here / f)
    return sorted(visible), sorted(hidden)


def iter_stats(root: Path) -> Iterator[tuple[str, int, int]]:
    """(relative path, size, modification time in ns) of every visible file."""
    for path in walk(root)[0]:
        st = path.stat()
        yield str(path.relative_to(root)), st.st_size, st.st_mtime_ns


def fingerprint(*roots: str | Path | None) -> str:
    """A digest of the names, sizes and modification times of the visible files.

    Adding, removing, replacing or touching an image changes it; the workflow passes it to
    the preparation job as a parameter, so a changed folder is prepared again. A missing
    root gives a fixed marker (preparation reports it properly).
    """
    h = hashlib.sha256()
    for root in roots:
        if root is None:
            continue
        root = Path(root)
        h.update(f"root {root}\n".encode())
        if not root.is_dir():
            h.update(b"missing\n")
            continue
        for rel, size, mtime in iter_stats(root):
            h.update(f"{rel}\t{size}\t{mtime}\n".encode())
    return h.hexdigest()[:16]
