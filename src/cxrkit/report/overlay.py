"""Overlays for viewers: heatmaps, boxes and masks drawn over the radiograph.

Arrays in, arrays out: every function returns uint8 RGB ``(H, W, 3)``; encoding to PNG happens at the edges
(CLI, API, DICOM secondary capture).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from cxrkit.anatomy.structures import STRUCTURE_COLORS
from cxrkit.types import Box

__all__ = ["gray_to_rgb", "heatmap_overlay", "mask_overlay", "draw_boxes", "compose_overlay", "mask_rgba", "heatmap_rgba"]

MASK_COLORS = STRUCTURE_COLORS  # the same colours as cxrkit.anatomy.overlay.COLORS
BOX_COLOR = (255, 230, 0)


_BLOCK_ROWS = 256  # rows processed at a time: float temporaries stay small on large films


def _row_blocks(n: int) -> list[slice]:
    return [slice(r, r + _BLOCK_ROWS) for r in range(0, n, _BLOCK_ROWS)]


def _gray_block(pixels: np.ndarray) -> np.ndarray:
    g = np.clip(np.rint(np.asarray(pixels, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(g[:, :, None], 3, axis=2)


def gray_to_rgb(pixels: np.ndarray) -> np.ndarray:
    """float32 ``(H, W)`` in [0, 1] → uint8 ``(H, W, 3)`` (computed in row blocks)."""
    px = np.asarray(pixels)
    out = np.empty(px.shape + (3,), dtype=np.uint8)
    for sl in _row_blocks(px.shape[0]):
        out[sl] = _gray_block(px[sl])
    return out


#: The "jet" colour map as piecewise-linear knots ``(x, value)`` per channel (the classic MATLAB/matplotlib
#: definition); 256 entries computed from them equal matplotlib's ``colormaps["jet"]`` exactly (checked by
#: tests/report/test_overlay_lut.py when matplotlib is installed), without importing matplotlib at run time.
JET_KNOTS = {
    "r": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "g": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "b": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}


@lru_cache(maxsize=1)
def _lut(name: str = "jet") -> np.ndarray:
    """The colormap's 256 entries as uint8 RGB ``(256, 3)`` (only "jet")."""
    if name != "jet":
        from cxrkit.errors import unknown_name

        raise unknown_name("overlay colour map", name, ["jet"])
    x = np.linspace(0.0, 1.0, 256)
    chans = [np.interp(x, [k[0] for k in JET_KNOTS[c]], [k[1] for k in JET_KNOTS[c]]) for c in "rgb"]
    return (np.stack(chans, axis=1) * 255.0).astype(np.uint8)


def _colormap(values: np.ndarray, name: str = "jet") -> np.ndarray:
    """Values in [0, 1] → uint8 RGB through a 256-entry lookup table: the same colours matplotlib's colormap
    call gives (it quantises to 256 entries the same way), without its float64 ``(H, W, 4)`` intermediate
    (390 MB on a 3,500-pixel film)."""
    idx = (np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0) * 256.0).astype(np.int16)
    np.minimum(idx, 255, out=idx)
    return _lut(name)[idx]


