"""A DICOM file made safe to hand to pydicom: file-meta checks and capped inflation of Deflated data sets.

pydicom inflates a *Deflated Explicit VR Little Endian* data set with one unbounded ``zlib.decompress`` call
before it reads a single element (``stop_before_pixels`` included), so a 1.5 MB file could take gigabytes;
and it trusts the file meta's *Transfer Syntax UID* whatever its VR (a value of VR IS or SQ surfaced later as
a ``TypeError``). :func:`open_dicom` reads the file meta first (with pydicom's own file-meta reader), checks
the Transfer Syntax UID, and for Deflated data inflates the rest in 1 MiB steps with a hard cap into a buffer
that pydicom then reads as Explicit VR Little Endian; the original file meta is put back afterwards
(:meth:`DicomSource.restore_meta`), so metadata still names the Deflated transfer syntax. pydicom's exception
texts are quoted in our errors only after :func:`~cxrkit.io._pydicom_quiet.redact` (no header values).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble  # the reader dcmread itself uses
from pydicom.uid import DeflatedExplicitVRLittleEndian

from cxrkit.errors import InvalidImageError, UnsupportedImageError
from cxrkit.io._pydicom_quiet import redact

__all__ = ["DicomSource", "open_dicom"]

_STEP = 2**20  # inflate (and read) in 1 MiB steps
# preamble, "DICM" and a file meta group holding only TransferSyntaxUID = Explicit VR Little Endian
_TS_ELEMENT = struct.pack("<HH2sH", 0x0002, 0x0010, b"UI", 20) + b"1.2.840.10008.1.2.1\x00"
_EXPLICIT_HEADER = (
    bytes(128) + b"DICM" + struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(_TS_ELEMENT)) + _TS_ELEMENT
)
# what pydicom's preamble / file-meta readers raise on garbage (beyond InvalidDicomError)
#: what pydicom raises on corrupt values, which it parses lazily (on access), and numpy on malformed LUTs; shared
#: with :mod:`cxrkit.io.dicom`
MALFORMED_ERRORS = (
    BytesLengthException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    struct.error,
    EOFError,
    OSError,
    RecursionError,
    zlib.error,
)
_META_ERRORS = (InvalidDicomError, MemoryError, *MALFORMED_ERRORS)


@dataclass
class DicomSource:
    """What to hand to ``pydicom.dcmread``.

    Attributes:
        stream: the original path or stream, or a buffer holding the inflated data set of a Deflated file.
        file_meta: the file's own file meta (Deflated files only), put back by :meth:`restore_meta`.
        inflated_bytes: size of the inflated data set (Deflated files only).
    """

    stream: Path | BinaryIO
    file_meta: FileMetaDataset | None = None
    inflated_bytes: int | None = None

    def rewind(self) -> Path | BinaryIO:
        """The stream, positioned at its start (it is read once for the header and once in full)."""
        if not isinstance(self.stream, Path):
            self.stream.seek(0)
        return self.stream

    def restore_meta(self, ds: Dataset) -> None:
        """Give a data set read from the inflated buffer its original file meta (Deflated transfer syntax)."""
        if self.file_meta is not None:
            ds.file_meta = self.file_meta


def _transfer_syntax(file_meta: FileMetaDataset, source: str) -> str | None:
    """The file meta's Transfer Syntax UID, checked to be a single UID (VR UI) before anyone relies on it."""
    try:
        raw = file_meta.get_item(0x00020010)  # pydicom converts the value here already
    except _META_ERRORS as exc:
        raise InvalidImageError(
            f"{source}: corrupt DICOM file meta: unreadable TransferSyntaxUID: {redact(str(exc))}"
        ) from exc
    if raw is None:
        return None
    vr = getattr(raw, "VR", None)
    if vr not in (None, "UI", "UN"):
        shown = vr if isinstance(vr, str) and vr.isalpha() and vr.isascii() else repr(vr)
        raise InvalidImageError(
            f"{source}: corrupt DICOM file meta: TransferSyntaxUID (0002,0010) has VR {shown}; expected UI "
            "(a UID such as 1.2.840.10008.1.2.1)"
        )
    try:
        value = file_meta.TransferSyntaxUID
    except _META_ERRORS as exc:
        raise InvalidImageError(
            f"{source}: corrupt DICOM file meta: unreadable TransferSyntaxUID: {redact(str(exc))}"
        ) from exc
    if not isinstance(value, str):
        raise InvalidImageError(
            f"{source}: corrupt DICOM file meta: TransferSyntaxUID is a {type(value).__name__}; expected one UID"
        )
    return value


def _inflate(fp: BinaryIO, source: str, max_inflated_bytes: int) -> tuple[io.BytesIO, int]:
    """Inflate the rest of ``fp`` (raw deflate, PS3.5 A.5) behind :data:`_EXPLICIT_HEADER`, at most the cap."""
    out = io.BytesIO()
    out.write(_EXPLICIT_HEADER)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    try:
        while not inflater.eof:
            data = inflater.unconsumed_tail or fp.read(_STEP)
            piece = inflater.decompress(data, _STEP)
            if not piece and not data:
                break  # input exhausted and nothing more came out: a truncated stream
            total += len(piece)
            if total > max_inflated_bytes:
                raise UnsupportedImageError(
                    f"{source}: Deflated DICOM data set inflates to more than {max_inflated_bytes:,} bytes "
                    "(max_inflated_bytes); refusing to inflate it further (possible decompression bomb)"
                )
            out.write(piece)
    except zlib.error as exc:
        raise InvalidImageError(f"{source}: corrupt deflate data in a Deflated DICOM: {exc}") from exc
    except OSError as exc:
        raise InvalidImageError(f"{source}: cannot read file: {exc}") from exc
    if not inflater.eof:
        raise InvalidImageError(f"{source}: truncated Deflated DICOM: the deflate stream ends early")
    out.seek(0)
    return out, total


def open_dicom(
    src: Path | BinaryIO, source: str, *, force: bool, max_inflated_bytes: int
) -> DicomSource:
    """Check the file meta of ``src`` and inflate a Deflated data set with a size cap.

    Raises
    ------
    InvalidImageError
        Unreadable file meta, a Transfer Syntax UID that is not one UID (wrong VR, several values), corrupt or
        truncated deflate data.
    UnsupportedImageError
        A Deflated data set larger than ``max_inflated_bytes`` once inflated.
    """
    fp: BinaryIO
    try:
        fp = open(src, "rb") if isinstance(src, Path) else src  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise InvalidImageError(f"{source}: cannot read file: {exc}") from exc
    try:
        start = fp.tell()
        try:
            read_preamble(fp, force)
            file_meta = _read_file_meta_info(fp)
        except _META_ERRORS as exc:
            raise InvalidImageError(
                f"{source}: unreadable or truncated DICOM file meta: {redact(str(exc))}"
            ) from exc
        if _transfer_syntax(file_meta, source) != DeflatedExplicitVRLittleEndian:
            fp.seek(start)
            return DicomSource(src)
        buffer, size = _inflate(fp, source, max_inflated_bytes)
        return DicomSource(buffer, file_meta=file_meta, inflated_bytes=size)
    finally:
        if isinstance(src, Path):
            fp.close()
