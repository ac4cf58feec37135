"""Read radiology reports from Open-i XML, plain text, CSV and JSONL files, one record at a time.

Bad records (broken XML, undecodable files, rows without text) come back as :class:`BadRecord` so a caller
can report and skip them without stopping; wrong column names raise :class:`~cxrkit.errors.DataFormatError`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cxrkit.errors import DataFormatError

__all__ = [
    "ReportRecord", "BadRecord", "decode_bytes", "read_openi_xml", "iter_reports", "REPORT_SUFFIXES", "expand_paths",
]

log = logging.getLogger(__name__)

#: File suffixes picked up when a folder is given.
REPORT_SUFFIXES: tuple[str, ...] = (".xml", ".txt", ".csv", ".jsonl", ".tsv")
_MAX_FILE_BYTES = 50_000_000


@dataclass
class ReportRecord:
    """One report.

    Attributes
    ----------
    report_id : Open-i: the XML file name without extension; text files: the stem; tables: the id column.
    text : the report text (None when ``sections`` is given).
    sections : section name (lower case) -> text, for structured sources such as Open-i.
    image_ids : images of the study (Open-i ``parentImage`` ids).
    mesh_major, mesh_automatic : Open-i MeSH codes (human-assigned major codes; automatic ones).
    source : the file the record came from.
    """

    report_id: str
    text: str | None = None
    sections: dict[str, str] | None = None
    image_ids: list[str] = field(default_factory=list)
    mesh_major: list[str] = field(default_factory=list)
    mesh_automatic: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def content(self) -> str | dict[str, str]:
        """What :func:`cxrkit.text.label_report` takes."""
        return self.sections if self.sections is not None else (self.text or "")


@dataclass
class BadRecord:
    """A record that could not be read: where, which id (when known) and why."""

    source: str
    report_id: str | None
    error: str


def _byte_char(b: int) -> str:
    try:
        return bytes([b]).decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are undefined in cp1252
        return bytes([b]).decode("latin-1")


_STRAY = re.compile("[\udc80-\udcff]")


def decode_bytes(data: bytes) -> str:
    """Text from bytes of unknown or mixed encoding.

    Valid UTF-8 (with or without BOM) is decoded as UTF-8; any byte that is not part of valid UTF-8 is read
    as cp1252 (latin-1 for the five bytes cp1252 leaves undefined). So a UTF-8 file with a few Windows
    characters pasted in keeps both, and a pure cp1252 / latin-1 file reads correctly. Never fails.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    if _STRAY.search(text):
        text = _STRAY.sub(lambda m: _byte_char(ord(m.group()) - 0xDC00), text)
    return text


def read_openi_xml(path: str | Path, data: bytes | None = None) -> ReportRecord:
    """Parse one Open-i report XML file.

    Raises
    ------
    DataFormatError
        Not well-formed XML, or no ``AbstractText`` section.
    """
    path = Path(path)
    raw = path.read_bytes() if data is None else data
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        text = decode_bytes(raw)
        if text.lstrip().startswith("<?xml"):  # the declared encoding was wrong: drop the declaration
            text = text.split("?>", 1)[1]
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            raise DataFormatError(f"{path}: broken XML ({exc})") from exc
    sections: dict[str, str] = {}
    for node in root.iter("AbstractText"):
        label = (node.get("Label") or "body").strip().lower()
        text = "".join(node.itertext()).strip()
        if text:
            sections[label] = (sections[label] + " " + text) if label in sections else text
    if not sections and root.find(".//Abstract") is None:
        raise DataFormatError(f"{path}: no <AbstractText> sections; not an Open-i report XML")
    mesh = root.find("MeSH")
    major = [(m.text or "").strip() for m in mesh.iter("major")] if mesh is not None else []
    auto = [(m.text or "").strip() for m in mesh.iter("automatic")] if mesh is not None else []
    images = [img.get("id", "") for img in root.iter("parentImage") if img.get("id")]
    return ReportRecord(path.stem, None, sections, images, major, auto, str(path))


