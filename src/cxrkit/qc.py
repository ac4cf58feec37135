"""Input quality check: is this a frontal (adult) chest radiograph the models may be run on?

:func:`check_quality` combines

* **DICOM metadata**: modality (CR/DX/DR only), body part (chest), view position (lateral views refused,
  AP views flagged), patient age (pediatric flagged);
* **geometry**: aspect ratio and size;
* **intensity**: a nearly uniform or nearly binary image is not a radiograph, nor is one without spatial
  structure (noise: neighbouring pixels uncorrelated);
* **view** (learned, :mod:`cxrkit.qc_view`): a small logistic model on thumbnail, symmetry, histogram and
  gradient features gives p(lateral or not a chest film); ``p >= t_refuse`` refuses, ``t_flag <= p <
  t_refuse`` is a warning ("possibly lateral") and the image is still analysed; thresholds, training data and
  held-out error rates are in the model card (``qc_weights/view_model.json``) and ``docs/delivery.md``
  (``benchmarks/qc_eval.py``). The three hand-tuned layout cues (left-right symmetry, side-to-side imbalance,
  dark fraction) are reported in ``checks["frontal_layout"]`` and are features of the model; they no longer
  refuse or warn on their own;
* **lungs** (when a segmenter ran): lung fields of plausible total size on the expected sides (one missing
  lung field is a warning only: white-outs and large effusions must still be read).

Arrays in, a :class:`cxrkit.result.Quality` out; nothing here opens files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import numpy as np
from PIL import Image as PILImage

from cxrkit.qc_view import default_view_model, view_features
from cxrkit.result import Quality
from cxrkit.types import Image, ImageMeta
from cxrkit.views import is_ap, is_frontal, is_lateral

__all__ = ["check_quality", "waive_refusal", "layout_features", "neighbor_correlation", "age_in_years", "RADIOGRAPH_MODALITIES"]

log = logging.getLogger(__name__)

RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR", "RG"})
_CHEST_PARTS = ("CHEST", "THORAX", "LUNG", "TORAX", "THORAX_", "PECHO")
# layout thresholds (chosen on covid-ieee8023 frontal/lateral images, see docs/delivery.md)
NEIGHBOR_CORRELATION_MIN = 0.5  # real radiographs: >= 0.81 on 600 NIH/covid-ieee8023 images; noise ~0
SYMMETRY_MIN = 0.45
IMBALANCE_MAX = 0.12
DARK_FRACTION_MAX = 0.10
# std < 0.03 refuses as "nearly uniform" only when 98 % of pixels also lie within this spread: six real JSRT
# films stored with squeezed contrast (std 0.012-0.016, spread 0.06) show the whole chest once stretched
LOW_CONTRAST_SPREAD_MIN = 0.02
ASPECT_RANGE_OK = (0.75, 1.35)  # rows / columns giving no warning
ASPECT_RANGE_USABLE = (0.5, 2.0)
MIN_SIDE_PX = 64
LUNG_TOTAL_RANGE = (0.05, 0.70)  # both lungs together, fraction of the image
LUNG_MAX_EACH = 0.45
LUNG_MIN_EACH = 0.01  # below: warning only (white-out, effusion, pneumonectomy)
# a warning only: refusing on it dropped 4 % of covid-hannover's frontal ICU films (docs/delivery.md)
HEART_MIN_FRACTION = 0.02  # of the image; covid-ieee8023 laterals: median 1.2 %
SEG_CONFIDENCE_MIN = 0.75  # minimum of lungs/heart confidence; covid-ieee8023 laterals: median 0.62


def _check(passed: bool | None, value, detail: str) -> dict:
    return {"passed": passed, "value": value, "detail": detail}


def layout_features(pixels: np.ndarray) -> dict[str, float]:
    """Layout cues of a radiograph, computed on a 64 x 64 min-max normalized thumbnail.

    Parameters
    ----------
    pixels:
        float32 ``(H, W)`` in [0, 1], dark lungs.

    Returns
    -------
    dict with ``symmetry`` (Pearson correlation of the thumbnail with its left-right mirror, in [-1, 1];
    frontal films ~0.7), ``imbalance`` (absolute difference of mean brightness between the left and right
    outer column bands of the middle rows, in [0, 1]) and ``dark_fraction`` (fraction of thumbnail pixels
    below 0.1).
    """
    a = np.asarray(pixels, dtype=np.float32)
    thumb = np.asarray(PILImage.fromarray(a, mode="F").resize((64, 64), PILImage.Resampling.BILINEAR), dtype=np.float32)
    lo, hi = float(thumb.min()), float(thumb.max())
    thumb = (thumb - lo) / max(hi - lo, 1e-6)
    mirror = thumb[:, ::-1]
    if thumb.std() < 1e-6:
        sym = 1.0
    else:
        sym = float(np.corrcoef(thumb.ravel(), mirror.ravel())[0, 1])
    profile = thumb[13:51].mean(axis=0)
    imbalance = float(abs(profile[4:20].mean() - profile[44:60].mean()))
    dark = float((thumb < 0.1).mean())
    return {"symmetry": round(sym, 4), "imbalance": round(imbalance, 4), "dark_fraction": round(dark, 4)}


def neighbor_correlation(pixels: np.ndarray) -> float:
    """Pearson correlation of horizontally adjacent pixels of a 128 x 128 box-filtered thumbnail, in [-1, 1].

    Radiographs are smooth at that scale (>= 0.81 on 600 real NIH and covid-ieee8023 images); noise gives ~0.
    """
    a = np.asarray(pixels, dtype=np.float32)
    t = np.asarray(PILImage.fromarray(a, mode="F").resize((128, 128), PILImage.Resampling.BOX), dtype=np.float32)
    left, right = t[:, :-1].ravel(), t[:, 1:].ravel()
    if left.std() < 1e-6 or right.std() < 1e-6:
        return 1.0
    return float(np.corrcoef(left, right)[0, 1])


def age_in_years(age: str | None) -> float | None:
    """DICOM AS value ("045Y", "006M", "010W", "003D") or a plain number of years ("45", "45.5") in years,
    or None when absent or unparseable."""
    if age is None or not str(age).strip():
        return None
    m = re.fullmatch(r"\s*(\d{1,3}(?:\.\d+)?)\s*([DWMY]?)\s*", str(age).upper())
    if not m:
        return None
    n, unit = float(m.group(1)), m.group(2) or "Y"
    return n / {"D": 365.25, "W": 52.18, "M": 12.0, "Y": 1.0}[unit]


def check_quality(
    image: Image,
    masks: Mapping[str, np.ndarray] | None = None,
    confidence: Mapping[str, float] | None = None,
) -> Quality:
    """Decide whether ``image`` is a usable frontal chest radiograph.

    Parameters
    ----------
    image:
        the radiograph (pixels float32 ``(H, W)`` in [0, 1]) with its metadata.
    masks:
        optional segmenter output, structure name → bool ``(H, W)``; ``left_lung`` and ``right_lung`` are
        used (patient's left lung appears on the image's right on a frontal film), and ``heart``.
    confidence:
        optional segmenter confidence per structure in [0, 1] (``Segmentation.confidence``).

    Returns
    -------
    Quality
        ``usable`` False with ``reasons`` for CT/MR/other modalities, non-chest body parts, lateral views,
        degenerate images, extreme aspect ratios and images without plausible lung fields; ``warnings``
        for usable images with caveats.
    """
    reasons: list[str] = []
    warnings: list[str] = []
    checks: dict[str, dict] = {}
    _tag_checks(image.meta, checks, reasons, warnings)
    _geometry_checks(image.shape, checks, reasons, warnings)
    _pixel_checks(np.asarray(image.pixels, dtype=np.float32), checks, reasons, warnings)
    _lung_checks(masks, confidence, checks, reasons, warnings)

    quality = Quality(usable=not reasons, reasons=tuple(reasons), warnings=tuple(warnings), checks=checks)
    if not quality.usable:
        log.info("quality check: not usable: %s", "; ".join(reasons))
    return quality


def _tag_checks(meta: ImageMeta, checks: dict, reasons: list[str], warnings: list[str]) -> None:
    """Modality, body part, view position and age from the file's tags."""
    modality = (meta.modality or "").strip().upper() or None
    if modality is None:
        checks["modality"] = _check(None, None, "no modality tag (not a DICOM file)")
    elif modality in RADIOGRAPH_MODALITIES:
        checks["modality"] = _check(True, modality, "projection radiograph")
    else:
        checks["modality"] = _check(False, modality, f"modality {modality} is not a projection radiograph (CR/DX)")
        reasons.append(f"modality {modality} is not a chest radiograph (expected CR or DX)")

    part = (meta.body_part or "").strip().upper() or None
    if part is None:
        checks["body_part"] = _check(None, None, "body part not stated")
    elif any(p in part for p in _CHEST_PARTS):
        checks["body_part"] = _check(True, part, "chest")
    else:
        checks["body_part"] = _check(False, part, f"body part {part} is not the chest")
        reasons.append(f"body part examined is {part}, not the chest")

    view = (meta.view or "").strip().upper() or None
    if view is None:
        checks["view"] = _check(None, None, "view position not stated")
    elif is_lateral(view):
        checks["view"] = _check(False, view, "lateral view")
        reasons.append(f"lateral view ({view}); the models are validated on frontal (PA/AP) views only")
    elif is_frontal(view):
        checks["view"] = _check(True, view, "frontal view")
        if is_ap(view):
            warnings.append("AP view: the heart looks larger than on PA films; read the cardiothoracic ratio with care")
    else:
        checks["view"] = _check(None, view, f"unrecognized view position {view}")
        warnings.append(f"unrecognized view position {view!r}")

    age = age_in_years(meta.dicom.get("PatientAge") if meta.dicom else None)
    if age is not None:
        adult = age >= 18
        checks["adult"] = _check(adult, round(age, 1), "patient age in years")
        if not adult:
            warnings.append(f"pediatric patient ({age:.0f} years): the models were validated on adults")


