"""Find the mentions of each finding in a piece of report text with the compiled rules."""

from __future__ import annotations

from dataclasses import dataclass

from cxrkit.text.rules import Rules

__all__ = ["Mention", "find_mentions"]


@dataclass(frozen=True, slots=True)
class Mention:
    """One phrase that names a finding.

    Attributes
    ----------
    finding : canonical finding name (or "Other abnormality").
    start, end : character span ``[start, end)`` in the searched text.
    kind : "positive" (value from context), "uncertain" (uncertain by itself) or "normal" (states absence).
    """

    finding: str
    start: int
    end: int
    kind: str


def find_mentions(text: str, rules: Rules) -> list[Mention]:
    """All mentions in ``text`` (lower-cased, see :func:`cxrkit.text.rules.lower_text`), sorted by start.

    Mentions of different findings may overlap ("calcified nodule" is a Calcification and a Nodule); within
    one finding a "normal" statement hides the positive phrase it contains ("heart is not enlarged").
    """
    out: list[Mention] = []
    for fr in rules.findings:
        if not fr.may_match(text):
            continue
        normals: list[tuple[int, int]] = []
        if fr.normal is not None:
            for m in fr.normal.finditer(text):
                normals.append(m.span())
                out.append(Mention(fr.name, m.start(), m.end(), "normal"))
        for kind, pat in (("uncertain", fr.uncertain), ("positive", fr.positive)):
            if pat is None:
                continue
            for m in pat.finditer(text):
                a, b = m.span()
                if normals and any(na <= a < nb or na < b <= nb for na, nb in normals):
                    continue
                if kind == "positive" and fr.uncertain is not None and any(
                    x.finding == fr.name and x.kind == "uncertain" and x.start <= a < x.end for x in out
                ):
                    continue
                out.append(Mention(fr.name, a, b, kind))
    out.sort(key=lambda x: (x.start, x.end))
    return out
