"""Bad input gets a typed, clear error: a table of cases, each built for real in tmp_path."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import hostile_inputs as hostile
import numpy as np
import pytest
from PIL import Image as PILImage

from cxrkit.errors import CxrkitError, InvalidImageError, UnknownNameError, UnsupportedImageError
from cxrkit.io import image_from_array, read_header, read_image
from cxrkit.synthetic import synthetic_chest, synthetic_dicom

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "io"
PNG = FIXTURES / "00010805_049.png"
JPEG_DICOM = FIXTURES / "Fake_MONOHR1.dcm"
J2K_DICOM = FIXTURES / "RG1_J2KI"


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return make


def _cut(src: Path, fraction: float, name: str) -> Callable[[Path], Path]:
    return lambda tmp: _file(name, src.read_bytes()[: int(src.stat().st_size * fraction)])(tmp)


def _png(arr: np.ndarray, name: str = "x.png") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        PILImage.fromarray(arr).save(tmp / name)
        return tmp / name

    return make


def _jpeg_cut(tmp: Path) -> Path:
    buf = io.BytesIO()
    PILImage.fromarray(np.rint(synthetic_chest((256, 256), seed=1) * 255).astype(np.uint8)).save(buf, "JPEG")
    return _file("cut.jpg", buf.getvalue()[: len(buf.getvalue()) // 2])(tmp)


def _png_header_only(width: int, height: int) -> Callable[[Path], Path]:
    """A PNG whose IHDR claims a huge size (a decompression bomb's header), with a tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")
    return _file("bomb.png", data)


def _dcm(name: str = "x.dcm", **kw) -> Callable[[Path], Path]:
    return lambda tmp: synthetic_dicom(tmp / name, shape=(64, 64), **kw)


def _dicomdir(tmp: Path) -> Path:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["dicomdir"])
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.FileSetID = "TEST"
    ds.DirectoryRecordSequence = []
    path = tmp / "DICOMDIR"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def _cut_ct(tmp: Path) -> Path:
    full = synthetic_dicom(None, shape=(64, 64), modality="CT")
    return _file("cut_ct.dcm", full[: len(full) - 5000])(tmp)


def _native_dicom_cut(tmp: Path) -> Path:
    full = synthetic_dicom(None, shape=(64, 64))
    return _file("cut_native.dcm", full[: len(full) - 3000])(tmp)


RNG = np.random.default_rng(0)
# pydicom warns (UserWarning) about the garbage these cases feed it; the error raised is what is tested
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

