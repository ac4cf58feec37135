"""The Aho-Corasick prefix scanner gives exactly what ``finditer`` gives on the rule patterns."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest

from cxrkit.text import label_report
from cxrkit.text._scan import WS_LEAD, PrefixScanner, build_scanner, literal_prefixes
from cxrkit.text.rules import default_rules, load_rules


def test_literal_prefixes_of_common_shapes():
    assert literal_prefixes(r"pneumothora\w*") == {"pneumothora"}
    assert literal_prefixes(r"(?<!soft\stissue\s)edema|oedema") == {"edema", "oedema"}
    assert literal_prefixes(r"(?:pulmonary\s+)?vascular\s+congestion") == {"pulmonary", "vascular"}
    assert literal_prefixes(r"atele[ck]ta") == {"atelecta", "atelekta"}
    # leading optional whitespace: the word after it, marked
    assert literal_prefixes(r"(?:nerve)?\s*stimulator") == {"nerve", WS_LEAD + "stimulator"}
    # nothing bounds the first character: no prefix set
    assert literal_prefixes(r"\w+osis") is None
    assert {"itis", "a", "z"} <= literal_prefixes(r"[a-z]*itis")  # bounded, if weak: any letter, or "itis"
    assert literal_prefixes(r"(?:a)?") is None


def _texts(rules, n: int, seed: int) -> list[str]:
    """Seeded random texts made of rule words, fillers and punctuation (many near-misses)."""
    rng = random.Random(seed)
    words = ("no", "not", "normal", "heart", "size", "is", "mildly", "enlarged", "effusion", "pleural",
             "pericardial", "left", "lung", "lungs", "are", "clear", "without", "evidence", "of", "pneumothorax",
             "may", "be", "atelectasis", "scarring", "cannot", "excluded", "stimulator", "nerve", "ng", "tube",
             "history", "resolved", "cardiomegaly", "borderline", "xxxx", "the", "and", "but", "which", "soft",
             "tissue", "edema", "-", ";", ":", ",", ".", "  ", "\n", "1.", "vs.", "subcutaneous", "emphysema")
    # separators include Unicode spaces, which \s matches on str patterns
    seps = (" ", " ", "", "  ", "-", "\xa0", "\u2003", "\n", " \xa0")
    return ["".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randint(0, 40))) for _ in range(n)]


def test_scanner_matches_finditer_on_shipped_rules():
    rules = default_rules()
    assert rules.mention_scan is not None and rules.cue_scan is not None  # the shipped rules are bounded
    for text in _texts(rules, 400, seed=7):
        slow = [(m.span(), m.lastgroup, m.span(m.lastgroup)) for m in rules.mentions.finditer(text)]
        fast = [(m.span(), m.lastgroup, m.span(m.lastgroup)) for m in rules.mention_scan.matches_at_each(text)]
        assert fast == slow, text
        for a, b in ((0, len(text)), (3, max(3, len(text) - 5))):
            slow_c = [(m.span(), m.lastgroup) for m in rules.cues.finditer(text, a, b)]
            fast_c = [(m.span(), m.lastgroup) for m in rules.cue_scan.finditer(text, a, b)]
            assert fast_c == slow_c, (text, a, b)


UNICODE_SPACE_TEXTS = [
    "no\xa0evidence of effusion", "cannot\u2003be excluded pneumothorax", "heart\xa0size is enlarged",
    "can\xa0not be ruled out", "history\u2009of pneumonia", "is\xa0not seen: effusion",
]


def test_scanner_matches_finditer_with_unicode_spaces_inside_phrases():
    rules = default_rules()
    for text in UNICODE_SPACE_TEXTS:
        assert [(m.span(), m.lastgroup) for m in rules.cue_scan.finditer(text)] == [
            (m.span(), m.lastgroup) for m in rules.cues.finditer(text)], text
        assert [(m.span(), m.lastgroup) for m in rules.mention_scan.matches_at_each(text)] == [
            (m.span(), m.lastgroup) for m in rules.mentions.finditer(text)], text


def test_labels_identical_with_and_without_scanner():
    rules = default_rules()
    plain = dataclasses.replace(rules, mention_scan=None, cue_scan=None)
    reports = [
        "FINDINGS: No pneumothorax or effusion. Mild cardiomegaly. IMPRESSION: Borderline heart size.",
        "Heart size is not enlarged; lungs are clear. Nerve stimulator leads. Left effusion cannot be excluded.",
        "History of pneumonia, resolved. No evidence of acute disease. NG tube in place.",
        *_texts(rules, 200, seed=11),
    ]
    for r in reports:
        a, b = label_report(r, rules=rules), label_report(r, rules=plain)
        assert a.values == b.values
        assert [e.to_dict() for e in a.evidence] == [e.to_dict() for e in b.evidence]


def test_unbounded_user_phrase_falls_back_to_finditer(tmp_path):
    findings = tmp_path / "findings.yaml"
    findings.write_text('version: 1\nfindings:\n  Pneumonia:\n    positive:\n      - "\\\\w+monia"\n', encoding="utf-8")
    rules = load_rules(findings_path=findings)
    assert rules.mention_scan is None  # no bounded prefix: every position is scanned, results still right
    assert label_report("Right lower lobe pneumonia.", rules=rules).values["Pneumonia"] == 1


def test_scanner_rejects_unbounded_phrases():
    with pytest.raises(ValueError, match="no bounded literal prefix"):
        PrefixScanner([("g", [r"\w+"])], lambda groups: re.compile("x"))
    assert build_scanner([("g", [r"\w+"])], lambda groups: re.compile("x")) is None


def test_clean_text_fast_path_matches_the_regex():
    from cxrkit.text.sections import _SPACES, clean_text

    rng = random.Random(0)
    chars = [" ", "  ", "\t", "\r", "\n", "\xa0", "a", "b", ".", "\f", "\v"]
    for _ in range(5000):
        t = "".join(rng.choice(chars) for _ in range(rng.randint(0, 12)))
        assert clean_text(t) == _SPACES.sub(" ", t).strip(), repr(t)