def _read_table(path: Path, id_col: str | None, text_col: str | None) -> Iterator[ReportRecord | BadRecord]:
    text = decode_bytes(path.read_bytes())
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows: Iterable[tuple[int, dict | None, str | None]] = _jsonl_rows(text)
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        rows = ((i, r, None) for i, r in enumerate(reader, start=2))
    columns_checked = False
    for line, row, err in rows:
        if err is not None or row is None:
            yield BadRecord(str(path), None, f"line {line}: {err}")
            continue
        if not columns_checked:
            cols = list(row)
            tcol = text_col or next((c for c in ("text", "report", "report_text", "findings") if c in row), None)
            icol = id_col or next((c for c in ("report_id", "id", "study_id", "accession") if c in row), None)
            missing = [n for n, c in (("--text-col", tcol), ("--id-col", icol)) if c is None or c not in row]
            if missing:
                wanted = {"--text-col": text_col or "text/report", "--id-col": id_col or "report_id/id"}
                raise DataFormatError(
                    f"{path}: column(s) {', '.join(repr(wanted[m]) for m in missing)} not found "
                    f"(set {', '.join(missing)}); columns found: {', '.join(map(str, cols))}"
                )
            columns_checked = True
        rid = str(row.get(icol, "") or "").strip()
        body = row.get(tcol)
        if not rid:
            yield BadRecord(str(path), None, f"line {line}: empty id in column {icol!r}")
        elif body is None or not isinstance(body, str):
            yield BadRecord(str(path), rid, f"line {line}: no text in column {tcol!r}")
        else:
            yield ReportRecord(rid, body, source=str(path))


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict | None, str | None]]:
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield i, None, f"not JSON ({exc.msg})"
            continue
        if not isinstance(obj, dict):
            yield i, None, "not a JSON object"
            continue
        yield i, obj, None


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The report files under ``paths`` (folders searched recursively, sorted).

    Files given explicitly must have a report suffix (``REPORT_SUFFIXES``) or none (read as plain text):
    an image or other binary file is refused rather than decoded into garbage text.

    Raises
    ------
    DataFormatError
        A path does not exist, or a file given explicitly has a non-report suffix.
    """
    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in REPORT_SUFFIXES)
        elif p.is_file():
            if p.suffix and p.suffix.lower() not in REPORT_SUFFIXES:
                raise DataFormatError(
                    f"{p}: not a report file; expected one of {' '.join(REPORT_SUFFIXES)} (or plain text with no suffix)"
                )
            yield p
        else:
            raise DataFormatError(f"no such file or folder: {p}")


def iter_reports(
    paths: Iterable[str | Path], *, id_col: str | None = None, text_col: str | None = None
) -> Iterator[ReportRecord | BadRecord]:
    """Stream the reports of files and folders.

    Parameters
    ----------
    paths : files or folders (folders are searched recursively for ``.xml .txt .csv .tsv .jsonl``).
    id_col, text_col : column / key names for CSV, TSV and JSONL (default: ``report_id`` or ``id``, and
        ``text`` or ``report``).

    Yields
    ------
    ReportRecord or BadRecord
        One per report; a file that cannot be read gives one BadRecord.

    Raises
    ------
    DataFormatError
        A path does not exist, or a table lacks the id / text column (the message lists its columns).
    """
    for path in expand_paths(paths):
        suffix = path.suffix.lower()
        try:
            if path.stat().st_size > _MAX_FILE_BYTES and suffix in (".xml", ".txt"):
                yield BadRecord(str(path), path.stem, f"file is larger than {_MAX_FILE_BYTES} bytes")
                continue
            if suffix == ".xml":
                yield read_openi_xml(path)
            elif suffix in (".csv", ".tsv", ".jsonl"):
                yield from _read_table(path, id_col, text_col)
            else:
                yield ReportRecord(path.stem, decode_bytes(path.read_bytes()), source=str(path))
        except DataFormatError as exc:
            if "column" in str(exc) and "columns found" in str(exc):
                raise
            yield BadRecord(str(path), path.stem, str(exc))
        except OSError as exc:
            yield BadRecord(str(path), path.stem, f"cannot read: {exc}")
