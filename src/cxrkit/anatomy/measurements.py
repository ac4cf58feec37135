"""Typed measurements from :func:`cxrkit.anatomy.measure.measure`'s JSON-ready dict.

Every measurement name has one declared unit here (no guessing from key suffixes); descriptive fields (flags,
lines, view, definition...) are not measurements.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cxrkit.types import Measurement

__all__ = ["UNITS", "to_measurements"]

_AREAS = ("right_lung", "left_lung", "heart")  # cxrkit.anatomy.measure._RELEVANT

#: measurement name → unit, in the order :func:`cxrkit.anatomy.measure.measure` gives them.
UNITS: dict[str, str] = {
    "cardiothoracic_ratio": "ratio",
    "heart_width_px": "px",
    "thorax_width_px": "px",
    "heart_width_mm": "mm",
    "thorax_width_mm": "mm",
    **{f"{k}_area_px": "px2" for k in _AREAS},
    **{f"{k}_area_mm2": "mm2" for k in _AREAS},
}


def to_measurements(raw: Mapping[str, Any] | None) -> list[Measurement]:
    """``measure()``'s dict → :class:`~cxrkit.types.Measurement` list (None values kept as unmeasured).

    The CTR carries the anatomy flags; millimetre values are reliable only when the PixelSpacing fits the stored
    matrix (``mm_reliable``) and carry ``mm_flags``.
    """
    if raw is None:
        return []
    flags = tuple(str(f) for f in (raw.get("flags") or ()))
    reliable = bool(raw.get("reliable", not flags))
    mm_ok = reliable and bool(raw.get("mm_reliable", True))
    mm_flags = tuple(str(f) for f in (raw.get("mm_flags") or ()))
    out = []
    for key, value in raw.items():
        unit = UNITS.get(key)
        if unit is None:
            continue
        v = None if value is None or not np.isfinite(float(value)) else float(value)
        if unit in ("mm", "mm2"):
            out.append(Measurement(key, v, unit, mm_ok, mm_flags))
        else:
            out.append(Measurement(key, v, unit, reliable, flags if key == "cardiothoracic_ratio" else ()))
    return out
