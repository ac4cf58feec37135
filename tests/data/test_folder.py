"""The "folder" adapter: an in-house archive of DICOM/PNG files, headers as metadata, optional labels CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxrkit.data import load_dataset, patient_split
from cxrkit.data.catalog import build_catalog, query_catalog
from cxrkit.errors import DataFormatError
from cxrkit.synthetic import synthetic_chest, synthetic_dicom


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    for k, (pid, sex, age, view) in enumerate([("P1", "F", "068Y", "PA"), ("P1", "F", "068Y", "LL"),
                                               ("P2", "M", "041Y", "AP")]):
        d = root / pid / f"study{k}"
        d.mkdir(parents=True)
        synthetic_dicom(d / f"img{k}.dcm", shape=(64, 48), seed=k, view=view, spacing=(0.2, 0.25),
                        extra={"PatientID": pid, "PatientSex": sex, "PatientAge": age,
                               "StudyInstanceUID": f"1.2.3.{k}"})
    (root / "png").mkdir()
    Image.fromarray((synthetic_chest((32, 32), seed=9) * 255).astype(np.uint8)).save(root / "png" / "x.png")
    (root / "png" / "broken.png").write_bytes(b"not an image")
    synthetic_dicom(root / "png" / "ct.dcm", modality="CT", seed=3)
    return root


def test_headers_become_meta(archive):
    with pytest.warns(UserWarning, match="2 of 6 files could not be read"):
        ds = load_dataset("folder", root=archive)
    assert len(ds) == 4 and ds.findings == [] and ds.labels.shape == (4, 0)
    m = ds.meta.set_index("image_id")
    assert m.loc["P1/study0/img0.dcm", "patient_id"] == "P1" and m.loc["P1/study0/img0.dcm", "age_years"] == 68
    assert m.loc["P1/study1/img1.dcm", "view"] == "LATERAL" and m.loc["P2/study2/img2.dcm", "sex"] == "M"
    assert m.loc["P1/study0/img0.dcm", "spacing_x_mm"] == 0.25 and m.loc["P1/study0/img0.dcm", "width"] == 48
    assert m.loc["png/x.png", "patient_id"] is None and m.loc["png/x.png", "format"] == "png"
    assert ds[0].image.pixels.shape == (64, 48)


def test_labels_csv_and_split(archive, tmp_path):
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"image_id": ["P1/study0/img0.dcm", "img2", "gone.dcm"], "Pleural Effusion": [1, 0, 1],
                  "Cardiomegaly": [None, -1, 0], "reader": ["a", "b", "c"]}).to_csv(csv, index=False)
    with pytest.warns(UserWarning):
        ds = load_dataset("folder", root=archive, labels=csv)
    assert ds.findings == ["Effusion", "Cardiomegaly"] and len(ds) == 2
    np.testing.assert_array_equal(ds.labels, [[1, np.nan], [0, -1]])
    assert ds.meta["reader"].tolist() == ["a", "b"] and ds.meta["patient_id"].tolist() == ["P1", "P2"]
    parts = patient_split(ds, [0.5, 0.5], seed=1)
    assert sorted(np.concatenate(list(parts.values()))) == [0, 1]
    with pytest.warns(UserWarning):
        keep = load_dataset("folder", root=archive, labels=csv, images_only=False)
    assert len(keep) == 3 and keep.meta["path"].isna().sum() == 1


def test_bad_labels_csv(archive, tmp_path):
    csv = tmp_path / "l.csv"
    pd.DataFrame({"file": ["a"], "Effusion": [1]}).to_csv(csv, index=False)
    with pytest.warns(UserWarning), pytest.raises(DataFormatError, match="'path' or 'image_id'"):
        load_dataset("folder", root=archive, labels=csv)
    pd.DataFrame({"path": ["a"], "colour": [1]}).to_csv(csv, index=False)
    with pytest.warns(UserWarning), pytest.raises(DataFormatError, match="no finding columns"):
        load_dataset("folder", root=archive, labels=csv)


def test_folder_catalog_with_workers(archive, tmp_path):
    with pytest.warns(UserWarning):
        info = build_catalog("folder", archive, tmp_path / "a.parquet", workers=2)
    assert info.rows == 4
    df = query_catalog(info.path, "modality = 'DX' AND view = 'PA'", columns=["image_id", "study_uid"])
    assert df.to_dict("records") == [{"image_id": "P1/study0/img0.dcm", "study_uid": "1.2.3.0"}]


def test_empty_or_misnamed_root(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(DataFormatError, match="no readable images"):
        load_dataset("folder", root=tmp_path / "empty")
    with pytest.raises(DataFormatError, match="is a file, not a folder"):
        load_dataset("folder", root=tmp_path / "notes.txt")
