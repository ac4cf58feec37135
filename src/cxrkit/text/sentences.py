"""Sentence boundaries that survive abbreviations, decimals, list numbers and de-identification marks."""

from __future__ import annotations

import re

__all__ = ["sentence_spans", "split_sentences"]

# A boundary: ., ! or ? followed by space and then an upper-case letter, digit, quote or bracket (the
# de-identification mark XXXX is upper case); or a line break before a line that does not start in lower
# case. Abbreviations do not end sentences.
_ALWAYS_ABBREV = frozenset({"dr", "mr", "mrs", "ms", "vs", "e.g", "i.e", "cf", "etc", "sr", "jr", "prof", "st"})
_NUMBER_ABBREV = frozenset({"no", "approx", "fig", "vol", "nos", "ca"})
# A line break ends a sentence unless the next line starts in lower case (a wrapped line, as in MIMIC-CXR).
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n\s*(?=[^\sa-z])")
_LAST_WORD = re.compile(r"([A-Za-z.]+)\.$")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of the sentences of ``text`` (whitespace trimmed, empty ones dropped).

    >>> [("Heart normal. No effusion."[a:b]) for a, b in sentence_spans("Heart normal. No effusion.")]
    ['Heart normal.', 'No effusion.']
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        cut = m.start()
        if text[cut - 1:cut] == ".":
            w = _LAST_WORD.search(text, max(start, cut - 12), cut)
            word = w.group(1).lower() if w else ""
            if word in _ALWAYS_ABBREV or (word in _NUMBER_ABBREV and text[m.end():m.end() + 1].isdigit()):
                continue  # "Dr. Smith", "No. 2"
        _push(text, start, cut, spans)
        start = m.end()
    _push(text, start, len(text), spans)
    return spans


def _push(text: str, a: int, b: int, spans: list[tuple[int, int]]) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        spans.append((a, b))


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings (see :func:`sentence_spans`)."""
    return [text[a:b] for a, b in sentence_spans(text)]
