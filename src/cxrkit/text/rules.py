"""Load the labeler's rule files (YAML data) and compile them into a few fast regular expressions.

The rules live in ``cxrkit/text/rules/findings.yaml`` (what to look for) and ``context.yaml`` (negation,
uncertainty, history cues and scope terminators). Users may pass their own copies to :func:`load_rules`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cxrkit.errors import DataFormatError, unknown_name
from cxrkit.labels import FINDINGS
from cxrkit.text._scan import PrefixScanner, build_scanner
from cxrkit.text._trie import bucketed, split_top

__all__ = ["CUE_KINDS", "OTHER", "lower_text", "FindingRules", "Rules", "load_rules", "default_rules"]

#: Cue kinds of ``context.yaml``, in the order they are tried at one text position.
CUE_KINDS: tuple[str, ...] = (
    "pseudo", "uncertain_post", "negation_post", "negation_bi", "uncertain_pre", "probable_pre", "negation_pre",
    "historical_pre",
    "terminate",
)
#: Evidence name of the abnormalities outside the canonical vocabulary (they only block ``No Finding``).
OTHER = "Other abnormality"

_FLAGS = 0  # texts are lower-cased first (see lower_text)
_MACRO = re.compile(r"\{([A-Z_]+)\}")


def _wrap(body: str, punctuation: bool = False) -> str:
    """Whole-word matching around an alternation (texts are lower-cased first: no IGNORECASE needed);
    ``punctuation`` also lets matches start at ";" or ":" (cue terminators)."""
    start = r"(?:\b|(?=[;:]))" if punctuation else r"\b"
    return start + r"(?<!-)(?:" + body + r")(?![\w])"


def lower_text(text: str) -> str:
    """Lower-case ``text`` keeping every character at its offset (rules match on this)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)  # e.g. "İ" lower-cases to 2 chars


@dataclass(frozen=True)
class FindingRules:
    """Compiled patterns of one finding (None where the rule file gives no phrase of that kind)."""

    name: str
    positive: re.Pattern[str] | None
    uncertain: re.Pattern[str] | None
    normal: re.Pattern[str] | None


@dataclass(frozen=True)
class Rules:
    """All compiled rules.

    Attributes
    ----------
    findings : tuple of FindingRules, one per covered finding (canonical names, FINDINGS order), plus the
        "Other abnormality" group last.
    cues : one compiled alternation; its named groups are ``<cue kind>__<suffix>`` (see :data:`CUE_KINDS`).
    implies : finding -> findings that a positive / uncertain mention also counts for.
    scope_pre, scope_post : how many words a cue reaches before / after itself.
    source : where the rules were read from.
    covered : the canonical findings the rules can label.
    mentions : every finding phrase in one zero-width look-ahead pattern (one scan finds all mentions,
        overlapping ones included); its named groups map to (finding, kind) through ``mention_groups``.
    mention_scan, cue_scan : the same patterns tried only where a phrase's literal prefix occurs
        (:mod:`cxrkit.text._scan`, identical results, several times faster); None when a phrase has no
        bounded literal prefix (then ``finditer`` scans every position).
    """

    findings: tuple[FindingRules, ...]
    cues: re.Pattern[str]
    implies: dict[str, tuple[str, ...]]
    scope_pre: int
    scope_post: int
    source: str
    covered: tuple[str, ...] = field(default=())
    mentions: re.Pattern[str] | None = None
    mention_groups: dict[str, tuple[str, str]] = field(default_factory=dict)
    mention_scan: PrefixScanner | None = None
    cue_scan: PrefixScanner | None = None