def _geometry_checks(shape: tuple[int, int], checks: dict, reasons: list[str], warnings: list[str]) -> None:
    """Aspect ratio and size."""
    rows, cols = shape
    aspect = rows / cols if cols else float("inf")
    lo_ok, hi_ok = ASPECT_RANGE_OK
    lo_use, hi_use = ASPECT_RANGE_USABLE
    if not lo_use <= aspect <= hi_use:
        checks["aspect_ratio"] = _check(False, round(aspect, 3), "rows / columns far outside a chest film's")
        reasons.append(f"aspect ratio {aspect:.2f} (rows/columns) is implausible for a chest radiograph")
    else:
        checks["aspect_ratio"] = _check(True, round(aspect, 3), "rows / columns")
        if not lo_ok <= aspect <= hi_ok:
            warnings.append(f"unusual aspect ratio {aspect:.2f} (rows/columns); is the image cropped?")
    if min(rows, cols) < MIN_SIDE_PX:
        checks["size"] = _check(False, [rows, cols], f"smaller than {MIN_SIDE_PX} px")
        reasons.append(f"image is too small ({rows} x {cols} px; at least {MIN_SIDE_PX} px per side needed)")
    else:
        checks["size"] = _check(True, [rows, cols], "rows, columns")


def _pixel_checks(px: np.ndarray, checks: dict, reasons: list[str], warnings: list[str]) -> None:
    """Intensity histogram, spatial structure, layout cues and the learned view check."""
    std = float(px.std())
    extremes = float(((px < 0.02) | (px > 0.98)).mean())
    p1, p99 = (float(v) for v in np.percentile(px, (1.0, 99.0)))
    if std < 0.03 and p99 - p1 < LOW_CONTRAST_SPREAD_MIN:
        checks["intensity"] = _check(False, round(std, 4), "standard deviation of pixel values")
        reasons.append("image is nearly uniform (no anatomy visible)")
    elif extremes > 0.9:
        checks["intensity"] = _check(False, round(extremes, 4), "fraction of pixels at black or white")
        reasons.append("image is nearly binary (black/white only), not a radiograph")
    else:
        checks["intensity"] = _check(True, {"std": round(std, 4), "extremes": round(extremes, 4)}, "plausible histogram")
        if std < 0.03:  # real films stored with squeezed contrast (6 JSRT copies): read, with a warning
            warnings.append(f"very low contrast (pixel standard deviation {std:.3f}); check the windowing")

    if checks["intensity"]["passed"]:
        smooth = neighbor_correlation(px)
        checks["structure"] = _check(smooth >= NEIGHBOR_CORRELATION_MIN, round(smooth, 4),
                                     "correlation of neighbouring pixels on a 128 px thumbnail")
        if smooth < NEIGHBOR_CORRELATION_MIN:
            reasons.append("image looks like noise, not a radiograph (no spatial structure)")
        lay = layout_features(px)
        cues = [lay["symmetry"] < SYMMETRY_MIN, lay["imbalance"] > IMBALANCE_MAX, lay["dark_fraction"] > DARK_FRACTION_MAX]
        n = int(sum(cues))
        # informational only: these hand-tuned cues refused 12 of 803 sick frontal films (issue 10); they are
        # features of the learned view check below, which decides
        checks["frontal_layout"] = _check(n < 3, lay, f"{n} of 3 layout cues atypical for a frontal chest film "
                                          "(informational; the learned view check decides)")
        _view_check(px, checks, reasons, warnings)