# (id, build(tmp_path) -> path, error class, words the message must contain)
FILE_CASES = [
    ("missing-file", lambda tmp: tmp / "nope.png", InvalidImageError, ["no such file", "nope.png"]),
    ("directory", lambda tmp: tmp, InvalidImageError, ["directory"]),
    ("empty-file", _file("empty.dcm", b""), InvalidImageError, ["empty", "0 bytes"]),
    ("text-file", _file("notes.txt", b"Chest X-ray report: no acute findings.\n" * 10), InvalidImageError,
     ["not an image", "text"]),
    ("random-bytes", _file("noise.bin", RNG.bytes(4096)), InvalidImageError, ["not an image"]),
    ("random-bytes-with-DICM", _file("fake.dcm", bytes(128) + b"DICM" + RNG.bytes(400)), InvalidImageError,
     ["DICOM"]),
    ("random-bytes-like-raw-dicom", _file("raw.dcm", b"\x08\x00\x05\x00CS" + RNG.bytes(600)), InvalidImageError,
     ["DICOM"]),
    ("png-truncated-pixels", _cut(PNG, 0.6, "cut.png"), InvalidImageError, ["truncated"]),
    ("png-truncated-header", _cut(PNG, 0.0004, "cut_header.png"), InvalidImageError, ["PNG"]),
    ("jpeg-truncated", _jpeg_cut, InvalidImageError, ["truncated"]),
    ("dicom-jpeg-truncated", _cut(JPEG_DICOM, 0.5, "cut_jpeg.dcm"), InvalidImageError, ["DICOM", "truncated"]),
    ("dicom-j2k-truncated", _cut(J2K_DICOM, 0.5, "cut_j2k.dcm"), InvalidImageError, ["DICOM", "truncated"]),
    ("dicom-j2k-truncated-at-end", _cut(J2K_DICOM, 0.995, "cut_j2k_end.dcm"), InvalidImageError, ["DICOM"]),
    ("dicom-header-truncated", _cut(JPEG_DICOM, 0.003, "cut_head.dcm"), InvalidImageError, ["DICOM", "truncated"]),
    ("dicom-native-truncated", _native_dicom_cut, InvalidImageError, ["DICOM"]),
    ("dicom-without-pixel-data", _dcm(pixel_data=False), InvalidImageError, ["no PixelData"]),
    ("dicom-CT", _dcm(modality="CT"), UnsupportedImageError, ["'CT'", "modality"]),
    ("dicom-MR", _dcm(modality="MR"), UnsupportedImageError, ["'MR'"]),
    ("dicom-CT-truncated-pixels", _cut_ct, UnsupportedImageError, ["'CT'"]),  # rejected from the header alone
    ("dicom-US", _dcm(modality="US"), UnsupportedImageError, ["'US'"]),
    ("dicom-NM", _dcm(modality="NM"), UnsupportedImageError, ["'NM'"]),
    ("dicom-multi-frame", _dcm(frames=3), UnsupportedImageError, ["multi-frame", "3 frames"]),
    ("dicom-SR", _dcm(modality="SR", pixel_data=False), UnsupportedImageError, ["Structured Report"]),
    ("dicomdir", _dicomdir, UnsupportedImageError, ["DICOMDIR"]),
    ("dicom-unknown-photometric", _dcm(extra={"PhotometricInterpretation": "HSV"}), UnsupportedImageError,
     ["PhotometricInterpretation", "HSV"]),
    ("dicom-constant", _dcm(pixels=np.full((64, 64), 0.5, np.float32)), InvalidImageError, ["constant image"]),
    ("dicom-1x1", _dcm(pixels=np.zeros((1, 1), np.float32)), InvalidImageError, ["1x1"]),
    ("png-1x1", _png(np.zeros((1, 1), np.uint8)), InvalidImageError, ["1x1", "at least"]),
    ("png-constant", _png(np.full((64, 64), 7, np.uint8)), InvalidImageError, ["constant image"]),
    ("png-bomb-header", _png_header_only(20000, 20000), UnsupportedImageError, ["decompression bomb"]),
    # issue 11: each of these crashed (zlib.error, TypeError ...), inflated without bound or read "successfully"
    ("dicom-deflate-bomb", lambda tmp: _file("bomb.dcm", hostile.deflate_bomb())(tmp), UnsupportedImageError,
     ["deflate", "decompression bomb", "max_inflated_bytes"]),
    ("dicom-deflate-corrupt", lambda tmp: _file("zc.dcm", hostile.deflate_corrupt())(tmp), InvalidImageError,
     ["deflate", "corrupt"]),
    ("dicom-deflate-truncated", lambda tmp: _file("zt.dcm", hostile.deflate_truncated())(tmp), InvalidImageError,
     ["deflate", "truncated"]),
    ("dicom-ts-vr-IS", lambda tmp: _file("ts_is.dcm", hostile.wrong_vr_transfer_syntax("IS"))(tmp),
     InvalidImageError, ["TransferSyntaxUID", "VR IS"]),
    ("dicom-ts-vr-SQ", lambda tmp: _file("ts_sq.dcm", hostile.wrong_vr_transfer_syntax("SQ"))(tmp),
     InvalidImageError, ["TransferSyntaxUID", "VR SQ"]),
    ("dicom-ts-unknown-vr", lambda tmp: _file("ts_u0.dcm", hostile.wrong_vr_transfer_syntax("U\x00"))(tmp),
     InvalidImageError, ["TransferSyntaxUID", "VR 'U\\x00'"]),  # found by the fuzz test
    ("dicom-rescale-slope-nan", lambda tmp: _file("s_nan.dcm", hostile.rescale_dicom(float("nan")))(tmp),
     InvalidImageError, ["RescaleSlope", "nan"]),
    ("dicom-rescale-slope-inf", lambda tmp: _file("s_inf.dcm", hostile.rescale_dicom(float("inf")))(tmp),
     InvalidImageError, ["RescaleSlope", "inf"]),
    ("dicom-rescale-slope-minus-inf", lambda tmp: _file("s_minf.dcm", hostile.rescale_dicom(float("-inf")))(tmp),
     InvalidImageError, ["RescaleSlope", "-inf"]),
    ("dicom-rescale-slope-1e308", lambda tmp: _file("s_big.dcm", hostile.rescale_dicom(1e308))(tmp),
     InvalidImageError, ["RescaleSlope", "1e+308", "overflow"]),
    ("dicom-rescale-slope-zero", lambda tmp: _file("s_0.dcm", hostile.rescale_dicom(0.0))(tmp),
     InvalidImageError, ["RescaleSlope", "0", "non-zero"]),
    ("dicom-rescale-intercept-nan", lambda tmp: _file("i_nan.dcm", hostile.rescale_dicom(1.0, float("nan")))(tmp),
     InvalidImageError, ["RescaleIntercept", "nan"]),
    ("dicom-rescale-intercept-1e308", lambda tmp: _file("i_big.dcm", hostile.rescale_dicom(1.0, 1e308))(tmp),
     InvalidImageError, ["RescaleIntercept", "overflow"]),
]


