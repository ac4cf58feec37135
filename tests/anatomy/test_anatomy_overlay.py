"""overlay drawing: colours where the masks are, width lines drawn, errors on bad shapes."""

from __future__ import annotations

import numpy as np
import pytest

from cxrkit.anatomy.measure import measure
from cxrkit.anatomy.overlay import COLORS, draw_overlay
from cxrkit.errors import InvalidImageError


def _case():
    img = np.full((300, 300), 0.5, np.float32)
    m = {k: np.zeros((300, 300), bool) for k in COLORS}
    m["right_lung"][40:240, 40:140] = True
    m["left_lung"][40:240, 160:260] = True
    m["heart"][150:230, 100:200] = True
    return img, m


def test_overlay_colours_and_lines():
    img, m = _case()
    meas = measure(m, pixel_spacing_mm=0.5)
    rgb = draw_overlay(img, m, meas)
    assert rgb.shape == (300, 300, 3) and rgb.dtype == np.uint8
    inside_rl = rgb[100, 60].astype(int)
    assert inside_rl[2] > inside_rl[0]          # blue-tinted right lung
    assert (rgb[10, 290] == 127).all() or (rgb[10, 290] == 128).all()  # untouched background stays gray
    row = meas["thorax_line"]["row"]
    line_px = rgb[row, 150]
    assert line_px[1] > 200 and line_px[2] > 200   # cyan thorax line crosses the midline
    without = draw_overlay(img, m)
    assert not np.array_equal(without[row], rgb[row])


def test_overlay_rejects_mismatched_mask():
    img, m = _case()
    m["heart"] = np.zeros((10, 10), bool)
    with pytest.raises(InvalidImageError):
        draw_overlay(img, m)