def _lung_checks(masks: Mapping[str, np.ndarray] | None, confidence: Mapping[str, float] | None, checks: dict,
                 reasons: list[str], warnings: list[str]) -> None:
    """Plausible lung fields and a heart shadow in the segmenter's masks."""
    if masks is not None and {"left_lung", "right_lung"} <= set(masks):
        ok, value, why, warning = _lungs_plausible(masks["left_lung"], masks["right_lung"])
        checks["lungs"] = _check(ok, value, why)
        if not ok:
            reasons.append(f"the lung segmentation does not show plausible lung fields ({why})")
        if warning:
            warnings.append(warning)
        if ok and "heart" in masks:
            heart = float(np.asarray(masks["heart"], dtype=bool).mean())
            conf = min((float(confidence[k]) for k in ("left_lung", "right_lung", "heart") if confidence and k in confidence),
                       default=None)
            anatomy_cues = {"heart_area_fraction": round(heart, 4),
                            "min_confidence": None if conf is None else round(conf, 3)}
            atypical = heart < HEART_MIN_FRACTION and (conf is None or conf < SEG_CONFIDENCE_MIN)
            checks["frontal_anatomy"] = _check(not atypical, anatomy_cues, "heart found and segmentation confident")
            if atypical:  # a warning only: sick frontal films (ICU, diffuse opacities) also lose the heart
                warnings.append("the segmentation finds no clear heart shadow (low confidence); check the view")
    else:
        checks["lungs"] = _check(None, None, "no lung segmentation available")


