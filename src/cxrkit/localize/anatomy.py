"""Anatomy-guided boxes: a heatmap, the lung / heart masks and a learned per-finding prior in, boxes out.

The lung field is the bounding box of both lung masks (rows ``r0..r1``, columns ``c0..c1``); positions and
sizes of a finding's boxes are expressed in its coordinates (``u`` across, ``v`` down, both in [0, 1]), so one
prior serves films of any size and framing. Per finding, :class:`~cxrkit.localize.priors.FindingPrior` holds the
box size (median width and height of the training boxes as fractions of the lung field), a location prior
(mean row ``cy``; a mirror-symmetric offset ``dx`` from the midline, since most findings occur on either side)
and the *strategy* chosen by cross-validation on the training box images:

* ``heart``: the bounding box of the heart mask (Cardiomegaly: the enlarged heart *is* the finding).
* ``side_prior``: the side whose lung holds more CAM evidence (mean map value in each lung mask), the box at
  the finding's mean position on that side (Effusion: the costophrenic region of the side the CAM prefers).
* ``both_sides``: the box at the mean position on each side, the CAM-preferred side first.
* ``cam_both_sides``: one box per side, centred on the maximum of ``CAM x location prior`` within that side's
  half of the lung field, the side with the higher maximum first.
* ``cam_prior``: the box centred on the maximum of ``CAM x location prior`` inside the lung field.
* ``cam_peak``: the box centred on the CAM maximum inside the lung field.
* ``chestxray8``: ChestX-ray8's thresholded boxes of the CAM (:func:`cxrkit.localize.boxes.chestxray8_boxes`).

Every box is then moved inside the lung field (cropped where it is larger) and shrunk about its centre until
its area is at most ``max_area_fraction`` (default 0.5) of the lung field's bounding box: no box larger than
half the lung field. Films without lung masks use the central 80% of the image as the lung field.

Mask names are the patient's side: on a frontal film ``right_lung`` is on the image left.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cxrkit.errors import DataFormatError, InvalidImageError, unknown_name
from cxrkit.types import Box

__all__ = ["STRATEGIES", "LungField", "lung_field", "masks_to_grid", "place_boxes", "anatomy_boxes", "limit_box"]

STRATEGIES: tuple[str, ...] = (
    "heart", "side_prior", "both_sides", "cam_both_sides", "cam_prior", "cam_peak", "chestxray8",
)
#: Lung field used when a film has no lung masks: the central 80% of the image (fractions of H and W).
FALLBACK_FIELD = (0.1, 0.1, 0.9, 0.9)


class LungField(tuple):
    """``(r0, c0, r1, c1)`` pixel edges of the lung field's bounding box (rows, columns; end exclusive)."""

    @property
    def height(self) -> float:
        return float(self[2] - self[0])

    @property
    def width(self) -> float:
        return float(self[3] - self[1])

    @property
    def area(self) -> float:
        return self.height * self.width

    def to_pixels(self, u: float, v: float) -> tuple[float, float]:
        """Lung-field coordinates ``(u across, v down)`` → pixel ``(x, y)``."""
        return self[1] + u * self.width, self[0] + v * self.height


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def masks_to_grid(masks: Mapping[str, np.ndarray], shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Boolean masks resampled (nearest pixel centre) to ``shape`` = ``(rows, cols)``; masks already of that shape
    are returned as they are."""
    out = {}
    h, w = int(shape[0]), int(shape[1])
    for k, m in masks.items():
        m = np.asarray(m, dtype=bool)
        if m.ndim != 2:
            raise InvalidImageError(f"mask {k!r} must be 2-D, got shape {m.shape}")
        if m.shape == (h, w):
            out[k] = m
            continue
        ri = np.minimum(((np.arange(h) + 0.5) * m.shape[0] / h).astype(int), m.shape[0] - 1)
        ci = np.minimum(((np.arange(w) + 0.5) * m.shape[1] / w).astype(int), m.shape[1] - 1)
        out[k] = m[ri][:, ci]
    return out


def lung_field(masks: Mapping[str, np.ndarray] | None, shape: tuple[int, int]) -> LungField:
    """Bounding box of ``right_lung | left_lung`` on a grid of ``shape``; the central 80% when both are empty."""
    h, w = int(shape[0]), int(shape[1])
    union = None
    for k in ("right_lung", "left_lung"):
        if masks is not None and k in masks:
            union = masks[k] if union is None else (union | masks[k])
    bb = _bbox(union) if union is not None else None
    if bb is None or (bb[2] - bb[0]) < 2 or (bb[3] - bb[1]) < 2:
        f = FALLBACK_FIELD
        return LungField((f[0] * h, f[1] * w, f[2] * h, f[3] * w))
    return LungField(tuple(float(v) for v in bb))


def limit_box(box: Box, field: LungField, max_area_fraction: float = 0.5) -> Box:
    """Move ``box`` inside the lung field (crop where larger), then shrink it about its centre until its area is
    at most ``max_area_fraction`` of the lung field's bounding box."""
    r0, c0, r1, c1 = field
    w = min(box.x_max - box.x_min, field.width)
    h = min(box.y_max - box.y_min, field.height)
    cx = min(max((box.x_min + box.x_max) / 2, c0 + w / 2), c1 - w / 2)
    cy = min(max((box.y_min + box.y_max) / 2, r0 + h / 2), r1 - h / 2)
    cap = float(max_area_fraction) * field.area
    if w * h > cap > 0:
        s = float(np.sqrt(cap / (w * h)))
        w, h = w * s, h * s
    return Box(float(cx - w / 2), float(cy - h / 2), float(cx + w / 2), float(cy + h / 2),
               score=None if box.score is None else float(box.score), label=box.label)


def _prior_map(shape: tuple[int, int], field: LungField, prior) -> np.ndarray:
    """Location prior on the grid: Gaussian in ``v`` around ``cy``, mirror-symmetric pair in ``u`` at
    ``0.5 +- dx``; peak 1."""
    h, w = shape
    v = ((np.arange(h) + 0.5) - field[0]) / max(field.height, 1e-9)
    u = ((np.arange(w) + 0.5) - field[1]) / max(field.width, 1e-9)
    sy, sx = max(prior.sy, 0.05), max(prior.sx, 0.05)
    gv = np.exp(-0.5 * ((v - prior.cy) / sy) ** 2)
    gu = np.exp(-0.5 * ((u - 0.5 + prior.dx) / sx) ** 2) + np.exp(-0.5 * ((u - 0.5 - prior.dx) / sx) ** 2)
    p = gv[:, None] * gu[None, :]
    return p / max(float(p.max()), 1e-12)


def _field_mask(shape: tuple[int, int], field: LungField) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    r0, c0, r1, c1 = (int(round(x)) for x in field)
    m[max(r0, 0) : max(r1, r0 + 1), max(c0, 0) : max(c1, c0 + 1)] = True
    return m


def _box_at(x: float, y: float, prior, field: LungField, score: float) -> Box:
    bw, bh = prior.width * field.width, prior.height * field.height
    return Box(x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2, score=score)


def _side_scores(m: np.ndarray, masks: Mapping[str, np.ndarray] | None, field: LungField) -> tuple[float, float]:
    """Mean map value over the image-left and image-right lung (patient right, left); halves of the lung field
    when masks are missing."""
    out = []
    for k, half in (("right_lung", 0), ("left_lung", 1)):
        mk = masks.get(k) if masks is not None else None
        if mk is None or not mk.any():
            mk = _field_mask(m.shape, field)
            mid = int(round(field[1] + field.width / 2))
            if half == 0:
                mk[:, mid:] = False
            else:
                mk[:, :mid] = False
        out.append(float(m[mk].mean()) if mk.any() else 0.0)
    return out[0], out[1]


def place_boxes(
    heatmap: np.ndarray,
    masks: Mapping[str, np.ndarray] | None,
    prior,
    *,
    strategy: str | None = None,
    max_area_fraction: float = 0.5,
) -> list[Box]:
    """Boxes for one finding on the heatmap's grid, following ``prior`` (a :class:`FindingPrior`).

    Args:
        heatmap: float ``(H, W)``, larger = more evidence (a CAM in [0, 1]); may be constant (then the strategies
            that need the map fall back to the location prior).
        masks: ``right_lung``, ``left_lung``, ``heart`` booleans on any grid (resampled to the heatmap's); None or
            empty masks: the fallback lung field.
        prior: per-finding prior (``strategy``, ``width``, ``height``, ``cy``, ``dx``, ``sx``, ``sy``).
        strategy: override ``prior.strategy`` (one of :data:`STRATEGIES`).
        max_area_fraction: box area cap as a fraction of the lung field's bounding box.

    Returns:
        Boxes in pixel edges of the heatmap grid, best first, each at most ``max_area_fraction`` of the lung field.
    """
    m = np.asarray(heatmap, dtype=np.float32)
    if m.ndim != 2 or m.size == 0:
        raise InvalidImageError(f"heatmap must be a non-empty 2-D array, got shape {m.shape}")
    m = np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    if not 0.0 < float(max_area_fraction) <= 1.0:
        raise DataFormatError(f"max_area_fraction must be in (0, 1], got {max_area_fraction}")
    strategy = strategy or prior.strategy
    if strategy not in STRATEGIES:
        raise unknown_name("anatomy box strategy", strategy, STRATEGIES)
    grid = masks_to_grid(masks, m.shape) if masks else {}
    field = lung_field(grid, m.shape)
    flat = float(m.max() - m.min()) <= 1e-12
    boxes: list[Box] = []
    if strategy == "heart":
        bb = _bbox(grid["heart"]) if "heart" in grid else None
        if bb is not None:
            r0, c0, r1, c1 = bb
            sw, sh = getattr(prior, "heart_scale", (1.0, 1.0))
            cx, cy, bw, bh = (c0 + c1) / 2, (r0 + r1) / 2, (c1 - c0) * sw, (r1 - r0) * sh
            boxes = [Box(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score=1.0)]
        else:
            x, y = field.to_pixels(0.5, prior.cy)
            boxes = [_box_at(x, y, prior, field, 0.5)]
    elif strategy in ("side_prior", "both_sides") or (flat and strategy != "chestxray8"):
        left, right = _side_scores(m, grid, field)
        sides = [(left, 0.5 - prior.dx), (right, 0.5 + prior.dx)]
        sides.sort(key=lambda s: -s[0])
        keep = sides if strategy == "both_sides" else sides[:1]
        for score, u in keep:
            x, y = field.to_pixels(u, prior.cy)
            boxes.append(_box_at(x, y, prior, field, float(np.clip(score, 0.0, 1.0))))
    elif strategy == "cam_both_sides":
        score = (m - float(m.min())) * _field_mask(m.shape, field) * _prior_map(m.shape, field, prior)
        mid = int(round(field[1] + field.width / 2))
        for half in (slice(0, mid), slice(mid, None)):
            part = np.zeros_like(score)
            part[:, half] = score[:, half]
            r, c = np.unravel_index(int(np.argmax(part)), m.shape)
            boxes.append(_box_at(c + 0.5, r + 0.5, prior, field, float(np.clip(m[r, c], 0.0, 1.0))))
        boxes.sort(key=lambda b: -(b.score or 0.0))
    elif strategy in ("cam_prior", "cam_peak"):
        peak = (m - float(m.min())) * _field_mask(m.shape, field)
        if strategy == "cam_prior":
            peak = peak * _prior_map(m.shape, field, prior)
        r, c = np.unravel_index(int(np.argmax(peak)), m.shape)
        boxes = [_box_at(c + 0.5, r + 0.5, prior, field, float(np.clip(m[r, c], 0.0, 1.0)))]
    else:  # chestxray8
        from cxrkit.localize.boxes import chestxray8_boxes

        boxes = chestxray8_boxes(m)
    return [limit_box(b, field, max_area_fraction) for b in boxes]


def anatomy_boxes(
    heatmap: np.ndarray,
    *,
    masks: Mapping[str, np.ndarray] | None = None,
    finding: str | None = None,
    priors=None,
    model: str | None = None,
    strategy: str | None = None,
    max_area_fraction: float = 0.5,
) -> list[Box]:
    """The ``"anatomy"`` box method of :func:`cxrkit.localize.boxes_from_heatmap`.

    Args:
        heatmap: float ``(H, W)`` CAM of ``finding`` on any grid covering the whole image.
        masks: segmenter masks (``right_lung``, ``left_lung``, ``heart``; any grid covering the same image).
        finding: the finding the heatmap is for (synonyms accepted).
        priors: a :class:`~cxrkit.localize.priors.LocalizationPriors`; None: loaded for ``model``.
        model: classifier name whose shipped priors to load (when ``priors`` is None).
        strategy: override the prior's strategy.
        max_area_fraction: box area cap, fraction of the lung field's bounding box.

    Returns:
        Boxes in pixel edges of the heatmap's grid, best first.

    Raises:
        DataFormatError: no finding given; UnknownNameError: no prior for the finding / model.
    """
    from cxrkit.localize.priors import load_priors

    if finding is None:
        raise DataFormatError("the 'anatomy' box method needs finding=<name> (its prior is per finding)")
    if priors is None:
        priors = load_priors(model)
    return place_boxes(heatmap, masks, priors.get(finding), strategy=strategy, max_area_fraction=max_area_fraction)
