"""Overlay PNG: decodes, has the image's aspect, draws boxes in the requested colours."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

from cxrkit.explain.overlay import overlay_png
from cxrkit.types import Box


def test_overlay_is_a_png_with_boxes_drawn(rng) -> None:
    img = rng.random((120, 200)).astype(np.float32) * 0.3
    m = np.zeros((120, 200), np.float32)
    m[30:60, 100:150] = 1.0
    png = overlay_png(img, {"Mass": m}, probabilities={"Mass": 0.81}, boxes={"Mass": [Box(100, 30, 150, 60, 0.9)]},
                      truth={"Mass": [Box(20, 20, 60, 80)]}, title="case", dpi=60)
    out = np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB"))
    assert out.ndim == 3 and out.shape[0] > 50 and out.shape[1] > 50
    yellow = (out[..., 0] > 230) & (out[..., 1] > 200) & (out[..., 2] < 60)  # predicted box #ffe600
    cyan = (out[..., 0] < 60) & (out[..., 1] > 200) & (out[..., 2] > 230)  # truth box #00e5ff
    assert yellow.sum() > 20 and cyan.sum() > 20


def test_overlay_with_no_maps_still_renders(rng) -> None:
    png = overlay_png(rng.random((64, 64)).astype(np.float32), {}, dpi=40)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
