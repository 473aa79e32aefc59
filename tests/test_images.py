"""A researcher's own folder of class subfolders, messy as real ones are."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT
from PIL import Image

from gsos.data.prepare import prepare_dataset
from gsos.data.tensors import save_prepared
from gsos.errors import DataError


def write_image(path, mode, size, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0]) if mode in ("L", "P") else (size[1], size[0], len(mode))
    img = Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8))
    if mode == "P":
        img = img.convert("P")
    img.save(path)


def messy_folder(root, classes=("cat", "dog", "owl"), per_class=6, seed=0):
    modes = ["L", "RGB", "RGBA", "P"]
    for c, name in enumerate(classes):
        for i in range(per_class):
            ext = "png" if i % 2 else "jpg"
            mode = modes[(i + c) % 4] if ext == "png" else ("RGB" if i % 4 else "L")
            write_image(
                root / name / f"{i}.{ext}", mode, (20 + 7 * i, 30 + 3 * c), seed=seed + 10 * c + i
            )
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
    test = messy_folder(tmp_path / "test", per_class=2, seed=1000)
    c = cfg(train)
    c["source"]["test_path"] = str(test)
    t, m = prepare_dataset("pets", c)
    assert m["split"]["test"] == "official"
    assert m["n_images"]["test"] == 6 and m["n_images"]["train"] + m["n_images"]["val"] == 18
    assert m["skipped"]["count"] == 8  # four bad files in each folder


def pixel_rows(tensors):
    """Each prepared image's bytes, per split: two splits sharing one means a leak."""
    return {s: {bytes(x.numpy().tobytes()) for x in tensors[f"x_{s}"]} for s in SPLITS}


SPLITS = ("train", "val", "test")


def test_hidden_files_and_folders_are_skipped_at_every_depth_and_listed(tmp_path):
    root = messy_folder(tmp_path / "pets")
    checkpoints = root / "cat" / ".ipynb_checkpoints"
    checkpoints.mkdir()
    for i in range(6):  # Jupyter's byte-identical copies of every cat image
        src = next((root / "cat").glob(f"{i}.*"))
        (checkpoints / f"{i}-checkpoint{src.suffix}").write_bytes(src.read_bytes())
    (root / "dog" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "owl" / "deep" / ".cache").mkdir(parents=True)
    write_image(root / "owl" / "deep" / ".cache" / "x.png", "RGB", (9, 9), 99)
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "._0.jpg").write_bytes(b"\x00\x05\x16\x07")
    tensors, manifest = prepare_dataset("pets", cfg(root))
    assert sum(manifest["n_images"].values()) == 18  # the checkpoint copies are not images
    assert manifest["hidden"]["entries"] == [
        ".hidden",
        "__MACOSX",
        "cat/.ipynb_checkpoints",
        "dog/.DS_Store",
        "owl/deep/.cache",
    ]
    rows = pixel_rows(tensors)
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not rows[a] & rows[b], f"an image is in both {a} and {b}"


def test_exact_duplicates_are_kept_once_and_reported(tmp_path):
    root = messy_folder(tmp_path / "pets")
    first = (root / "cat" / "1.png").read_bytes()
    (root / "cat" / "1_copy.png").write_bytes(first)  # same class: one copy kept
    (root / "cat" / "1_again.png").write_bytes(first)
    conflict = (root / "dog" / "2.jpg").read_bytes()
    (root / "owl" / "really-a-dog.jpg").write_bytes(conflict)  # two labels: both dropped
    tensors, manifest = prepare_dataset("pets", cfg(root))
    dup = manifest["duplicates"]
    assert dup["removed"] == 4 and "rule" in dup
    reasons = {d["item"]: d["reason"] for d in dup["items"]}
    assert reasons["cat/1_copy.png"] == "duplicate of cat/1.png"
    assert reasons["cat/1_again.png"] == "duplicate of cat/1.png"
    assert reasons["dog/2.jpg"].startswith("same image under classes")
    assert reasons["owl/really-a-dog.jpg"].startswith("same image under classes")
    assert sum(manifest["n_images"].values()) == 18 + 3 - 4
    rows = pixel_rows(tensors)
    assert not (rows["train"] & rows["val"]) and not (rows["train"] & rows["test"])


def test_training_copies_of_official_test_images_are_removed(tmp_path):
    train = messy_folder(tmp_path / "train")
    test = messy_folder(tmp_path / "test", per_class=2, seed=1000)
    (train / "dog" / "leak.png").write_bytes((test / "dog" / "1.png").read_bytes())
    c = cfg(train)
    c["source"]["test_path"] = str(test)
    tensors, manifest = prepare_dataset("pets", c)
    items = {d["item"]: d["reason"] for d in manifest["duplicates"]["items"]}
    assert items == {"dog/leak.png": "also in the official test split as dog/1.png"}
    assert manifest["n_images"]["test"] == 6  # the official test split is kept whole


