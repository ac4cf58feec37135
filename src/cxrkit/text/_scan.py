"""Run a compiled rule pattern only where a match can start: an Aho-Corasick scan for the literal prefixes of
its phrases finds those positions, then the pattern is tried there alone (``pattern.match``).

Python's ``re`` tries a large alternation at every position of the text; rule phrases are anchored on words
("effusion", "heart", "no evidence of"), so most positions cannot start a match. :func:`literal_prefixes`
derives, from a phrase's parsed regex, strings one of which every match must begin with; a
:class:`PrefixScanner` finds them all with one pass of a pyahocorasick automaton. Results are identical to
``finditer`` on the same pattern (tested on the shipped rules and Open-i): a position that holds none of
the prefixes cannot match, and every candidate is tried with the full pattern and the same ``endpos``.

When a phrase has no bounded literal prefix (it can start with any letter, say), the scanner is not built
and callers keep the plain ``finditer`` scan.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence

from cxrkit.text._trie import _c, _in_set, _p  # the regex parser's constants and set reader

__all__ = ["literal_prefixes", "PrefixScanner", "build_scanner"]

_ZERO_WIDTH = {_c.AT, _c.ASSERT, _c.ASSERT_NOT}
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)}
_CAP = 64  # most prefixes kept per phrase (a cross product beyond this stops the prefix where it is)
_MAX_LEN = 12  # longer prefixes are cut (still prefixes; fewer automaton states)
_WS = frozenset(" \t\n\r\f\v")
#: marks a prefix that a run of whitespace may precede ("\\s*stimulator"): the scanner also tries the
#: positions of the whitespace run before each occurrence
WS_LEAD = "\x00"


def _position(candidate: tuple[int, object]) -> int:
    return candidate[0]


def _is_word(ch: str) -> bool:
    """``re``'s ``\\w`` for one character of a str pattern."""
    return ch.isalnum() or ch == "_"


def _literal_set(items) -> set[str] | None:
    """Characters of a class made of literals and ranges only; None for anything else. Categories (``\\s``,
    ``\\d``) are left out on purpose: on str patterns they match Unicode spaces and digits too."""
    if any(op is _c.CATEGORY for op, _ in items):
        return None
    return _in_set(items)


def _whitespace_only(op, av) -> bool:
    if op is _c.IN:
        chars = _in_set(av)
        return chars is not None and set(chars) <= _WS
    if op in _REPEATS:
        inner = list(av[2])
        return len(inner) == 1 and _whitespace_only(*inner[0])
    return False


def _cross(cur: set[str], tails: set[str]) -> set[str] | None:
    if len(cur) * len(tails) > _CAP:
        return None
    # a whitespace-led tail after literal text: the prefix stops before the whitespace
    return {a + b if not (a and b.startswith(WS_LEAD)) else a for a in cur for b in tails}


def _seq_prefixes(items: list, i: int = 0) -> set[str] | None:
    """Strings one of which every match of ``items[i:]`` starts with; None when that cannot be bounded
    (the sequence may match the empty string or start with an unbounded character class)."""
    cur = {""}
    while i < len(items):
        op, av = items[i]
        if op in _ZERO_WIDTH:  # \b, look-arounds: they only restrict where a match starts
            i += 1
            continue
        if op is _c.LITERAL:
            cur = {s + chr(av) for s in cur}
            i += 1
            continue
        tails: set[str] | None = None
        if cur == {""} and _whitespace_only(op, av):  # leading (optional) whitespace: prefix what follows
            rest = _seq_prefixes(items, i + 1)
            return None if rest is None else {WS_LEAD + r.lstrip(WS_LEAD) for r in rest}
        if op is _c.IN:
            chars = _literal_set(av)
            if chars is not None:
                nxt = _cross(cur, set(chars))
                if nxt is not None:
                    cur = nxt
                    i += 1
                    continue
            break
        if op is _c.SUBPATTERN:
            tails = _seq_prefixes(list(av[-1]))
        elif op is _c.BRANCH:
            tails = set()
            for alt in av[1]:
                a = _seq_prefixes(list(alt))
                if a is None:
                    tails = None
                    break
                tails |= a
        elif op in _REPEATS:
            lo, _hi, inner = av
            tails = _seq_prefixes(list(inner))
            if lo == 0 and tails is not None:  # optional: a match starts with the inner part or what follows
                rest = _seq_prefixes(items, i + 1)
                tails = None if rest is None else tails | rest
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            tails = _seq_prefixes(list(av))
        if tails is not None:
            nxt = _cross(cur, tails)
            if nxt is not None:
                cur = nxt
        break  # lengths vary after a group or repeat: stop the prefix here
    if "" in cur:
        return None
    return {s[: _MAX_LEN + 1] if s.startswith(WS_LEAD) else s[:_MAX_LEN] for s in cur}


def literal_prefixes(fragment: str) -> set[str] | None:
    """Literal strings one of which every match of regex ``fragment`` begins with, or None when no such
    bounded set exists (see the module docstring).

    >>> sorted(literal_prefixes(r"(?:pulmonary\\s+)?vascular\\s+congestion|pneumonia"))[-3:]
    ['pneumonia', 'pulmonary', 'vascular']
    """
    try:
        return _seq_prefixes(list(_p.parse(fragment)))
    except (re.error, RecursionError):
        return None


Groups = Sequence[tuple[str | None, Sequence[str]]]
Key = str | frozenset[str]  # the prefix word(s) found at a position


