"""NIH extra images: JPEGs listed by images_extra_manifest.csv's ``file`` column, keyed by Image Index."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image as PILImage

from cxrkit.data import load_dataset
from cxrkit.errors import DataFormatError


@pytest.fixture()
def root(fixtures_dir, tmp_path):
    src = fixtures_dir / "data" / "nih"
    dst = tmp_path / "nih"
    shutil.copytree(src, dst)
    (dst / "images_extra_512").mkdir()
    # a real NIH film stored as the extra folder stores them: JPEG under another name, listed by the manifest
    img = PILImage.open(src / "images_512" / "00000072_000.png").convert("L")
    img.save(dst / "images_extra_512" / "00000001_000.jpg", quality=92)
    (dst / "images_extra_manifest.csv").write_text(
        "image,file,finding_labels,patient_id\n"
        "00000001_000.png,images_extra_512/00000001_000.jpg,Cardiomegaly,1\n"
        "00000001_001.png,images_extra_512/missing.jpg,Cardiomegaly|Emphysema,1\n")
    return dst


def test_extra_folder_reads_the_manifest(root):
    ds = load_dataset("nih", root=root, images="images_extra_512")
    assert ds.meta["image_id"].tolist() == ["00000001_000.png"]  # the file that is absent is not a row
    assert ds.meta["path"].iloc[0].endswith("00000001_000.jpg")
    assert ds.labels[0, ds.findings.index("Cardiomegaly")] == 1
    assert ds.meta["width"].iloc[0] == 512


def test_adult_512_is_both_folders(root):
    ds = load_dataset("nih", root=root, images="adult_512")
    assert sorted(ds.meta["folder"]) == ["images_512", "images_512", "images_extra_512"]
    assert len(set(ds.meta["image_id"])) == 3


def test_manifest_without_file_column_is_refused(root):
    (root / "images_extra_manifest.csv").write_text("image,path\n00000001_000.png,x.jpg\n")
    with pytest.raises(DataFormatError, match="lacks columns \\['file'\\]"):
        load_dataset("nih", root=root, images="images_extra_512")


def test_manifest_cannot_point_outside_the_root(root):
    (root / "images_extra_manifest.csv").write_text("image,file\n00000001_000.png,../../etc/passwd\n")
    with pytest.raises(DataFormatError, match="outside"):
        load_dataset("nih", root=root, images="images_extra_512")


def test_corrupt_manifest_is_a_clear_error(root):
    (root / "images_extra_manifest.csv").write_bytes(b'image,file\n"unterminated,\x00\xff\n')
    with pytest.raises(DataFormatError, match="cannot parse"):
        load_dataset("nih", root=root, images="images_extra_512")


def test_unknown_folder_set_names_the_options(root):
    with pytest.raises(Exception, match="adult_512"):
        load_dataset("nih", root=root, images="adult_1024")


@pytest.mark.shared_data
def test_shared_adult_films(shared_data):
    ds = load_dataset("nih", root=shared_data / "nih-cxr14", images="adult_512", read_sizes=False)
    assert len(ds) == 1451 and ds.meta["folder"].value_counts().to_dict() == {"images_extra_512": 741,
                                                                            "images_512": 710}
    nf = ds.labels[:, ds.findings.index("No Finding")]
    assert int(np.nansum(nf)) == 377
