"""Draw anatomy masks and the cardiothoracic-ratio measurement on a radiograph (arrays in, RGB array out)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from scipy import ndimage

from cxrkit.anatomy.structures import STRUCTURE_COLORS
from cxrkit.errors import InvalidImageError

__all__ = ["COLORS", "draw_overlay"]

#: RGB colour per structure.
COLORS: dict[str, tuple[int, int, int]] = STRUCTURE_COLORS
_HEART_LINE = (255, 80, 80)
_THORAX_LINE = (80, 230, 255)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fill, font) -> None:
    x, y = xy
    box = draw.textbbox((x, y), text, font=font)
    draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
    draw.text((x, y), text, fill=fill, font=font)


def draw_overlay(
    pixels: np.ndarray,
    masks: dict[str, np.ndarray],
    measurements: dict[str, Any] | None = None,
    *,
    alpha: float = 0.3,
) -> np.ndarray:
    """Render masks (translucent fill + outline) and the heart/thorax width lines with their values.

    Parameters
    ----------
    pixels:
        float32 ``(H, W)`` in [0, 1] (dark lungs), the radiograph.
    masks:
        structure -> boolean ``(H, W)``; colours from :data:`COLORS` (unknown names drawn white).
    measurements:
        the dict from :func:`cxrkit.anatomy.measure.measure` (optional): draws ``heart_line`` and
        ``thorax_line`` with widths in px (and mm when known), the CTR and any flags.
    alpha:
        fill opacity in [0, 1].

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W, 3)`` RGB.
    """
    px = np.asarray(pixels, dtype=np.float32)
    if px.ndim != 2:
        raise InvalidImageError(f"overlay needs a 2-D image, got shape {px.shape}")
    edge_w = max(1, round(max(px.shape) / 400))
    layers = []  # (colour, mask, edge cropped to the mask's bounding box, its row/column slices)
    for name, m in masks.items():
        m = np.asarray(m, dtype=bool)
        if m.shape != px.shape:
            raise InvalidImageError(f"mask {name!r} has shape {m.shape}, image has {px.shape}")
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        if rows.size == 0:
            continue
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        crop = m[box]  # outside the box the mask is empty, as binary_erosion's border: the same edge
        edge = crop & ~ndimage.binary_erosion(crop, iterations=edge_w)
        layers.append((np.array(COLORS.get(name, (255, 255, 255)), np.float32), m, edge, box))
    out = np.empty(px.shape + (3,), dtype=np.uint8)
    step = 256  # rows at a time: the float32 canvas of a 4096-pixel film would be 190 MB
    for r0 in range(0, px.shape[0], step):
        r1 = min(r0 + step, px.shape[0])
        base = np.clip(np.rint(px[r0:r1] * 255), 0, 255).astype(np.uint8)
        rgb = np.repeat(base[:, :, None], 3, axis=2).astype(np.float32)
        for color, m, edge, (rs, cs) in layers:
            mb = m[r0:r1]
            rgb[mb] = (1 - alpha) * rgb[mb] + alpha * color
            lo, hi = max(r0, rs.start), min(r1, rs.stop)
            if lo < hi:
                rgb[lo - r0:hi - r0, cs][edge[lo - rs.start:hi - rs.start]] = color
        out[r0:r1] = np.clip(rgb, 0, 255).astype(np.uint8)
    img = PILImage.fromarray(out, mode="RGB")
    if measurements:
        _draw_measurements(img, measurements)
    return np.asarray(img)


def _draw_measurements(img: PILImage.Image, meas: dict[str, Any]) -> None:
    draw = ImageDraw.Draw(img)
    h = img.height
    lw = max(1, round(h / 300))
    tick = max(4, round(h / 60))
    font = _font(max(10, round(h / 32)))
    for key, color, label in (("thorax_line", _THORAX_LINE, "thorax"), ("heart_line", _HEART_LINE, "heart")):
        line = meas.get(key)
        if not line:
            continue
        r, c0, c1 = line["row"], line["col_min"], line["col_max"]
        draw.line((c0, r, c1, r), fill=color, width=lw)
        for c in (c0, c1):
            draw.line((c, r - tick, c, r + tick), fill=color, width=lw)
        width_px = meas.get(f"{label}_width_px")
        width_mm = meas.get(f"{label}_width_mm")
        text = f"{label} {width_px} px" + (f" / {width_mm:.0f} mm" if width_mm is not None else "")
        _text(draw, (c0, r + tick + 2), text, color, font)
    ctr = meas.get("cardiothoracic_ratio")
    head = f"CTR {ctr:.2f}" if ctr is not None else "CTR n/a"
    head += "" if meas.get("reliable") else " (unreliable)"
    _text(draw, (tick, tick), head, (255, 255, 255), font)
    flags = meas.get("flags") or []
    if flags:
        _text(draw, (tick, tick + round(h / 30)), "flags: " + ", ".join(flags), (255, 210, 0), font)