@pytest.mark.parametrize(("make", "error", "words"), [pytest.param(*c[1:], id=c[0]) for c in FILE_CASES])
def test_bad_files(tmp_path: Path, make, error: type[CxrkitError], words: list[str]) -> None:
    path = make(tmp_path)
    with pytest.raises(error) as info:
        read_image(path)
    message = str(info.value)
    assert str(path) in message, message
    for word in words:
        assert word.lower() in message.lower(), message


@pytest.mark.parametrize(
    ("make", "max_pixels"),
    [
        pytest.param(_png(np.zeros((100, 100), np.uint8)), 9_999, id="png"),
        pytest.param(_png_header_only(10000, 10000), 200_000_000, id="png-over-pillow-warning-limit"),
        pytest.param(_dcm(), 4095, id="dicom"),
    ],
)
def test_pixel_limit_is_checked_before_decoding(tmp_path: Path, make, max_pixels: int) -> None:
    with pytest.raises(UnsupportedImageError, match="decompression bomb"):
        read_image(make(tmp_path), max_pixels=max_pixels)


def test_bytes_errors() -> None:
    with pytest.raises(InvalidImageError, match="empty"):
        read_image(b"")
    with pytest.raises(InvalidImageError, match="not an image"):
        read_image(b"hello world, not an image")


GOOD = synthetic_chest((32, 32), seed=0)

ARRAY_CASES = [
    ("nan", np.where(GOOD > 0.5, np.nan, GOOD), {}, InvalidImageError, "NaN"),
    ("inf", np.where(GOOD > 0.5, np.inf, GOOD), {}, InvalidImageError, "infinite"),
    ("3-d-stack", np.stack([GOOD] * 2), {}, InvalidImageError, "2-D"),
    ("rgb-without-photometric", np.dstack([GOOD] * 3), {}, InvalidImageError, "photometric='RGB'"),
    ("1-d", GOOD.ravel(), {}, InvalidImageError, "2-D"),
    ("1x1", np.zeros((1, 1)), {}, InvalidImageError, "at least"),
    ("constant", np.full((32, 32), 3, np.uint16), {}, InvalidImageError, "constant image"),
    ("strings", np.array([["a"] * 32] * 32), {}, InvalidImageError, "dtype"),
    ("bad-photometric", GOOD, {"photometric": "MONOCHROME3"}, UnknownNameError, "MONOCHROME1"),
    ("too-large", GOOD, {"max_pixels": 100}, UnsupportedImageError, "max_pixels"),
]


@pytest.mark.parametrize(("arr", "kw", "error", "word"), [pytest.param(*c[1:], id=c[0]) for c in ARRAY_CASES])
def test_bad_arrays(arr: np.ndarray, kw: dict, error: type[CxrkitError], word: str) -> None:
    with pytest.raises(error, match=None) as info:
        image_from_array(arr, **kw)
    assert word.lower() in str(info.value).lower(), str(info.value)


def test_header_reader_rejects_the_same_bad_objects(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedImageError, match="CT"):
        read_header(_dcm(modality="CT")(tmp_path))
    with pytest.raises(InvalidImageError, match="not an image"):
        read_header(_file("t.txt", b"plain text\n")(tmp_path))


def test_png_with_flipped_bytes_is_refused_not_silently_wrong(tmp_path: Path) -> None:
    """Pillow does not check chunk CRCs; cxrkit does, so a corrupted PNG never decodes to a wrong picture."""
    data = PNG.read_bytes()
    rng = np.random.default_rng(0)
    for i in range(20):
        mutant = bytearray(data)
        mutant[int(rng.integers(100, len(data)))] ^= 0xFF
        path = tmp_path / f"flip{i}.png"
        path.write_bytes(bytes(mutant))
        with pytest.raises(InvalidImageError, match="corrupt PNG"):
            read_image(path)
