"""JSRT through the data stack: the anatomy segmenter's held-out fold (data.splits) and rows with all masks."""

from __future__ import annotations

import numpy as np
import pytest

from cxrkit.data import load_dataset
from cxrkit.data.adapters.jsrt import ALL_IDS, anatomy_split
from cxrkit.data.splits import stratified_id_split
from cxrkit.errors import DataFormatError

# The fold behind every JSRT figure in docs/anatomy.md and the shipped segmenter's card (41 of these 50 ids
# are on disk in shared/data/jsrt-scr). A change here changes which images are held out.
DOCUMENTED_TEST_FOLD = [
    "JPCLN002", "JPCLN004", "JPCLN012", "JPCLN013", "JPCLN025", "JPCLN029", "JPCLN039", "JPCLN043", "JPCLN044",
    "JPCLN045", "JPCLN056", "JPCLN058", "JPCLN063", "JPCLN064", "JPCLN072", "JPCLN073", "JPCLN076", "JPCLN081",
    "JPCLN082", "JPCLN097", "JPCLN100", "JPCLN106", "JPCLN113", "JPCLN123", "JPCLN128", "JPCLN135", "JPCLN142",
    "JPCLN144", "JPCLN146", "JPCLN149", "JPCLN151", "JPCNN005", "JPCNN007", "JPCNN012", "JPCNN016", "JPCNN019",
    "JPCNN029", "JPCNN030", "JPCNN031", "JPCNN038", "JPCNN041", "JPCNN043", "JPCNN054", "JPCNN055", "JPCNN061",
    "JPCNN065", "JPCNN067", "JPCNN070", "JPCNN083", "JPCNN085",
]


def test_anatomy_fold_is_the_documented_one():
    split = anatomy_split(list(ALL_IDS))
    assert split["test"] == DOCUMENTED_TEST_FOLD
    assert {k: len(v) for k, v in split.items()} == {"train": 178, "val": 19, "test": 50}
    # a copy with fewer files keeps each id's part
    some = list(ALL_IDS[::3])
    assert anatomy_split(some)["test"] == [c for c in DOCUMENTED_TEST_FOLD if c in some]
    assert anatomy_split(["JPCXX001"])["train"] == ["JPCXX001"]  # unknown ids train


def test_stratified_id_split_counts_per_stratum_and_seed():
    ids = [f"a{i}" for i in range(60)] + [f"b{i}" for i in range(40)]
    strata = ["a"] * 60 + ["b"] * 40
    part = stratified_id_split(ids, strata, {"test": 20, "val": 10}, seed=1)
    count = {(g, p): 0 for g in "ab" for p in ("train", "val", "test")}
    for c in ids:
        count[(c[0], part[c])] += 1
    assert count == {("a", "test"): 12, ("a", "val"): 6, ("a", "train"): 42,
                     ("b", "test"): 8, ("b", "val"): 4, ("b", "train"): 28}
    assert part == stratified_id_split(ids, strata, {"test": 20, "val": 10}, seed=1)
    assert part != stratified_id_split(ids, strata, {"test": 20, "val": 10}, seed=2)
    with pytest.raises(DataFormatError, match="strata has 1 entries"):
        stratified_id_split(ids, ["a"], {"test": 1}, seed=0)
    with pytest.raises(DataFormatError, match="duplicate"):
        stratified_id_split(["x", "x"], ["a", "a"], {"test": 1}, seed=0)


def test_require_masks_keeps_complete_cases(fixtures_dir):
    root = fixtures_dir / "data" / "jsrt"
    ds = load_dataset("jsrt", root=root, require_masks=True)  # JPCNN001 has no masks: dropped
    assert ds.meta["image_id"].tolist() == ["JPCLN001", "JPCLN002"]
    assert ds.meta["anatomy_split"].tolist() == ["train", "test"]
    s = ds[1]
    assert s.masks is not None and all(m.shape == s.image.shape for m in s.masks.values())
    assert np.isfinite(s.image.pixels).all()


def test_require_masks_without_masks_is_a_clear_error(tmp_path, fixtures_dir):
    import shutil

    root = tmp_path / "jsrt"
    shutil.copytree(fixtures_dir / "data" / "jsrt" / "images", root / "images")
    with pytest.raises(DataFormatError, match="no masks/ folder"):
        load_dataset("jsrt", root=root, require_masks=True)
