"""Measurements from anatomy masks: the cardiothoracic ratio, widths, areas, and reliability flags.

Definition used here (the usual automated one, e.g. CheXmask, CXR-CTR literature)::

    CTR = widest horizontal extent of the heart mask
          / widest horizontal extent of the two lung masks together

Both extents are horizontal bounding widths over the whole mask (rightmost minus leftmost column + 1), measured
in image columns; they need not lie on the same row. The thoracic width is therefore the lungs' outer
(pleural) width, slightly smaller than the inner rib-to-rib diameter a radiologist measures by hand, which makes
automated CTRs a little larger than manual ones (by about 0.01-0.02 on SCR).

Caveats, also reported as flags:

* the 0.5 cardiomegaly threshold holds for an adult PA film at full inspiration; AP (supine/bedside) films
  magnify the heart (it is further from the detector), so an AP CTR reads high (``ap_view_magnifies_heart``);
* poor inspiration, patient rotation, pectus and large effusions change the ratio without heart disease;
* infants and small children normally have CTR up to ~0.6 (``pediatric``);
* lateral films have no CTR (``lateral_view``); a lung cut off by the field of view makes the thorax too
  narrow (``lung_cut_off``); masks the model is unsure of (``low_confidence``) or anatomy in implausible
  places (flipped/rotated/inverted image, ``implausible_anatomy``) make the ratio meaningless.

``reliable`` is True only when a CTR was computed and none of those flags is raised.

Millimetre values need a PixelSpacing that belongs to the stored matrix. Archives that downscaled their images
kept the original spacing (SIIM/RSNA: 0.168 mm on 1024 px, a 172 mm field), so the stored field of view is
checked: its larger side must lie within :data:`FIELD_MM` (adults / age unknown; from 80 mm for children).
Otherwise ``mm_reliable`` is False and ``mm_flags`` holds ``pixel_spacing_implausible``; the ratio, which does not
depend on the spacing, keeps its own flags.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cxrkit.anatomy.postprocess import side_consistency
from cxrkit.errors import InvalidImageError
from cxrkit.views import is_ap, is_lateral

__all__ = ["measure", "horizontal_extent", "FLAG_DESCRIPTIONS", "DEFINITION", "FIELD_MM",
           "spacing_plausible"]

FIELD_MM = (200.0, 600.0)  # larger side of a chest film's stored field, adults (detectors are 24-43 cm)
FIELD_MM_CHILD = (80.0, 600.0)

DEFINITION = (
    "cardiothoracic ratio = widest horizontal extent of the heart mask / widest horizontal extent of both "
    "lung masks together (image columns); 0.5 is the usual upper limit of normal on an adult PA film at "
    "full inspiration"
)


FLAG_DESCRIPTIONS: dict[str, str] = {
    "lateral_view": "lateral film: no cardiothoracic ratio",
    "ap_view_magnifies_heart": "AP film: the heart is magnified, the CTR reads high; the 0.5 limit is for PA",
    "pediatric": "child: normal CTR is higher (up to ~0.6 in infants)",
    "lung_cut_off": "a lung touches the image border: the thorax may be cut off and its width too small",
    "missing_structure": "a lung or the heart was not found",
    "low_confidence": "the model is unsure of the lung or heart outline",
    "implausible_anatomy": "lungs/heart in implausible places (flipped, rotated, inverted or non-chest image)",
}

_RELEVANT = ("right_lung", "left_lung", "heart")


def horizontal_extent(mask: np.ndarray) -> dict[str, int] | None:
    """Horizontal extent of a boolean ``(H, W)`` mask, or None when empty.

    Returns
    -------
    dict
        ``col_min``, ``col_max`` (inclusive column indices), ``width_px`` (= col_max - col_min + 1),
        ``row`` (the row at which to draw the width: midway between the rows holding the two extremes),
        ``row_min``/``row_max`` (the mask's vertical extent).
    """
    mask = np.asarray(mask, dtype=bool)
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    cmin, cmax = int(cols[0]), int(cols[-1])
    r_at_min = np.flatnonzero(mask[:, cmin]).mean()
    r_at_max = np.flatnonzero(mask[:, cmax]).mean()
    return {
        "col_min": cmin,
        "col_max": cmax,
        "width_px": cmax - cmin + 1,
        "row": int(round((r_at_min + r_at_max) / 2)),
        "row_min": int(rows[0]),
        "row_max": int(rows[-1]),
    }


def _spacing(pixel_spacing_mm: float | tuple[float, float] | None) -> tuple[float, float] | None:
    if pixel_spacing_mm is None:
        return None
    if isinstance(pixel_spacing_mm, (int, float)):
        sp = (float(pixel_spacing_mm), float(pixel_spacing_mm))
    else:
        vals = tuple(float(v) for v in pixel_spacing_mm)
        if len(vals) != 2:
            raise InvalidImageError(f"pixel_spacing_mm must be a number or (row, col) pair, got {pixel_spacing_mm!r}")
        sp = (vals[0], vals[1])
    if not all(np.isfinite(v) and v > 0 for v in sp):
        return None
    return sp


def spacing_plausible(shape: tuple[int, int], spacing: tuple[float, float], age_years: float | None = None
                      ) -> tuple[bool, str]:
    """Whether ``spacing`` (row, col mm) can belong to a chest film stored as ``shape`` (rows, columns): the larger
    side of the field must lie within :data:`FIELD_MM` (:data:`FIELD_MM_CHILD` under 18). Returns
    ``(plausible, explanation)``."""
    field = (shape[0] * spacing[0], shape[1] * spacing[1])
    lo, hi = FIELD_MM_CHILD if age_years is not None and age_years < 18 else FIELD_MM
    if lo <= max(field) <= hi:
        return True, ""
    return False, (f"PixelSpacing {spacing[0]:g} x {spacing[1]:g} mm on a {shape[0]} x {shape[1]} matrix gives a "
                   f"{field[0]:.0f} x {field[1]:.0f} mm field, outside {lo:.0f}-{hi:.0f} mm for a chest film: the "
                   "image was probably resized after the spacing was set; millimetre values are unreliable")


def _touches_border(mask: np.ndarray, margin: int) -> bool:
    if not mask.any():
        return False
    h, w = mask.shape
    m = max(1, margin)
    return bool(mask[:, :m].any() or mask[:, w - m :].any() or mask[h - m :, :].any() or mask[:m, :].any())


def _mean_index(counts: np.ndarray) -> float:
    """Mean index of the pixels counted per position (``counts``), as ``np.nonzero(...)[k].mean()`` gives it."""
    return int(counts @ np.arange(counts.size)) / int(counts.sum())


def _implausible(masks: dict[str, np.ndarray], ctr: float | None) -> list[str]:
    reasons = []
    rl, ll, heart = (masks[k] for k in _RELEVANT)
    consistent = side_consistency(masks)
    if consistent is False:
        reasons.append("right lung is on the image right (flipped image?)")
    if rl.any() and ll.any():
        ratio = ll.sum() / rl.sum()
        if not 0.4 <= ratio <= 1.8:
            reasons.append(f"left/right lung area ratio {ratio:.2f} outside 0.4-1.8")
        # row/column counts instead of np.nonzero: the same extremes, and the same means (exact integer
        # sums of indices divided by the count)
        lung = rl | ll
        lung_row_n, lung_col_n = np.count_nonzero(lung, axis=1), np.count_nonzero(lung, axis=0)
        lr, lc = np.flatnonzero(lung_row_n), np.flatnonzero(lung_col_n)
        lung_row_min, lung_row_max, lung_col_min, lung_col_max = lr[0], lr[-1], lc[0], lc[-1]
        if heart.any():
            heart_mean_row, heart_mean_col = _mean_index(np.count_nonzero(heart, axis=1)), _mean_index(
                np.count_nonzero(heart, axis=0))
            if not lung_col_min < heart_mean_col < lung_col_max:
                reasons.append("heart is not between the lungs")
            if heart_mean_row < _mean_index(lung_row_n):
                reasons.append("heart is above the middle of the lungs (upside-down or rotated image?)")
            # heart centroid vs thorax midline, in thorax widths: +0.075 median, >= -0.003 on all 197 SCR
            # expert masks; about -0.07 on a mirrored film
            offset = (heart_mean_col - (lung_col_min + lung_col_max) / 2) / max(lung_col_max - lung_col_min, 1)
            if offset < -0.03:
                reasons.append("heart lies mostly on the patient's right (mirrored image or dextrocardia?)")
        h = masks["heart"].shape[0]
        if (lung_row_max - lung_row_min) < 0.25 * h:
            reasons.append("lungs span less than a quarter of the image height")
    if ctr is not None and not 0.25 <= ctr <= 0.85:
        reasons.append(f"CTR {ctr:.2f} outside the physiological range 0.25-0.85")
    return reasons


def _checked_masks(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Boolean copies of the masks; the required ones present and all of one 2-D shape."""
    missing = [k for k in _RELEVANT if k not in masks]
    if missing:
        raise InvalidImageError(f"measure() needs masks {list(_RELEVANT)}; missing {missing}")
    arrs = {k: np.asarray(v, dtype=bool) for k, v in masks.items()}
    shapes = {a.shape for a in arrs.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise InvalidImageError(f"masks must be 2-D and share one shape, got {sorted(shapes)}")
    return arrs


def _other_flags(arrs: dict[str, np.ndarray], lungs: np.ndarray, ctr: float | None, view_norm: str | None,
                 lateral: bool, age_years: float | None, confidence: dict[str, float] | None,
                 min_confidence: float) -> dict[str, str]:
    """AP view, pediatric, cut-off lungs, low confidence and implausible anatomy flags."""
    flags: dict[str, str] = {}
    h, w = lungs.shape
    if is_ap(view_norm):
        flags["ap_view_magnifies_heart"] = FLAG_DESCRIPTIONS["ap_view_magnifies_heart"]
    if age_years is not None and age_years < 18:
        flags["pediatric"] = FLAG_DESCRIPTIONS["pediatric"]
    if _touches_border(lungs, margin=round(0.005 * max(h, w))):
        flags["lung_cut_off"] = FLAG_DESCRIPTIONS["lung_cut_off"]
    if confidence is not None:
        low = [k for k in _RELEVANT if k in confidence and confidence[k] < min_confidence]
        if low:
            flags["low_confidence"] = FLAG_DESCRIPTIONS["low_confidence"] + f" ({', '.join(low)})"
    if not lateral:
        reasons = _implausible(arrs, ctr)
        if reasons:
            flags["implausible_anatomy"] = FLAG_DESCRIPTIONS["implausible_anatomy"] + ": " + "; ".join(reasons)
    return flags


def _widths_and_areas(arrs: dict[str, np.ndarray], heart_ext: dict[str, int] | None,
                      thorax_ext: dict[str, int] | None, lateral: bool,
                      sp: tuple[float, float] | None) -> dict[str, Any]:
    """Heart and thorax widths (px, mm), their drawing lines, and the structures' areas (px, mm²)."""
    col_mm = sp[1] if sp else None
    area_mm2 = sp[0] * sp[1] if sp else None

    def mm(px: int | None) -> float | None:
        return round(px * col_mm, 2) if (px is not None and col_mm is not None) else None

    heart_w = heart_ext["width_px"] if heart_ext and not lateral else None
    thorax_w = thorax_ext["width_px"] if thorax_ext and not lateral else None
    line = ("row", "col_min", "col_max")
    out: dict[str, Any] = {
        "heart_width_px": heart_w,
        "thorax_width_px": thorax_w,
        "heart_width_mm": mm(heart_w),
        "thorax_width_mm": mm(thorax_w),
        "heart_line": None if (lateral or heart_ext is None) else {k: heart_ext[k] for k in line},
        "thorax_line": None if (lateral or thorax_ext is None) else {k: thorax_ext[k] for k in line},
    }
    for k in _RELEVANT:
        px = int(arrs[k].sum())
        out[f"{k}_area_px"] = px
        out[f"{k}_area_mm2"] = round(px * area_mm2, 1) if area_mm2 is not None else None
    return out


def _mm_reliability(shape: tuple[int, int], sp: tuple[float, float] | None, age_years: float | None
                    ) -> dict[str, Any]:
    """Whether millimetre values can be trusted: the pixel spacing fits a chest of this size and age."""
    mm_ok, why = spacing_plausible(shape, sp, age_years) if sp else (True, "")
    return {"mm_reliable": mm_ok, "mm_flags": [] if mm_ok else ["pixel_spacing_implausible"],
            "mm_flag_details": {} if mm_ok else {"pixel_spacing_implausible": why}}


def measure(
    masks: dict[str, np.ndarray],
    pixel_spacing_mm: float | tuple[float, float] | None = None,
    view: str | None = None,
    *,
    confidence: dict[str, float] | None = None,
    age_years: float | None = None,
    min_confidence: float = 0.85,
) -> dict[str, Any]:
    """Cardiothoracic ratio, widths, areas and reliability flags from the five anatomy masks.

    Parameters
    ----------
    masks:
        ``right_lung``, ``left_lung``, ``heart`` (required) and optionally the clavicles: boolean ``(H, W)``
        arrays of one image, all the same shape, PATIENT sides (see :mod:`cxrkit.anatomy.postprocess`).
    pixel_spacing_mm:
        ``(row, col)`` spacing in millimetres (or one number for square pixels); None when unknown, which
        leaves every ``*_mm`` / ``*_mm2`` field None (the CTR, a ratio, is still given).
    view:
        "PA", "AP", "AP SUPINE", "LATERAL"/"LL"/"RL" ... or None when unknown (treated as frontal).
    confidence:
        structure -> confidence in [0, 1] (e.g. :meth:`cxrkit.anatomy.segment.Segmenter.segment`'s); lungs or
        heart below ``min_confidence`` raise ``low_confidence``.
    age_years:
        patient age when known; under 18 raises ``pediatric``.

    Returns
    -------
    dict
        JSON-ready: ``cardiothoracic_ratio`` (float or None), ``heart_width_px``, ``thorax_width_px``,
        ``heart_width_mm``, ``thorax_width_mm``, ``heart_line`` / ``thorax_line`` (row, col_min, col_max for
        drawing), ``{right_lung,left_lung,heart}_area_px`` and ``_area_mm2``, ``flags`` (sorted names),
        ``flag_details`` (name -> explanation), ``reliable`` (bool), ``view``, ``pixel_spacing_mm``,
        ``definition``.

    Raises
    ------
    InvalidImageError
        a required mask is missing or the masks differ in shape.

    Examples
    --------
    >>> import numpy as np
    >>> m = {k: np.zeros((300, 300), bool) for k in ("right_lung", "left_lung", "heart")}
    >>> m["right_lung"][50:250, 50:140] = True; m["left_lung"][50:250, 160:250] = True
    >>> m["heart"][150:230, 100:200] = True
    >>> measure(m)["cardiothoracic_ratio"]
    0.5
    """
    arrs = _checked_masks(masks)
    h, w = next(iter(arrs.values())).shape
    sp = _spacing(pixel_spacing_mm)
    view_norm = view.strip().upper() if isinstance(view, str) and view.strip() else None
    flags: dict[str, str] = {}
    lungs = arrs["right_lung"] | arrs["left_lung"]
    heart_ext = horizontal_extent(arrs["heart"])
    thorax_ext = horizontal_extent(lungs)
    lateral = is_lateral(view_norm)
    ctr = None
    if lateral:
        flags["lateral_view"] = FLAG_DESCRIPTIONS["lateral_view"]
    elif heart_ext is None or thorax_ext is None or not arrs["right_lung"].any() or not arrs["left_lung"].any():
        flags["missing_structure"] = FLAG_DESCRIPTIONS["missing_structure"]
    else:
        ctr = round(heart_ext["width_px"] / thorax_ext["width_px"], 4)
    flags.update(_other_flags(arrs, lungs, ctr, view_norm, lateral, age_years, confidence, min_confidence))
    out: dict[str, Any] = {"cardiothoracic_ratio": ctr,
                           **_widths_and_areas(arrs, heart_ext, thorax_ext, lateral, sp)}
    out["flags"] = sorted(flags)
    out["flag_details"] = dict(sorted(flags.items()))
    out["reliable"] = ctr is not None and not flags
    out.update(_mm_reliability((h, w), sp, age_years))
    out["view"] = view_norm
    out["pixel_spacing_mm"] = list(sp) if sp else None
    out["image_size"] = [int(h), int(w)]
    out["definition"] = DEFINITION
    return out