class PrefixScanner:
    """``pattern.finditer`` without trying positions that cannot start a match.

    ``pattern`` is compiled by ``compile_groups(groups)`` from named groups of phrases (``(name, fragments)``,
    fragments already macro-expanded and split at their top-level ``|``). At a candidate position only the
    phrases whose prefixes occur there are tried, through ``compile_groups`` of that subset (same order,
    compiled on first use and cached): removing phrases that cannot match at a position leaves the
    alternation's first match there unchanged.

    Parameters
    ----------
    groups : the named phrase groups, in the pattern's order.
    compile_groups : builds the pattern of a list of groups (the full pattern is ``compile_groups(groups)``).
    word_start : every match begins at a word boundary ``\\b`` or at ";" / ":" (the rule patterns of
        :mod:`cxrkit.text.rules` do): a prefix that begins with a word character right after another word
        character is then not tried.

    Raises
    ------
    ValueError
        A phrase has no bounded literal prefix (see :func:`literal_prefixes`).
    """

    def __init__(
        self, groups: Groups, compile_groups: Callable[[list[tuple[str | None, list[str]]]], re.Pattern[str]],
        *, word_start: bool = False,
    ) -> None:
        import ahocorasick

        self._groups = [(name, list(frags)) for name, frags in groups]
        self._compile = compile_groups
        self.pattern = compile_groups(self._groups)
        words: dict[str, tuple[bool, set[tuple[int, int]]]] = {}
        for gi, (_name, frags) in enumerate(self._groups):
            for fi, frag in enumerate(frags):
                prefixes = literal_prefixes(frag)
                if prefixes is None:
                    raise ValueError(f"phrase {frag!r} has no bounded literal prefix")
                for p in prefixes:
                    word = p.lstrip(WS_LEAD)
                    ws, owners = words.setdefault(word, (False, set()))
                    owners.add((gi, fi))
                    words[word] = (ws or p.startswith(WS_LEAD), owners)
        auto = ahocorasick.Automaton()
        for word, (ws, _owners) in words.items():
            auto.add_word(word, (word, len(word) - 1, ws, word_start and _is_word(word[0])))
        auto.make_automaton()
        self._auto = auto
        self._owners = {w: frozenset(o) for w, (_ws, o) in words.items()}
        self._sub: dict[Key, re.Pattern[str]] = {}

    def _pattern_for(self, key: Key) -> re.Pattern[str]:
        pat = self._sub.get(key)
        if pat is None:
            keep: set[tuple[int, int]] = set()
            for w in ([key] if isinstance(key, str) else key):
                keep |= self._owners[w]
            subset = [(name, [f for fi, f in enumerate(frags) if (gi, fi) in keep])
                      for gi, (name, frags) in enumerate(self._groups)]
            pat = self._sub[key] = self._compile([(n, fl) for n, fl in subset if fl])
        return pat

    def candidates(self, text: str, start: int = 0, end: int | None = None) -> list[tuple[int, Key]]:
        """Sorted ``(position, key)`` in ``[start, end)`` where a prefix begins; ``key`` names the prefixes
        found there (a word, or a frozenset of words)."""
        end = len(text) if end is None else end
        found: dict[int, Key] = {}
        for i, (word, back, ws, boundary) in self._auto.iter(text, start, end):
            q = i - back
            while True:
                prev = text[q - 1] if boundary and q > 0 else ""
                if not (prev and (prev.isalnum() or prev == "_")):  # else \b cannot hold at q
                    had = found.get(q)
                    if had is None:
                        found[q] = word
                    elif had != word:
                        found[q] = (had if isinstance(had, frozenset) else frozenset((had,))) | {word}
                if not ws:
                    break
                # a whitespace run before it may start the match too
                q -= 1
                if q < start or not text[q].isspace():
                    break
                boundary = False
        return sorted(found.items())

    def finditer(self, text: str, start: int = 0, end: int | None = None, *,
                 candidates: list[tuple[int, Key]] | None = None) -> Iterator[re.Match[str]]:
        """The matches ``pattern.finditer(text, start, end)`` gives, for a pattern whose matches are
        non-empty (non-overlapping, leftmost first). ``candidates``: :meth:`candidates` of the whole ``text``,
        computed once and reused for several ranges."""
        end = len(text) if end is None else end
        last = start
        if candidates is None:
            cands = self.candidates(text, start, end)
        else:
            lo = bisect.bisect_left(candidates, start, key=_position)
            cands = candidates[lo:bisect.bisect_left(candidates, end, lo, key=_position)]
        for p, key in cands:
            if p < last:
                continue
            m = self._pattern_for(key).match(text, p, end)
            if m is not None:
                last = m.end()
                yield m

    def matches_at_each(self, text: str) -> Iterator[re.Match[str]]:
        """For a look-ahead-only pattern ``(?=...)`` (zero-width matches at each position): the match at
        every position where one exists, as ``finditer`` gives them."""
        for p, key in self.candidates(text):
            m = self._pattern_for(key).match(text, p)
            if m is not None:
                yield m


def build_scanner(
    groups: Groups, compile_groups: Callable[[list[tuple[str | None, list[str]]]], re.Pattern[str]],
    *, word_start: bool = False,
) -> PrefixScanner | None:
    """A :class:`PrefixScanner`, or None when a phrase has no bounded prefix or pyahocorasick is not installed
    (callers then scan every position with ``finditer``)."""
    try:
        return PrefixScanner(groups, compile_groups, word_start=word_start)
    except (ValueError, ImportError):
        return None
