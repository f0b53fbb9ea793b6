"""Folder datasets: layouts, splits, crops, reproducibility, error messages, skipping, SR."""

import logging

import cv2
import numpy as np
import pytest
import torch
from conftest import pattern
from torch.utils.data import DataLoader

from img2img.data.degrade import bicubic_downscale
from img2img.data.files import DatasetError, ImageCache, find_split_root, split_dirs, to_tensor_uint8
from img2img.data.paired import PairedFolder
from img2img.data.sr_folder import SRFolder
from img2img.data.unpaired import UnpairedFolder
from img2img_runtime.io import write_image


def noise(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def coordinates(height, width, blue):
    """Pixel (y, x) holds (y, x, blue): a crop's first pixel tells where it was taken."""
    y, x = np.mgrid[0:height, 0:width]
    return np.dstack([y, x, np.full_like(y, blue)]).astype(np.uint8)


def as_hwc(tensor):
    return tensor.permute(1, 2, 0).numpy()


def corrupt(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)


def make_pairs(root, names, *, height=24, width=32, ext_b=".png"):
    for i, name in enumerate(names):
        write_image(root / "A" / f"{name}.png", noise(height, width, i))
        write_image(root / "B" / f"{name}{ext_b}", noise(height, width, 100 + i))
    return root


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def test_find_split_root(tmp_path):
    (tmp_path / "both" / "train").mkdir(parents=True)
    (tmp_path / "both" / "val").mkdir()
    (tmp_path / "flat").mkdir()
    assert find_split_root(tmp_path / "both", "train") == tmp_path / "both" / "train"
    assert find_split_root(tmp_path / "both", "val") == tmp_path / "both" / "val"
    assert find_split_root(tmp_path / "flat", "train") == tmp_path / "flat"
    assert find_split_root(tmp_path / "flat", "val") is None
    with pytest.raises(DatasetError, match="nowhere"):
        find_split_root(tmp_path / "nowhere", "train")


def test_to_tensor_uint8():
    image = noise(5, 7)
    tensor = to_tensor_uint8(image)
    assert tensor.dtype == torch.uint8 and tensor.shape == (3, 5, 7) and tensor.is_contiguous()
    np.testing.assert_array_equal(as_hwc(tensor), image)
    assert to_tensor_uint8(image[:, :, 0]).shape == (1, 5, 7)


# --------------------------------------------------------------------------------------------
# PairedFolder: layouts
# --------------------------------------------------------------------------------------------


def test_paired_ab_folders_match_by_stem_across_extensions(tmp_path):
    write_image(tmp_path / "A" / "x.png", noise(16, 16, 1))
    write_image(tmp_path / "B" / "x.bmp", noise(16, 16, 2))
    write_image(tmp_path / "A" / "y.jpg", noise(16, 16, 3))
    write_image(tmp_path / "B" / "y.png", noise(16, 16, 4))
    ds = PairedFolder(tmp_path, size=16, load_size=16)
    assert ds.layout == "A/B"
    assert [(a.name, b.name) for a, b in ds.pairs] == [("x.png", "x.bmp"), ("y.jpg", "y.png")]
    item = ds[0]
    assert item["path"] == "x.png"
    assert item["A"].dtype == torch.uint8 and item["A"].shape == (3, 16, 16)
    np.testing.assert_array_equal(as_hwc(item["A"]), noise(16, 16, 1))
    np.testing.assert_array_equal(as_hwc(item["B"]), noise(16, 16, 2))


def test_paired_nested_subfolders(tmp_path):
    make_pairs(tmp_path, ["top", "sub/inner", "sub/deeper/leaf"])
    ds = PairedFolder(tmp_path, size=16)
    assert sorted(ds[i]["path"] for i in range(len(ds))) == ["sub/deeper/leaf.png", "sub/inner.png", "top.png"]


def test_side_by_side_ab_split_is_exact(tmp_path):
    left, right = noise(20, 20, 1), noise(20, 20, 2)
    write_image(tmp_path / "pair.png", np.concatenate([left, right], axis=1))
    for train in (True, False):
        ds = PairedFolder(tmp_path, size=20, load_size=20, train=train)
        assert ds.layout == "AB" and ds.pairs == [(tmp_path / "pair.png", None)]
        item = ds[0]
        assert item["path"] == "pair.png"
        np.testing.assert_array_equal(as_hwc(item["A"]), left)
        np.testing.assert_array_equal(as_hwc(item["B"]), right)


def test_side_by_side_with_different_channels(tmp_path):
    left, right = noise(8, 8, 1), noise(8, 8, 2)
    write_image(tmp_path / "pair.png", np.concatenate([left, right], axis=1))
    item = PairedFolder(tmp_path, size=8, load_size=8, channels_a=1)[0]
    assert item["A"].shape == (1, 8, 8) and item["B"].shape == (3, 8, 8)
    np.testing.assert_array_equal(item["A"][0].numpy(), cv2.cvtColor(left, cv2.COLOR_RGB2GRAY))


def test_train_and_val_split_roots(tmp_path):
    make_pairs(tmp_path / "train", ["a", "b", "c"])
    make_pairs(tmp_path / "val", ["v"])
    assert len(PairedFolder(tmp_path, split="train", size=16)) == 3
    assert len(PairedFolder(tmp_path, split="val", size=16, train=False)) == 1
    make_pairs(tmp_path / "flat", ["a"])
    with pytest.raises(DatasetError, match="val"):
        PairedFolder(tmp_path / "flat", split="val", size=16)


def test_root_as_training_split_leaves_val_out(tmp_path):
    write_image(tmp_path / "one.png", noise(8, 16))
    write_image(tmp_path / "val" / "two.png", noise(8, 16))
    assert [a.name for a, _ in PairedFolder(tmp_path, size=8).pairs] == ["one.png"]
    assert [a.name for a, _ in PairedFolder(tmp_path, split="val", size=8).pairs] == ["two.png"]


def test_b_is_resized_to_a(tmp_path):
    write_image(tmp_path / "A" / "x.png", noise(16, 24))
    write_image(tmp_path / "B" / "x.png", np.full((32, 48, 3), 77, np.uint8))
    item = PairedFolder(tmp_path, size=16, load_size=16)[0]
    assert item["B"].shape == (3, 16, 16) and (item["B"] == 77).all()


def test_eval_mode_resizes_shorter_side_to_size_and_centre_crops(tmp_path):
    image = noise(40, 60)
    write_image(tmp_path / "A" / "x.png", image)
    write_image(tmp_path / "B" / "x.png", image)
    item = PairedFolder(tmp_path, size=16, train=False)[0]
    expected = cv2.resize(image, (24, 16), interpolation=cv2.INTER_AREA)[:, 4:20]
    np.testing.assert_array_equal(as_hwc(item["A"]), expected)


def test_load_size_default_and_train_resize(tmp_path):
    make_pairs(tmp_path, ["x"], height=64, width=64)
    ds = PairedFolder(tmp_path, size=32)
    assert ds.load_size == round(32 * 286 / 256)
    assert ds[0]["A"].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="load_size"):
        PairedFolder(tmp_path, size=32, load_size=16)


