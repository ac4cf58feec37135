"""Every adapter on the real data in ../shared/data (skipped when absent; CI has it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrkit.data import load_dataset, merge, patient_split
from cxrkit.data.splits import load_chexnet_split, patient_keys

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def nih(shared_data):
    return load_dataset("nih", root=shared_data / "nih-cxr14")


def test_nih_710_images_with_table_labels(nih, shared_data):
    assert len(nih) == 710 and nih.meta["path"].notna().all()
    manifest = pd.read_csv(shared_data / "nih-cxr14/images_manifest.csv").set_index("image")
    m = nih.meta.set_index("image_id")
    assert set(m.index) == set(manifest.index)
    # labels equal the NIH table's Finding Labels, row by row
    for i in range(len(nih)):
        pos = {f for f, v in zip(nih.findings, nih.labels[i]) if v == 1}
        assert pos == set(manifest.loc[nih.meta["image_id"].iat[i], "finding_labels"].split("|"))
    assert (m["patient_id"].astype(int) == manifest.loc[m.index, "patient_id"]).all()
    assert (m["width"] == 512).all() and (m["chexnet_split"] != "test").all()


def test_nih_boxes_halved(nih, shared_data):
    manifest = pd.read_csv(shared_data / "nih-cxr14/images_manifest.csv").set_index("image")
    n_boxes = nih.boxes.groupby("image_id").size()
    expected = manifest["n_bbox"][manifest["n_bbox"] > 0]
    assert n_boxes.sort_index().to_dict() == expected.sort_index().to_dict()
    raw = pd.read_csv(shared_data / "nih-cxr14/labels/BBox_List_2017.csv.gz")
    raw = raw[raw["Image Index"].isin(nih.meta["image_id"])]
    merged = nih.boxes.merge(raw, left_on="image_id", right_on="Image Index")
    merged = merged[merged["finding"] == merged["Finding Label"].replace({"Infiltrate": "Infiltration"})]
    np.testing.assert_allclose(merged["x_min"], merged["Bbox [x"] / 2)
    np.testing.assert_allclose(merged["y_max"], (merged["y"] + merged["h]"]) / 2)
    assert (nih.boxes[["x_max", "y_max"]].to_numpy() <= 512).all()


def test_nih_all_image_folders(shared_data):
    ds = load_dataset("nih", root=shared_data / "nih-cxr14", images="all")
    assert ds.meta["folder"].value_counts().to_dict() == {"images_64px": 1000, "images_512": 710,
                                                          "images_1024_original": 12, "images_extra_512": 741}
    for folder, size in (("images_64px", 64), ("images_512", 512), ("images_1024_original", 1024)):
        sub = ds.query(f"folder == '{folder}'")
        assert (sub.meta["width"] == size).all()
        assert len(sub.boxes) == 0 or (sub.boxes[["x_max", "y_max"]].to_numpy() <= size).all()
    big = ds.query("folder == 'images_1024_original'")
    b512 = ds.query("folder == 'images_512'")
    one = big.boxes.iloc[0]
    twin = b512.boxes[b512.boxes["image_id"] == one["image_id"]].iloc[0]
    assert one["x_min"] == pytest.approx(2 * twin["x_min"])
    assert set(ds.query("folder == 'images_64px'").meta["folder_split"]) == {"train", "valid", "test"}


def test_nih_full_table_and_chexnet_split(shared_data):
    # the CheXNet lists were made from the 2017 table (v2020 revised 188 label cells of their images)
    full = load_dataset("nih", root=shared_data / "nih-cxr14", images_only=False, read_sizes=False, table="2017")
    assert len(full) == 112120 and full.meta["path"].notna().sum() == 710
    assert len(full.boxes) == 984
    split = load_chexnet_split(shared_data / "nih-cxr14")
    assert split["split"].value_counts().to_dict() == {"train": 78468, "test": 22433, "val": 11219}
    # the split's 14-value vectors agree with the table
    idx = pd.Series(np.arange(len(full)), index=full.meta["image_id"])
    rows = idx.loc[split["image_id"]].to_numpy()
    np.testing.assert_array_equal(full.labels[rows, :14], split.iloc[:, 2:].to_numpy())
    # our own stratified patient split of the whole table: sizes and prevalences close to the targets
    parts = patient_split(full, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=0)
    prev = full.labels.mean(0)
    for name, frac in (("train", 0.7), ("val", 0.1), ("test", 0.2)):
        rows_ = parts[name]
        assert abs(len(rows_) / len(full) - frac) < 0.01
        assert np.abs(full.labels[rows_].mean(0) / prev - 1).max() < 0.1
    keys = patient_keys(full.meta)
    assert not set(keys[parts["train"]]) & set(keys[parts["test"]])


def test_first_adapters_on_real_data(shared_data):
    k = load_dataset("kermany", root=shared_data / "kermany-pneumonia")
    assert len(k) == 5216 and int(k.column("Pneumonia").sum()) == 3875
    assert not k.meta["patient_id"].str.contains("jpeg").any()
    h = load_dataset("covid_hannover", root=shared_data / "covid-hannover")
    assert len(h) == 243 and h.meta["patient_id"].nunique() == 71
    assert h.meta["view"].value_counts().to_dict() == {"AP": 194, "PA": 49}
    with pytest.warns(UserWarning, match="missing on disk"):
        c = load_dataset("covid_ieee8023", root=shared_data / "covid-ieee8023")
    assert len(c) == 575 and c.meta["path"].notna().all()
    assert c[int(c.boxes["row"].iloc[0])].image is not None
    j = load_dataset("jsrt", root=shared_data / "jsrt-scr")
    assert len(j) == 197 and all(m is not None and len(m) == 5 for m in j.masks)
    s = j[0]
    assert s.masks["heart"].shape == s.image.shape == (1024, 1024)


def test_merge_and_split_real(nih, shared_data):
    h = load_dataset("covid_hannover", root=shared_data / "covid-hannover")
    m = merge([nih, h])
    assert len(m) == 953 and "COVID-19" in m.findings
    parts = patient_split(m, seed=0)
    keys = patient_keys(m.meta)
    seen = [set(keys[v]) for v in parts.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def test_openi_reports_real(shared_data):
    ds = load_dataset("openi", root=shared_data / "openi-reports")
    assert len(ds) == 2633 and ds.meta["path"].isna().all()
    assert ds.meta["findings"].notna().mean() > 0.8 and ds.meta["image_ids"].str.len().gt(0).mean() > 0.9
    # MeSH 'normal' reports are No Finding and have no positive finding
    normal = ds.column("No Finding") == 1
    assert normal.sum() > 800
    others = np.delete(ds.labels[normal], ds.findings.index("No Finding"), axis=1)
    assert np.nansum(others) == 0


def test_folder_on_dicom_samples(shared_data):
    ds = load_dataset("folder", root=shared_data / "dicom-samples", no_suffix=True)
    m = ds.meta.set_index("image_id")
    assert len(ds) == 5 and set(m["modality"]) == {"CR"}
    assert m.loc["siim/Fake_MONOHR1.dcm", "photometric"] == "MONOCHROME1"
    assert np.isnan(m.loc["nema_wg04/RG1_J2KI", "spacing_x_mm"])  # PixelSpacing [0, 0] → unknown
    assert m.loc["rsna/c64d5667-a776-4f95-9e21-bfabafb07740.dcm", "view"] == "AP"


def test_nih_rsna_labels_real(shared_data):
    ds = load_dataset("nih", root=shared_data / "nih-cxr14", labels="rsna")
    assert len(ds) == 281 and int(ds.column("Pneumonia").sum()) == 104
    assert len(ds.boxes) == 2 * 157 and (ds.boxes[["x_max", "y_max"]].to_numpy() <= 512).all()
