"""image_from_array: in-memory arrays follow the same rules as files."""

from __future__ import annotations

import numpy as np
import pytest

from cxrkit.io import image_from_array
from cxrkit.synthetic import synthetic_chest

REF = synthetic_chest((40, 36), seed=5)


@pytest.mark.parametrize(
    ("arr", "kw", "expected", "bits"),
    [
        (np.rint(REF * 255).astype(np.uint8), {}, np.rint(REF * 255) / 255, 8),
        (np.rint(REF * 4095).astype(np.uint16), {}, np.rint(REF * 4095) / 4095, 12),
        (np.rint(REF * 65535).astype(np.uint16), {}, np.rint(REF * 65535) / 65535, 16),
        (np.rint(REF * 1000).astype(np.uint16), {"bits_stored": 10}, np.rint(REF * 1000) / 1023, 10),
        (REF.astype(np.float64), {}, REF, None),
        (REF, {"photometric": "MONOCHROME1"}, 1 - REF, None),
        (REF[..., None], {}, REF, None),
        ((REF * 2000 - 1000).astype(np.int16), {}, None, None),
        (REF > 0.3, {}, (REF > 0.3).astype(np.float32), 1),
    ],
    ids=["uint8", "uint16-12bit", "uint16-16bit", "uint16-bits_stored", "float64", "monochrome1", "hw1", "int16",
         "bool"],
)
def test_arrays(arr: np.ndarray, kw: dict, expected, bits) -> None:
    image = image_from_array(arr, source="mem", **kw)
    assert image.pixels.dtype == np.float32 and image.shape == REF.shape
    if expected is None:  # min-max
        a = arr.astype(np.float64)
        expected = (a - a.min()) / (a.max() - a.min())
        assert any("actual range" in n for n in image.meta.notes)
    np.testing.assert_allclose(image.pixels, expected, atol=1e-4)
    assert image.meta.format == "array" and image.meta.source == "mem" and image.meta.bits_stored == bits


def test_rgb_arrays() -> None:
    gray8 = np.rint(REF * 255).astype(np.uint8)
    image = image_from_array(np.dstack([gray8] * 3), photometric="RGB")
    np.testing.assert_allclose(image.pixels, gray8 / 255, atol=1e-6)
    color = np.dstack([gray8, gray8 // 2, gray8 // 3, np.full_like(gray8, 255)])
    image = image_from_array(color, photometric="RGBA")
    lum = (0.299 * color[..., 0] + 0.587 * color[..., 1] + 0.114 * color[..., 2]) / 255
    np.testing.assert_allclose(image.pixels, lum, atol=1e-5)
    assert any("alpha" in n for n in image.meta.notes)
