"""Clean report text and split it into named sections (FINDINGS, IMPRESSION, INDICATION ...).

Only some sections state the current findings; :data:`LABELED_SECTIONS` names them. Text before the first
heading (or a report without headings) is section ``"body"`` and is labeled too.
"""

from __future__ import annotations

import html
import re

__all__ = ["LABELED_SECTIONS", "SECTION_ALIASES", "clean_text", "split_sections"]

#: Canonical section name -> headings that introduce it: followed by ":" (any case), or alone on a line in
#: upper case.
SECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "findings": ("findings", "finding", "report", "description", "discussion", "body"),
    "impression": ("impression", "impressions", "conclusion", "conclusions", "opinion", "summary",
                   "interpretation", "diagnosis"),
    "indication": ("indication", "indications", "reason for exam", "reason for study", "reason for examination",
                   "clinical indication", "clinical information", "clinical details", "clinical data"),
    "history": ("history", "clinical history", "medical history", "hx"),
    "comparison": ("comparison", "comparisons", "prior", "priors", "prior studies"),
    "technique": ("technique", "procedure", "examination", "exam", "views", "study"),
    "recommendation": ("recommendation", "recommendations", "notification", "communication"),
}
#: Sections whose sentences produce labels.
LABELED_SECTIONS: frozenset[str] = frozenset({"findings", "impression", "body"})

_ALIAS = {alias: name for name, aliases in SECTION_ALIASES.items() for alias in aliases}
_HEADING = re.compile(
    r"(?:^|(?<=\n)|(?<=\.\s)|(?<=\.\s\s))[ \t]*(" + "|".join(sorted(map(re.escape, _ALIAS), key=len, reverse=True))
    + r")[ \t]*:",
    re.IGNORECASE,
)
# an upper-case heading alone on its line, without a colon ("FINDINGS" then the text on the next line)
_BARE_HEADING = re.compile(
    r"^[ \t]*(" + "|".join(sorted((re.escape(a.upper()) for a in _ALIAS), key=len, reverse=True))
    + r")[ \t]*\r?$",
    re.MULTILINE,
)
_TAG = re.compile(r"<[^<>]{0,500}>")
_RTF_CTRL = re.compile(r"\\[a-z]{1,32}-?\d{0,10} ?|\\'[0-9a-f]{2}|\\[{}\\]|[{}]", re.IGNORECASE)
_RTF_GROUPS = re.compile(r"\{\\(?:fonttbl|colortbl|stylesheet|info|\*)[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_OTHER_SPACES = "\t\r\f\v\u00a0"  # what _SPACES collapses besides runs of " "


def clean_text(text: str) -> str:
    """Plain text from a report that may hold HTML or RTF markup.

    Tags are dropped (``<br>`` and ``</p>`` become line breaks), entities unescaped, RTF control words and
    groups removed; runs of spaces become one space. Plain text is returned unchanged but for spaces.
    """
    if text.lstrip().startswith("{\\rtf"):
        text = _RTF_GROUPS.sub(" ", text)
        text = text.replace("\\par", "\n")
        text = _RTF_CTRL.sub(" ", text)
    if "<" in text and _TAG.search(text):
        text = re.sub(r"<\s*(?:br|/p|/div|/li|/h\d)\s*/?\s*>", "\n", text, flags=re.IGNORECASE)
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    if "  " not in text and not any(c in text for c in _OTHER_SPACES):  # nothing to collapse (most reports)
        return text.strip()
    return _SPACES.sub(" ", text).strip()


def split_sections(text: str) -> list[tuple[str, str]]:
    """Split report text at its headings.

    Parameters
    ----------
    text : the whole report (already cleaned).

    Returns
    -------
    list of (section name, section text), in report order; the name is canonical (see
    :data:`SECTION_ALIASES`), ``"body"`` for text before the first heading or without headings. Empty
    sections are dropped.
    """
    out: list[tuple[str, str]] = []
    last_name, last_end = "body", 0
    heads = sorted([*_HEADING.finditer(text), *_BARE_HEADING.finditer(text)], key=lambda m: m.start())
    for m in heads:
        if m.start() < last_end:
            continue  # overlapping matches of the two patterns
        chunk = text[last_end:m.start()].strip()
        if chunk:
            out.append((last_name, chunk))
        last_name, last_end = _ALIAS[m.group(1).lower()], m.end()
    chunk = text[last_end:].strip()
    if chunk:
        out.append((last_name, chunk))
    return out
