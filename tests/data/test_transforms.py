"""Model-input transforms: shapes, geometry mapping, intensity conventions, errors (seeded synthetic images)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from cxrkit.data.transforms import (
    GEOMETRIES,
    INTENSITIES,
    TransformSpec,
    apply_intensity,
    geometry,
    preprocess,
    preprocess_batch,
    resize_geometry,
)
from cxrkit.errors import DataFormatError, InvalidImageError, UnknownNameError

SHAPES = [(256, 256), (300, 200), (180, 333), (97, 64)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("geom", GEOMETRIES)
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape_and_dtype(rng, shape, geom, channels):
    spec = TransformSpec(64, geom, "unit", channels)
    out = preprocess(rng.random(shape, dtype=np.float32), spec)
    assert out.shape == (channels, 64, 64)
    assert out.dtype == np.float32
    if channels == 3:
        np.testing.assert_array_equal(out[0], out[2])


def _ramp(shape, axis):
    """Pixel value = continuous coordinate of the pixel centre along ``axis``, divided by the side."""
    h, w = shape
    if axis == 1:
        return np.broadcast_to((np.arange(w, dtype=np.float32) + 0.5) / w, (h, w)).copy()
    return np.broadcast_to(((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None], (h, w)).copy()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("geom", GEOMETRIES)
def test_geometry_maps_model_pixels_back_to_original(shape, geom):
    """Resampling a linear ramp reproduces the ramp at each model pixel's mapped-back position: this checks
    that geometry() describes exactly what resize_geometry() does (scale and sub-pixel offset)."""
    spec = TransformSpec(48, geom)
    g = geometry(shape, spec)
    h, w = shape
    jj, ii = np.meshgrid(np.arange(48) + 0.5, np.arange(48) + 0.5)
    xo, yo = g.to_original(jj, ii)
    # interior model pixels only: the filter is truncated (and renormalised) at the image border
    margin = 2.5 / min(g.scale_x, g.scale_y, 1.0) + 1
    inside = (xo > margin) & (xo < w - margin) & (yo > margin) & (yo < h - margin)
    assert inside.sum() > 100
    out_x = resize_geometry(_ramp(shape, 1), spec)
    out_y = resize_geometry(_ramp(shape, 0), spec)
    # within 0.1 original pixel: Pillow's sampled triangle kernel reproduces a ramp only to ~0.07 px at
    # non-integer scales and fractional crop offsets; an off-by-half-pixel mapping would miss by >= 0.5
    np.testing.assert_allclose(out_x[inside] * w, xo[inside], atol=0.1)
    np.testing.assert_allclose(out_y[inside] * h, yo[inside], atol=0.1)


@pytest.mark.parametrize("shape", [(300, 200), (180, 333)])
def test_pad_leaves_black_borders_and_center_crop_keeps_the_center(shape):
    ones = np.ones(shape, np.float32)
    padded = resize_geometry(ones, TransformSpec(64, "pad"))
    g = geometry(shape, TransformSpec(64, "pad"))
    assert padded.min() == 0.0 and padded.max() == pytest.approx(1.0)
    # the image covers exactly [offset, offset + side * scale) on each axis
    rows = np.flatnonzero(padded[:, 32] > 0.5)
    cols = np.flatnonzero(padded[32] > 0.5)
    assert rows[0] == g.offset_y and rows[-1] + 1 == g.offset_y + shape[0] * g.scale_y
    assert cols[0] == g.offset_x and cols[-1] + 1 == g.offset_x + shape[1] * g.scale_x
    cropped = resize_geometry(ones, TransformSpec(64, "center_crop"))
    np.testing.assert_allclose(cropped, 1.0, atol=1e-6)  # no padding anywhere


def test_round_trip_of_a_bright_dot(rng):
    """A dot in the original lands where geometry() says, for every geometry, on a non-square image."""
    h, w = 400, 320
    r, c = int(rng.integers(120, 280)), int(rng.integers(100, 220))
    img = np.zeros((h, w), np.float32)
    img[r - 2 : r + 3, c - 2 : c + 3] = 1.0
    for geom in GEOMETRIES:
        spec = TransformSpec(100, geom)
        out = resize_geometry(img, spec)
        i, j = np.unravel_index(np.argmax(out), out.shape)
        x, y = geometry((h, w), spec).to_original(j + 0.5, i + 0.5)
        assert abs(x - (c + 0.5)) <= 2.5 and abs(y - (r + 0.5)) <= 2.5, geom


def test_resize_matches_plain_pillow_bilinear(rng):
    """The 'resize' geometry is exactly Pillow's antialiased bilinear resize of the float image."""
    img = rng.random((210, 170), dtype=np.float32)
    ref = np.asarray(PILImage.fromarray(img).resize((64, 64), PILImage.Resampling.BILINEAR, reducing_gap=None))
    np.testing.assert_array_equal(resize_geometry(img, TransformSpec(64, "resize")), ref)
    # a square image: center_crop is the same plain resize
    sq = rng.random((200, 200), dtype=np.float32)
    ref_sq = np.asarray(PILImage.fromarray(sq).resize((64, 64), PILImage.Resampling.BILINEAR, reducing_gap=None))
    np.testing.assert_allclose(resize_geometry(sq, TransformSpec(64, "center_crop")), ref_sq, atol=1e-6)


