"""Millimetre values are marked unreliable when PixelSpacing cannot belong to the stored matrix (issue 11,
item 11): SIIM/RSNA DICOMs were downscaled to 1024 px but kept their 0.168 mm spacing, so the stored field is
172 mm wide and the thorax came out as '138 mm', marked reliable."""

from __future__ import annotations

import numpy as np
import pytest

from cxrkit.anatomy.measure import measure
from cxrkit.anatomy.measurements import to_measurements


def _masks(n=1024):
    m = {k: np.zeros((n, n), bool) for k in ("right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle")}
    s = n / 400
    m["right_lung"][int(60 * s):int(300 * s), int(50 * s):int(150 * s)] = True
    m["left_lung"][int(60 * s):int(300 * s), int(160 * s):int(250 * s)] = True
    m["heart"][int(200 * s):int(280 * s), int(110 * s):int(200 * s)] = True
    return m


@pytest.mark.parametrize("n, spacing, age, ok", [
    (1024, 0.168, None, False),   # SIIM: 172 mm field
    (1024, 0.168, 40, False),
    (2500, 0.168, None, True),    # the original matrix: 420 mm
    (1024, 0.4, None, True),      # a 410 mm field stored at 1024 px
    (1024, 0.12, 1, True),        # an infant: a 123 mm field is plausible
    (1024, 0.05, 1, False),       # 51 mm: too small even for a neonate
    (1024, 1.0, None, False),     # a 1 m field: not a chest film's spacing
])
def test_mm_values_are_unreliable_when_the_field_size_is_implausible(n, spacing, age, ok):
    kw = {"age_years": age} if age is not None else {}
    raw = measure(_masks(n), (spacing, spacing), "PA", **kw)
    assert raw["mm_reliable"] is ok
    ms = {m.name: m for m in to_measurements(raw)}
    assert ms["thorax_width_mm"].value is not None
    assert ms["thorax_width_mm"].reliable is (ok and raw["reliable"])
    if not ok:
        assert "pixel_spacing_implausible" in ms["thorax_width_mm"].flags
        assert "pixel_spacing_implausible" in ms["heart_area_mm2"].flags
    # the ratio does not depend on the spacing
    assert "pixel_spacing_implausible" not in ms["cardiothoracic_ratio"].flags