# --------------------------------------------------------------------------------------------
# Crops and reproducibility
# --------------------------------------------------------------------------------------------


def test_same_crop_for_a_and_b_with_identical_content(tmp_path):
    image = noise(40, 56, 7)
    write_image(tmp_path / "A" / "x.png", image)
    write_image(tmp_path / "B" / "x.png", image)
    ds = PairedFolder(tmp_path, size=16, load_size=30)
    for epoch in range(5):
        item = ds[(epoch, 0)]
        assert torch.equal(item["A"], item["B"])


def test_same_crop_for_a_and_b_pattern(tmp_path):
    write_image(tmp_path / "A" / "x.png", coordinates(40, 50, 0))
    write_image(tmp_path / "B" / "x.png", coordinates(40, 50, 200))
    ds = PairedFolder(tmp_path, size=16, load_size=40)  # no resize: the crop keeps coordinates
    corners = set()
    for epoch in range(8):
        a, b = as_hwc(ds[(epoch, 0)]["A"]), as_hwc(ds[(epoch, 0)]["B"])
        top, left = int(a[0, 0, 0]), int(a[0, 0, 1])
        np.testing.assert_array_equal(a, coordinates(40, 50, 0)[top : top + 16, left : left + 16])
        np.testing.assert_array_equal(b[..., :2], a[..., :2])
        assert (b[..., 2] == 200).all()
        corners.add((top, left))
    assert len(corners) > 1  # the crop is random


