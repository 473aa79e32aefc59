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
from typing import NamedTuple

HIDDEN_NAMES = {"__MACOSX"}


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name in HIDDEN_NAMES


class Listing(NamedTuple):
    """What a folder holds: its data files, its hidden entries, and the symbolic links to
    folders that were not followed (each with why)."""

    visible: list[Path]
    hidden: list[Path]
    links: list[tuple[Path, str]]


def walk(root: Path) -> Listing:
    """Visible files under ``root`` (sorted), the hidden entries left out, and the links left
    out.

    A hidden folder is listed once, not file by file; nothing below it is read. A symbolic
    link to a folder is followed once: a link back into a folder already being read (a
    loop) or to one already read (the same images twice) is listed, not followed. A folder
    that cannot be read raises :class:`DataError` naming it (an unreadable folder is not an
    empty one).
    """
    from gsos.errors import DataError

    visible: list[Path] = []
    hidden: list[Path] = []
    links: list[tuple[Path, str]] = []
    seen: dict[str, Path] = {}

    def unreadable(error: OSError) -> None:
        raise DataError(
            f"{error.filename}: cannot read this folder ({error.strerror}); fix its "
            "permissions or remove it from the dataset"
        )

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=True):
        here = Path(dirpath)
        seen.setdefault(os.path.realpath(here), here)
        keep = []
        for d in sorted(dirnames):
            if is_hidden(d):
                hidden.append(here / d)
                continue
            real, inside = os.path.realpath(here / d), os.path.realpath(here)
            if (here / d).is_symlink() and (inside + os.sep).startswith(real + os.sep):
                links.append((here / d, "a link to a folder that holds it (a loop)"))
            elif (here / d).is_symlink() and real in seen:
                links.append((here / d, f"a link to {seen[real]}, which is read already"))
            else:
                seen.setdefault(real, here / d)
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            (hidden if is_hidden(f) else visible).append(here / f)
    return Listing(sorted(visible), sorted(hidden), sorted(links))


def iter_stats(root: Path) -> Iterator[tuple[str, int, int]]:
    """(relative path, size, modification time in ns) of every visible file."""
    for path in walk(root).visible:
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
        try:
            for rel, size, mtime in iter_stats(root):
                h.update(f"{rel}\t{size}\t{mtime}\n".encode())
        except (OSError, ValueError):  # unreadable: checked, and said, when the run is planned
            h.update(b"unreadable\n")
    return h.hexdigest()[:16]


def folder_problems(key: str, root: str | Path, need_per_class: int) -> list[str]:
    """What is wrong with a folder of class subfolders, found without decoding anything (the
    workflow asks when it plans a run, before any job): it is missing, a file, unreadable,
    holds fewer than two class folders, or a class folder holds fewer files than the split
    needs (``need_per_class``). ``key`` names the config key that set the folder."""
    root = Path(root)
    if not root.exists():
        return [f"{key}: {root}: no such folder; point it at a folder of class subfolders"]
    if not root.is_dir():
        return [f"{key}: {root} is a file; point it at a folder of class subfolders"]
    try:
        entries = sorted(p for p in root.iterdir() if not is_hidden(p.name))
    except OSError as e:
        return [f"{key}: {root}: cannot read this folder ({e.strerror}); fix its permissions"]
    classes = [p for p in entries if p.is_dir()]
    if len(classes) < 2:
        found = ", ".join(p.name for p in classes) or "none"
        return [
            f"{key}: {root} holds {len(classes)} class folder(s) ({found}); classification "
            f"needs at least 2: {root}/<class>/<image files>"
        ]
    problems, small = [], []
    for c in classes:
        try:
            n = len(walk(c).visible)
        except (OSError, ValueError) as e:  # DataError: an unreadable folder below
            problems.append(f"{key}: class folder {c}: {e}")
            continue
        if n < need_per_class:
            small.append(f"{c.name} ({n})")
    if small:
        problems.append(
            f"{key}: {counted(small, 'class folder')} of {root} hold fewer than "
            f"{need_per_class} files (the split needs one image a class each for train, "
            "validation and test): " + first_few(small)
        )
    return summarised(problems, key)


FEW = 5  # long lists in a message: their count and the first few


def counted(items: list, what: str) -> str:
    return f"{len(items):,} {what}{'' if len(items) == 1 else 's'}"


def first_few(items: list[str], few: int = FEW) -> str:
    """'a, b, c' or 'a, b, c, d, e and 9,995 more'."""
    shown = ", ".join(items[:few])
    return shown + (f" and {len(items) - few:,} more" if len(items) > few else "")


def summarised(problems: list[str], key: str, few: int = FEW) -> list[str]:
    """At most ``few`` problems of one key, and a line counting the rest."""
    if len(problems) <= few:
        return problems
    return [*problems[:few], f"{key}: and {len(problems) - few:,} more problems like these"]


def class_names(root: str | Path) -> list[str]:
    """The class folders' names of an image folder (visible subfolders), sorted."""
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir() and not is_hidden(p.name))


def test_path_problems(key: str, path: str | Path, test_path: str | Path) -> list[str]:
    """An official test folder must hold the same classes as the training folder: a class
    only one of them holds cannot be scored (found at planning, not in prepare_data)."""
    try:
        train, test = set(class_names(path)), set(class_names(test_path))
    except OSError:
        return []  # folder_problems says why
    only_train, only_test = sorted(train - test), sorted(test - train)
    if not (only_train or only_test):
        return []
    parts = []
    if only_test:
        parts.append(f"{counted(only_test, 'class')} only in {test_path}: {first_few(only_test)}")
    if only_train:
        parts.append(f"{counted(only_train, 'class')} only in {path}: {first_few(only_train)}")
    return [
        f"{key}: the test folder's classes differ from the training folder's ("
        + "; ".join(parts)
        + "); give both the same class folders"
    ]
