"""Bad and unusual input: empty, foreign, HTML/RTF, very long, wrong types; sections and sentences."""

from __future__ import annotations

import pytest

from cxrkit.errors import DataFormatError
from cxrkit.labels import FINDINGS
from cxrkit.text import label_report
from cxrkit.text import labeler as labeler_module
from cxrkit.text.sections import clean_text, split_sections
from cxrkit.text.sentences import split_sentences


@pytest.mark.parametrize("text", ["", "   \n\t ", "None.", {"findings": "", "impression": None}])
def test_empty_reports_get_no_labels(text) -> None:
    r = label_report(text) if not isinstance(text, str) or text != "None." else label_report({"findings": text})
    assert all(v is None for v in r.values.values())
    assert r.warnings


def test_non_english_report_is_not_called_normal() -> None:
    r = label_report("Der Befund zeigt keine Auffälligkeiten im Thoraxbereich heute")
    assert r.values["No Finding"] is None and r.warnings


def test_html_fragments_are_stripped() -> None:
    r = label_report("<p><b>FINDINGS:</b> Small left pleural effusion.<br>No pneumothorax.</p> &nbsp;")
    assert r.values["Effusion"] == 1 and r.values["Pneumothorax"] == 0
    assert all("<" not in e.sentence for e in r.evidence)


def test_rtf_fragments_are_stripped() -> None:
    rtf = r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard IMPRESSION: Mild cardiomegaly.\par No effusion.}"
    assert clean_text(rtf).count("\\") == 0
    r = label_report(rtf)
    assert r.values["Cardiomegaly"] == 1 and r.values["Effusion"] == 0


def test_very_long_report_is_cut_with_a_warning(monkeypatch) -> None:
    monkeypatch.setattr(labeler_module, "MAX_CHARS", 5000)
    text = "No pneumothorax. " * (5000 // 17 + 50) + "Large effusion."
    r = label_report(text)
    assert r.values["Effusion"] is None  # beyond the cut
    assert any("characters" in w for w in r.warnings)
    assert r.values["Pneumothorax"] == 0


def test_wrong_type_is_a_clear_error() -> None:
    with pytest.raises(DataFormatError, match="string or a mapping"):
        label_report(42)  # type: ignore[arg-type]
    with pytest.raises(DataFormatError, match="must be text"):
        label_report({"findings": 3})  # type: ignore[dict-item]


def test_every_value_is_in_the_vocabulary() -> None:
    r = label_report("Cardiomegaly. Possible effusion. No pneumothorax.")
    assert list(r.values) == list(FINDINGS)
    assert set(r.values.values()) <= {1, 0, -1, None}


def test_sections_split_on_headings_and_aliases() -> None:
    secs = split_sections("EXAM: chest 2 views\nINDICATION: cough\nFINDINGS: Lungs clear.\nIMPRESSION: Normal.")
    assert [n for n, _ in secs] == ["technique", "indication", "findings", "impression"]
    assert split_sections("Lungs clear. Heart normal.") == [("body", "Lungs clear. Heart normal.")]
    assert [n for n, _ in split_sections("Conclusion: no acute disease")] == ["impression"]
    bare = split_sections("INDICATION\nCough.\nFINDINGS\nSmall effusion.\nIMPRESSION\nEffusion.")
    assert bare == [("indication", "Cough."), ("findings", "Small effusion."), ("impression", "Effusion.")]
    # a lower-case word alone on a line is not a heading
    assert [n for n, _ in split_sections("Heart normal.\nfindings\nNo effusion.")] == ["body"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Heart normal. No effusion.", ["Heart normal.", "No effusion."]),
        ("XXXX-year-old male. XXXX is seen.", ["XXXX-year-old male.", "XXXX is seen."]),
        ("Atelectasis vs. Pneumonia is possible.", ["Atelectasis vs. Pneumonia is possible."]),
        ("Dr. Smith was notified. No change.", ["Dr. Smith was notified.", "No change."]),
        ("A 2.5 cm nodule. No effusion.", ["A 2.5 cm nodule.", "No effusion."]),
        ("1. No acute disease. 2. Old fracture.", ["1.", "No acute disease.", "2.", "Old fracture."]),
        ("Lungs clear\nHeart normal", ["Lungs clear", "Heart normal"]),
        ("Small left\n pleural effusion.\n\n1. No pneumothorax.", ["Small left\n pleural effusion.", "1.",
                                                                  "No pneumothorax."]),
    ],
)
def test_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected
