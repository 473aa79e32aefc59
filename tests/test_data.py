import json

import numpy as np
import pytest
import torch

from gsos.data.prepare import convert_channels, prepare_arrays, resize_uint8, stratified_split
from gsos.errors import DataError


def test_digits_prepared_by_the_shared_path(digits_files):
    data_path, manifest_path = digits_files
    manifest = json.loads(manifest_path.read_text())
    assert manifest["n_classes"] == 10
    assert sum(manifest["n_images"].values()) == 1797
    assert manifest["source"]["kind"] == "embedded" and len(manifest["source"]["sha256"]) == 64
    t = torch.load(data_path, weights_only=True)
    assert t["x_train"].dtype == torch.uint8 and t["x_train"].shape[1:] == (1, 8, 8)
    for split in ("train", "val", "test"):
        counts = manifest["counts"][split]
        assert sum(counts.values()) == len(t[f"y_{split}"])
        assert min(counts.values()) > 0


def test_split_is_stratified_disjoint_and_fixed():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    a = stratified_split(labels, 0.2, 0.2, seed=7)
    b = stratified_split(labels, 0.2, 0.2, seed=7)
    for s in a:
        np.testing.assert_array_equal(a[s], b[s])
    all_idx = np.concatenate(list(a.values()))
    assert len(all_idx) == len(set(all_idx)) == 100
    test_counts = np.bincount(labels[a["test"]])
    np.testing.assert_array_equal(test_counts, [10, 6, 4])


def test_too_small_class_names_the_fix():
    labels = np.array([0, 0, 0, 0, 1, 1])
    with pytest.raises(DataError, match="class 1 has 2 image"):
        stratified_split(labels, 0.2, 0.2, seed=0)


def test_one_class_is_refused():
    imgs = torch.zeros(10, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(DataError, match="at least 2"):
        prepare_arrays(
            imgs,
            np.zeros(10),
            ["a"],
            name="x",
            image_size=4,
            channels=1,
            val_fraction=0.2,
            test_fraction=0.2,
            split_seed=0,
            source={},
        )


def test_resize_and_channel_conversion():
    img = torch.full((2, 1, 8, 8), 200, dtype=torch.uint8)
    small = resize_uint8(img, 4)
    assert small.shape == (2, 1, 4, 4) and small.dtype == torch.uint8
    assert int(small.min()) == int(small.max()) == 200
    rgb = convert_channels(small, 3)
    assert rgb.shape == (2, 3, 4, 4)
    assert torch.equal(convert_channels(rgb, 1), small)


def test_official_test_split_is_kept_apart():
    imgs = torch.randint(0, 255, (40, 3, 6, 6), dtype=torch.uint8)
    labels = np.repeat([0, 1], 20)
    test = torch.randint(0, 255, (6, 3, 6, 6), dtype=torch.uint8)
    t, m = prepare_arrays(
        imgs,
        labels,
        ["a", "b"],
        name="x",
        image_size=6,
        channels=3,
        val_fraction=0.25,
        test_fraction=0.2,
        split_seed=0,
        source={},
        test_images=test,
        test_labels=np.array([0, 1, 0, 1, 0, 1]),
    )
    assert torch.equal(t["x_test"], test)
    assert m["split"]["test"] == "official"
    assert m["n_images"] == {"train": 30, "val": 10, "test": 6}


def test_digits_read_without_sklearn_equal_load_digits():
    from sklearn.datasets import load_digits

    from gsos.data.prepare import digits_arrays

    images, labels = digits_arrays()
    d = load_digits()
    np.testing.assert_array_equal(images, d.images)
    np.testing.assert_array_equal(labels, d.target)
    assert images.dtype == np.float64 and labels.dtype == d.target.dtype
