"""Report readers: Open-i XML, text, CSV/TSV/JSONL, encodings, broken records."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cxrkit.errors import DataFormatError
from cxrkit.text.readers import BadRecord, ReportRecord, decode_bytes, iter_reports, read_openi_xml


@pytest.fixture
def openi(fixtures_dir: Path) -> Path:
    return fixtures_dir / "text" / "openi"


def test_openi_xml(openi: Path) -> None:
    r = read_openi_xml(openi / "1.xml")
    assert r.report_id == "1"
    assert set(r.sections) == {"comparison", "indication", "findings", "impression"}
    assert r.sections["impression"].startswith("Normal chest")
    assert r.mesh_major == ["normal"]
    assert r.image_ids == ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]


def test_empty_openi_sections_are_dropped(openi: Path) -> None:
    assert read_openi_xml(openi / "1142.xml").sections == {}


def test_folder_streams_every_file(openi: Path) -> None:
    recs = list(iter_reports([openi]))
    assert len(recs) == 14 and all(isinstance(r, ReportRecord) for r in recs)


def test_broken_xml_is_one_bad_record(tmp_path: Path, openi: Path) -> None:
    shutil.copy(openi / "1.xml", tmp_path / "1.xml")
    (tmp_path / "2.xml").write_text("<eCitation><Abstract><AbstractText>cut", encoding="utf-8")
    (tmp_path / "3.xml").write_text("<html><body>not a report</body></html>", encoding="utf-8")
    recs = list(iter_reports([tmp_path]))
    assert [type(r).__name__ for r in recs] == ["ReportRecord", "BadRecord", "BadRecord"]
    assert "broken XML" in recs[1].error and "not an Open-i" in recs[2].error


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_text_file_encodings(tmp_path: Path, encoding: str) -> None:
    text = "FINDINGS: Small effusion – see Dr. Müller’s note."
    if encoding == "latin-1":
        text = "Small effusion, Müller."  # latin-1 has no dash or curly quote
    (tmp_path / "r.txt").write_bytes(text.encode(encoding))
    (rec,) = iter_reports([tmp_path / "r.txt"])
    assert rec.text == text and rec.report_id == "r"


def test_mixed_encodings_keep_both_parts() -> None:
    mixed = "Müller: effusion ".encode() + "– see note".encode("cp1252") + b"\x81"
    assert decode_bytes(mixed) == "Müller: effusion – see note\x81"
    assert decode_bytes("\ufeffNo effusion".encode()) == "No effusion"


def test_csv_and_jsonl_tables(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text('acc,report\n7,"No effusion."\n8,Cardiomegaly.\n', encoding="utf-8")
    recs = list(iter_reports([tmp_path / "a.csv"], id_col="acc", text_col="report"))
    assert [(r.report_id, r.text) for r in recs] == [("7", "No effusion."), ("8", "Cardiomegaly.")]
    (tmp_path / "b.jsonl").write_text('{"id": 1, "text": "x"}\nnot json\n{"id": 2}\n\n', encoding="utf-8")
    recs = list(iter_reports([tmp_path / "b.jsonl"]))
    assert isinstance(recs[0], ReportRecord) and recs[0].report_id == "1"
    assert isinstance(recs[1], BadRecord) and "not JSON" in recs[1].error
    assert isinstance(recs[2], BadRecord) and "no text" in recs[2].error


def test_wrong_column_names_list_the_columns(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("accession,body\n1,x\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="columns found: accession, body"):
        list(iter_reports([tmp_path / "a.csv"], text_col="report_text"))


def test_missing_path() -> None:
    with pytest.raises(DataFormatError, match="no such file"):
        list(iter_reports(["/nonexistent/reports"]))
