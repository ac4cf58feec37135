"""Kermany, Hannover COVID, ieee8023 COVID and JSRT adapters on hand-written fixtures in their real layouts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrkit.data import load_dataset
from cxrkit.data.adapters.covid_ieee8023 import parse_finding
from cxrkit.errors import DataFormatError


@pytest.fixture(scope="module")
def root(fixtures_dir):
    return fixtures_dir / "data"


# -- Kermany ---------------------------------------------------------------------------------------------
def test_kermany_labels_patients_and_types(root):
    ds = load_dataset("kermany", root=root / "kermany")
    assert len(ds) == 9 and ds.findings == ["Pneumonia", "No Finding"]
    m = ds.meta.set_index("image_id")
    assert m.loc["person1000_bacteria_2931.jpeg", "patient_id"] == "person1000"
    assert m.loc["person1000_virus_1681.jpeg", "pneumonia_type"] == "viral"
    assert m.loc["person447_virus_921_1.jpeg", "patient_id"] == "person447"
    assert m.loc["IM-0429-0001-0002.jpeg", "patient_id"] == "IM-0429"
    assert m.loc["NORMAL2-IM-0383-0001.jpeg", "patient_id"] == "NORMAL2-IM-0383"
    pneu = ds.column("Pneumonia")
    assert pneu.sum() == 5 and ((pneu == 1) == (ds.meta["pneumonia_type"] != "none")).all()
    np.testing.assert_array_equal(ds.column("No Finding"), 1 - pneu)
    s = ds[0]
    assert s.image.pixels.shape == (32, 32)  # RGB file read as gray


def test_kermany_split_option(root):
    assert len(load_dataset("kermany", root=root / "kermany", split="test")) == 2
    with pytest.raises(DataFormatError, match="no images"):
        load_dataset("kermany", root=root / "kermany", split="val")


# -- Hannover --------------------------------------------------------------------------------------------
def test_hannover_missing_image_warns_and_drops(root):
    with pytest.warns(UserWarning, match="1 of 4 listed images are missing"):
        ds = load_dataset("covid_hannover", root=root / "covid_hannover")
    assert len(ds) == 3 and ds.findings == ["COVID-19"] and (ds.labels == 1).all()
    assert ds.meta["view"].tolist() == ["PA", "AP", "AP"]
    assert ds.meta["sex"].tolist() == ["F", "M", "M"]
    assert ds.meta["patient_id"].tolist() == ["024e7871", "042f06a9", "042f06a9"]


def test_hannover_keep_missing(root):
    with pytest.warns(UserWarning, match="kept with path=None"):
        ds = load_dataset("covid_hannover", root=root / "covid_hannover", images_only=False)
    assert len(ds) == 4 and ds.meta["path"].isna().sum() == 1
    assert ds[3].image is None and ds.meta["death_offset"].iloc[3] == 5


def test_hannover_wrong_columns(tmp_path, root):
    (tmp_path / "images").mkdir()
    pd.read_csv(root / "covid_hannover/data.csv").rename(columns={"projection": "view"}).to_csv(
        tmp_path / "data.csv", index=False)
    with pytest.raises(DataFormatError, match=r"lacks columns \['projection'\]"):
        load_dataset("covid_hannover", root=tmp_path)


def test_hannover_missing_root_names_files(tmp_path):
    with pytest.raises(DataFormatError, match="data.csv"):
        load_dataset("covid_hannover", root=tmp_path)


# -- ieee8023 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,expected,ptype",
    [
        ("COVID-19", {"COVID-19": 1, "Pneumonia": 1, "No Finding": 0}, "viral"),
        ("Pneumonia/Viral/COVID-19", {"COVID-19": 1, "Pneumonia": 1, "No Finding": 0}, "viral"),
        ("Pneumonia/Bacterial/Streptococcus", {"COVID-19": 0, "Pneumonia": 1}, "bacterial"),
        ("Streptococcus", {"COVID-19": 0, "Pneumonia": 1}, "bacterial"),
        ("Pneumocystis", {"COVID-19": 0, "Pneumonia": 1}, "fungal"),
        ("COVID-19, ARDS", {"COVID-19": 1, "Pneumonia": 1}, "viral"),
        ("No Finding", {"COVID-19": 0, "Pneumonia": 0, "No Finding": 1}, "none"),
        ("ARDS", {"COVID-19": 0, "Pneumonia": np.nan}, None),
        ("Tuberculosis", {"Tuberculosis": 1, "Pneumonia": np.nan}, None),
        ("", {"COVID-19": np.nan, "Pneumonia": np.nan}, None),
        ("todo", {"COVID-19": np.nan, "Pneumonia": np.nan, "No Finding": np.nan}, None),
    ],
)
def test_ieee_finding_parser(text, expected, ptype):
    labels, t = parse_finding(text)
    for k, v in expected.items():
        np.testing.assert_equal(labels[k], v)
    assert t == ptype


def test_ieee_rows_views_boxes_masks(root):
    with pytest.warns(UserWarning, match="1 of 6 listed images are missing"):  # CT row dropped first
        ds = load_dataset("covid_ieee8023", root=root / "covid_ieee8023")
    assert len(ds) == 5
    m = ds.meta
    assert m["view"].tolist() == ["PA", "LATERAL", "AP SUPINE", "AP", "PA"]
    assert m["license"].iloc[1] == "CC BY 4.0" and m["license"].iloc[0] is None
    assert m["geographic_mean"].iloc[0] == 6.0 and np.isnan(m["geographic_mean"].iloc[1])
    # lung boxes drawn on the 80x96 original, halved for the 40x48 copy; the box-less annotation skipped
    b = ds.boxes
    assert b["finding"].tolist() == ["right_lung", "left_lung"] and (b["row"] == 0).all()
    np.testing.assert_allclose(b[["x_min", "y_min", "x_max", "y_max"]].iloc[0], [5, 10, 15, 25])
    s = ds[0]
    assert s.masks["lungs"].shape == s.image.shape == (48, 40) and s.masks["lungs"].any()
    assert ds[2].masks is None


def test_ieee_view_filter_and_lungvae(root):
    with pytest.warns(UserWarning):
        ds = load_dataset("covid_ieee8023", root=root / "covid_ieee8023", views=["AP Supine"], masks="lungvae")
    assert len(ds) == 1 and ds.meta["finding_raw"].iloc[0] == "Streptococcus"
    assert ds[0].masks["lungs"].shape == (48, 40)
    with pytest.raises(Exception, match="did you mean 'LATERAL'"):
        load_dataset("covid_ieee8023", root=root / "covid_ieee8023", views=["LATERL"])


# -- JSRT ------------------------------------------------------------------------------------------------
def test_jsrt_nodules_and_masks(root):
    with pytest.warns(UserWarning, match="1 images have no SCR masks"):
        ds = load_dataset("jsrt", root=root / "jsrt")
    assert ds.meta["image_id"].tolist() == ["JPCLN001", "JPCLN002", "JPCNN001"]
    np.testing.assert_array_equal(ds.column("nodule"), [1, 1, 0])
    assert ds.meta["fold"].tolist() == ["odd", "even", "odd"]
    s = ds[0]
    assert set(s.masks) == {"left_lung", "right_lung", "heart", "left_clavicle", "right_clavicle"}
    assert s.masks["left_lung"].dtype == bool and s.masks["left_lung"].shape == s.image.shape
    # left lung is the patient's left: image right
    cols = np.flatnonzero(s.masks["left_lung"].any(0))
    assert cols.mean() > s.image.shape[1] / 2
    assert ds[2].masks is None
    assert load_dataset("jsrt", root=root / "jsrt", masks=False).masks is None
