"""Anatomy: lung / heart / clavicle segmentation and the measurements built on it.

* :func:`cxrkit.anatomy.segment.load_segmenter` — the shipped compact U-Net (ONNX Runtime, CPU).
* :func:`cxrkit.anatomy.measure.measure` — cardiothoracic ratio, widths (px, mm), areas, reliability flags.
* :func:`cxrkit.anatomy.analyze.analyze_anatomy` — both in one call on a :class:`cxrkit.types.Image`.
* :func:`cxrkit.anatomy.overlay.draw_overlay` — masks and width lines drawn on the radiograph.

Mask names use the PATIENT's side: on a frontal film the patient's right lung is on the image left.
Outputs are measurements for review, not a diagnosis.
"""

from __future__ import annotations

from cxrkit.anatomy.structures import STRUCTURES

__all__ = ["STRUCTURES", "load_segmenter", "measure", "analyze_anatomy", "draw_overlay"]


def __getattr__(name: str):  # lazy: keep `import cxrkit.anatomy` light (no torch / onnxruntime import)
    if name == "load_segmenter":
        from cxrkit.anatomy.segment import load_segmenter

        return load_segmenter
    if name == "measure":
        from cxrkit.anatomy.measure import measure

        return measure
    if name == "analyze_anatomy":
        from cxrkit.anatomy.analyze import analyze_anatomy

        return analyze_anatomy
    if name == "draw_overlay":
        from cxrkit.anatomy.overlay import draw_overlay

        return draw_overlay
    raise AttributeError(f"module 'cxrkit.anatomy' has no attribute {name!r}")
