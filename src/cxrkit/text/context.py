"""Negation, uncertainty and history of a mention from the cues around it (NegEx / ConText style).

A cue reaches mentions in its own sentence, within ``scope_pre`` words after it (``*_pre`` cues),
``scope_post`` words before it (``*_post`` cues) or either (``*_bi``), and never across a ``terminate`` cue.
A negation or uncertainty cue that lies inside the mention ("heart is *not* enlarged") always applies. When
several cues reach a mention, negation beats uncertainty, which beats a high-probability hedge ("probable"),
which beats history; a negation that reaches an uncertainty cue negates what that cue reaches ("no pleural
line to suggest pneumothorax").
"""

from __future__ import annotations

from dataclasses import dataclass

from cxrkit.text.mentions import Mention
from cxrkit.text.rules import CUE_KINDS, Rules

__all__ = ["Cue", "Assessment", "find_cues", "assess"]

_PRIORITY = {"negation": 4, "uncertain": 3, "probable": 2, "historical": 1}


@dataclass(slots=True)
class Cue:
    """One context cue: ``kind`` is one of :data:`cxrkit.text.rules.CUE_KINDS`; span in the searched text."""

    kind: str
    start: int
    end: int


@dataclass(slots=True)
class Assessment:
    """What the context says about one mention.

    Attributes
    ----------
    status : "positive", "probable" (positive under a high-probability hedge), "negated", "uncertain",
        "historical" or "normal".
    value : 1, 0, -1, or None for historical statements (they give no label).
    cue : the cue that decided (None when none applied).
    """

    status: str
    value: int | None
    cue: Cue | None


def find_cues(text: str, rules: Rules, start: int = 0, end: int | None = None, *,
              candidates: list | None = None) -> list[Cue]:
    """The cues of ``text[start:end]`` in order (non-overlapping; pseudo cues included so they shadow others).

    ``candidates``: ``rules.cue_scan.candidates(text)``, when several ranges of one text are searched.
    """
    end = len(text) if end is None else end
    scan = rules.cue_scan
    it = (scan.finditer(text, start, end, candidates=candidates) if scan is not None
          else rules.cues.finditer(text, start, end))
    out = []
    for m in it:
        kind = (m.lastgroup or "").split("__", 1)[0]
        if kind in CUE_KINDS:
            out.append(Cue(kind, m.start(), m.end()))
    return out


def _words(text: str, a: int, b: int) -> int:
    return len(text[a:b].split()) if b > a else 0


def assess(text: str, mention: Mention, cues: list[Cue], rules: Rules) -> Assessment:
    """Decide the value of ``mention`` from the ``cues`` of its sentence.

    Parameters
    ----------
    text : the text that ``mention`` and ``cues`` index into.
    mention : the mention to assess.
    cues : the cues of the mention's sentence, in text order.
    rules : compiled rules (for the scope widths).
    """
    if mention.kind == "normal":
        return Assessment("normal", 0, None)
    best: tuple[int, Cue] | None = None
    for c in cues:
        kind = c.kind
        if kind in ("pseudo", "terminate"):
            continue
        family = kind.split("_")[0]
        inside = c.start >= mention.start and c.end <= mention.end
        if inside:
            ok = family in ("negation", "uncertain")
        else:
            ok = False
            if kind.endswith(("_pre", "_bi")):
                ok = c.end <= mention.start and _words(text, c.end, mention.start) <= rules.scope_pre and not any(
                    t.kind == "terminate" and c.end <= t.start < mention.start for t in cues
                )
            if not ok and kind.endswith(("_post", "_bi")):
                ok = c.start >= mention.end and _words(text, mention.end, c.start) <= rules.scope_post and not any(
                    t.kind == "terminate" and mention.end <= t.start < c.start for t in cues
                )
        if ok:
            pri = _PRIORITY[family]
            if best is None or pri > best[0]:
                best = (pri, c)
    if best is not None and best[1].kind == "uncertain_pre":
        # "no pleural line TO SUGGEST pneumothorax": a negation that reaches the uncertainty cue negates
        # what that cue reaches
        u = best[1]
        for c in cues:
            if c.kind == "negation_pre" and c.end <= u.start and _words(text, c.end, u.start) <= rules.scope_pre \
                    and not any(t.kind == "terminate" and c.end <= t.start < u.start for t in cues):
                best = (_PRIORITY["negation"], c)
                break
    if best is None:
        return Assessment("uncertain", -1, None) if mention.kind == "uncertain" else Assessment("positive", 1, None)
    fam = best[1].kind.split("_")[0]
    if fam == "negation":
        return Assessment("negated", 0, best[1])
    if fam == "uncertain":
        return Assessment("uncertain", -1, best[1])
    if fam == "probable":
        return Assessment("probable", -1 if mention.kind == "uncertain" else 1, best[1])
    return Assessment("historical", None, best[1])
