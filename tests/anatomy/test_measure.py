"""cardiothoracic ratio, widths, areas and flags on synthetic masks with known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from cxrkit.anatomy.measure import horizontal_extent, measure
from cxrkit.errors import InvalidImageError


def _masks(shape=(400, 400), heart=(100, 200), lungs=((50, 150), (160, 250)), rows=(60, 300)):
    """Right lung on the image left, left lung on the image right; heart columns [heart[0], heart[1])."""
    m = {k: np.zeros(shape, bool) for k in ("right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle")}
    m["right_lung"][rows[0] : rows[1], lungs[0][0] : lungs[0][1]] = True
    m["left_lung"][rows[0] : rows[1], lungs[1][0] : lungs[1][1]] = True
    m["heart"][200:280, heart[0] : heart[1]] = True
    return m


def test_ctr_known_geometry_heart_100_thorax_200():
    out = measure(_masks())
    assert out["heart_width_px"] == 100
    assert out["thorax_width_px"] == 200
    assert out["cardiothoracic_ratio"] == pytest.approx(0.5)
    assert out["reliable"] is True and out["flags"] == []
    assert out["heart_width_mm"] is None and out["thorax_width_mm"] is None and out["heart_area_mm2"] is None
    assert out["right_lung_area_px"] == 240 * 100
    assert out["heart_line"] == {"row": 240, "col_min": 100, "col_max": 199}


def test_widest_extent_not_same_row():
    m = _masks()
    m["heart"][:] = False
    m["heart"][200:220, 120:150] = True   # left border at row ~210
    m["heart"][250:270, 140:200] = True   # right border at row ~260
    ext = horizontal_extent(m["heart"])
    assert ext["width_px"] == 80 and ext["col_min"] == 120 and ext["col_max"] == 199
    assert measure(m)["cardiothoracic_ratio"] == pytest.approx(0.4)


def test_mm_from_pixel_spacing_row_col():
    out = measure(_masks(), pixel_spacing_mm=(0.2, 0.5))
    assert out["heart_width_mm"] == pytest.approx(50.0)   # columns use the column spacing
    assert out["thorax_width_mm"] == pytest.approx(100.0)
    assert out["heart_area_mm2"] == pytest.approx(80 * 100 * 0.1)
    assert measure(_masks(), pixel_spacing_mm=0.3)["thorax_width_mm"] == pytest.approx(60.0)
    assert measure(_masks(), pixel_spacing_mm=(0.0, 0.0))["heart_width_mm"] is None  # zero spacing = unknown


def test_lateral_view_gives_no_ctr():
    out = measure(_masks(), view="LL")
    assert out["cardiothoracic_ratio"] is None
    assert "lateral_view" in out["flags"] and out["reliable"] is False
    assert out["heart_line"] is None


def test_ap_view_flag_keeps_ctr_but_unreliable():
    out = measure(_masks(), view="AP Supine")
    assert out["cardiothoracic_ratio"] == pytest.approx(0.5)
    assert out["flags"] == ["ap_view_magnifies_heart"] and out["reliable"] is False


def test_pediatric_flag():
    assert "pediatric" in measure(_masks(), age_years=4)["flags"]
    assert "pediatric" not in measure(_masks(), age_years=40)["flags"]


def test_lung_cut_off_at_border():
    out = measure(_masks(lungs=((0, 150), (160, 250))))
    assert "lung_cut_off" in out["flags"] and out["reliable"] is False
    assert out["cardiothoracic_ratio"] is not None


def test_missing_lung_or_heart():
    m = _masks()
    m["left_lung"][:] = False
    out = measure(m)
    assert out["cardiothoracic_ratio"] is None and "missing_structure" in out["flags"]
    m = _masks()
    m["heart"][:] = False
    assert measure(m)["cardiothoracic_ratio"] is None


def test_swapped_lungs_are_implausible():
    m = _masks()
    m["right_lung"], m["left_lung"] = m["left_lung"].copy(), m["right_lung"].copy()
    out = measure(m)
    assert "implausible_anatomy" in out["flags"] and "flipped" in out["flag_details"]["implausible_anatomy"]


def test_upside_down_is_implausible():
    m = {k: v[::-1].copy() for k, v in _masks().items()}
    assert "implausible_anatomy" in measure(m)["flags"]


def test_low_confidence_flag():
    out = measure(_masks(), confidence={"right_lung": 0.97, "left_lung": 0.5, "heart": 0.95})
    assert "low_confidence" in out["flags"] and "left_lung" in out["flag_details"]["low_confidence"]
    assert measure(_masks(), confidence={"right_lung": 0.97, "left_lung": 0.96, "heart": 0.95})["reliable"]


def test_bad_input_raises():
    m = _masks()
    del m["heart"]
    with pytest.raises(InvalidImageError, match="missing"):
        measure(m)
    m = _masks()
    m["heart"] = np.zeros((10, 10), bool)
    with pytest.raises(InvalidImageError, match="shape"):
        measure(m)
