"""Shared set-up for tests/io: a session cache of decoded real files (the J2K/JPEG-LS ones take ~1 s)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import pytest

from cxrkit.io import read_image
from cxrkit.types import Image


@lru_cache(maxsize=16)
def _cached_read(path: str) -> Image:
    return read_image(path)


@pytest.fixture(scope="session")
def read_cached() -> Callable[[str], Image]:
    """``read_cached(str(path)) -> Image``: :func:`cxrkit.io.read_image`, decoded once per session."""
    return _cached_read
