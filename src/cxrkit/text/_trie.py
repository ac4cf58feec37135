"""Compile a large regex alternation so that the engine tries only the alternatives that can start with the
character at hand (a one-level trie on the first character), which makes rule matching several times faster.

Python's ``re`` tries every alternative of ``a|b|c...`` at every position. Grouping the alternatives by
their possible first characters, ``(?=n)(?:no|not|...)|(?=m)(?:may|might)|...``, leaves one cheap
look-ahead per bucket instead. First-character sets come from the parsed pattern; an alternative whose
first character cannot be bounded (it starts with ``\\w``, say) goes into a bucket tried everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# CPython's regex parser (Python >= 3.11, as pyproject requires); typeshed does not describe these internals
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _p  # type: ignore[attr-defined]

__all__ = ["first_chars", "split_top", "bucketed"]

_ZERO_WIDTH = {_c.AT, _c.ASSERT, _c.ASSERT_NOT}


def _in_set(items) -> set[str] | None:
    out: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            out.add(chr(av))
        elif op is _c.RANGE:
            lo, hi = av
            if hi - lo > 200:
                return None
            out.update(chr(x) for x in range(lo, hi + 1))
        elif op is _c.CATEGORY and av is _c.CATEGORY_SPACE:
            out.update(" \t\n\r\f\v")
        elif op is _c.CATEGORY and av is _c.CATEGORY_DIGIT:
            out.update("0123456789")
        else:  # NEGATE, other categories (\w ...): unbounded
            return None
    return out


def _seq(items) -> tuple[set[str] | None, bool]:
    """(possible first characters or None for unbounded, whether the sequence can match empty)."""
    out: set[str] = set()
    for op, av in items:
        if op is _c.LITERAL:
            out.add(chr(av))
            return out, False
        if op in _ZERO_WIDTH:
            continue
        if op is _c.IN:
            s = _in_set(av)
            if s is None:
                return None, False
            return out | s, False
        if op is _c.SUBPATTERN:
            s, nullable = _seq(av[-1])
        elif op is _c.BRANCH:
            s, nullable = set(), False
            for alt in av[1]:
                a, n = _seq(alt)
                if a is None:
                    return None, False
                s |= a
                nullable = nullable or n
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            lo, _hi, inner = av
            s, n = _seq(inner)
            nullable = lo == 0 or n
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            s, nullable = _seq(av)
        else:  # ANY, NOT_LITERAL, GROUPREF, CATEGORY ...
            return None, False
        if s is None:
            return None, False
        out |= s
        if not nullable:
            return out, False
    return out, True


def first_chars(fragment: str) -> set[str] | None:
    """Characters a match of ``fragment`` can start with (None: unbounded or can match empty)."""
    try:
        s, nullable = _seq(_p.parse(fragment))
    except (re.error, RecursionError):  # invalid patterns are reported by the caller's re.compile
        return None
    return None if nullable or s is None or not s else s


def _charset(chars: Sequence[str]) -> str:
    return "[" + "".join(re.escape(c) for c in chars) + "]"


def _tree(buckets: list[tuple[str, str]]) -> str:
    """Binary dispatch on the first character: about log2(buckets) look-aheads per position, not one per
    bucket."""
    if len(buckets) <= 3:
        return "|".join(f"(?={re.escape(ch)})(?:{body})" for ch, body in buckets)
    mid = len(buckets) // 2
    left, right = buckets[:mid], buckets[mid:]
    return (f"(?={_charset([c for c, _ in left])})(?:{_tree(left)})"
            f"|(?={_charset([c for c, _ in right])})(?:{_tree(right)})")


def split_top(fragment: str) -> list[str]:
    """Split a regex at its top-level ``|`` (outside groups, classes and escapes)."""
    parts, depth, in_class, esc, start = [], 0, False, False, 0
    for i, ch in enumerate(fragment):
        if esc:
            esc = False
        elif ch == "\\":
            esc = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(fragment[start:i])
            start = i + 1
    parts.append(fragment[start:])
    return parts


def bucketed(groups: Sequence[tuple[str | None, Sequence[str]]]) -> str:
    """One alternation of ``groups`` (name or None, fragments), bucketed by first character.

    Within a bucket the groups keep their order (so an earlier group wins at the same position). Named
    groups become ``NAME__<codepoint>`` (and ``NAME__any`` for the unbounded bucket); strip the suffix after
    ``__`` to get the name back.
    """
    per_char: dict[str, list[tuple[str | None, list[str]]]] = {}
    generic: list[tuple[str | None, list[str]]] = []
    for name, frags in groups:
        by_char: dict[str, list[str]] = {}
        loose: list[str] = []
        for f in (part for frag in frags for part in split_top(frag)):
            chars = first_chars(f)
            if chars is None:
                loose.append(f)
            else:
                for ch in chars:
                    by_char.setdefault(ch, []).append(f)
        for ch, fl in by_char.items():
            per_char.setdefault(ch, []).append((name, fl))
        if loose:
            generic.append((name, loose))

    def alt(name: str | None, suffix: str, frags: list[str]) -> str:
        body = "|".join(f"(?:{f})" for f in frags)
        return f"(?P<{name}__{suffix}>{body})" if name else f"(?:{body})"

    buckets = [(ch, "|".join(alt(n, str(ord(ch)), fl) for n, fl in per_char[ch])) for ch in sorted(per_char)]
    parts = [_tree(buckets)] if buckets else []
    if generic:
        parts.append("|".join(alt(n, "any", fl) for n, fl in generic))
    return "|".join(parts)
