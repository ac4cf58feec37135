"""Heatmap → boxes: both methods on synthetic maps with known regions; degenerate maps give []."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cxrkit.errors import InvalidImageError, UnknownNameError
from cxrkit.localize import box_method_names, boxes_from_heatmap
from cxrkit.localize.boxes import chestxray8_boxes, default_boxes, nms
from cxrkit.types import Box


def _two_blobs(shape=(200, 300)):
    m = np.zeros(shape, np.float32)
    m[40:80, 30:90] = 1.0  # strong region: rows 40..79, cols 30..89
    m[120:170, 200:260] = 0.5  # weaker region
    return m


def test_method_registry() -> None:
    assert box_method_names() == ["anatomy", "chestxray8", "default"]
    with pytest.raises(UnknownNameError, match="did you mean 'chestxray8'"):
        boxes_from_heatmap(np.ones((4, 4)), "chestxray"),


def test_chestxray8_thresholds_60_and_180() -> None:
    # [0,255] scale: strong region 255 (> both thresholds), weak region 127.5 (> 60 only)
    boxes = chestxray8_boxes(_two_blobs(), work_side=None)
    got = sorted((b.x_min, b.y_min, b.x_max, b.y_max) for b in boxes)
    assert got == sorted([(30.0, 40.0, 90.0, 80.0), (30.0, 40.0, 90.0, 80.0), (200.0, 120.0, 260.0, 170.0)])
    assert [b.score for b in boxes] == [1.0, 1.0, 0.5]


def test_chestxray8_uses_min_max_normalization() -> None:
    m = _two_blobs() * 3.0 + 10.0  # offset and scale must not matter
    assert [(b.x_min, b.y_max) for b in chestxray8_boxes(m)] == [(b.x_min, b.y_max) for b in chestxray8_boxes(_two_blobs())]


def test_default_keeps_main_region_and_drops_weak_secondary() -> None:
    boxes = default_boxes(_two_blobs(), work_side=None)
    assert [(b.x_min, b.y_min, b.x_max, b.y_max, b.score) for b in boxes] == [(30.0, 40.0, 90.0, 80.0, 1.0)]
    # a secondary region at 80% of the peak is kept, ranked second
    m = _two_blobs()
    m[120:170, 200:260] = 0.8
    boxes = default_boxes(m, work_side=None)
    assert [(b.x_min, b.score) for b in boxes] == [(30.0, 1.0), (200.0, pytest.approx(0.8))]


def test_default_suppresses_specks() -> None:
    m = _two_blobs()
    m[5, 5] = 0.99  # one hot pixel: below min_area_fraction
    assert len(default_boxes(m, work_side=None)) == 1


def test_default_on_smooth_gaussian_finds_its_extent() -> None:
    m = np.zeros((256, 256), np.float32)
    m[100, 150] = 1.0
    m = ndimage.gaussian_filter(m, 10)
    (b,) = default_boxes(m, levels=(0.5,), work_side=None)
    # half-max of a Gaussian is at 1.1774 sigma from the centre
    assert b.x_min == pytest.approx(150 - 11.77, abs=1.5) and b.x_max == pytest.approx(151 + 11.77, abs=1.5)
    assert b.y_min == pytest.approx(100 - 11.77, abs=1.5)


@pytest.mark.parametrize("method", ["default", "chestxray8"])
@pytest.mark.parametrize("m", [np.zeros((64, 64)), np.full((64, 64), 0.7), np.full((64, 64), np.nan), np.zeros((0, 0))])
def test_degenerate_maps_give_no_boxes(method, m) -> None:
    assert boxes_from_heatmap(m, method) == []


def test_non_2d_heatmap_is_an_error() -> None:
    with pytest.raises(InvalidImageError):
        boxes_from_heatmap(np.zeros((3, 4, 4)))


@pytest.mark.parametrize("method", ["default", "chestxray8"])
def test_large_maps_are_subsampled_within_stride(method) -> None:
    m = np.zeros((1500, 1100), np.float32)
    m[301:700, 150:451] = 1.0
    full = boxes_from_heatmap(m, method, work_side=None)[0]
    fast = boxes_from_heatmap(m, method)[0]
    assert (full.x_min, full.y_min, full.x_max, full.y_max) == (150.0, 301.0, 451.0, 700.0)
    for a, b in zip((fast.x_min, fast.y_min, fast.x_max, fast.y_max), (150, 301, 451, 700)):
        assert abs(a - b) <= 12  # stride 12 for a 1500 px side at the default 128 px working grid


def test_label_and_nms() -> None:
    (b,) = boxes_from_heatmap(_two_blobs(), label="Mass", work_side=None)
    assert b.label == "Mass"
    kept = nms([Box(0, 0, 10, 10, 0.9), Box(1, 1, 10, 10, 0.8), Box(20, 20, 30, 30, 0.5)], 0.5)
    assert [k.score for k in kept] == [0.9, 0.5]


@pytest.mark.parametrize("method", ["default", "chestxray8"])
def test_subsampled_box_touching_the_edge_reaches_it(method) -> None:
    m = np.zeros((1000, 770), np.float32)
    m[600:, 500:] = 1.0  # bottom-right corner region
    b = boxes_from_heatmap(m, method)[0]
    assert (b.x_max, b.y_max) == (770.0, 1000.0) and abs(b.x_min - 500) <= 8 and abs(b.y_min - 600) <= 8