def test_items_are_reproducible_per_epoch_and_index(tmp_path):
    make_pairs(tmp_path, ["a", "b"], height=48, width=48)
    ds = PairedFolder(tmp_path, size=16, seed=3)
    again = PairedFolder(tmp_path, size=16, seed=3)
    assert torch.equal(ds[(4, 1)]["A"], ds[(4, 1)]["A"])
    assert torch.equal(ds[(4, 1)]["A"], again[(4, 1)]["A"])
    assert torch.equal(ds[1]["A"], ds[(0, 1)]["A"])
    crops = {ds[(epoch, 1)]["A"].numpy().tobytes() for epoch in range(6)}
    assert len(crops) > 1
    other_seed = PairedFolder(tmp_path, size=16, seed=4)
    assert any(not torch.equal(ds[(e, 1)]["A"], other_seed[(e, 1)]["A"]) for e in range(6))


def test_index_bounds(tmp_path):
    make_pairs(tmp_path, ["a", "b"])
    ds = PairedFolder(tmp_path, size=16)
    assert torch.equal(ds[-1]["A"], ds[1]["A"])
    with pytest.raises(IndexError):
        ds[2]


def test_dataloader_collates(tmp_path):
    make_pairs(tmp_path, ["a", "b", "c"])
    loader = DataLoader(PairedFolder(tmp_path, size=16), batch_size=2, num_workers=0)
    batch = next(iter(loader))
    assert batch["A"].shape == (2, 3, 16, 16) and batch["A"].dtype == torch.uint8
    assert batch["B"].shape == (2, 3, 16, 16)
    assert batch["path"] == ["a.png", "b.png"]


# --------------------------------------------------------------------------------------------
# Errors and skipping
# --------------------------------------------------------------------------------------------


def test_unmatched_pair_error_names_the_file(tmp_path):
    make_pairs(tmp_path, ["a", "b"])
    write_image(tmp_path / "A" / "lonely.png", noise(8, 8))
    with pytest.raises(DatasetError, match="has no partner") as info:
        PairedFolder(tmp_path, size=8)
    assert str(tmp_path / "A" / "lonely.png") in str(info.value)
    assert "1 unmatched" in str(info.value)


def test_unmatched_error_lists_at_most_ten(tmp_path):
    for i in range(13):
        write_image(tmp_path / "A" / f"a{i:02d}.png", noise(4, 4))
    write_image(tmp_path / "B" / "other.png", noise(4, 4))
    with pytest.raises(DatasetError, match=r"14 unmatched file\(s\)") as info:
        PairedFolder(tmp_path, size=4, load_size=4)
    assert "a09.png" in str(info.value) and "a10.png" not in str(info.value) and "4 more" in str(info.value)


def test_missing_b_folder(tmp_path):
    write_image(tmp_path / "A" / "x.png", noise(8, 8))
    with pytest.raises(DatasetError, match="B"):
        PairedFolder(tmp_path, size=8)


