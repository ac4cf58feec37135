"""The rule files are data: they load, compile, and bad ones give clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxrkit.errors import DataFormatError, UnknownNameError
from cxrkit.text import label_report, load_rules
from cxrkit.text.rules import OTHER, default_rules


def test_shipped_rules_cover_the_chestxray8_findings() -> None:
    rules = default_rules()
    for f in ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
              "Pneumothorax"):
        assert f in rules.covered
    assert rules.findings[-1].name == OTHER
    assert rules.scope_pre > 0 and rules.scope_post > 0


@pytest.mark.parametrize(
    "finding,phrase",
    [("Support Devices", "pacemaker"), ("Lung Opacity", "airspace disease"), ("Effusion", "hydrothorax"),
     ("Cardiomegaly", "heart is enlarged"), ("Atelectasis", "lobar collapse"), ("Other abnormality", "scoliosis")],
)
def test_combined_pattern_agrees_with_each_finding(finding: str, phrase: str) -> None:
    # the one-scan pattern and the per-finding patterns are built from the same phrases
    rules = default_rules()
    fr = next(f for f in rules.findings if f.name == finding)
    assert fr.positive is not None and fr.positive.search(phrase)
    from cxrkit.text.mentions import find_mentions

    assert finding in {m.finding for m in find_mentions(phrase, rules)}


def test_custom_rule_file(tmp_path: Path) -> None:
    f = tmp_path / "findings.yaml"
    f.write_text('findings:\n  Pneumonia:\n    positive: ["lung\\\\s+infection"]\n', encoding="utf-8")
    rules = load_rules(f)
    assert rules.covered == ("Pneumonia",)
    r = label_report("No lung infection. Cardiomegaly.", rules=rules)
    assert r.values["Pneumonia"] == 0 and r.values["Cardiomegaly"] is None


@pytest.mark.parametrize(
    "body,error,match",
    [
        ("findings:\n  Pneumonnia:\n    positive: [x]\n", UnknownNameError, "did you mean 'Pneumonia'"),
        ("findings:\n  Pneumonia:\n    positive: ['(unclosed']\n", DataFormatError, "not a valid regular"),
        ("findings:\n  Pneumonia:\n    positives: [x]\n", DataFormatError, "unknown keys"),
        ("findings:\n  Pneumonia:\n    positive: ['{NOPE}']\n", DataFormatError, "unknown macro"),
        ("findings:\n  Pneumonia:\n    positive: ['Pneumonia']\n", DataFormatError, "lower case"),
        ("- just a list\n", DataFormatError, "mapping"),
        ("findings: [unclosed\n", DataFormatError, "not valid YAML"),
    ],
)
def test_bad_rule_files(tmp_path: Path, body: str, error: type, match: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(error, match=match):
        load_rules(f)


def test_missing_rule_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not found"):
        load_rules(tmp_path / "nope.yaml")
