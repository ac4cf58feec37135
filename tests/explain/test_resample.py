"""Feature-grid → original pixels: the card's geometry is undone (resize, center crop, pad)."""

from __future__ import annotations

import numpy as np
import pytest

from cxrkit.data.transforms import TransformSpec, resize_geometry
from cxrkit.explain.resample import interpolation_matrix, to_original


def _blob(shape, centre, sigma=6.0):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


@pytest.mark.parametrize("geometry", ["resize", "center_crop", "pad"])
@pytest.mark.parametrize("shape,centre", [((120, 200), (60, 100)), ((200, 120), (80, 70)), ((150, 150), (30, 110))])
def test_round_trip_puts_the_peak_back(geometry, shape, centre) -> None:
    spec = TransformSpec(size=64, geometry=geometry)
    img = _blob(shape, centre)
    model_view = resize_geometry(img, spec)  # what the model sees, (64, 64)
    coarse = model_view.reshape(16, 4, 16, 4).mean(axis=(1, 3))  # a 16x16 "feature grid" over it
    back = to_original(coarse, shape, spec)
    assert back.shape == shape
    r, c = np.unravel_index(np.argmax(back), shape)
    tol = 2.5 * max(shape) / 64 + 2  # one model pixel per ~shape/64 original pixels, grid cell = 4 of them
    assert abs(r - centre[0]) <= tol and abs(c - centre[1]) <= tol, (r, c)


def test_center_crop_leaves_unseen_pixels_at_zero() -> None:
    spec = TransformSpec(size=64, geometry="center_crop")
    back = to_original(np.ones((8, 8), np.float32), (100, 200), spec)
    # the central 100x100 square is seen (cols 50..149), the rest is not
    assert back[:, 52:148].min() == pytest.approx(1.0)
    assert back[:, :49].max() == 0.0 and back[:, 151:].max() == 0.0


def test_pad_maps_the_whole_image_inside_the_padded_square() -> None:
    spec = TransformSpec(size=64, geometry="pad")
    grid = np.zeros((8, 8), np.float32)
    grid[:, :] = np.arange(8)[:, None]  # rows increase downwards in the model input
    back = to_original(grid, (50, 100), spec)  # image occupies model rows 16..48 → grid rows 2..6
    assert back[0].mean() == pytest.approx(1.5, abs=0.3) and back[-1].mean() == pytest.approx(5.5, abs=0.3)


def test_interpolation_rows_sum_to_one_inside_view() -> None:
    m = interpolation_matrix(37, 5, 64, 64 / 37, 0.0)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)


def test_constant_grid_stays_constant_under_resize() -> None:
    out = to_original(np.full((3, 7, 7), 0.25, np.float32), (33, 91), TransformSpec(size=224))
    assert out.shape == (3, 33, 91)
    np.testing.assert_allclose(out, 0.25, rtol=1e-6)