def _view_check(px: np.ndarray, checks: dict, reasons: list[str], warnings: list[str]) -> None:
    """The learned frontal-vs-lateral/not-chest check (:mod:`cxrkit.qc_view`): refuse at ``p >= t_refuse``,
    flag at ``t_flag <= p < t_refuse`` (still analysed)."""
    model = default_view_model()
    if model is None:
        checks["frontal_view"] = _check(None, None, "learned view check unavailable (model missing or corrupt)")
        return
    card = model.card
    if card is None:
        checks["frontal_view"] = _check(None, None, "learned view check unavailable (model without its card)")
        return
    p = float(model.predict_proba(view_features(px))[0])
    value = {"p_not_frontal": round(p, 4), "t_flag": card.t_flag, "t_refuse": card.t_refuse, "model": card.version}
    if p >= card.t_refuse:
        checks["frontal_view"] = _check(False, value, "learned view check: clearly not a frontal chest film")
        reasons.append(f"image looks like a lateral view or not a frontal chest radiograph (learned view check: "
                       f"p = {p:.3f} >= {card.t_refuse:.3f}; use --no-qc to analyze anyway)")
    elif p >= card.t_flag:
        checks["frontal_view"] = _check(None, value, "learned view check: uncertain, flagged")
        warnings.append(f"possibly a lateral view or not a frontal chest radiograph (learned view check: p = {p:.3f}); "
                        "analysed anyway, check the view")
    else:
        checks["frontal_view"] = _check(True, value, "learned view check: frontal chest film")