def _read_yaml(path: Path | None, default_name: str) -> tuple[dict[str, Any], str]:
    if path is None:
        ref = resources.files("cxrkit.text").joinpath("rules", default_name)
        text, where = ref.read_text(encoding="utf-8"), f"cxrkit/text/rules/{default_name}"
    else:
        p = Path(path)
        if not p.is_file():
            raise DataFormatError(f"rule file not found: {p}")
        text, where = p.read_text(encoding="utf-8"), str(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataFormatError(f"rule file {where} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise DataFormatError(f"rule file {where} must hold a mapping at the top level")
    return data, where


def _expand(fragment: str, macros: dict[str, str], where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in macros:
            raise DataFormatError(f"{where}: unknown macro {{{key}}} in {fragment!r}; macros: {sorted(macros)}")
        return macros[key]

    return _MACRO.sub(sub, str(fragment))


_ESCAPE = re.compile(r"\\.|\(\?P<\w+>|\(\?P=\w+\)")


def _check_lower(fragment: str, where: str) -> str:
    """Texts are lower-cased before matching, so an upper-case letter in a phrase could never match."""
    if any(c.isupper() for c in _ESCAPE.sub("", fragment)):
        raise DataFormatError(f"{where}: write phrases in lower case (texts are lower-cased): {fragment!r}")
    return fragment


def _compile(fragments: list[str], macros: dict[str, str], where: str) -> re.Pattern[str] | None:
    if not fragments:
        return None
    expanded = [_check_lower(_expand(f, macros, where), where) for f in fragments]
    try:
        return re.compile(_wrap(bucketed([(None, expanded)])), _FLAGS)
    except re.error as exc:
        raise DataFormatError(f"{where}: a phrase is not a valid regular expression ({exc}): {expanded}") from exc


def _mention_pattern(groups: list) -> re.Pattern[str]:
    """Every finding phrase in one zero-width look-ahead: one scan finds all mentions, overlapping ones too."""
    return re.compile("(?=" + _wrap(bucketed(groups)) + ")", _FLAGS)


def _cue_pattern(groups: list) -> re.Pattern[str]:
    return re.compile(_wrap(bucketed(groups), punctuation=True), _FLAGS)


def _cues(cdata: dict, macros: dict[str, str], cwhere: str) -> tuple[list[tuple[str, list[str]]], Any]:
    """The context cue groups (kind → phrases, longest first) and their combined pattern."""
    cues = cdata.get("cues") or {}
    unknown = set(cues) - set(CUE_KINDS)
    if unknown:
        raise DataFormatError(f"{cwhere}: unknown cue kinds {sorted(unknown)}; expected {list(CUE_KINDS)}")
    groups: list[tuple[str, list[str]]] = []
    for kind in CUE_KINDS:
        frags = [
            p for f in (cues.get(kind) or []) for p in split_top(_check_lower(_expand(f, macros, cwhere), cwhere))
        ]
        if frags:
            # longest first, so "no evidence of" is preferred to "no"
            groups.append((kind, sorted(frags, key=len, reverse=True)))
    try:
        cue_re = _cue_pattern(groups)
    except re.error as exc:
        raise DataFormatError(f"{cwhere}: a cue is not a valid regular expression ({exc})") from exc
    return groups, cue_re


def load_rules(findings_path: str | Path | None = None, context_path: str | Path | None = None) -> Rules:
    """Read and compile the rule files.

    Parameters
    ----------
    findings_path, context_path : paths to YAML rule files; None uses the shipped ones.

    Raises
    ------
    DataFormatError
        A file is missing, not YAML, or holds an invalid regular expression.
    UnknownNameError
        A finding is not a canonical cxrkit finding.
    """
    fdata, fwhere = _read_yaml(Path(findings_path) if findings_path else None, "findings.yaml")
    cdata, cwhere = _read_yaml(Path(context_path) if context_path else None, "context.yaml")
    macros = {str(k): str(v) for k, v in (fdata.get("macros") or {}).items()}
    # macros may use other macros once
    macros = {k: _MACRO.sub(lambda m: macros.get(m.group(1), m.group(0)), v) for k, v in macros.items()}
    table = fdata.get("findings") or {}
    if not isinstance(table, dict) or not table:
        raise DataFormatError(f"{fwhere}: 'findings' must map finding names to phrase lists")
    compiled: dict[str, FindingRules] = {}
    for name, spec in table.items():
        if name not in FINDINGS:
            raise unknown_name("finding in rule file", name, FINDINGS)
        spec = spec or {}
        extra = set(spec) - {"positive", "uncertain", "normal"}
        if extra:
            raise DataFormatError(f"{fwhere}: finding {name!r} has unknown keys {sorted(extra)}")
        compiled[name] = FindingRules(
            name,
            _compile(list(spec.get("positive") or []), macros, f"{fwhere} [{name}]"),
            _compile(list(spec.get("uncertain") or []), macros, f"{fwhere} [{name}]"),
            _compile(list(spec.get("normal") or []), macros, f"{fwhere} [{name}]"),
        )
    ordered = [compiled[f] for f in FINDINGS if f in compiled]
    other = list(fdata.get("other") or [])
    mention_src: list[tuple[str, list[str]]] = []
    mention_groups: dict[str, tuple[str, str]] = {}
    for i, name in enumerate([*(f for f in FINDINGS if f in table), *([OTHER] if other else [])]):
        spec = (table.get(name) or {}) if name != OTHER else {"positive": other}
        for k, kind in enumerate(("normal", "uncertain", "positive")):  # normal first: it hides the others
            frags = [p for f in (spec.get(kind) or []) for p in split_top(_expand(f, macros, fwhere))]
            if frags:
                gname = f"m{i}k{k}"
                mention_groups[gname] = (name, kind)
                mention_src.append((gname, frags))
    try:
        mention_re = _mention_pattern(mention_src)
    except re.error as exc:  # pragma: no cover - each finding compiled fine above
        raise DataFormatError(f"{fwhere}: phrases do not combine into one pattern ({exc})") from exc
    if other:
        ordered.append(FindingRules(OTHER, _compile(other, macros, f"{fwhere} [other]"), None, None))
    implies: dict[str, tuple[str, ...]] = {}
    for src, targets in (fdata.get("implies") or {}).items():
        for name in [src, *targets]:
            if name not in FINDINGS:
                raise unknown_name("finding in rule file", name, FINDINGS)
        implies[src] = tuple(targets)

    groups, cue_re = _cues(cdata, macros, cwhere)
    scope = cdata.get("scope_words") or {}
    return Rules(
        findings=tuple(ordered),
        cues=cue_re,
        implies=implies,
        scope_pre=int(scope.get("pre", 8)),
        scope_post=int(scope.get("post", 6)),
        source=f"{fwhere} + {cwhere}",
        covered=tuple(f.name for f in ordered if f.name != OTHER),
        mentions=mention_re,
        mention_groups=mention_groups,
        # both patterns start with _wrap's word boundary (or ";" / ":"), so word_start holds
        mention_scan=build_scanner(mention_src, _mention_pattern, word_start=True),
        cue_scan=build_scanner(groups, _cue_pattern, word_start=True),
    )


@functools.lru_cache(maxsize=1)
def default_rules() -> Rules:
    """The shipped rules, compiled once per process."""
    return load_rules()