def test_duplicate_arrays_are_found_in_any_dataset():
    import numpy as np

    from gsos.data.prepare import prepare_arrays

    rng = np.random.default_rng(0)
    imgs = torch.from_numpy(rng.integers(0, 255, (30, 1, 5, 5), dtype=np.uint8))
    labels = np.arange(30) % 2
    imgs[7] = imgs[3]  # same label (3 and 7 are both odd)
    imgs[8] = imgs[5]  # 8 is even, 5 odd: a conflict
    t, m = prepare_arrays(
        imgs,
        labels,
        ["even", "odd"],
        name="arr",
        image_size=5,
        channels=1,
        val_fraction=0.2,
        test_fraction=0.2,
        split_seed=0,
        source={},
    )
    reasons = {d["item"]: d["reason"] for d in m["duplicates"]["items"]}
    assert reasons == {
        "image 7": "duplicate of image 3",
        "image 5": "same image under classes even, odd",
        "image 8": "same image under classes even, odd",
    }
    assert sum(m["n_images"].values()) == 27


def test_16_bit_pngs_are_scaled_not_saturated(tmp_path):
    import numpy as np

    root = messy_folder(tmp_path / "pets")
    ramp = np.linspace(49, 65480, 12 * 12).reshape(12, 12).astype(np.uint16)
    Image.fromarray(ramp).save(root / "cat" / "deep16.png")
    assert Image.open(root / "cat" / "deep16.png").mode == "I;16"
    c = cfg(root, channels=1)
    tensors, manifest = prepare_dataset("pets", c)
    every = torch.cat([tensors[f"x_{s}"] for s in SPLITS])
    expected = torch.from_numpy(np.round(ramp / 257.0).astype(np.uint8))[None]
    hits = [x for x in every if torch.equal(x, expected)]
    assert len(hits) == 1, "the 16-bit ramp is not in the prepared data, scaled to 0..255"
    assert "I;16" in manifest["source"]["modes"]


def test_32_bit_float_images_are_refused_with_a_reason(tmp_path):
    import numpy as np

    root = messy_folder(tmp_path / "pets")
    Image.fromarray(np.ones((8, 8), dtype=np.float32)).save(root / "cat" / "float.tif")
    _, manifest = prepare_dataset("pets", cfg(root))
    reasons = {s["file"]: s["detail"] for s in manifest["skipped"]["files"]}
    assert "unsupported pixel format" in reasons["cat/float.tif"]


def test_one_class_names_the_folder_and_a_file_is_not_a_folder(tmp_path):
    root = messy_folder(tmp_path / "pets", classes=("cat",))
    with pytest.raises(DataError, match=rf"{root}: found 1 class folder \('cat'\)"):
        prepare_dataset("pets", cfg(root))
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        prepare_dataset("x", cfg(tmp_path / "a_file"))


def test_a_class_subset_in_a_given_order(tmp_path):
    root = messy_folder(tmp_path / "pets", classes=("cat", "dog", "owl", "bat"))
    c = cfg(root)
    c["classes"] = ["owl", "cat"]
    tensors, manifest = prepare_dataset("pets", c)
    assert manifest["class_names"] == ["owl", "cat"]
    assert manifest["classes_left_out"] == ["bat", "dog"]
    assert sum(manifest["n_images"].values()) == 12
    c["classes"] = ["owl", "emu"]
    with pytest.raises(DataError, match=r"classes: 'emu' is not a class folder of"):
        prepare_dataset("pets", c)


def test_paper_comparison_counts_image_files_not_other_files(tmp_path):
    root = messy_folder(tmp_path / "pets")
    (root / "cat" / "Thumbs.db").write_bytes(b"\x00" * 64)
    _, manifest = prepare_dataset("pets", cfg(root, paper={"n_images": 21, "n_classes": 3}))
    pc = manifest["paper_comparison"]
    # 18 usable + empty.jpg, broken.jpg and truncated.jpg (images, however broken); not
    # notes.txt or Thumbs.db
    assert pc["n_images"] == {"paper": 21, "prepared": 21, "difference": 0}
    assert pc["n_usable_images"] == 18


