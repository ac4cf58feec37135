"""Label a radiology report: one value per finding (CheXpert conventions) with the evidence for each.

Values: 1 positive, 0 negative, -1 uncertain, None not mentioned. Per report, a finding is 1 if any mention
is positive, else -1 if any is uncertain, else 0 if any is negative (CheXpert's aggregation). ``No Finding``
is 1 when the report has labeled text and no finding other than ``Support Devices`` (including the rule
file's "other" abnormalities) is positive or uncertain; otherwise None, as in CheXpert.

Not a diagnosis: labels describe what a report says, for building and auditing training data.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cxrkit.errors import DataFormatError
from cxrkit.labels import FINDINGS
from cxrkit.text.context import assess, find_cues
from cxrkit.text.mentions import find_mentions
from cxrkit.text.rules import OTHER, Rules, default_rules, lower_text
from cxrkit.text.sections import LABELED_SECTIONS, clean_text, split_sections
from cxrkit.text.sentences import sentence_spans

__all__ = ["Evidence", "ReportLabels", "label_report", "MAX_CHARS"]

log = logging.getLogger(__name__)

#: Reports longer than this are cut (with a warning in :attr:`ReportLabels.warnings`).
MAX_CHARS = 200_000
_NO_FINDING = "No Finding"
_NOT_BLOCKING = frozenset({"Support Devices", _NO_FINDING})
# named sections that never produce labels (any other name is labeled)
_KNOWN_UNLABELED = frozenset({"indication", "history", "comparison", "technique", "recommendation"})
# A report with words but none of these is probably not English (or not a report): it gets no labels.
_ENGLISH = re.compile(
    r"\b(?:the|is|are|no|not|of|and|with|without|normal|lungs?|heart|clear|chest|seen|there|size|acute|"
    r"pleural|effusion|pneumothorax|silhouette|unremarkable|stable|within|limits|xxxx|in|at|to|be|a|an|or|"
    r"was|were|has|have|may|for|on|this|that|which|findings?|impression|evidence|disease|abnormal\w*)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(slots=True)
class Evidence:
    """Why a label was set.

    Attributes
    ----------
    finding : canonical finding name, or "Other abnormality".
    value : 1, 0, -1, or None (historical statement: no label).
    sentence : the sentence holding the mention.
    span : ``(start, end)`` of the mention in ``sentence``.
    cue : the cue text that decided the value ("" when none).
    section : section name ("findings", "impression", "body" ...).
    status : "positive", "negated", "uncertain", "historical" or "normal".
    """

    finding: str
    value: int | None
    sentence: str
    span: tuple[int, int]
    cue: str
    section: str
    status: str

    @property
    def mention(self) -> str:
        """The matched words."""
        return self.sentence[self.span[0]:self.span[1]]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "finding": self.finding, "value": self.value, "status": self.status, "mention": self.mention,
            "cue": self.cue, "section": self.section, "sentence": self.sentence, "span": list(self.span),
        }


@dataclass
class ReportLabels:
    """Labels of one report.

    Attributes
    ----------
    values : canonical finding -> 1 / 0 / -1 / None for every finding in :data:`cxrkit.labels.FINDINGS`
        (findings the rules do not cover are always None).
    evidence : one entry per mention, in report order.
    warnings : problems found in the input (empty report, not English, cut) — labels are then all None.
    """

    values: dict[str, int | None]
    evidence: list[Evidence] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def positive(self) -> list[str]:
        """Findings labeled 1, in FINDINGS order."""
        return [k for k, v in self.values.items() if v == 1]


def _empty(warnings: list[str]) -> ReportLabels:
    return ReportLabels({f: None for f in FINDINGS}, [], warnings)


def _as_sections(report: str | Mapping[str, str]) -> list[tuple[str, str]]:
    if isinstance(report, str):
        return split_sections(clean_text(report))
    if isinstance(report, Mapping):
        out = []
        for name, text in report.items():
            if text is None:
                continue
            if not isinstance(text, str):
                raise DataFormatError(f"section {name!r} must be text; got {type(text).__name__}")
            if str(name).strip().lower() in _KNOWN_UNLABELED:
                continue  # never labeled: skip the cleaning work
            cleaned = clean_text(text)
            if cleaned and cleaned.lower() not in ("none", "none.", "n/a"):
                out.append((str(name).strip().lower(), cleaned))
        return out
    raise DataFormatError(
        f"a report must be a string or a mapping of section name -> text; got {type(report).__name__}"
    )


def label_report(report: str | Mapping[str, str], *, rules: Rules | None = None) -> ReportLabels:
    """Label one report.

    Parameters
    ----------
    report : the report text (HTML / RTF fragments are stripped; headings like ``FINDINGS:`` split it), or a
        mapping of section name -> text (e.g. Open-i's ``{"findings": ..., "impression": ...}``). Only the
        findings, impression and un-headed sections are labeled; indication, history, comparison are not.
    rules : compiled rules (default: the shipped rule files).

    Returns
    -------
    ReportLabels
        ``values`` for every canonical finding and ``No Finding``, ``evidence`` for each mention.

    Raises
    ------
    DataFormatError
        ``report`` is neither text nor a mapping of texts.

    Examples
    --------
    >>> r = label_report("FINDINGS: No pneumothorax or effusion. Mild cardiomegaly.")
    >>> r.values["Cardiomegaly"], r.values["Effusion"], r.values["Pneumothorax"], r.values["No Finding"]
    (1, 0, 0, None)
    """
    rules = rules or default_rules()
    sections = _as_sections(report)
    warnings: list[str] = []
    total = sum(len(t) for _, t in sections)
    if total == 0:
        return _empty(["empty report"])
    if total > MAX_CHARS:
        warnings.append(f"report has {total} characters; only the first {MAX_CHARS} were labeled")
    labeled = [(n, t) for n, t in sections if n in LABELED_SECTIONS or n not in _KNOWN_UNLABELED]
    if not labeled:
        return _empty(["no findings/impression text"])
    found: dict[str, set[int]] = {}
    evidence: list[Evidence] = []
    budget = MAX_CHARS
    for name, text in labeled:
        if budget <= 0:
            break
        text = text[:budget]
        budget -= len(text)
        _label_section(name, text, rules, found, evidence)

    if not evidence:
        joined = " ".join(t for _, t in labeled)
        if len(_WORD.findall(joined)) >= 3 and not _ENGLISH.search(joined):
            # without this check a foreign-language report would be called "No Finding"
            return _empty(["report does not look like English radiology text; not labeled"])
    for finding, targets in rules.implies.items():  # a nodule is also a lung lesion
        carried = found.get(finding, set()) & {1, -1}
        for target in targets if carried else ():
            found.setdefault(target, set()).update(carried)
    values: dict[str, int | None] = {f: None for f in FINDINGS}
    for finding, vals in found.items():
        if finding in values:  # CheXpert: positive > uncertain > negative
            values[finding] = 1 if 1 in vals else -1 if -1 in vals else 0 if 0 in vals else None
    blocking = any(v in (1, -1) for f, v in values.items() if f not in _NOT_BLOCKING)
    other = found.get(OTHER, set())
    values[_NO_FINDING] = None if blocking or 1 in other or -1 in other else 1
    return ReportLabels(values, evidence, warnings)


def _label_section(
    section: str, text: str, rules: Rules, found: dict[str, set[int]], evidence: list[Evidence]
) -> None:
    low = lower_text(text)
    mentions = find_mentions(low, rules)
    if not mentions:
        return
    spans = sentence_spans(text)
    starts = [a for a, _ in spans]
    sentence_cues: dict[int, list] = {}
    # the section's cue candidates in one automaton pass when several sentences need cues
    cands = rules.cue_scan.candidates(low) if rules.cue_scan is not None and len(spans) > 1 else None
    for m in mentions:
        i = max(bisect.bisect_right(starts, m.start) - 1, 0)
        a, b = spans[i] if spans else (0, len(text))
        if i not in sentence_cues:  # cues are only searched in sentences that mention something
            sentence_cues[i] = find_cues(low, rules, a, b, candidates=cands)
        res = assess(low, m, sentence_cues[i], rules)
        if res.value is not None:
            found.setdefault(m.finding, set()).add(res.value)
        evidence.append(
            Evidence(
                m.finding, res.value, text[a:b], (m.start - a, m.end - a),
                text[res.cue.start:res.cue.end] if res.cue else "", section, res.status,
            )
        )
