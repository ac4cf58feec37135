"""The localization step of :func:`cxrkit.pipeline.analyze`: which positive findings get boxes, and the note a
reader sees for those that do not.

A finding gets a region only when its localization beat the control on held-out boxes
(:mod:`cxrkit.localize.validation`); anatomy-guided boxes were validated with the segmenter's masks, so none are
drawn without them. Arrays in, findings out; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from cxrkit.localize.boxes import boxes_from_heatmap
from cxrkit.localize.validation import localization_validated, validated_box_method
from cxrkit.types import Finding

__all__ = ["NOT_LOCALIZED", "MAX_BOXES_PER_FINDING", "boxes_for_findings", "location_notes", "box_method_for"]

NOT_LOCALIZED = frozenset({"No Finding"})  # whole-image outputs: no heatmap, no box
MAX_BOXES_PER_FINDING = 3


def box_method_for(model: str | None, default: str) -> str:
    """The box method a model's localization verdicts were measured with, else ``default``."""
    return validated_box_method(model) or default


def boxes_for_findings(findings: Sequence[Finding], maps: Mapping[str, np.ndarray],
                       masks: Mapping[str, np.ndarray] | None, model: str | None, box_method: str) -> list[Finding]:
    """Findings with boxes (at most :data:`MAX_BOXES_PER_FINDING`, best first) where localization is validated.

    Args:
        findings: the classifier's findings.
        maps: finding → heatmap ``(H, W)`` in [0, 1] at the image's resolution.
        masks: anatomy masks (structure → bool ``(H, W)``), or None/empty when the segmenter did not run.
        model: the classifier's card name (the validation verdicts are per model).
        box_method: :func:`cxrkit.localize.boxes_from_heatmap` method.
    """
    out = []
    for f in findings:
        if f.name in maps and localization_validated(model, f.name) and (box_method != "anatomy" or masks):
            opts = {"masks": dict(masks or {}) or None, "finding": f.name, "model": model} \
                if box_method == "anatomy" else {}
            boxes = boxes_from_heatmap(maps[f.name], method=box_method, label=f.name, **opts)
            boxes = sorted(boxes, key=lambda b: -(b.score or 0.0))[:MAX_BOXES_PER_FINDING]
            f = replace(f, boxes=tuple(boxes))
        out.append(f)
    return out


def location_notes(findings: Sequence[Finding], masks: Mapping[str, np.ndarray] | None, model: str | None,
                   localize: bool) -> dict[str, str]:
    """Positive findings shown without a region: localization not validated (issue 10.6), or validated anatomy
    boxes that cannot be placed without the lung segmentation."""
    notes = {}
    for f in findings:
        if not f.positive or f.name in NOT_LOCALIZED or f.boxes:
            continue
        if not localization_validated(model, f.name):
            notes[f.name] = "location not validated"
        elif localize and not masks and validated_box_method(model) == "anatomy":
            notes[f.name] = "location not shown: no lung segmentation"
    return notes
