"""A researcher's own folder of class subfolders, messy as real ones are."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gsos.data import DataError, prepare_dataset, save_prepared


def write_image(path, mode, size, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0]) if mode in ("L", "P") else (size[1], size[0], len(mode))
    img = Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8))
    if mode == "P":
        img = img.convert("P")
    img.save(path)


def messy_folder(root, classes=("cat", "dog", "owl"), per_class=6):
    modes = ["L", "RGB", "RGBA", "P"]
    for c, name in enumerate(classes):
        for i in range(per_class):
            ext = "png" if i % 2 else "jpg"
            mode = modes[(i + c) % 4] if ext == "png" else ("RGB" if i % 4 else "L")
            write_image(root / name / f"{i}.{ext}", mode, (20 + 7 * i, 30 + 3 * c), seed=10 * c + i)
    first, second, last = classes[0], classes[1 % len(classes)], classes[-1]
    (root / first / "empty.jpg").write_bytes(b"")
    (root / second / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(200)))
    (root / last / "notes.txt").write_text("not a picture")
    good = (root / last / "0.jpg").read_bytes()
    (root / last / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / ".hidden").mkdir()
    return root


def cfg(path, **over):
    return {
        "source": {"kind": "folder", "path": str(path)},
        "image_size": 12,
        "channels": 3,
        "split": {"validation": 0.2, "test": 0.2, "seed": 0},
        **over,
    }


def test_messy_folder_is_prepared_and_every_skip_is_counted(tmp_path):
    root = messy_folder(tmp_path / "pets")
    tensors, manifest = prepare_dataset("pets", cfg(root))
    assert manifest["class_names"] == ["cat", "dog", "owl"]
    assert sum(manifest["n_images"].values()) == 18
    skipped = {s["file"]: s["reason"] for s in manifest["skipped"]["files"]}
    assert skipped == {
        "cat/empty.jpg": "zero-byte file",
        "dog/broken.jpg": "unreadable image",
        "owl/notes.txt": "not an image",
        "owl/truncated.jpg": "unreadable image",
    }
    assert manifest["skipped"]["count"] == 4
    assert {"L", "RGB", "RGBA", "P"} <= set(manifest["source"]["modes"])  # mixed modes seen
    assert len(manifest["source"]["sizes"]) > 1  # and mixed sizes
    assert tensors["x_train"].shape[1:] == (3, 12, 12) and tensors["x_train"].dtype == torch.uint8
    save_prepared(tmp_path / "d.pt", tmp_path / "m.json", tensors, manifest)
    assert json.loads((tmp_path / "m.json").read_text())["skipped"]["count"] == 4


def test_grey_conversion_and_fixed_split(tmp_path):
    root = messy_folder(tmp_path / "pets")
    a, _ = prepare_dataset("pets", cfg(root, channels=1))
    b, _ = prepare_dataset("pets", cfg(root, channels=1))
    assert a["x_train"].shape[1] == 1
    assert torch.equal(a["x_test"], b["x_test"]) and torch.equal(a["y_val"], b["y_val"])


def test_empty_class_folder_names_the_folder(tmp_path):
    root = messy_folder(tmp_path / "pets")
    (root / "bat").mkdir()
    with pytest.raises(DataError, match=r"bat: class 'bat' has no usable images"):
        prepare_dataset("pets", cfg(root))
    (root / "bat" / "x.txt").write_text("hi")
    with pytest.raises(DataError, match=r"1 file\(s\), all skipped"):
        prepare_dataset("pets", cfg(root))


def test_one_class_folder_is_refused(tmp_path):
    root = messy_folder(tmp_path / "pets", classes=("cat",))
    with pytest.raises(DataError, match="at least 2"):
        prepare_dataset("pets", cfg(root))


def test_too_small_for_the_split(tmp_path):
    root = messy_folder(tmp_path / "pets", per_class=2)
    with pytest.raises(DataError, match="needs at least 3"):
        prepare_dataset("pets", cfg(root))


def test_missing_folder_and_folder_without_classes(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        prepare_dataset("x", cfg(tmp_path / "nope"))
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "a.png", "RGB", (8, 8), 0)
    with pytest.raises(DataError, match="no class subfolders"):
        prepare_dataset("x", cfg(tmp_path / "flat"))


def test_official_test_folder_keeps_its_own_images(tmp_path):
    train = messy_folder(tmp_path / "train")
    test = messy_folder(tmp_path / "test", per_class=2)
    c = cfg(train)
    c["source"]["test_path"] = str(test)
    t, m = prepare_dataset("pets", c)
    assert m["split"]["test"] == "official"
    assert m["n_images"]["test"] == 6 and m["n_images"]["train"] + m["n_images"]["val"] == 18
    assert m["skipped"]["count"] == 8  # four bad files in each folder