def test_a_linked_folder_inside_a_class_is_read_once_and_a_loop_is_listed(tmp_path):
    """A symlinked subfolder of a class is data (it used to be dropped without a word); a
    link back up the tree is listed as not followed, not read forever."""
    import os

    root = messy_folder(tmp_path / "pets", per_class=4)
    for i in range(3):
        write_image(tmp_path / "more_owls" / f"{i}.png", "RGB", (16, 16), seed=100 + i)
    os.symlink(tmp_path / "more_owls", root / "owl" / "linked")
    os.symlink(root, root / "cat" / "loop")
    _, manifest = prepare_dataset("pets", cfg(root))
    owls = sum(manifest["counts"][split]["owl"] for split in ("train", "val", "test"))
    assert owls == 4 + 3  # its own four readable images and the three behind the link
    links = {s["file"]: s["detail"] for s in manifest["skipped"]["files"]
             if s["reason"] == "folder link not followed"}  # fmt: skip
    assert list(links) == ["cat/loop"] and "loop" in links["cat/loop"]


def test_a_class_folder_that_links_to_another_class_is_refused_by_name(tmp_path):
    import os

    root = messy_folder(tmp_path / "pets", per_class=4)
    os.symlink(root / "dog", root / "dog_copy")
    with pytest.raises(DataError, match="dog_copy: this class folder is a link to the class"):
        prepare_dataset("pets", cfg(root))


def test_exif_orientation_is_applied(tmp_path):
    """A photo stored sideways with an EXIF 'rotate 90' tag trains as it is seen."""
    from gsos.data.images import decode_image

    rng = np.random.default_rng(0)
    stored = Image.fromarray(rng.integers(0, 255, (12, 20, 3), dtype=np.uint8))  # 20 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 clockwise to view
    stored.save(tmp_path / "tagged.png", exif=exif)
    stored.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "upright.png")
    tagged, _, size, _ = decode_image(tmp_path / "tagged.png", 16, 3)
    upright, _, _, _ = decode_image(tmp_path / "upright.png", 16, 3)
    assert size == "12x20" and np.array_equal(tagged, upright)


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path):
    """A PNG header claiming 20000x20000 pixels (its data cut short): refused for its size,
    by name, before a decode could fail or take gigabytes; the limit is a setting."""
    import struct
    import zlib

    root = messy_folder(tmp_path / "pets", per_class=4)
    png = bytearray((root / "cat" / "1.png").read_bytes())
    ihdr = bytearray(png[12:29])  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", 20000, 20000)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    (root / "cat" / "huge.png").write_bytes(bytes(png))
    _, manifest = prepare_dataset("pets", cfg(root))
    huge = [s for s in manifest["skipped"]["files"] if s["file"] == "cat/huge.png"]
    assert huge and huge[0]["reason"] == "over the pixel limit", huge
    assert "400,000,000 pixels > datasets.<name>.max_pixels 100,000,000" in huge[0]["detail"]
    root6 = messy_folder(tmp_path / "more", per_class=6)
    _, small_limit = prepare_dataset("more", cfg(root6, max_pixels=1300))
    reasons = {s["file"]: s["reason"] for s in small_limit["skipped"]["files"]}
    assert reasons["cat/5.png"] == "over the pixel limit"  # 55x30 > 1300
    assert "cat/1.png" not in reasons  # 27x30


def run_as_unprivileged(code: str) -> subprocess.CompletedProcess:
    """Python ``code`` as a user that file permissions apply to (root reads everything)."""
    import os
    import sys

    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_an_unreadable_class_folder_is_named_not_counted_as_empty(tmp_path):
    import os
    import tempfile

    base = Path(tempfile.mkdtemp())  # outside root's private pytest folder
    try:
        os.chmod(base, 0o755)
        root = messy_folder(base / "pets", per_class=4)
        for p in [base, *base.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        os.chmod(root / "dog", 0o000)
        run = run_as_unprivileged(
            f"from gsos.data.prepare import prepare_dataset\nprepare_dataset('pets', {cfg(root)!r})"
        )
        assert run.returncode != 0
        assert f"{root / 'dog'}: cannot read this folder (Permission denied)" in run.stderr, (
            run.stderr[-2000:]
        )
        assert "0 file(s)" not in run.stderr
    finally:
        os.chmod(root / "dog", 0o755)
        shutil.rmtree(base)


def test_a_split_that_cannot_be_made_names_the_class_folder(tmp_path):
    root = messy_folder(tmp_path / "pets", per_class=4)
    for f in (root / "owl").iterdir():
        if f.name != "0.jpg":
            f.unlink()
    with pytest.raises(DataError, match="class 'owl' has 1 image"):
        prepare_dataset("pets", cfg(root))
