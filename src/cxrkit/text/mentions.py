"""Find the mentions of each finding in a piece of report text with the compiled rules."""

from __future__ import annotations

from dataclasses import dataclass

from cxrkit.text.rules import Rules

__all__ = ["Mention", "find_mentions"]


@dataclass(slots=True)
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

    One scan of the combined pattern finds every phrase, overlapping ones included (at one start position
    the first matching finding wins). Within one finding a "normal" statement hides the phrases inside it
    ("heart is not enlarged"), and an "uncertain" phrase hides the positive phrase inside it.
    """
    if rules.mentions is None:  # pragma: no cover - load_rules always builds it
        return []
    groups = rules.mention_groups
    out: list[Mention] = []
    covering: dict[str, list[tuple[int, int]]] = {}
    scan = rules.mention_scan
    for m in scan.matches_at_each(text) if scan is not None else rules.mentions.finditer(text):
        g = m.lastgroup
        if g is None:  # pragma: no cover
            continue
        finding, kind = groups[g.split("__", 1)[0]]
        a, b = m.span(g)
        spans = covering.get(finding)
        if spans and any(sa <= a < sb for sa, sb in spans):
            continue
        if kind != "positive":
            covering.setdefault(finding, []).append((a, b))
        out.append(Mention(finding, a, b, kind))
    return out