def test_empty_folder_error_names_it(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(DatasetError, match="no images found") as info:
        PairedFolder(tmp_path / "data", size=8)
    assert str(tmp_path / "data") in str(info.value)


def test_missing_root_error_names_it(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as info:
        PairedFolder(tmp_path / "gone", size=8)
    assert str(tmp_path / "gone") in str(info.value)


def test_non_image_file_error_names_it(tmp_path):
    make_pairs(tmp_path, ["a"])
    (tmp_path / "B" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="is not an image file") as info:
        PairedFolder(tmp_path, size=8)
    assert str(tmp_path / "B" / "notes.txt") in str(info.value)


def test_corrupt_file_error_names_it(tmp_path):
    make_pairs(tmp_path, ["a", "b"])
    corrupt(tmp_path / "B" / "b.png")
    with pytest.raises(DatasetError, match="cannot decode image") as info:
        PairedFolder(tmp_path, size=8)
    assert str(tmp_path / "B" / "b.png") in str(info.value)


def test_corrupt_file_without_verify_fails_at_getitem_naming_it(tmp_path):
    make_pairs(tmp_path, ["a", "b"])
    corrupt(tmp_path / "A" / "b.png")
    ds = PairedFolder(tmp_path, size=8, verify=False)
    assert ds[0]["A"].shape == (3, 8, 8)
    with pytest.raises(DatasetError, match="cannot decode image") as info:
        ds[1]
    assert str(tmp_path / "A" / "b.png") in str(info.value)


def test_odd_width_ab_image_error_names_it(tmp_path):
    write_image(tmp_path / "odd.png", noise(8, 17))
    with pytest.raises(DatasetError, match="odd width 17") as info:
        PairedFolder(tmp_path, size=8)
    assert str(tmp_path / "odd.png") in str(info.value)


def test_same_stem_twice_is_an_error(tmp_path):
    make_pairs(tmp_path, ["x"])
    write_image(tmp_path / "A" / "x.jpg", noise(8, 8))
    with pytest.raises(DatasetError, match="same name without extension"):
        PairedFolder(tmp_path, size=8)


def test_on_bad_skip_drops_and_records(tmp_path, caplog):
    make_pairs(tmp_path, ["good1", "good2", "broken"])
    corrupt(tmp_path / "A" / "broken.png")
    write_image(tmp_path / "A" / "lonely.png", noise(8, 8))
    (tmp_path / "A" / "readme.txt").write_text("hi")
    with caplog.at_level(logging.WARNING, logger="img2img.data.files"):
        ds = PairedFolder(tmp_path, size=8, on_bad="skip")
    assert [a.name for a, _ in ds.pairs] == ["good1.png", "good2.png"]
    reasons = {path: reason for path, reason in ds.skipped}
    assert set(reasons) == {str(tmp_path / "A" / n) for n in ("broken.png", "lonely.png", "readme.txt")}
    assert "cannot decode image" in reasons[str(tmp_path / "A" / "broken.png")]
    assert "no partner" in reasons[str(tmp_path / "A" / "lonely.png")]
    assert "not an image" in reasons[str(tmp_path / "A" / "readme.txt")]
    warnings = [r for r in caplog.records if "skipped 3 bad file" in r.getMessage()]
    assert len(warnings) == 1


def test_on_bad_skip_without_verify_falls_back_to_the_next_item(tmp_path, caplog):
    make_pairs(tmp_path, ["a", "b", "c"])
    corrupt(tmp_path / "B" / "b.png")
    ds = PairedFolder(tmp_path, size=8, verify=False, on_bad="skip")
    with caplog.at_level(logging.WARNING, logger="img2img.data.files"):
        item = ds[1]
    assert item["path"] == "c.png"
    assert any(str(tmp_path / "B" / "b.png") in r.getMessage() for r in caplog.records)


def test_on_bad_skip_with_nothing_left_is_an_error(tmp_path):
    corrupt(tmp_path / "A" / "x.png")
    corrupt(tmp_path / "B" / "x.png")
    with pytest.raises(DatasetError, match="no usable images"):
        PairedFolder(tmp_path, size=8, on_bad="skip")


def test_bad_on_bad_value(tmp_path):
    make_pairs(tmp_path, ["a"])
    with pytest.raises(ValueError, match="on_bad"):
        PairedFolder(tmp_path, size=8, on_bad="ignore")


# --------------------------------------------------------------------------------------------
# UnpairedFolder
# --------------------------------------------------------------------------------------------


def make_unpaired(root, n_a, n_b, size=24):
    for i in range(n_a):
        write_image(root / "A" / f"a{i}.png", noise(size, size, i))
    for k in range(n_b):
        write_image(root / "B" / f"b{k}.png", np.full((size, size, 3), 10 * k, np.uint8))  # value tells k
    return root


def test_unpaired_length_and_cycling(tmp_path):
    make_unpaired(tmp_path, 2, 5)
    ds = UnpairedFolder(tmp_path, size=16, train=False)
    assert len(ds) == 5
    assert [ds[i]["path"] for i in range(5)] == ["a0.png", "a1.png", "a0.png", "a1.png", "a0.png"]
    assert [int(ds[i]["B"][0, 0, 0]) for i in range(5)] == [0, 10, 20, 30, 40]  # eval: B[i % nB]


def test_unpaired_train_picks_random_b(tmp_path):
    make_unpaired(tmp_path, 1, 5)
    ds = UnpairedFolder(tmp_path, size=16)
    picks = {int(ds[(epoch, 0)]["B"][0, 0, 0]) // 10 for epoch in range(20)}
    assert len(picks) > 1 and picks <= set(range(5))
    assert ds[(3, 0)]["B"].shape == (3, 16, 16)


def test_unpaired_crops_are_independent(tmp_path):
    image = noise(48, 48, 3)
    write_image(tmp_path / "A" / "x.png", image)
    write_image(tmp_path / "B" / "x.png", image)
    ds = UnpairedFolder(tmp_path, size=16, load_size=48)
    assert any(not torch.equal(ds[(e, 0)]["A"], ds[(e, 0)]["B"]) for e in range(5))


def test_unpaired_needs_both_folders(tmp_path):
    make_unpaired(tmp_path, 1, 0)
    with pytest.raises(DatasetError, match="B"):
        UnpairedFolder(tmp_path, size=8)


def test_unpaired_skip_corrupt(tmp_path):
    make_unpaired(tmp_path, 2, 2)
    corrupt(tmp_path / "B" / "b9.png")
    ds = UnpairedFolder(tmp_path, size=8, on_bad="skip")
    assert len(ds.files_b) == 2 and ds.skipped[0][0] == str(tmp_path / "B" / "b9.png")


# --------------------------------------------------------------------------------------------
# SRFolder
# --------------------------------------------------------------------------------------------


def test_sr_shapes_and_lr_is_bicubic_of_hr(tmp_path):
    write_image(tmp_path / "hr" / "x.png", noise(40, 50))
    write_image(tmp_path / "hr" / "nested" / "small.png", noise(16, 20, 1))  # shorter than size
    for train in (True, False):
        ds = SRFolder(tmp_path / "hr", size=24, scale=4, train=train)
        assert len(ds) == 2
        for i in range(2):
            item = ds[i]
            assert item["A"].shape == (3, 6, 6) and item["B"].shape == (3, 24, 24)
            assert item["A"].dtype == torch.uint8
            np.testing.assert_array_equal(as_hwc(item["A"]), bicubic_downscale(as_hwc(item["B"]), 4))
    assert sorted(ds[i]["path"] for i in range(2)) == ["nested/small.png", "x.png"]


def test_sr_train_crop_is_exact_hr_patch(tmp_path):
    write_image(tmp_path / "x.png", coordinates(40, 60, 9))
    hr = as_hwc(SRFolder(tmp_path, size=16, scale=2)[(5, 0)]["B"])
    top, left = int(hr[0, 0, 0]), int(hr[0, 0, 1])
    np.testing.assert_array_equal(hr, coordinates(40, 60, 9)[top : top + 16, left : left + 16])


def test_sr_size_must_be_multiple_of_scale(tmp_path):
    write_image(tmp_path / "x.png", noise(32, 32))
    with pytest.raises(DatasetError, match="multiple"):
        SRFolder(tmp_path, size=30, scale=4)


def test_sr_split_root_layout(tmp_path):
    write_image(tmp_path / "train" / "a.png", noise(32, 32))
    write_image(tmp_path / "val" / "b.png", noise(32, 32))
    assert SRFolder(tmp_path, size=16, scale=4)[0]["path"] == "a.png"
    assert SRFolder(tmp_path, split="val", size=16, scale=4, train=False)[0]["path"] == "b.png"


def test_cyclegan_dataset_layout_trainA_trainB_testA_testB(tmp_path):
    """The published CycleGAN datasets ship as trainA/ trainB/ testA/ testB/: read them as they are."""
    for folder, seed in (("trainA", 0), ("trainB", 10), ("testA", 20), ("testB", 30)):
        count = 3 if folder.startswith("train") else 2
        for i in range(count + (folder == "trainB")):
            write_image(tmp_path / folder / f"{folder}_{i}.png", pattern(seed + i, 24))
    assert find_split_root(tmp_path, "val") == tmp_path
    assert split_dirs(tmp_path, "val") == (tmp_path / "testA", tmp_path / "testB")
    train = UnpairedFolder(tmp_path, split="train", size=16)
    val = UnpairedFolder(tmp_path, split="val", size=16, train=False)
    assert (train.dir_a, train.dir_b) == (tmp_path / "trainA", tmp_path / "trainB")
    assert len(train) == 4 and len(val) == 2
    assert train[0]["path"] == "trainA_0.png" and val[1]["path"] == "testA_1.png"
    assert train[0]["A"].shape == (3, 16, 16)
    # valA/ valB/ win over testA/ testB/
    for folder in ("valA", "valB"):
        write_image(tmp_path / folder / "v.png", pattern(40, 24))
    assert len(UnpairedFolder(tmp_path, split="val", size=16, train=False)) == 1
    # a half layout is not mistaken for one
    (tmp_path / "other").mkdir()
    write_image(tmp_path / "other" / "trainA" / "x.png", pattern(1, 24))
    assert split_dirs(tmp_path / "other", "train") is None


def test_paired_folder_reads_the_trainA_trainB_layout(tmp_path):
    for i in range(2):
        write_image(tmp_path / "trainA" / f"{i}.png", pattern(i, 24))
        write_image(tmp_path / "trainB" / f"{i}.png", pattern(i + 5, 24))
    data = PairedFolder(tmp_path, size=16, train=False)
    assert data.layout == "A/B" and len(data) == 2 and data[1]["path"] == "1.png"


def test_image_cache_returns_read_only_copies_within_its_budget(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"p{i}.png")
        write_image(paths[-1], np.full((10, 10, 3), 40 * i, np.uint8))
    cache = ImageCache(max_bytes=2 * 300)  # room for two 10 x 10 x 3 images
    first = cache.read(paths[0], 3)
    assert cache.read(paths[0], 3) is first and not first.flags.writeable
    assert int(first[0, 0, 0]) == 0 and cache.read(paths[0], 1).shape == (10, 10, 1)  # keyed by channels too
    cache.read(paths[1], 3)
    cache.read(paths[2], 3)  # over budget: the least recently used entries go
    assert len(cache) == 2 and cache.bytes <= cache.max_bytes
    assert int(cache.read(paths[2], 3)[0, 0, 0]) == 80
    assert len(ImageCache(max_bytes=0).read(paths[0], 3)) == 10 and len(ImageCache(max_bytes=0)) == 0
    tensor = to_tensor_uint8(first[:, :, :1])  # a read-only (cached) crop still becomes a writable tensor
    tensor += 1
    assert int(first[0, 0, 0]) == 0


@pytest.mark.parametrize("shape", [(60, 90), (37, 200), (1, 300), (100, 100)])
def test_crop_resized_equals_resizing_then_cropping(shape):
    from img2img.data.files import crop_resized, resize_image, shorter_side_to

    image = cv2.GaussianBlur(noise(*shape), (5, 5), 1.5)
    for short in (16, 128):  # shrinking (whole image, area) and enlarging (the crop alone, bicubic)
        new_h, new_w = shorter_side_to(*shape, short)
        rng = np.random.default_rng(1)
        for _ in range(4):
            top, left = int(rng.integers(0, new_h - 16 + 1)), int(rng.integers(0, new_w - 16 + 1))
            expected = resize_image(image, new_h, new_w)[top : top + 16, left : left + 16]
            crop = crop_resized(image, (new_h, new_w, top, left), 16)
            assert crop.shape == expected.shape
            assert np.abs(crop.astype(int) - expected.astype(int)).max() <= 1


def test_a_thin_strip_costs_a_crop_not_its_enlarged_whole(tmp_path):
    """A 1 x 30000 PNG (90 KB) at a 128 px crop was enlarged whole: 128 x 3.84 M pixels, gigabytes."""
    import tracemalloc

    from img2img.data.recipe_folder import RecipeFolder
    from img2img.data.recipes import Recipe

    for folder in ("A", "B"):
        write_image(tmp_path / "pairs" / folder / "strip.png", noise(1, 30000))
    write_image(tmp_path / "photos" / "strip.png", noise(1, 30000))
    write_image(tmp_path / "sr" / "strip.png", noise(1, 30000))
    datasets = [
        PairedFolder(tmp_path / "pairs", size=128),
        UnpairedFolder(tmp_path / "pairs", size=128),
        RecipeFolder(tmp_path / "photos", Recipe("restore"), size=128),
        SRFolder(tmp_path / "sr", size=96, scale=4),
    ]
    for dataset in datasets:
        tracemalloc.start()
        item = dataset[0]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert item["B"].shape[-2:] == ((96, 96) if isinstance(dataset, SRFolder) else (128, 128))
        assert peak < 50e6, f"{type(dataset).__name__}: {peak / 1e6:.0f} MB for one crop of a thin strip"


def test_a_broken_link_with_an_image_name_is_a_bad_file(tmp_path):
    """It neither stopped a strict run nor reached RUN/skipped.txt: only two raw warnings."""
    import warnings

    warnings.simplefilter("error")
    make_pairs(tmp_path, ["a", "b"])
    (tmp_path / "A" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(DatasetError, match=r"gone\.png"):
        PairedFolder(tmp_path, size=16)
    data = PairedFolder(tmp_path, size=16, on_bad="skip")
    assert len(data) == 2 and [p for p, _ in data.skipped] == [str(tmp_path / "A" / "gone.png")]


def test_a_pair_that_would_be_stretched_is_a_bad_pair(tmp_path):
    """A portrait A beside a landscape B (one turned by EXIF) was stretched without a word."""
    write_image(tmp_path / "A" / "ok.png", noise(24, 32))
    write_image(tmp_path / "B" / "ok.png", noise(48, 60, 1))  # 1.25 vs 1.33: resized, kept
    write_image(tmp_path / "A" / "turned.png", noise(32, 24))
    write_image(tmp_path / "B" / "turned.png", noise(24, 32, 2))
    with pytest.raises(DatasetError, match=r"turned\.png is 32 x 24 pixels and its partner .*A/turned\.png 24 x 32"):
        PairedFolder(tmp_path, size=16)
    data = PairedFolder(tmp_path, size=16, on_bad="skip")
    assert [a.name for a, _ in data.pairs] == ["ok.png"] and data.skipped[0][1] == "shape unlike A's"