def waive_refusal(quality: Quality) -> Quality:
    """The same check with its refusals waived (``analyze --no-qc``): ``usable`` True, each reason kept as a
    warning prefixed "QC skipped", and a ``qc_skipped`` check recording what the check would have decided."""
    waived = tuple(f"QC skipped (--no-qc); it would have refused: {r}" for r in quality.reasons)
    checks = {**quality.checks, "qc_skipped": _check(None, {"would_refuse": not quality.usable},
                                                        "quality check refusals not applied (--no-qc)")}
    return Quality(usable=True, reasons=(), warnings=waived + tuple(quality.warnings), checks=checks)


def _mean_col(mask: np.ndarray) -> float:
    """Mean column of a non-empty mask's pixels: the float ``np.nonzero(mask)[1].mean()`` gives (exact integer
    sum of the indices / count), without building the index arrays."""
    counts = np.count_nonzero(mask, axis=0)
    return int(counts @ np.arange(counts.size)) / int(counts.sum())


def _lungs_plausible(left: np.ndarray, right: np.ndarray) -> tuple[bool, dict, str, str | None]:
    """Lung fields of plausible total size on the expected sides.

    Returns ``(passed, values, detail, warning)``. A single missing or very small lung field is only a
    warning: a white-out, a large effusion or a pneumonectomy removes one, and those films must still be read.
    """
    left = np.asarray(left, dtype=bool)
    right = np.asarray(right, dtype=bool)
    total = float(left.size)
    a_left, a_right = left.sum() / total, right.sum() / total
    value = {"left_area_fraction": round(float(a_left), 4), "right_area_fraction": round(float(a_right), 4)}
    lo, hi = LUNG_TOTAL_RANGE
    if not lo <= a_left + a_right <= hi:
        return False, value, (f"lung fields cover {a_left + a_right:.1%} of the image, expected {lo:.0%}-{hi:.0%}"), None
    if max(a_left, a_right) > LUNG_MAX_EACH:
        return False, value, f"one lung field covers {max(a_left, a_right):.0%} of the image", None
    if min(a_left, a_right) < LUNG_MIN_EACH:
        side = "left" if a_left < a_right else "right"
        return True, value, "one lung field missing or very small", (
            f"the {side} lung field is missing or very small on the segmentation "
            "(white-out, large effusion, pneumonectomy, or not a frontal film?)")
    cols = left.shape[1]
    c_left = _mean_col(left) / cols
    c_right = _mean_col(right) / cols
    value.update(left_centroid_x=round(c_left, 3), right_centroid_x=round(c_right, 3))
    if not c_right < 0.5 < c_left:
        return False, value, "lung fields are not on opposite sides of the midline", None
    return True, value, "two lung fields of plausible size and position", None