@pytest.mark.parametrize(
    "intensity, lo, hi",
    [("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0), ("xrv", -1024.0, 1024.0)],
)
def test_intensity_conventions_map_black_and_white_to_the_range_ends(rng, intensity, lo, hi):
    spec = TransformSpec(32, "resize", intensity)
    black = preprocess(np.zeros((40, 40), np.float32), spec)
    white = preprocess(np.ones((40, 40), np.float32), spec)
    np.testing.assert_allclose(black, lo, atol=1e-4)
    np.testing.assert_allclose(white, hi, rtol=1e-5)
    noisy = preprocess(rng.random((90, 70), dtype=np.float32), spec)
    assert lo <= noisy.min() and noisy.max() <= hi
    mid = preprocess(np.full((40, 40), 0.5, np.float32), spec)
    np.testing.assert_allclose(mid, (lo + hi) / 2, atol=1e-3)


def test_xrv_range_is_linear_in_display_value():
    x = np.linspace(0, 1, 16, dtype=np.float32)[None].repeat(16, 0)
    out = apply_intensity(x, TransformSpec(16, "resize", "xrv"))
    np.testing.assert_allclose(out[0], x * 2048 - 1024, atol=1e-3)


def test_out_of_range_input_is_clipped():
    out = apply_intensity(np.array([[-0.5, 1.5], [0.25, 0.75]], np.float32), TransformSpec(8, "resize", "xrv"))
    np.testing.assert_allclose(out[0], [[-1024, 1024], [-512, 512]])


@pytest.mark.parametrize("channels", [1, 3])
def test_imagenet_normalisation(channels):
    spec = TransformSpec(16, "resize", "imagenet", channels)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    out = preprocess(np.full((20, 20), 0.5, np.float32), spec)
    expected = (0.5 - mean) / std
    if channels == 1:
        expected = expected.mean(keepdims=True)
    np.testing.assert_allclose(out[:, 5, 5], expected, rtol=1e-5)


def test_batch_stacks(rng):
    spec = TransformSpec(32, "center_crop", "xrv")
    imgs = [rng.random((50, 60), dtype=np.float32), rng.random((70, 40), dtype=np.float32)]
    out = preprocess_batch(imgs, spec)
    assert out.shape == (2, 1, 32, 32)
    np.testing.assert_array_equal(out[1], preprocess(imgs[1], spec))


def test_spec_round_trips_through_json():
    spec = TransformSpec(np.int64(320), "pad", "imagenet", 3)
    d = json.loads(json.dumps(spec.to_dict()))
    assert TransformSpec.from_dict(d) == spec
    assert type(spec.size) is int


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"geometry": "centre_crop"}, UnknownNameError, "did you mean 'center_crop'"),
        ({"intensity": "xrvv"}, UnknownNameError, "did you mean 'xrv'"),
        ({"channels": 2}, DataFormatError, "channels"),
        ({"channels": True}, DataFormatError, "channels"),
        ({"size": 4}, DataFormatError, "size"),
        ({"size": 5000}, DataFormatError, "size"),
        ({"size": 224.5}, DataFormatError, "size"),
        ({"size": "224"}, DataFormatError, "size"),
    ],
)
def test_bad_specs_raise_typed_errors(kwargs, error, text):
    with pytest.raises(error, match=text):
        TransformSpec(**kwargs)


def test_all_names_are_accepted():
    for geom in GEOMETRIES:
        for intensity in INTENSITIES:
            TransformSpec(64, geom, intensity)


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros(10, np.float32),
        np.zeros((4, 4, 3), np.float32),
        np.zeros((1, 1), np.float32),
        np.zeros((1, 50), np.float32),
    ],
    ids=["1d", "rgb", "1x1", "one-row"],
)
def test_bad_arrays_raise_invalid_image(pixels):
    with pytest.raises(InvalidImageError):
        preprocess(pixels, TransformSpec(16))


def test_nan_pixels_raise_instead_of_silently_propagating(rng):
    img = rng.random((64, 64), dtype=np.float32)
    img[30, 30] = np.nan
    with pytest.raises(InvalidImageError, match="NaN"):
        preprocess(img, TransformSpec(16))
