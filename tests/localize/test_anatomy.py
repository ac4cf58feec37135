"""Anatomy-guided boxes on synthetic masks and heatmaps: heart box, sides, the half-lung-field cap."""

from __future__ import annotations

import numpy as np
import pytest

from cxrkit.errors import DataFormatError, UnknownNameError
from cxrkit.localize import boxes_from_heatmap
from cxrkit.localize.anatomy import STRATEGIES, limit_box, lung_field, masks_to_grid, place_boxes
from cxrkit.localize.priors import FindingPrior
from cxrkit.types import Box


def synthetic_masks(n: int = 200) -> dict[str, np.ndarray]:
    """Two lungs (image-left = patient right) rows 40..160, a heart low in the middle."""
    right = np.zeros((n, n), bool)
    left = np.zeros((n, n), bool)
    heart = np.zeros((n, n), bool)
    right[40:160, 30:95] = True
    left[40:160, 105:170] = True
    heart[100:150, 80:130] = True
    return {"right_lung": right, "left_lung": left, "heart": heart}


def prior(strategy: str, **kw) -> FindingPrior:
    base = dict(finding="Effusion", strategy=strategy, width=0.3, height=0.3, cy=0.8, dx=0.35, sx=0.1, sy=0.1)
    base.update(kw)
    return FindingPrior(**base)


FIELD_AREA = 120 * 140  # lung field of synthetic_masks: rows 40..160, cols 30..170


def test_lung_field_and_fallback():
    f = lung_field(synthetic_masks(), (200, 200))
    assert tuple(f) == (40, 30, 160, 170) and f.area == FIELD_AREA
    empty = lung_field({"right_lung": np.zeros((10, 20), bool)}, (10, 20))
    assert tuple(empty) == pytest.approx((1.0, 2.0, 9.0, 18.0))  # central 80%


def test_masks_to_grid_nearest():
    g = masks_to_grid(synthetic_masks(200), (100, 100))
    assert g["heart"].shape == (100, 100)
    rows = np.flatnonzero(g["heart"].any(axis=1))
    assert rows[0] == 50 and rows[-1] == 74


def test_heart_box_is_the_heart_mask_bbox():
    (b,) = place_boxes(np.zeros((200, 200)), synthetic_masks(), prior("heart", finding="Cardiomegaly"))
    assert (b.x_min, b.y_min, b.x_max, b.y_max) == (80, 100, 130, 150)


def test_heart_scale_grows_about_the_centre():
    p = prior("heart", finding="Cardiomegaly", heart_scale=(1.2, 1.0))
    (b,) = place_boxes(np.zeros((200, 200)), synthetic_masks(), p)
    assert b.x_max - b.x_min == pytest.approx(60) and (b.x_min + b.x_max) / 2 == pytest.approx(105)


def test_side_prior_follows_the_cam_side():
    m = np.zeros((200, 200), np.float32)
    m[120:160, 120:160] = 1.0  # evidence in the image-right (patient left) lung
    (b,) = place_boxes(m, synthetic_masks(), prior("side_prior"))
    assert (b.x_min + b.x_max) / 2 > 100 and (b.y_min + b.y_max) / 2 > 100
    both = place_boxes(m, synthetic_masks(), prior("both_sides"))
    assert len(both) == 2 and (both[0].x_min + both[0].x_max) / 2 > 100 > (both[1].x_min + both[1].x_max) / 2


def test_cam_strategies_centre_on_the_evidence():
    m = np.zeros((200, 200), np.float32)
    m[60:70, 50:60] = 1.0
    (b,) = place_boxes(m, synthetic_masks(), prior("cam_peak", width=0.1, height=0.1))
    assert b.x_min < 55 < b.x_max and b.y_min < 65 < b.y_max
    two = place_boxes(m, synthetic_masks(), prior("cam_both_sides", width=0.1, height=0.1))
    assert len(two) == 2 and two[0].x_min < 55 < two[0].x_max


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("size", [0.3, 0.9, 1.5])
def test_no_box_larger_than_half_the_lung_field(strategy, size, rng):
    m = rng.random((200, 200)).astype(np.float32)
    p = prior(strategy, width=size, height=size, finding="Cardiomegaly" if strategy == "heart" else "Effusion",
              heart_scale=(3.0, 3.0))
    boxes = place_boxes(m, synthetic_masks(), p)
    assert boxes
    f = lung_field(synthetic_masks(), (200, 200))
    for b in boxes:
        assert (b.x_max - b.x_min) * (b.y_max - b.y_min) <= 0.5 * FIELD_AREA + 1e-6
        assert f[1] - 1e-6 <= b.x_min and b.x_max <= f[3] + 1e-6 and f[0] - 1e-6 <= b.y_min and b.y_max <= f[2] + 1e-6


def test_limit_box_moves_inside_and_caps():
    f = lung_field(synthetic_masks(), (200, 200))
    b = limit_box(Box(0, 0, 300, 300, score=1.0), f, 0.5)
    assert (b.x_max - b.x_min) * (b.y_max - b.y_min) == pytest.approx(0.5 * FIELD_AREA)
    b = limit_box(Box(0, 0, 20, 20), f)
    assert (b.x_min, b.y_min, b.x_max, b.y_max) == (30, 40, 50, 60)


def test_constant_map_and_missing_masks_still_give_a_box():
    boxes = place_boxes(np.zeros((100, 100)), None, prior("cam_prior"))
    assert len(boxes) == 1
    (b,) = boxes
    assert b.x_min >= 10 and b.x_max <= 90


def test_registry_and_errors():
    p = prior("both_sides")
    from cxrkit.localize.priors import LocalizationPriors

    pri = LocalizationPriors("toy", {"Effusion": p})
    boxes = boxes_from_heatmap(np.random.default_rng(0).random((200, 200)), "anatomy", masks=synthetic_masks(),
                               finding="pleural effusion", priors=pri, label="Effusion")
    assert len(boxes) == 2 and all(b.label == "Effusion" for b in boxes)
    with pytest.raises(DataFormatError):
        boxes_from_heatmap(np.zeros((4, 4)), "anatomy", priors=pri)
    with pytest.raises(UnknownNameError):
        place_boxes(np.zeros((4, 4)), None, p, strategy="nope")
    with pytest.raises(UnknownNameError):
        pri.get("Nodule")
