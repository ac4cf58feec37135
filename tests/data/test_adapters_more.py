"""Open-i, CheXpert, MIMIC-CXR-JPG, PadChest, VinDr-CXR, RSNA Pneumonia and SIIM-ACR adapters on hand-written
fixtures in their real column layouts (synthetic images)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrkit.data import load_dataset
from cxrkit.data._masks import RleMask, decode_rle, encode_rle, load_mask
from cxrkit.data.adapters.openi import mesh_labels, parse_report
from cxrkit.data.adapters.padchest import parse_labels
from cxrkit.errors import DataFormatError, UnknownNameError

pytestmark = pytest.mark.filterwarnings("ignore:.*missing on disk:UserWarning")


@pytest.fixture(scope="module")
def root(fixtures_dir):
    return fixtures_dir / "data"


def lab(ds, i, name):
    return ds.labels[i, ds.findings.index(name)]


# -- Open-i ----------------------------------------------------------------------------------------------
def test_openi_reports(root):
    with pytest.warns(UserWarning, match="1 unreadable report files skipped"):
        ds = load_dataset("openi", root=root / "openi")
    assert ds.meta["report_id"].tolist() == ["CXR1", "CXR2", "CXR3"]
    assert ds.meta["path"].isna().all()  # a dataset of reports
    assert lab(ds, 0, "No Finding") == 1 and lab(ds, 0, "Cardiomegaly") == 0
    assert lab(ds, 1, "Cardiomegaly") == 1 and lab(ds, 1, "Effusion") == 1 and lab(ds, 1, "Pleural_Thickening") == 1
    assert np.isnan(ds.labels[2]).all()  # "No Indexing"
    assert ds.meta["findings"].iloc[1].startswith("Mild cardiomegaly")
    assert ds.meta["image_ids"].iloc[0] == "CXR1_1_IM-0001-3001|CXR1_1_IM-0001-4001"
    assert ds[0].image is None


def test_openi_image_rows(root):
    with pytest.warns(UserWarning):
        ds = load_dataset("openi", root=root / "openi", rows="images")
    assert ds.meta["image_id"].tolist() == ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001", "CXR2_1_IM-0002-1001"]
    assert ds.meta["path"].notna().tolist() == [True, False, False]
    assert ds[0].image.shape == (40, 48)


def test_openi_parsers(root):
    r = parse_report(root / "openi/reports/2.xml")
    assert r["uid"] == "CXR2" and r["mesh_automatic"] == ["pleural effusion"] and r["indication"] == "Dyspnea"
    with pytest.raises(DataFormatError, match="not an Open-i report"):
        parse_report(root / "openi/reports/4.xml")
    assert mesh_labels(["Hernia, Hiatal", "Lung/hypoinflation"]).sum() == 1


# -- CheXpert --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy,expected", [("ignore", np.nan), ("zeros", 0.0), ("ones", 1.0), ("keep", -1.0)])
def test_chexpert_uncertainty_policy(root, policy, expected):
    ds = load_dataset("chexpert", root=root / "chexpert/CheXpert-v1.0-small", uncertain=policy)
    assert len(ds) == 3  # patient00003's image is missing
    np.testing.assert_equal(lab(ds, 1, "Cardiomegaly"), expected)
    assert lab(ds, 1, "Lung Opacity") == 1 and np.isnan(lab(ds, 0, "Cardiomegaly"))  # blank = not mentioned
    assert lab(ds, 0, "Pneumothorax") == 0 and lab(ds, 1, "Fracture") == 1


def test_chexpert_meta_and_views(root):
    ds = load_dataset("chexpert", root=root / "chexpert/CheXpert-v1.0-small", split=None, views=["AP"])
    assert ds.meta["patient_id"].tolist() == ["patient00001", "patient00002", "patient64541"]
    assert ds.meta["sex"].tolist() == ["F", "F", "M"] and ds.meta["age_years"].tolist() == [68, 87, 73]
    assert "Effusion" in ds.findings and "Pleural Effusion" not in ds.findings
    with pytest.raises(UnknownNameError, match="did you mean 'zeros'"):
        load_dataset("chexpert", root=root / "chexpert/CheXpert-v1.0-small", uncertain="zero")


def test_chexpert_bad_values(tmp_path, root):
    df = pd.read_csv(root / "chexpert/CheXpert-v1.0-small/train.csv")
    df.loc[0, "Edema"] = 2
    df.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataFormatError, match="1, 0, -1 or blank"):
        load_dataset("chexpert", root=tmp_path, images_only=False)


# -- MIMIC-CXR-JPG ---------------------------------------------------------------------------------------
def test_mimic_join_split_patients(root):
    ds = load_dataset("mimic_cxr", root=root / "mimic_cxr")
    assert len(ds) == 3 and ds.meta["patient_id"].tolist() == ["10000032"] * 3
    assert lab(ds, 0, "No Finding") == 1 and lab(ds, 1, "No Finding") == 1  # study labels on both views
    assert np.isnan(lab(ds, 2, "Cardiomegaly")) and lab(ds, 2, "Lung Opacity") == 1
    assert ds.meta["view"].tolist() == ["PA", "LATERAL", "PA"] and ds.meta["sex"].iloc[0] == "F"
    assert ds.meta["age_years"].iloc[0] == 52
    neg = load_dataset("mimic_cxr", root=root / "mimic_cxr", labeler="negbio", split="validate")
    assert len(neg) == 1 and lab(neg, 0, "Cardiomegaly") == 1
    full = load_dataset("mimic_cxr", root=root / "mimic_cxr", images_only=False, uncertain="keep")
    assert len(full) == 4 and np.isnan(full.labels[3]).all()  # no label row for that study
    assert lab(full, 2, "Cardiomegaly") == -1


# -- PadChest --------------------------------------------------------------------------------------------
def test_padchest_terms(root):
    with pytest.warns(UserWarning, match="1 rows have an empty or unparseable Labels"):
        ds = load_dataset("padchest", root=root / "padchest")
    assert lab(ds, 0, "Cardiomegaly") == 1 and lab(ds, 0, "Effusion") == 1 and lab(ds, 0, "Aortic Enlargement") == 1
    assert lab(ds, 1, "Effusion") == 1  # ' pleural effusion' with a leading space
    assert ds.meta["unmapped_terms"].iloc[1] == "copd signs"
    assert lab(ds, 2, "No Finding") == 1 and np.isnan(ds.labels[3]).all()
    assert ds.meta["view"].tolist() == ["PA", "LATERAL", "AP SUPINE", "PA"]
    assert ds.meta["age_years"].iloc[0] == 2015 - 1946
    phys = load_dataset("padchest", root=root / "padchest", physician_only=True)
    assert len(phys) == 2


def test_padchest_label_parser():
    assert parse_labels("['Pleural Effusion', ' nodule']") == ["pleural effusion", "nodule"]
    assert parse_labels("not a list") is None and parse_labels("") is None


# -- VinDr-CXR -------------------------------------------------------------------------------------------
def test_vindr_aggregation_and_boxes(root):
    maj = load_dataset("vindr_cxr", root=root / "vindr_cxr", sizes_csv=root / "vindr_cxr/sizes.csv")
    anyr = load_dataset("vindr_cxr", root=root / "vindr_cxr", aggregate="any")
    assert lab(maj, 0, "Cardiomegaly") == 1 and lab(maj, 0, "Aortic Enlargement") == 0  # 1 of 3 readers
    assert lab(anyr, 0, "Aortic Enlargement") == 1 and lab(anyr, 0, "Fracture") == 1  # Rib fracture → Fracture
    assert lab(maj, 1, "No Finding") == 1 and maj.meta["n_readers"].tolist() == [3, 3]
    b = maj.boxes
    assert len(b) == 4 and set(b["rad_id"]) == {"R2", "R3", "R6"}
    # 2048 x 2560 DICOM pixels scaled to the 32 x 40 PNG: factor 1/64
    first = b[(b["rad_id"] == "R2") & (b["finding"] == "Cardiomegaly")].iloc[0]
    np.testing.assert_allclose([first.x_min, first.y_min, first.x_max, first.y_max],
                               np.array([691, 1375, 1653, 1831]) / 64)
    unscaled = anyr.boxes[anyr.boxes["rad_id"] == "R2"].iloc[0]
    assert unscaled.x_min == 691.0  # without original sizes the DICOM pixel space is kept


# -- RSNA Pneumonia --------------------------------------------------------------------------------------
def test_rsna_targets_classes_boxes(root):
    ds = load_dataset("rsna_pneumonia", root=root / "rsna_pneumonia")
    np.testing.assert_array_equal(ds.column("Pneumonia"), [0, 1, 0])
    np.testing.assert_array_equal(ds.column("No Finding"), [0, 0, 1])
    b = ds.boxes[ds.boxes["finding"] == "Lung Opacity"]
    assert (b["row"] == 1).all() and len(b) == 2
    # x,y,w,h = 264,152,213,379 in 1024 px → the 64 px copy: / 16
    np.testing.assert_allclose(b.iloc[0][["x_min", "y_min", "x_max", "y_max"]].to_numpy(float),
                               np.array([264, 152, 264 + 213, 152 + 379]) / 16)


def test_rsna_unknown_class(tmp_path, root):
    import shutil

    shutil.copytree(root / "rsna_pneumonia", tmp_path / "r")
    p = tmp_path / "r/stage_2_detailed_class_info.csv"
    p.write_text(p.read_text().replace("Normal\n", "Norma\n"))
    with pytest.raises(DataFormatError, match="unknown classes"):
        load_dataset("rsna_pneumonia", root=tmp_path / "r")


# -- SIIM-ACR --------------------------------------------------------------------------------------------
def test_siim_rle_masks(root):
    ds = load_dataset("siim_acr", root=root / "siim_acr")
    np.testing.assert_array_equal(ds.column("Pneumothorax"), [0, 1])
    assert ds.masks[0] is None and ds.meta["n_masks"].tolist() == [0, 2]
    full = load_mask(ds.masks[1]["pneumothorax"])
    assert full.shape == (1024, 1024) and full.sum() == 200 * 100 + 100 * 50
    assert full[100:300, 600:700].all() and full[700:800, 100:150].all()
    s = ds[1]
    assert s.masks["pneumothorax"].shape == s.image.shape == (64, 64)


def test_rle_roundtrip_and_errors(rng):
    m = rng.random((37, 23)) > 0.7
    np.testing.assert_array_equal(decode_rle(encode_rle(m), 37, 23), m)
    assert not decode_rle("-1", 4, 4).any() and encode_rle(np.zeros((3, 3))) == "-1"
    with pytest.raises(DataFormatError):
        decode_rle("5", 4, 4)
    with pytest.raises(DataFormatError):
        decode_rle("10 20", 4, 4)
    assert load_mask(RleMask(("0 4",), 4, 4))[:, 0].all()  # column-major: the first column


def test_siim_boxes_from_masks(root):
    ds = load_dataset("siim_acr", root=root / "siim_acr", boxes=True)
    b = ds.boxes.sort_values("y_min")
    assert (b["row"] == 1).all() and (b["finding"] == "Pneumothorax").all()
    # regions rows 100:300 x cols 600:700 and rows 700:800 x cols 100:150 of 1024, on the 64 px copy (/16)
    np.testing.assert_allclose(b[["x_min", "y_min", "x_max", "y_max"]].to_numpy(float),
                               np.array([[600, 100, 700, 300], [100, 700, 150, 800]]) / 16)
    assert len(load_dataset("siim_acr", root=root / "siim_acr").boxes) == 0
