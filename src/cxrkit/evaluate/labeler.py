"""Score the report labeler against Open-i's human MeSH ``major`` codes, ChestX-ray8's protocol.

Protocol (ChestX-ray8, Wang et al. CVPR 2017, Table 2): 8 findings + Normal; a report is positive for a
finding when one of its MeSH major codes maps to it (:data:`MESH_MAP`); the labeler is positive when its
value is 1 (and, under ``uncertain="positive"``, -1). Reports coded ``No Indexing`` have no ground truth and
are left out, as are reports without findings / impression text (nothing to label). Precision / recall / F1
per finding and micro-averaged over the 9 rows.

The split: a report is in ``dev`` or ``test`` by an MD5 hash of its id (stable for any set of reports); the
rules were developed looking at ``dev`` only.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cxrkit.errors import DataFormatError, unknown_name
from cxrkit.text.labeler import ReportLabels

__all__ = [
    "EVAL_FINDINGS", "MESH_MAP", "CHESTXRAY8_OVERALL", "Row", "LabelerScore", "gold_from_mesh", "split_of",
    "score_labeler", "to_markdown", "evaluate_openi", "errors_markdown", "predicted", "bootstrap_f1_ci",
]

log = logging.getLogger(__name__)

#: The rows of ChestX-ray8's Table 2 ("Normal" = the labeler's "No Finding").
EVAL_FINDINGS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Normal", "Pneumonia",
    "Pneumothorax",
)
#: MeSH major code -> finding. A code is "Heading/qualifier/qualifier..."; an entry ``"Heading"`` matches the
#: heading with any qualifiers, ``"Heading/word"`` only when ``word`` is one of the qualifiers.
MESH_MAP: dict[str, tuple[str, ...]] = {
    "Atelectasis": ("Pulmonary Atelectasis",),
    "Cardiomegaly": ("Cardiomegaly", "Cardiac Shadow/enlarged"),
    "Effusion": ("Pleural Effusion",),
    "Infiltration": ("Infiltrate",),
    "Mass": ("Mass",),
    "Nodule": ("Nodule",),
    "Normal": ("normal",),
    "Pneumonia": ("Pneumonia",),
    "Pneumothorax": ("Pneumothorax",),
}
#: ChestX-ray8's own report labeler on Open-i (its paper, overall row): precision, recall, F1.
CHESTXRAY8_OVERALL = (0.90, 0.91, 0.90)
_UNINDEXED = "no indexing"


def gold_from_mesh(major: Iterable[str]) -> dict[str, bool] | None:
    """Ground truth from a report's MeSH major codes; None for un-indexed reports."""
    codes = [c.strip() for c in major if c and c.strip()]
    if not codes or any(c.lower() == _UNINDEXED for c in codes):
        return None
    out = {}
    for finding, patterns in MESH_MAP.items():
        hit = False
        for code in codes:
            parts = [p.strip().lower() for p in code.split("/")]
            for pat in patterns:
                head, *need = [p.lower() for p in pat.split("/")]
                if parts[0] == head and all(n in parts[1:] for n in need):
                    hit = True
        out[finding] = hit
    return out


def split_of(report_id: str) -> str:
    """``"dev"`` or ``"test"``: half of the reports each, by an MD5 hash of the id (seed-free and stable)."""
    return "dev" if hashlib.md5(str(report_id).encode()).digest()[0] % 2 == 0 else "test"


def predicted(labels: ReportLabels, finding: str, uncertain: str = "negative") -> bool:
    """Whether the labeler calls ``finding`` (an :data:`EVAL_FINDINGS` row) positive.

    "Normal" is ``No Finding == 1`` with no support device mentioned: Open-i's coders index devices, so a
    report with a catheter is not MeSH ``normal`` although CheXpert's No Finding ignores devices.
    """
    if finding == "Normal":
        return labels.values.get("No Finding") == 1 and labels.values.get("Support Devices") not in (1, -1)
    v = labels.values.get(finding)
    return v == 1 or (uncertain == "positive" and v == -1)


@dataclass
class Row:
    """Counts and scores of one finding."""

    finding: str
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else float("nan")

    @property
    def support(self) -> int:
        return self.tp + self.fn


@dataclass
class LabelerScore:
    """Scores of one evaluation: rows per finding, micro average, error breakdown, protocol."""

    rows: list[Row]
    micro: Row
    n_reports: int
    n_excluded: int
    errors: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    uncertain: str = "negative"
    n_no_text: int = 0
    micro_f1_ci: tuple[float, float] = (float("nan"), float("nan"))