def _heatmap_rgba_block(heatmap: np.ndarray, cutoff: float) -> np.ndarray:
    h = np.clip(np.asarray(heatmap, dtype=np.float32), 0.0, 1.0)
    rgba = np.zeros(h.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = _colormap(h)
    alpha = np.where(h >= cutoff, 80 + 140 * (h - cutoff) / max(1e-6, 1 - cutoff), 0)
    rgba[..., 3] = np.clip(alpha, 0, 255).astype(np.uint8)
    return rgba


def heatmap_rgba(heatmap: np.ndarray, *, cutoff: float = 0.2) -> np.ndarray:
    """Heatmap ``(H, W)`` in [0, 1] → uint8 RGBA ``(H, W, 4)``; transparent below ``cutoff``, alpha grows with
    the value (for the web viewer's layer). Computed in row blocks."""
    hm = np.asarray(heatmap)
    out = np.empty(hm.shape + (4,), dtype=np.uint8)
    for sl in _row_blocks(hm.shape[0]):
        out[sl] = _heatmap_rgba_block(hm[sl], cutoff)
    return out


def mask_rgba(masks: Mapping[str, np.ndarray], *, alpha: int = 90) -> np.ndarray:
    """Masks (name → bool ``(H, W)``) → uint8 RGBA ``(H, W, 4)`` with one colour per structure."""
    shape = next(iter(masks.values())).shape
    rgba = np.zeros(tuple(shape) + (4,), dtype=np.uint8)
    for name, m in masks.items():
        m = np.asarray(m, dtype=bool)
        rgba[m, :3] = MASK_COLORS.get(name, (255, 255, 255))
        rgba[m, 3] = alpha
    return rgba


def _blend(rgb: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """Alpha-blend RGBA over RGB (uint8 blocks of the same rows)."""
    a = rgba[:, :, 3:4].astype(np.float32) / 255.0
    mix = rgb.astype(np.float32) * (1 - a) + rgba[:, :, :3].astype(np.float32) * a
    return np.clip(np.rint(mix), 0, 255).astype(np.uint8)


def _layers(pixels: np.ndarray, masks: Mapping[str, np.ndarray] | None, heatmaps: Sequence[np.ndarray],
            *, mask_alpha: int) -> np.ndarray:
    """Gray radiograph, then the masks, then the pixel-wise maximum of the heatmaps, blended one row block at
    a time: on a 4096-pixel film the float temporaries are a few MB instead of hundreds."""
    px = np.asarray(pixels)
    out = np.empty(px.shape + (3,), dtype=np.uint8)
    for sl in _row_blocks(px.shape[0]):
        rgb = _gray_block(px[sl])
        if masks:
            rgb = _blend(rgb, mask_rgba({k: np.asarray(m)[sl] for k, m in masks.items()}, alpha=mask_alpha))
        if len(heatmaps):
            top = np.array(heatmaps[0][sl], dtype=np.float32, copy=True)
            for m in heatmaps[1:]:
                np.maximum(top, m[sl], out=top)
            rgb = _blend(rgb, _heatmap_rgba_block(top, 0.2))
        out[sl] = rgb
    return out


def heatmap_overlay(pixels: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """Radiograph with one heatmap blended over it, uint8 RGB ``(H, W, 3)``."""
    return _layers(pixels, None, [heatmap], mask_alpha=0)


def mask_overlay(pixels: np.ndarray, masks: Mapping[str, np.ndarray]) -> np.ndarray:
    """Radiograph with coloured masks, uint8 RGB ``(H, W, 3)``."""
    return _layers(pixels, masks, [], mask_alpha=90)


def draw_boxes(rgb: np.ndarray, boxes: Sequence[tuple[str, Box]], *, width: int | None = None) -> np.ndarray:
    """Draw labelled boxes (``(label, Box)`` pairs, original-image pixels) on a copy of ``rgb``."""
    img = PILImage.fromarray(np.ascontiguousarray(rgb))
    draw = ImageDraw.Draw(img)
    w = width or max(2, round(min(img.size) / 256))
    for label, b in boxes:
        draw.rectangle([b.x_min, b.y_min, b.x_max, b.y_max], outline=BOX_COLOR, width=w)
        draw.text((b.x_min + w + 1, b.y_min + w + 1), label, fill=BOX_COLOR)
    return np.asarray(img)


def compose_overlay(
    pixels: np.ndarray,
    *,
    heatmaps: Mapping[str, np.ndarray] | None = None,
    boxes: Sequence[tuple[str, Box]] = (),
    masks: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """One summary overlay: the maximum of the heatmaps, the masks, then the boxes, uint8 RGB ``(H, W, 3)``.

    Parameters
    ----------
    pixels:
        float32 ``(H, W)`` in [0, 1].
    heatmaps:
        finding → float32 ``(H, W)`` in [0, 1] (combined by pixel-wise maximum).
    boxes:
        ``(label, Box)`` pairs in original-image pixels.
    masks:
        structure → bool ``(H, W)``.
    """
    rgb = _layers(pixels, masks, list((heatmaps or {}).values()), mask_alpha=60)
    if boxes:
        rgb = draw_boxes(rgb, boxes)
    return rgb
