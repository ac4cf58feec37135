"""Corrupted bytes never crash the reader: a seeded mutation fuzz over small DICOM, PNG, JPEG and TIFF files.

Each mutant either reads as a valid image (float32 (H, W) in [0, 1]) or raises a CxrkitError; any other
exception is a bug. (Found and fixed this way: pydicom's lazy parsing errors, Pillow's TIFF TypeError.)
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from cxrkit.errors import CxrkitError
from cxrkit.io import read_image
from cxrkit.synthetic import synthetic_chest, synthetic_dicom

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the garbage it is fed

IMG = synthetic_chest((64, 64), seed=0)


def _pil(fmt: str, arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


SEEDS = {
    "dicom-native": lambda: synthetic_dicom(None, pixels=IMG),
    "dicom-luts": lambda: synthetic_dicom(None, pixels=IMG, window=[(1000, 2000), (10, 20)], rescale=(2, -5),
                                          voi_lut=True),
    "dicom-j2k-m1": lambda: synthetic_dicom(None, pixels=IMG, photometric="MONOCHROME1", transfer_syntax="jpeg2000"),
    "dicom-jpeg": lambda: synthetic_dicom(None, pixels=IMG, bits_stored=8, transfer_syntax="jpeg"),
    "dicom-no-preamble": lambda: synthetic_dicom(None, pixels=IMG, preamble=False),
    "png": lambda: _pil("PNG", (IMG * 255).astype(np.uint8)),
    "jpeg": lambda: _pil("JPEG", (IMG * 255).astype(np.uint8)),
    "tiff16": lambda: _pil("TIFF", (IMG * 60000).astype(np.uint16)),
}


@pytest.mark.parametrize("name", list(SEEDS))
def test_mutated_files_raise_only_cxrkit_errors(name: str) -> None:
    data = SEEDS[name]()
    rng = np.random.default_rng(list(SEEDS).index(name))
    outcomes = {"read": 0, "rejected": 0}
    for _ in range(40):
        mutant = bytearray(data)
        limit = min(len(mutant), 1400) if rng.random() < 0.7 else len(mutant)  # mostly the header
        for _ in range(int(rng.integers(1, 6))):
            mutant[int(rng.integers(0, limit))] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            mutant = mutant[: int(rng.integers(1, len(mutant)))]
        try:
            image = read_image(bytes(mutant))
        except CxrkitError:
            outcomes["rejected"] += 1
            continue
        px = image.pixels
        assert px.dtype == np.float32 and px.ndim == 2 and np.isfinite(px).all()
        assert float(px.min()) >= 0.0 and float(px.max()) <= 1.0
        outcomes["read"] += 1
    assert sum(outcomes.values()) == 40