def bootstrap_f1_ci(
    counts: np.ndarray, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the micro F1, resampling reports.

    Parameters
    ----------
    counts : int array ``(n_reports, 3)``: tp, fp, fn of each report summed over the findings.
    n_boot, seed, level : resamples, generator seed, confidence level.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 2 or counts.shape[1] != 3 or len(counts) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(counts), size=(n_boot, len(counts)))
    sums = counts[idx].sum(axis=1)  # (n_boot, 3)
    denom = 2 * sums[:, 0] + sums[:, 1] + sums[:, 2]
    f1 = np.where(denom > 0, 2 * sums[:, 0] / np.maximum(denom, 1), np.nan)
    lo, hi = np.nanpercentile(f1, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def _why_missed(labels: ReportLabels, finding: str) -> str:
    if finding == "Normal":
        blockers = sorted({e.finding for e in labels.evidence if e.value in (1, -1) and e.finding != "Support Devices"})
        if blockers:
            return "normal report called abnormal (" + ", ".join(blockers[:3]) + ")"
        if labels.values.get("Support Devices") in (1, -1):
            return "device mentioned in a report coded normal"
        return "no labeled text"
    ev = [e for e in labels.evidence if e.finding == finding]
    if not ev:
        return "missed mention"
    statuses = {e.status for e in ev}
    for s, why in (("negated", "negated but coded (negation or scope error)"),
                   ("uncertain", "uncertain, counted negative"),
                   ("historical", "called historical"), ("normal", "normal statement only")):
        if s in statuses:
            return why
    return "other"


def _why_false(labels: ReportLabels, finding: str) -> str:
    if finding == "Normal":
        return "abnormal report called normal (missed abnormality)"
    ev = [e for e in labels.evidence if e.finding == finding and e.value in (1, -1)]
    if any(e.value == 1 for e in ev):
        pos = [e for e in ev if e.value == 1]
        neg_words = (" no ", " not ", "without", "negative", "resolved", "clear")
        if any(any(w in f" {e.sentence.lower()} " for w in neg_words) for e in pos):
            return "positive mention near a negation word (possible missed negation / scope)"
        return "positive mention the coders did not code"
    return "uncertain mention counted positive (false uncertainty)"


def _note(errors: Counter, examples: dict[str, list[str]], key: str, rid: str, keep: int) -> None:
    errors[key] += 1
    ids = examples.setdefault(key, [])
    if len(ids) < keep:
        ids.append(rid)


def score_labeler(
    items: Sequence[tuple[str, Sequence[str], ReportLabels]],
    *,
    uncertain: str = "negative",
    max_examples: int = 5,
    seed: int = 0,
) -> LabelerScore:
    """Score labels against MeSH codes.

    Parameters
    ----------
    items : (report_id, MeSH major codes, labels) per report.
    uncertain : "negative" (default: a -1 label counts as negative; Open-i's coders index what a report states
        as present, not hedged diagnoses such as "concerning for pneumonia") or "positive".
    max_examples : report ids kept per error kind.
    seed : seed of the bootstrap that gives ``micro_f1_ci`` (95%, 1,000 resamples of reports).
    """
    if uncertain not in ("positive", "negative"):
        raise unknown_name("uncertainty policy", uncertain, ("positive", "negative"))
    rows = {f: Row(f) for f in EVAL_FINDINGS}
    errors: Counter = Counter()
    examples: dict[str, list[str]] = {}
    n = excluded = no_text = 0
    per_report: list[list[int]] = []
    for rid, major, labels in items:
        gold = gold_from_mesh(major)
        if gold is None:
            excluded += 1
            continue
        if labels.warnings and all(v is None for v in labels.values.values()):
            no_text += 1  # empty / unlabelable report: nothing to judge
            continue
        n += 1
        per = [0, 0, 0]
        for f in EVAL_FINDINGS:
            p, g = predicted(labels, f, uncertain), gold[f]
            if p and g:
                rows[f].tp += 1
                per[0] += 1
            elif p:
                rows[f].fp += 1
                per[1] += 1
                _note(errors, examples, f"{f}: FP: {_why_false(labels, f)}", rid, max_examples)
            elif g:
                rows[f].fn += 1
                per[2] += 1
                _note(errors, examples, f"{f}: FN: {_why_missed(labels, f)}", rid, max_examples)
        per_report.append(per)
    micro = Row("Total (micro)", sum(r.tp for r in rows.values()), sum(r.fp for r in rows.values()),
                sum(r.fn for r in rows.values()))
    ci = bootstrap_f1_ci(np.array(per_report).reshape(-1, 3), seed=seed)
    return LabelerScore(list(rows.values()), micro, n, excluded, errors, examples, uncertain, no_text, ci)


def _f(x: float) -> str:
    return "n/a" if x != x else f"{x:.3f}"


def to_markdown(
    scores: dict[str, LabelerScore], *, peer: dict[str, LabelerScore] | None = None, peer_name: str = ""
) -> str:
    """ChestX-ray8 Table 2 layout: one row per finding, P / R / F1 per evaluated split side by side."""
    names = list(scores)
    head = "| Finding | " + " | ".join(f"{s} P | {s} R | {s} F1 | {s} n+" for s in names) + " |"
    sep = "|---|" + "---|---|---|---|" * len(names)
    lines = [head, sep]
    for i, f in enumerate(EVAL_FINDINGS):
        cells = []
        for s in names:
            r = scores[s].rows[i]
            cells += [_f(r.precision), _f(r.recall), _f(r.f1), str(r.support)]
        lines.append(f"| {f} | " + " | ".join(cells) + " |")
    cells = []
    for s in names:
        m = scores[s].micro
        cells += [f"**{_f(m.precision)}**", f"**{_f(m.recall)}**", f"**{_f(m.f1)}**", str(m.support)]
    lines.append("| **Total (micro)** | " + " | ".join(cells) + " |")
    cells = []
    for s in names:
        lo, hi = scores[s].micro_f1_ci
        cells += ["", "", f"[{_f(lo)}, {_f(hi)}]", ""]
    lines.append("| micro F1 95% CI (bootstrap over reports) | " + " | ".join(cells) + " |")
    p8, r8, f8 = CHESTXRAY8_OVERALL
    lines.append("| ChestX-ray8 labeler (paper, 3,851 Open-i reports) | " + " | ".join(
        [f"{p8:.2f}", f"{r8:.2f}", f"{f8:.2f}", "-"] + ["", "", "", ""] * (len(names) - 1)) + " |")
    if peer:
        for s, sc in peer.items():
            m = sc.micro
            lines.append(f"| {peer_name} ({s}) | {_f(m.precision)} | {_f(m.recall)} | {_f(m.f1)} | {m.support} |"
                         + " | | | |" * (len(names) - 1))
    return "\n".join(lines)


def evaluate_openi(
    reports: str | Path,
    *,
    uncertain: str = "negative",
    workers: int | None = 1,
    max_examples: int = 5,
) -> dict[str, LabelerScore]:
    """Label every Open-i report XML under ``reports`` and score the dev half, the test half and all.

    Parameters
    ----------
    reports : folder of Open-i report XML files (``<id>.xml``) or a list of such files.
    uncertain : how a -1 label counts (see :func:`score_labeler`).
    workers : labeling processes (1: in this process).

    Returns
    -------
    dict with keys "dev", "test", "all".

    Raises
    ------
    DataFormatError
        The folder holds no readable report XML.
    """
    from cxrkit.text.batch import Labeled, label_paths

    items: list[tuple[str, Sequence[str], ReportLabels]] = []
    bad = 0
    for it in label_paths([reports], workers=workers):
        if isinstance(it, Labeled):
            items.append((it.record.report_id, it.record.mesh_major, it.labels))
        else:
            bad += 1
            log.warning("skipped %s: %s", it.source, it.error)
    if not items:
        raise DataFormatError(f"no readable Open-i report XML under {reports}")
    if bad:
        log.warning("%d report file(s) could not be read", bad)
    out = {}
    for split in ("dev", "test", "all"):
        sel = [x for x in items if split == "all" or split_of(x[0]) == split]
        out[split] = score_labeler(sel, uncertain=uncertain, max_examples=max_examples)
    return out


def errors_markdown(score: LabelerScore, top: int = 15) -> str:
    """The most frequent error kinds with example report ids, as a markdown table."""
    lines = ["| count | error kind | example report ids |", "|---:|---|---|"]
    for key, n in score.errors.most_common(top):
        lines.append(f"| {n} | {key} | {', '.join(score.examples.get(key, []))} |")
    return "\n".join(lines)
