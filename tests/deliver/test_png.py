"""write_png (atomic 8-bit PNG) and the ``cxrkit convert`` / ``cxrkit info`` commands."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from cxrkit.deliver.png import png_bytes, write_png
from cxrkit.errors import InvalidImageError, UnknownNameError, UnsupportedImageError
from cxrkit.io import image_from_array, read_image
from cxrkit.io.raster import png_integrity_error
from cxrkit.service.commands import convert, info
from cxrkit.synthetic import synthetic_chest, synthetic_dicom

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "io"


def main(argv: list[str]) -> int:
    """Run one of this area's subcommands as ``cxrkit`` does, without importing every other command (slow)."""
    parser = argparse.ArgumentParser(prog="cxrkit")
    sub = parser.add_subparsers(dest="command")
    convert.register(sub)
    info.register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_write_png_roundtrip(tmp_path: Path) -> None:
    image = image_from_array(synthetic_chest((50, 40), seed=2))
    out = write_png(tmp_path / "sub" / "x.png", image)
    assert out == tmp_path / "sub" / "x.png"
    saved = np.asarray(PILImage.open(out))
    assert saved.dtype == np.uint8 and PILImage.open(out).mode == "L"
    np.testing.assert_array_equal(saved, image.to_uint8())
    assert [p.name for p in out.parent.iterdir()] == ["x.png"]  # no temporary file left behind


def test_write_png_failure_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    with pytest.raises(InvalidImageError):
        write_png(target, np.full((10, 10), np.nan, dtype=np.float32))
    with pytest.raises(InvalidImageError):
        write_png(target, np.zeros((3, 10, 10), dtype=np.float32))
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_convert_dicom_writes_the_displayed_image(tmp_path: Path, capsys) -> None:
    src = FIXTURES / "Fake_MONOHR1.dcm"
    out = tmp_path / "fake.png"
    assert main(["convert", str(src), str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    np.testing.assert_array_equal(np.asarray(PILImage.open(out)), read_image(src).to_uint8())
    # the PNG reads back as the same picture (8-bit quantization only)
    back = read_image(out)
    assert back.meta.format == "png" and float(np.abs(back.pixels - read_image(src).pixels).max()) <= 0.5 / 255 + 1e-6


def test_convert_bad_input_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "ct.dcm"
    synthetic_dicom(bad, shape=(32, 32), modality="CT")
    with pytest.raises(UnsupportedImageError, match="'CT'"):  # cxrkit's main() prints it as a clean error
        main(["convert", str(bad), str(tmp_path / "o.png")])
    assert not (tmp_path / "o.png").exists()


def test_info_json(tmp_path: Path, capsys) -> None:
    dcm = synthetic_dicom(tmp_path / "a.dcm", shape=(40, 30), spacing=(0.1, 0.12), view="AP")
    assert main(["info", str(dcm)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "dicom" and info["shape"] == [40, 30] and info["view"] == "AP"
    assert info["pixel_spacing_mm"] == [0.1, 0.12] and info["dicom"]["PatientID"] == "SYNTH0000"

    png = FIXTURES / "00013249_052.png"
    missing = tmp_path / "missing.png"
    assert main(["info", str(png), str(missing)]) == 1
    both = json.loads(capsys.readouterr().out)
    assert both[0]["shape"] == [512, 512] and both[0]["format"] == "png"
    assert both[1]["source"] == str(missing) and "InvalidImageError" in both[1]["error"]

    assert main(["info", "--header-only", str(dcm)]) == 0
    assert json.loads(capsys.readouterr().out)["original_size"] == [40, 30]


def test_png_bytes_up_filter_round_trips_exactly():
    rng = np.random.default_rng(3)
    for shape in ((1, 1), (1, 7), (5, 1), (37, 53), (37, 53, 3), (20, 9, 4)):
        a = rng.integers(0, 256, size=shape, dtype=np.uint8)
        for encoder in ("up", "pillow"):
            data = png_bytes(a, encoder=encoder)
            assert png_integrity_error(data) is None  # chunk CRCs and IEND
            back = np.asarray(PILImage.open(io.BytesIO(data)))
            assert back.dtype == np.uint8 and np.array_equal(back, a), (shape, encoder)


def test_png_bytes_rejects_bad_arrays_and_encoders():
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8), np.zeros((0, 4), np.uint8)):
        with pytest.raises(InvalidImageError):
            png_bytes(bad)
    with pytest.raises(UnknownNameError, match="PNG encoder"):
        png_bytes(np.zeros((2, 2), np.uint8), encoder="fpng")
