"""Hand-made hostile files for the reader tests (issue 11): deflate bombs, broken file meta, bad rescale, PHI.

Each builder returns the file's bytes; none needs network or fixtures beyond :mod:`cxrkit.synthetic`.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from functools import lru_cache

import numpy as np
from PIL import Image as PILImage

from cxrkit.synthetic import synthetic_chest, synthetic_dicom

DEFLATED = b"1.2.840.10008.1.2.1.99"
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}

#: header values invalid for their VR, written over same-length valid ones (pydicom refuses to write them);
#: pydicom 3.0 quotes the IS ones in a warning when read, newer versions may quote the others too.
PHI_PATCHES = {
    "SeriesNumber": ("11111111", "Smith123"),
    "InstanceNumber": ("22222222", "DOE^JANE"),
    "PatientAge": ("045Y", "45 y"),
    "PatientBirthDate": ("19700101", "1970-1-1"),
}


def element(group: int, elem: int, vr: str, value: bytes) -> bytes:
    """One explicit VR little endian data element."""
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


def part10(transfer_syntax: bytes, body: bytes, *, ts_vr: str = "UI") -> bytes:
    """Preamble + ``DICM`` + a file meta group whose TransferSyntaxUID is ``transfer_syntax`` (VR ``ts_vr``)."""
    meta = (
        element(2, 1, "OB", b"\x00\x01")
        + element(2, 2, "UI", b"1.2.840.10008.5.1.4.1.1.1.1\x00")
        + element(2, 3, "UI", b"1.2.826.0.1.3680043.8.498.1\x00")
        + element(2, 0x10, ts_vr, transfer_syntax)
    )
    return bytes(128) + b"DICM" + element(2, 0, "UL", struct.pack("<I", len(meta))) + meta + body


def small_body() -> bytes:
    """A valid 16x16 explicit VR data set (no preamble, no file meta)."""
    return synthetic_dicom(None, shape=(16, 16), preamble=False)  # type: ignore[return-value]


def wrong_vr_transfer_syntax(vr: str) -> bytes:
    """~300 bytes whose file-meta TransferSyntaxUID has VR ``vr`` (IS, SQ, US, or no VR at all: "U\\x00")
    instead of UI."""
    values = {"IS": b"12", "SQ": b"", "US": b"\x01\x00", "FD": struct.pack("<d", 1.5)}
    value = values.get(vr, b"1.2.840.10008.1.2.1\x00")
    return part10(value, small_body()[:160], ts_vr=vr)


def deflate_corrupt() -> bytes:
    """Deflated transfer syntax, body that is not a deflate stream."""
    return part10(DEFLATED, b"\x01\x02not a deflate stream" * 10)


def deflate_truncated() -> bytes:
    """A real deflated DICOM cut in the middle of its deflate stream."""
    full: bytes = synthetic_dicom(None, shape=(64, 64), transfer_syntax="deflated")  # type: ignore[assignment]
    return full[: len(full) * 2 // 3]


@lru_cache(maxsize=4)
def deflate_bomb(inflated_bytes: int = 300 * 2**20) -> bytes:
    """A Deflated DICOM whose data set inflates to ``inflated_bytes``: a valid header, then a PixelData
    element of that many zero bytes (the whole file is ~1/1000 of it)."""
    head = (
        element(0x0008, 0x0060, "CS", b"DX")
        + element(0x0028, 0x0002, "US", struct.pack("<H", 1))
        + element(0x0028, 0x0004, "CS", b"MONOCHROME2 ")
        + element(0x0028, 0x0010, "US", struct.pack("<H", 8192))
        + element(0x0028, 0x0011, "US", struct.pack("<H", 8192))
        + element(0x0028, 0x0100, "US", struct.pack("<H", 16))
        + element(0x0028, 0x0101, "US", struct.pack("<H", 12))
        + element(0x0028, 0x0102, "US", struct.pack("<H", 11))
        + element(0x0028, 0x0103, "US", struct.pack("<H", 0))
        + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, inflated_bytes)
    )
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [comp.compress(head)]
    chunk = bytes(2**20)
    for _ in range(inflated_bytes // len(chunk)):
        parts.append(comp.compress(chunk))
    parts.append(comp.compress(bytes(inflated_bytes % len(chunk))))
    parts.append(comp.flush())
    return part10(DEFLATED, b"".join(parts))


def rescale_dicom(slope: float, intercept: float = 0.0) -> bytes:
    """A 32x32 DICOM with the given Rescale Slope / Intercept (NaN, inf, 1e308, 0 ...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns that NaN is not a valid DS
        return synthetic_dicom(None, shape=(32, 32), rescale=(slope, intercept))  # type: ignore[return-value]


def window_dicom(center: float, width: float) -> bytes:
    """A 32x32 DICOM with the given Window Center / Width."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return synthetic_dicom(None, shape=(32, 32), window=(center, width))  # type: ignore[return-value]


def phi_dicom() -> bytes:
    """A valid radiograph whose header values (:data:`PHI_PATCHES`) are invalid for their VR, so pydicom warns
    when it reads them, quoting the value."""
    data: bytes = synthetic_dicom(  # type: ignore[assignment]
        None, shape=(32, 32), extra={k: v[0].strip() for k, v in PHI_PATCHES.items()}
    )
    for keyword, (valid, invalid) in PHI_PATCHES.items():
        if data.count(valid.encode()) != 1:
            raise AssertionError(f"placeholder for {keyword} is not unique in the file")
        data = data.replace(valid.encode(), invalid.encode())
    return data


@lru_cache(maxsize=4)
def large_png(side: int = 7000, mode: str = "L") -> bytes:
    """A ``side x side`` PNG of a smooth pattern that compresses to a few hundred KB (memory amplification).

    ``mode``: a Pillow mode ("L", "RGB", "RGBA", "I;16" ...) or "RGB-tinted" (channels not equal)."""
    small = np.rint(synthetic_chest((256, 256), seed=3, noise=0.0) * 255).astype(np.uint8)
    im = PILImage.fromarray(small).resize((side, side), PILImage.Resampling.NEAREST)
    if mode == "RGB-tinted":  # unequal channels: the luminance path
        im = PILImage.merge("RGB", (im, im.point(lambda v: v // 2), im))
    elif mode != "L":
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=9)
    return buf.getvalue()
