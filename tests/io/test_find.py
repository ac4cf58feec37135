"""find_images: the one rule for which files in a folder are radiographs (suffix, or image content)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from cxrkit.errors import InvalidImageError
from cxrkit.io.find import IMAGE_SUFFIXES, find_images, image_format, is_image_file


@pytest.fixture()
def folder(tmp_path: Path, examples: Path) -> Path:
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    shutil.copy(examples / "00000002_000.png", root / "a.png")
    shutil.copy(examples / "siim_pa_chest.dcm", root / "sub" / "siim")  # extensionless DICOM
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(root / "scan.tiff")
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(root / "jpeg_named_oddly.bin", format="JPEG")
    (root / "broken.png").write_text("not a png")  # an image name: kept, reading reports the problem
    (root / "notes").write_text("no image here")
    (root / "README.md").write_text("# no")
    shutil.copy(examples / "00000002_000.png", root / ".hidden.png")
    (root / "gone.png").symlink_to(root / "missing.png")
    return root


def test_suffix_or_content_decides_and_hidden_names_are_skipped(folder: Path) -> None:
    names = [p.relative_to(folder).as_posix() for p in find_images(folder)]
    assert names == ["a.png", "broken.png", "jpeg_named_oddly.bin", "scan.tiff", "sub/siim"]


def test_suffix_only_mode_for_dataset_folders(folder: Path) -> None:
    names = [p.name for p in find_images(folder, sniff=False)]
    assert names == ["a.png", "broken.png", "scan.tiff"]


def test_broken_links_kept_on_request(folder: Path) -> None:
    assert folder / "gone.png" not in find_images(folder)
    assert folder / "gone.png" in find_images(folder, keep_broken_links=True)


def test_missing_path_is_an_error_or_kept(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError, match="does not exist"):
        find_images([tmp_path / "nope.png"])
    assert find_images([tmp_path / "nope.png"], keep_missing=True) == [tmp_path / "nope.png"]


def test_files_given_are_kept_whatever_they_are_and_duplicates_dropped(folder: Path) -> None:
    got = find_images([folder / "notes", folder / "a.png", folder / "a.png", folder / "sub"])
    assert got == [folder / "notes", folder / "a.png", folder / "sub" / "siim"]


def test_format_sniffing(folder: Path) -> None:
    assert image_format(folder / "sub" / "siim") == "dicom"
    assert image_format(folder / "scan.tiff") == "tiff"
    assert image_format(folder / "notes") is None
    assert image_format(folder / "does-not-exist") is None
    assert is_image_file(folder / "jpeg_named_oddly.bin") and not is_image_file(folder / "README.md")
    assert {".dcm", ".png", ".jpg", ".jpeg", ".tif", ".tiff"} <= IMAGE_SUFFIXES


def test_every_command_walks_folders_the_same_way(folder: Path) -> None:
    from cxrkit.deliver.batch import collect_inputs
    from cxrkit.service.commands.classify import iter_inputs

    assert list(iter_inputs([str(folder)])) == find_images(folder)
    assert collect_inputs([folder]) == find_images(folder, keep_broken_links=True)  # reported in errors.jsonl
