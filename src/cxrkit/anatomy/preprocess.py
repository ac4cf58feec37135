"""The segmenter's input transform: one function shared by training, export and inference.

``to_model_input`` resizes a radiograph to a square ``size x size`` grid (anisotropic stretch, so every input
pixel row/column maps back exactly) and equalizes its histogram, which removes most of the difference in
tone curve between digitized films (JSRT) and digital radiographs (NIH, CheXpert...). The network then
standardizes each image itself.
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from cxrkit.data.transforms import TransformSpec, equalize, preprocess
from cxrkit.errors import InvalidImageError

__all__ = ["MIN_SIDE", "resize_float", "equalize", "to_model_input", "resize_mask", "transform_spec"]

#: Smallest accepted image side in pixels: below this the anatomy cannot be resolved.
MIN_SIDE = 64


def _check(pixels: np.ndarray) -> np.ndarray:
    arr = np.asarray(pixels)
    if arr.ndim != 2:
        raise InvalidImageError(f"expected a 2-D grayscale array (H, W), got shape {arr.shape}")
    if min(arr.shape) < MIN_SIDE:
        raise InvalidImageError(
            f"image of {arr.shape[0]}x{arr.shape[1]} pixels is too small for anatomy segmentation "
            f"(minimum side {MIN_SIDE} px)"
        )
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise InvalidImageError("image contains NaN or infinite pixel values")
    return arr


def resize_float(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a float32 ``(H, W)`` array to ``shape`` = (rows, cols); box filter when shrinking, bilinear else."""
    rows, cols = int(shape[0]), int(shape[1])
    if arr.shape == (rows, cols):
        return arr.astype(np.float32, copy=True)
    shrink = rows < arr.shape[0] and cols < arr.shape[1]
    resample = PILImage.Resampling.BOX if shrink else PILImage.Resampling.BILINEAR
    img = PILImage.fromarray(np.ascontiguousarray(arr, dtype=np.float32), mode="F")
    return np.asarray(img.resize((cols, rows), resample=resample), dtype=np.float32)


def to_model_input(pixels: np.ndarray, size: int = 256) -> np.ndarray:
    """Turn a radiograph into the segmenter's input.

    Parameters
    ----------
    pixels:
        float32 ``(H, W)`` in [0, 1], dark lungs (the :class:`cxrkit.types.Image` convention); both sides
        at least :data:`MIN_SIDE`.
    size:
        side of the square model input.

    Returns
    -------
    numpy.ndarray
        float32 ``(size, size)`` in [0, 1], histogram-equalized.

    Raises
    ------
    InvalidImageError
        not 2-D, too small, or non-finite values.
    """
    arr = _check(pixels)
    return preprocess(np.clip(arr, 0.0, 1.0), transform_spec(size))[0]


def transform_spec(size: int = 256) -> TransformSpec:
    """The segmenter's input transform as a card's :class:`~cxrkit.data.transforms.TransformSpec`: stretch to
    ``size x size`` (box filter when shrinking), global histogram equalization, one channel."""
    return TransformSpec(size=size, geometry="resize", intensity="equalized", channels=1, resample="box")


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Area-average a binary mask to ``size x size``; returns float32 coverage in [0, 1]."""
    return np.clip(resize_float(np.asarray(mask, dtype=np.float32), (size, size)), 0.0, 1.0)
