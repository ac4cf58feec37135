"""The overlay's colour map is computed without matplotlib and equals matplotlib's "jet" entry for entry."""

from __future__ import annotations

import numpy as np
import pytest

from cxrkit.errors import UnknownNameError
from cxrkit.report.overlay import _colormap, _lut


def test_jet_lut_equals_matplotlib() -> None:
    colormaps = pytest.importorskip("matplotlib").colormaps
    ref = (colormaps["jet"].resampled(256)(np.arange(256))[:, :3] * 255.0).astype(np.uint8)
    np.testing.assert_array_equal(_lut("jet"), ref)


def test_colormap_ends_and_unknown_name() -> None:
    rgb = _colormap(np.array([[0.0, 1.0]], np.float32))
    assert rgb.shape == (1, 2, 3) and tuple(rgb[0, 0]) == (0, 0, 127) and tuple(rgb[0, 1]) == (127, 0, 0)
    with pytest.raises(UnknownNameError, match="jet"):
        _lut("viridis")
