"""NIH ChestX-ray14 adapter on committed fixtures (real table rows + 2 real 512 px NIH PNGs)."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from cxrkit.data import load_dataset
from cxrkit.data.adapters.nih import FINDINGS, nih_label_matrix
from cxrkit.errors import DataFormatError, UnknownNameError


@pytest.fixture(scope="module")
def nih_root(fixtures_dir):
    return fixtures_dir / "data" / "nih"


@pytest.fixture(scope="module")
def ds(nih_root):
    return load_dataset("nih", root=nih_root)


def test_rows_are_the_images_on_disk(ds):
    assert len(ds) == 2
    assert ds.meta["image_id"].tolist() == ["00000072_000.png", "00000732_005.png"]
    assert ds.findings == list(FINDINGS)
    assert ds.labels.dtype == np.float32 and ds.labels.shape == (2, 15)


def test_labels_follow_the_table(ds):
    # 00000072_000: Atelectasis; 00000732_005: Cardiomegaly|Effusion|Fibrosis|Pleural_Thickening|Pneumothorax
    row0 = dict(zip(ds.findings, ds.labels[0]))
    assert row0["Atelectasis"] == 1 and sum(row0.values()) == 1
    pos1 = {f for f, v in zip(ds.findings, ds.labels[1]) if v == 1}
    assert pos1 == {"Cardiomegaly", "Effusion", "Fibrosis", "Pleural_Thickening", "Pneumothorax"}


def test_meta_columns(ds):
    m = ds.meta.iloc[0]
    assert m["patient_id"] == "00000072" and m["sex"] in ("M", "F") and m["view"] in ("PA", "AP")
    assert m["source"] == "nih" and m["width"] == 512 and m["height"] == 512
    assert m["chexnet_split"] == "train"
    assert m["original_width"] > 1024 and 0.1 < m["original_spacing_x_mm"] < 0.2
    # spacing on disk: original spacing scaled by the resize factor
    assert m["spacing_x_mm"] == pytest.approx(m["original_spacing_x_mm"] * m["original_width"] / 512)


def test_boxes_are_halved_for_512px(ds):
    b = ds.boxes
    assert len(b) == 3 and set(b.columns) >= {"row", "finding", "x_min", "y_min", "x_max", "y_max"}
    a = b[b["row"] == 0].iloc[0]
    # BBox_List: 356.503703703704,567.805291005291,127.86455026455,82.3534391534392 in 1024 px
    assert a["finding"] == "Atelectasis"
    np.testing.assert_allclose([a.x_min, a.y_min, a.x_max, a.y_max],
                               [356.5037037 / 2, 567.8052910 / 2, (356.5037037 + 127.8645503) / 2,
                                (567.8052910 + 82.3534392) / 2], rtol=1e-6)
    assert set(b[b["row"] == 1]["finding"]) == {"Cardiomegaly", "Pneumothorax"}


def test_sample_reads_pixels_lazily(ds):
    s = ds[1]
    assert s.image.pixels.shape == (512, 512) and s.image.pixels.dtype == np.float32
    assert s.image.pixels.min() >= 0.0 and s.image.pixels.max() <= 1.0
    assert {b.label for b in s.boxes} == {"Cardiomegaly", "Pneumothorax"}
    assert s.masks is None and s.meta["image_id"] == "00000732_005.png"
    with pytest.raises(IndexError):
        ds[5]


def test_full_table_keeps_rows_without_images(nih_root):
    full = load_dataset("nih", root=nih_root, images_only=False)
    table = pd.read_csv(nih_root / "labels/Data_Entry_2017_v2020.csv.gz")
    assert len(full) == len(table)
    assert full.meta["image_id"].tolist() == table["Image Index"].tolist()
    assert full.meta["path"].notna().sum() == 2
    # a box of an image not on disk stays in the 1024 px space of the release
    row = full.meta.index[full.meta["image_id"] == "00013118_008.png"][0]
    b = full.boxes[full.boxes["row"] == row].iloc[0]
    assert b.x_min == pytest.approx(225.084745762712)
    np.testing.assert_array_equal(full.labels, nih_label_matrix(table["Finding Labels"]))


@pytest.mark.parametrize("split,n", [("train", 2), ("val", 0), ("test", 0)])
def test_chexnet_split_option(nih_root, split, n):
    with pytest.warns(UserWarning) if n == 0 else _nothing():
        assert len(load_dataset("nih", root=nih_root, split=split)) == n


def test_google2019_labels(nih_root):
    g = load_dataset("nih", root=nih_root, labels="google2019", images_only=False)
    assert g.findings == ["Fracture", "Pneumothorax", "Lung Opacity", "Lung Lesion"]
    got = dict(zip(g.meta["image_id"], g.labels.tolist()))
    assert got == {"00000013_008.png": [0, 0, 1, 0], "00000013_026.png": [0, 1, 0, 0]}
    assert set(g.meta["google2019_set"]) == {"test"}


def test_unknown_option_values_suggest(nih_root):
    with pytest.raises(UnknownNameError, match="did you mean 'images_512'"):
        load_dataset("nih", root=nih_root, images="images_521")
    with pytest.raises(DataFormatError, match="unknown option"):
        load_dataset("nih", root=nih_root, imgaes="images_512")


def test_missing_root_names_expected_files(tmp_path):
    with pytest.raises(DataFormatError, match="Data_Entry_2017_v2020"):
        load_dataset("nih", root=tmp_path / "nope")
    with pytest.raises(DataFormatError, match="Data_Entry_2017_v2020"):
        load_dataset("nih", root=tmp_path)


def test_wrong_columns_named(tmp_path, nih_root):
    (tmp_path / "labels").mkdir()
    df = pd.read_csv(nih_root / "labels/Data_Entry_2017_v2020.csv.gz").drop(columns=["Patient Age"])
    with gzip.open(tmp_path / "labels/Data_Entry_2017_v2020.csv.gz", "wt") as fh:
        df.to_csv(fh, index=False)
    with pytest.raises(DataFormatError, match=r"lacks columns \['Patient Age'\].*found"):
        load_dataset("nih", root=tmp_path)


def test_unknown_finding_name_is_an_error(tmp_path, nih_root):
    shutil.copytree(nih_root, tmp_path / "nih")
    p = tmp_path / "nih/labels/Data_Entry_2017_v2020.csv.gz"
    df = pd.read_csv(p)
    df.loc[0, "Finding Labels"] = "Cardiomegaly|Pneumonitis"
    with gzip.open(p, "wt") as fh:
        df.to_csv(fh, index=False)
    with pytest.raises(DataFormatError, match="Pneumonitis"):
        load_dataset("nih", root=tmp_path / "nih")


def test_image_not_in_table_warns(tmp_path, nih_root):
    shutil.copytree(nih_root, tmp_path / "nih")
    shutil.copyfile(nih_root / "images_512/00000072_000.png", tmp_path / "nih/images_512/99999999_000.png")
    with pytest.warns(UserWarning, match="1 image files .* not in the label table"):
        ds = load_dataset("nih", root=tmp_path / "nih")
    assert len(ds) == 2


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_2017_table_ages(nih_root):
    old = load_dataset("nih", root=nih_root, table="2017")
    new = load_dataset("nih", root=nih_root)
    assert old.meta["image_id"].tolist() == new.meta["image_id"].tolist()
    # "058Y"-style ages parsed to years; the v2020 revision corrected some ages by a year or so
    assert (abs(old.meta["age_years"] - new.meta["age_years"]) <= 2).all()
    np.testing.assert_array_equal(old.labels, new.labels)


def test_kaggle_layout_images_folders(tmp_path, nih_root):
    shutil.copytree(nih_root / "labels", tmp_path / "labels")
    for k, f in enumerate(["00000072_000.png", "00000732_005.png"]):
        d = tmp_path / f"images_00{k + 1}" / "images"
        d.mkdir(parents=True)
        shutil.copyfile(nih_root / "images_512" / f, d / f)
    ds = load_dataset("nih", root=tmp_path, images="images")
    assert ds.meta["image_id"].tolist() == ["00000072_000.png", "00000732_005.png"]
    assert ds.meta["chexnet_split"].isna().all()  # no split lists in this root
    with pytest.raises(DataFormatError, match="needs splits/chexnet_random"):
        load_dataset("nih", root=tmp_path, images="images", split="train")


def test_rsna_labels_and_boxes(nih_root):
    ds = load_dataset("nih", root=nih_root, labels="rsna")
    assert ds.findings == ["Pneumonia", "Lung Opacity", "No Finding"]
    np.testing.assert_array_equal(ds.labels, [[0, 0, 0], [1, 1, 0]])
    assert ds.meta["rsna_class"].tolist() == ["No Lung Opacity / Not Normal", "Lung Opacity"]
    b = ds.boxes[ds.boxes["finding"] == "Lung Opacity"].sort_values("x_min")
    assert (b["row"] == 1).all()
    np.testing.assert_allclose(b[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float),
                               np.array([[200, 320, 380, 700], [600, 300, 800, 700]]) / 2)  # 1024 → 512 px
    assert set(ds.boxes["finding"]) == {"Pneumonia", "Lung Opacity"}
