"""ChestX-ray8's localization protocol on a dataset with boxes: accuracy, AFP, pointing game, per finding.

A *case* is one (image, finding) pair with at least one ground-truth box of that finding. For every case the
classifier's heatmap of that finding (whatever its probability, as in ChestX-ray8) is turned into boxes by each
box method and scored at T(IoBB) and T(IoU) ∈ {0.1, 0.25, 0.5, 0.75, 0.9} (:mod:`cxrkit.localize.metrics`).

A data-free control runs beside the model: a centred Gaussian "heatmap" (the same for every image and finding,
sigma = a quarter of each side) through the ``default`` box method; for the ``anatomy`` box method the control
is the same (``control:anatomy`` = centred Gaussian + ``default`` boxes), the reference its validation is judged
against (:mod:`cxrkit.localize.validation`). A model whose accuracy does not beat this control has not shown that it
localizes anything: large findings (cardiomegaly, effusion) sit where a central box lands anyway.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.explain.heatmaps import DEFAULT_METHOD, explain_batch, resolve_target
from cxrkit.localize.boxes import boxes_from_heatmap
from cxrkit.localize.metrics import THRESHOLDS, case_result, pointing_hit
from cxrkit.types import Box

__all__ = [
    "BOX_FINDINGS",
    "PAPER_TABLE4",
    "LocalizationEvaluation",
    "evaluate_localization",
    "centre_prior",
    "wilson_interval",
]

log = logging.getLogger(__name__)

#: The 8 findings with official NIH boxes, in ChestX-ray8's order.
BOX_FINDINGS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
)

#: ChestX-ray8 (Wang et al., CVPR 2017; arXiv:1705.02315) Table 4: ResNet-50, LSE pooling, T(IoBB).
#: ``{T: {"acc": (8 values in BOX_FINDINGS order), "afp": (...)}}``.
PAPER_TABLE4: dict[float, dict[str, tuple[float, ...]]] = {
    0.1: {"acc": (0.7277, 0.9931, 0.7124, 0.7886, 0.4352, 0.1645, 0.7500, 0.4591),
          "afp": (0.8323, 0.3506, 0.7998, 0.5589, 0.6423, 0.6047, 0.9055, 0.4776)},
    0.25: {"acc": (0.5500, 0.9794, 0.5424, 0.5772, 0.2823, 0.0506, 0.5583, 0.3469),
           "afp": (0.9167, 0.4553, 0.8598, 0.6077, 0.6707, 0.6158, 0.9614, 0.5000)},
    0.5: {"acc": (0.2833, 0.8767, 0.3333, 0.4227, 0.1411, 0.0126, 0.3833, 0.1836),
          "afp": (1.0203, 0.5630, 0.9268, 0.6585, 0.6941, 0.6189, 1.0132, 0.5285)},
    0.75: {"acc": (0.1666, 0.7260, 0.2418, 0.3252, 0.1176, 0.0126, 0.2583, 0.1020),
           "afp": (1.0619, 0.6616, 0.9603, 0.6921, 0.7043, 0.6199, 1.0569, 0.5396)},
    0.9: {"acc": (0.1333, 0.6849, 0.2091, 0.2520, 0.0588, 0.0126, 0.2416, 0.0816),
          "afp": (1.0752, 0.7226, 0.9797, 0.7124, 0.7144, 0.6199, 1.0732, 0.5437)},
}


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``k / n`` (NaNs when ``n == 0``)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def centre_prior(shape: tuple[int, int]) -> np.ndarray:
    """The data-free control heatmap: a centred Gaussian, sigma = a quarter of each side, float32 ``(H, W)``."""
    h, w = shape
    y = (np.arange(h) + 0.5 - h / 2) / (h / 4)
    x = (np.arange(w) + 0.5 - w / 2) / (w / 4)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).astype(np.float32)


@dataclass
class LocalizationEvaluation:
    """Per-case records and the aggregate tables.

    Attributes:
        cases: one row per (image, finding): image_id, finding, probability, n_truth, pointing hit (model and
            control), and per box source ``<source>`` the list of predicted boxes.
        scores: long table: source, finding, measure, threshold, n_cases, correct, accuracy, ci_low, ci_high,
            afp.
        pointing: per finding: n_cases, hits, accuracy, ci_low, ci_high (model) and control_accuracy.
        protocol: description of what was run (data, model, method, counts).
        examples: a few cases kept with their heatmaps for the overlay page.
    """

    cases: pd.DataFrame
    scores: pd.DataFrame
    pointing: pd.DataFrame
    protocol: dict[str, Any]
    examples: list[dict[str, Any]] = field(default_factory=list)


def _truth_by_row(dataset: Any, findings: Sequence[str]) -> dict[int, dict[str, list[Box]]]:
    out: dict[int, dict[str, list[Box]]] = {}
    b = dataset.boxes
    b = b[b["finding"].isin(findings)]
    for r in b.itertuples(index=False):
        out.setdefault(int(r.row), {}).setdefault(str(r.finding), []).append(
            Box(float(r.x_min), float(r.y_min), float(r.x_max), float(r.y_max), label=str(r.finding))
        )
    return out


def _select_rows(dataset: Any, rows: list[int], exclude: Collection[str] | None,
                 include: Collection[str] | None) -> tuple[list[int], int]:
    """Rows left after ``exclude`` / ``include`` (image ids), and how many were left out."""
    ids = dataset.meta["image_id"].astype(str).to_numpy()
    n_excluded = 0
    if exclude:
        ex = {str(e) for e in exclude}
        kept = [r for r in rows if ids[r] not in ex]
        n_excluded = len(rows) - len(kept)
        rows = kept
    if include is not None:
        inc = {str(e) for e in include}
        kept = [r for r in rows if ids[r] in inc]
        n_excluded += len(rows) - len(kept)
        rows = kept
    return rows, n_excluded


def _image_cases(row: int, image_id: str, shape: tuple[int, int], expl: Any, truth: dict[str, list[Box]],
                 box_methods: Sequence[str], masks: Any, priors: Any) -> list[dict[str, Any]]:
    """One case per (image, finding with truth boxes): pointing and boxes of every box method, each with its
    centred-Gaussian control."""
    prior = centre_prior(shape)
    out = []
    for f, gt in truth.items():
        rec: dict[str, Any] = {
            "row": row, "image_id": image_id, "finding": f, "probability": expl.probabilities[f],
            "n_truth": len(gt), "truth": gt,
            "pointing": pointing_hit(expl.maps[f], gt), "control_pointing": pointing_hit(prior, gt),
        }
        for bm in box_methods:
            if bm == "anatomy":
                rec[bm] = boxes_from_heatmap(expl.maps[f], bm, label=f, masks=masks, finding=f, priors=priors)
                rec[f"control:{bm}"] = boxes_from_heatmap(prior, "default", label=f)
            else:
                rec[bm] = boxes_from_heatmap(expl.maps[f], bm, label=f)
                rec[f"control:{bm}"] = boxes_from_heatmap(prior, bm, label=f)
        out.append(rec)
    return out


def evaluate_localization(
    classifier: Any,
    dataset: Any,
    *,
    method: str = DEFAULT_METHOD,
    box_methods: Sequence[str] = ("default", "chestxray8"),
    thresholds: Sequence[float] = THRESHOLDS,
    limit: int | None = None,
    exclude: Collection[str] | None = None,
    include: Collection[str] | None = None,
    all_outputs: bool = False,
    findings: Sequence[str] | None = None,
    segmenter: Any = None,
    priors: Any = None,
    batch_size: int = 8,
    n_examples: int = 16,
    progress: bool = False,
) -> LocalizationEvaluation:
    """Run the protocol over every image of ``dataset`` that has boxes of a finding the classifier reports.

    Args:
        classifier: cxrkit Classifier (or anything :func:`cxrkit.explain.heatmaps.resolve_target` accepts).
        dataset: a :class:`cxrkit.data.Dataset` with ``boxes`` in pixels of its images.
        method: heatmap method.
        box_methods: box methods scored side by side (all from the same heatmaps).
        thresholds: T values for IoBB and IoU.
        limit: evaluate only the first ``limit`` images (by row) — for smoke runs.
        exclude: image ids (``meta["image_id"]``) to leave out, e.g. the images the classifier trained on.
        include: image ids to keep (all others left out), e.g. the ``val`` part of a split file.
        all_outputs: also score head outputs the classifier does not report (not validated); they are listed
            in ``protocol["unvalidated_findings_scored"]`` and must not be read as product claims.
        findings: restrict to these box findings (default: every evaluable one).
        segmenter: anatomy segmenter for the ``anatomy`` box method (default: the shipped one, loaded when needed).
        priors: :class:`~cxrkit.localize.priors.LocalizationPriors` for ``anatomy`` (default: the shipped priors
            of the classifier's card name).
        batch_size: images per forward pass.
        n_examples: cases kept with heatmaps for the overlay page (two per finding, first by image id).
        progress: show a tqdm progress bar.

    Returns:
        :class:`LocalizationEvaluation`.
    """
    target = resolve_target(classifier)
    validated = set(target.reported)
    if all_outputs:
        target = replace(target, reported=target.outputs)
    evaluable = _evaluable(target.reported, dataset, findings)
    use_anatomy = "anatomy" in box_methods
    if use_anatomy:
        segmenter, priors = _anatomy_parts(classifier, segmenter, priors)
    truth = _truth_by_row(dataset, evaluable)
    rows, n_excluded = _select_rows(dataset, sorted(truth), exclude, include)
    truth = {r: truth[r] for r in rows}
    if limit is not None:
        rows = rows[: int(limit)]
    sources = list(box_methods) + [f"control:{m}" for m in box_methods]
    records, examples = _run_cases(target, dataset, rows, truth, evaluable, method, box_methods,
                                   segmenter if use_anatomy else None, priors, batch_size, n_examples, progress)
    cases = pd.DataFrame.from_records(records)
    scores = _scores(cases, sources, evaluable, thresholds)
    pointing = _pointing(cases, evaluable)
    protocol = {
        "method": method,
        "box_methods": list(box_methods),
        "priors": priors.fitted.get("command") if use_anatomy and priors is not None else None,
        "priors_model": priors.model if use_anatomy and priors is not None else None,
        "n_images": len(rows),
        "n_box_images_excluded": n_excluded,
        "n_cases": len(cases),
        "n_truth_boxes": int(cases["n_truth"].sum()) if len(cases) else 0,
        "evaluable_findings": evaluable,
        "not_evaluable_findings": {f: ("not reported by the model" if f not in target.reported
                                       else "no boxes in the data") for f in BOX_FINDINGS if f not in evaluable},
        "unvalidated_findings_scored": [f for f in evaluable if f not in validated],
        "thresholds": list(thresholds),
        "transform": target.transform.to_dict(),
    }
    return LocalizationEvaluation(cases, scores, pointing, protocol, examples)


def _run_cases(target: Any, dataset: Any, rows: list[int], truth: dict[int, dict[str, list[Box]]],
               evaluable: list[str], method: str, box_methods: Sequence[str], segmenter: Any, priors: Any,
               batch_size: int, n_examples: int, progress: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Heatmaps batch by batch, the cases of every image, and a few examples per finding for the overlay page."""
    use_anatomy = segmenter is not None
    records: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    per_finding_examples = max(1, n_examples // max(1, len(evaluable))) if n_examples else 0
    iterator = range(0, len(rows), batch_size)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=math.ceil(len(rows) / batch_size), unit="batch", desc="localization")
    for start in iterator:
        chunk = rows[start : start + batch_size]
        samples = [dataset[r] for r in chunk]
        wanted = sorted({f for r in chunk for f in truth[r]}, key=evaluable.index)
        expl = explain_batch(target, [s.image for s in samples], wanted, method, batch_size=batch_size)
        seg_masks = (segmenter.predict_batch([s.image.pixels for s in samples]) if use_anatomy
                     else [None] * len(samples))
        for r, s, e, mk in zip(chunk, samples, expl, seg_masks):
            image_id = str(dataset.meta["image_id"].iloc[r]) if "image_id" in dataset.meta else str(r)
            for rec in _image_cases(r, image_id, s.image.shape, e, truth[r], box_methods, mk, priors):
                f, gt = rec["finding"], rec["truth"]
                records.append(rec)
                if sum(1 for x in examples if x["finding"] == f) < per_finding_examples:
                    examples.append({"image_id": image_id, "finding": f, "pixels": s.image.pixels,
                                     "map": e.maps[f], "probability": e.probabilities[f], "truth": gt,
                                     "boxes": {bm: rec[bm] for bm in box_methods}})
    return records, examples


def _evaluable(reported: Sequence[str], dataset: Any, findings: Sequence[str] | None) -> list[str]:
    """Box findings the model reports, that have boxes in the data (and are among ``findings`` if given)."""
    in_data = set(dataset.boxes["finding"]) if len(dataset.boxes) else set()
    evaluable = [f for f in BOX_FINDINGS if f in reported and f in in_data]
    if findings is not None:
        from cxrkit.labels import canonical

        wanted = {canonical(f, strict=False) or f for f in findings}
        evaluable = [f for f in evaluable if f in wanted]
    return evaluable


def _anatomy_parts(classifier: Any, segmenter: Any, priors: Any) -> tuple[Any, Any]:
    """The segmenter and priors of the ``anatomy`` box method (shipped ones when not given)."""
    if segmenter is None:
        from cxrkit.anatomy.segment import load_segmenter

        segmenter = load_segmenter()
    if priors is None:
        from cxrkit.localize.priors import load_priors

        priors = load_priors(getattr(getattr(classifier, "card", None), "name", None))
    return segmenter, priors


def _scores(cases: pd.DataFrame, sources: list[str], findings: list[str], thresholds: Sequence[float]) -> pd.DataFrame:
    rows = []
    for src in sources:
        for f in findings + ["all"]:
            sub = cases if f == "all" else cases[cases["finding"] == f] if len(cases) else cases
            for measure in ("iobb", "iou"):
                for t in thresholds:
                    n = len(sub)
                    res = [case_result(p, g, t, measure) for p, g in zip(sub[src], sub["truth"])] if n else []
                    k = sum(c for c, _ in res)
                    lo, hi = wilson_interval(k, n)
                    rows.append({
                        "source": src, "finding": f, "measure": measure, "threshold": float(t), "n_cases": n,
                        "correct": k, "accuracy": k / n if n else math.nan, "ci_low": lo, "ci_high": hi,
                        "afp": float(np.mean([fp for _, fp in res])) if n else math.nan,
                    })
    return pd.DataFrame(rows)


def _pointing(cases: pd.DataFrame, findings: list[str]) -> pd.DataFrame:
    rows = []
    for f in findings + ["all"]:
        sub = cases if f == "all" else cases[cases["finding"] == f] if len(cases) else cases
        n = len(sub)
        k = int(sub["pointing"].sum()) if n else 0
        lo, hi = wilson_interval(k, n)
        rows.append({"finding": f, "n_cases": n, "hits": k, "accuracy": k / n if n else math.nan, "ci_low": lo,
                     "ci_high": hi, "control_accuracy": float(sub["control_pointing"].mean()) if n else math.nan})
    return pd.DataFrame(rows)
