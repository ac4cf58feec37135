"""PNG / JPEG / TIFF / BMP through Pillow: bit depths, color modes, orientation, detection by content."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from cxrkit.io import read_header, read_image
from cxrkit.synthetic import synthetic_chest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "io"
REF = synthetic_chest((64, 48), seed=3)
REF8 = np.rint(REF * 255).astype(np.uint8)


def save(tmp_path: Path, im: PILImage.Image, name: str, **kw) -> Path:
    path = tmp_path / name
    im.save(path, **kw)
    return path


def test_nih_png_is_value_over_255() -> None:
    path = FIXTURES / "00010805_049.png"
    image = read_image(path)
    expected = np.asarray(PILImage.open(path), dtype=np.float32) / 255.0
    np.testing.assert_array_equal(image.pixels, expected)
    assert image.meta.format == "png" and image.meta.photometric == "L" and image.meta.bits_stored == 8
    assert image.meta.original_size == (512, 512) and image.meta.notes == ()


def test_nih_rgba_takes_one_channel() -> None:
    path = FIXTURES / "00011322_006.png"
    image = read_image(path)
    rgba = np.asarray(PILImage.open(path))
    np.testing.assert_array_equal(image.pixels, rgba[..., 0].astype(np.float32) / 255.0)
    assert image.meta.photometric == "RGBA"
    assert any("identical channels" in n for n in image.meta.notes)


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("L", lambda: PILImage.fromarray(REF8)),
        ("RGB", lambda: PILImage.fromarray(np.dstack([REF8] * 3))),
        ("RGBA", lambda: PILImage.fromarray(np.dstack([REF8] * 3 + [np.full_like(REF8, 128)]))),
        ("LA", lambda: PILImage.fromarray(np.dstack([REF8, np.full_like(REF8, 255)]), mode="LA")),
        ("P", lambda: PILImage.fromarray(REF8).convert("P", palette=PILImage.Palette.ADAPTIVE, colors=256)),
    ],
)
def test_png_modes_give_the_gray_image(tmp_path: Path, mode: str, make) -> None:
    im = make()
    assert im.mode == mode
    image = read_image(save(tmp_path, im, "x.png"))
    tolerance = 8 / 255 if mode == "P" else 1e-6  # adaptive palettes merge close grays
    np.testing.assert_allclose(image.pixels, REF8 / 255.0, atol=tolerance)
    assert image.meta.photometric == mode


def test_rgb_with_color_uses_luminance(tmp_path: Path) -> None:
    rgb = np.dstack([REF8, REF8 // 2, np.full_like(REF8, 10)])
    image = read_image(save(tmp_path, PILImage.fromarray(rgb), "c.png"))
    expected = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255.0
    np.testing.assert_allclose(image.pixels, expected, atol=1e-5)
    assert any("luminance" in n for n in image.meta.notes)


def _png16(tmp_path: Path, arr: np.ndarray, sbit: int | None) -> Path:
    buf = io.BytesIO()
    PILImage.fromarray(arr.astype(np.uint16)).save(buf, format="PNG")
    data = buf.getvalue()
    if sbit is not None:  # insert an sBIT chunk right after IHDR (8-byte signature + 25-byte IHDR chunk)
        chunk = struct.pack(">I", 1) + b"sBIT" + bytes([sbit])
        chunk += struct.pack(">I", zlib.crc32(b"sBIT" + bytes([sbit])))
        data = data[:33] + chunk + data[33:]
    path = tmp_path / f"p16_{sbit}.png"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("scale", "sbit", "divisor"),
    [(65535, None, 65535), (4095, None, 4095), (16383, 14, 16383), (4095, 16, 65535)],
)
def test_16bit_png(tmp_path: Path, scale: int, sbit, divisor: int) -> None:
    arr = np.rint(REF * scale).astype(np.uint16)
    image = read_image(_png16(tmp_path, arr, sbit))
    np.testing.assert_allclose(image.pixels, arr / divisor, atol=1e-6)
    assert image.meta.bits_stored == int(np.log2(divisor + 1))
    assert image.meta.photometric.startswith("I;16")


def test_32bit_int_png_holding_16bit_values(tmp_path: Path) -> None:
    arr = np.rint(REF * 65535).astype(np.int32)
    image = read_image(save(tmp_path, PILImage.fromarray(arr, mode="I"), "i.tif"))
    np.testing.assert_allclose(image.pixels, arr / 65535.0, atol=1e-6)


def test_16bit_tiff(tmp_path: Path) -> None:
    arr = np.rint(REF * 65535).astype(np.uint16)
    image = read_image(save(tmp_path, PILImage.fromarray(arr), "x.tif"))
    np.testing.assert_allclose(image.pixels, arr / 65535.0, atol=1e-6)
    assert image.meta.format == "tiff"


def test_float_tiff_is_minmax(tmp_path: Path) -> None:
    arr = (REF * 3000 - 1000).astype(np.float32)
    image = read_image(save(tmp_path, PILImage.fromarray(arr, mode="F"), "f.tif"))
    np.testing.assert_allclose(image.pixels, (arr - arr.min()) / (arr.max() - arr.min()), atol=1e-5)


@pytest.mark.parametrize(("fmt", "ext", "atol"), [("JPEG", "jpg", 0.03), ("BMP", "bmp", 1e-6), ("GIF", "gif", 1e-6)])
def test_other_formats(tmp_path: Path, fmt: str, ext: str, atol: float) -> None:
    image = read_image(save(tmp_path, PILImage.fromarray(REF8), f"x.{ext}", format=fmt))
    assert image.meta.format == fmt.lower()
    assert float(np.abs(image.pixels - REF8 / 255.0).mean()) < atol


def test_one_bit_png(tmp_path: Path) -> None:
    bits = REF > 0.4
    image = read_image(save(tmp_path, PILImage.fromarray(bits), "b.png"))
    np.testing.assert_array_equal(image.pixels, bits.astype(np.float32))
    assert image.meta.bits_stored == 1


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [(1, lambda a: a), (3, lambda a: a[::-1, ::-1]), (6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a, 1))],
)
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, expected) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    path = save(tmp_path, PILImage.fromarray(REF8), "o.jpg", format="JPEG", quality=100, exif=exif.tobytes())
    image = read_image(path)
    want = expected(REF8 / 255.0)
    assert image.shape == want.shape
    assert float(np.abs(image.pixels - want).mean()) < 0.01
    assert image.meta.original_size == (64, 48)
    assert any("EXIF orientation" in n for n in image.meta.notes) == (orientation != 1)


def test_format_is_detected_from_content_not_extension(tmp_path: Path) -> None:
    png_named_dcm = tmp_path / "really_a_png.dcm"
    png_named_dcm.write_bytes((FIXTURES / "00013249_052.png").read_bytes())
    assert read_image(png_named_dcm).meta.format == "png"
    dcm_named_png = tmp_path / "really_a_dicom.png"
    dcm_named_png.write_bytes((FIXTURES / "Fake_MONOHR1.dcm").read_bytes())
    assert read_header(dcm_named_png).format == "dicom"


def test_read_header_png() -> None:
    meta = read_header(FIXTURES / "00011322_006.png")
    assert meta.original_size == (1024, 1024) and meta.photometric == "RGBA" and meta.format == "png"


def test_multipage_tiff_is_refused(tmp_path: Path) -> None:
    from cxrkit.errors import UnsupportedImageError

    frames = [PILImage.fromarray(REF8), PILImage.fromarray(255 - REF8)]
    path = tmp_path / "pages.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(UnsupportedImageError, match="2 frames"):
        read_image(path)


def test_cmyk_tiff_becomes_gray_by_luminance(tmp_path: Path) -> None:
    rgb = np.dstack([REF8, REF8 // 2, REF8 // 3])
    path = save(tmp_path, PILImage.fromarray(rgb).convert("CMYK"), "c.tif")
    image = read_image(path)
    back = np.asarray(PILImage.open(path).convert("RGB"), dtype=np.float64)
    expected = (back @ np.array([0.299, 0.587, 0.114])) / 255.0
    np.testing.assert_allclose(image.pixels, expected, atol=1e-5)
    assert image.meta.photometric == "CMYK" and any("CMYK converted" in n for n in image.meta.notes)
