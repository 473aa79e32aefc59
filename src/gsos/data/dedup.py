"""Exact duplicate images: found before the split, so that no image is in two splits.

An image's key is a digest of its decoded pixels (mode, size and bytes), so a byte copy
and a re-encoding that decodes to the same pixels are both found. The rule, applied to
the images that are split into train/validation(/test):

1. an image that also occurs in the dataset's official test split is removed (the official
   test split is kept whole, so results stay comparable with other work on it);
2. of a group of identical images with one label, the first (in file or array order) is
   kept and the others removed;
3. a group of identical images under different labels is removed whole: there is no right
   label to keep.

Every removed image is listed in the manifest with its reason.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

RULE = (
    "exact duplicates (same decoded pixels): a copy of an official test image is removed "
    "from the images that are split; of identical images with one label the first is kept; "
    "identical images under different labels are all removed"
)


def pixel_key(mode: str, shape: Sequence[int], data: bytes) -> str:
    h = hashlib.sha256(f"{mode}|{tuple(shape)}|".encode())
    h.update(data)
    return h.hexdigest()[:32]


def array_keys(images: np.ndarray) -> list[str]:
    """Keys of the rows of an N×... uint8 array."""
    images = np.ascontiguousarray(images)
    shape = images.shape[1:]
    return [pixel_key("array", shape, row.tobytes()) for row in images]


@dataclass
class Dedup:
    keep: np.ndarray  # bool mask over the images to split
    removed: list[dict[str, str]] = field(default_factory=list)
    test_internal: int = 0  # duplicate images inside the official test split (kept)

    def manifest(self, limit: int = 200) -> dict:
        kinds: dict[str, int] = defaultdict(int)
        for r in self.removed:
            kinds[r["kind"]] += 1
        return {
            "rule": RULE,
            "removed": len(self.removed),
            "by_kind": dict(kinds),
            "items": self.removed[:limit],
            "items_listed": min(len(self.removed), limit),
            "official_test_duplicates_kept": self.test_internal,
        }


def deduplicate(
    keys: Sequence[str],
    labels: Sequence[int],
    names: Sequence[str],
    class_names: Sequence[str],
    test_keys: Sequence[str] = (),
    test_names: Sequence[str] = (),
) -> Dedup:
    keep = np.ones(len(keys), dtype=bool)
    removed: list[dict[str, str]] = []
    in_test = {}
    for k, n in zip(test_keys, test_names, strict=True):
        in_test.setdefault(k, n)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        if k in in_test:
            keep[i] = False
            reason = f"also in the official test split as {in_test[k]}"
            removed.append({"item": names[i], "reason": reason, "kind": "copy of a test image"})
        else:
            groups[k].append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        classes = sorted({class_names[int(labels[i])] for i in members})
        if len(classes) > 1:
            for i in members:
                keep[i] = False
                reason = f"same image under classes {', '.join(classes)}"
                removed.append({"item": names[i], "reason": reason, "kind": "label conflict"})
        else:
            for i in members[1:]:
                keep[i] = False
                reason = f"duplicate of {names[members[0]]}"
                removed.append({"item": names[i], "reason": reason, "kind": "duplicate"})
    test_internal = len(test_keys) - len(set(test_keys))
    return Dedup(keep=keep, removed=removed, test_internal=test_internal)
