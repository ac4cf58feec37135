"""Seeded synthetic chest-radiograph-like images: :func:`synthetic_chest` (see :mod:`cxrkit.synthetic`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, overload

import numpy as np
from scipy import ndimage

from cxrkit.errors import InvalidImageError

__all__ = ["synthetic_chest"]


def _ellipse(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


@overload
def synthetic_chest(
    shape: tuple[int, int] = ..., *, seed: int, noise: float = ..., return_masks: Literal[False] = ...
) -> np.ndarray: ...


@overload
def synthetic_chest(
    shape: tuple[int, int] = ..., *, seed: int, noise: float = ..., return_masks: Literal[True]
) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...


def synthetic_chest(
    shape: tuple[int, int] = (256, 256),
    *,
    seed: int,
    noise: float = 0.01,
    return_masks: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """A seeded synthetic frontal chest radiograph.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, columns)``, each at least 16.
    seed : int
        Seed of the local generator (anatomy jitter and noise).
    noise : float
        Standard deviation of the added Gaussian noise, in display units.
    return_masks : bool
        Also return the anatomy masks.

    Returns
    -------
    pixels : numpy.ndarray
        float32 ``(rows, columns)`` in [0, 1], displayed polarity (lungs dark, bone bright).
    masks : dict of str to numpy.ndarray, optional
        bool ``(rows, columns)`` arrays ``right_lung`` (image left), ``left_lung`` (image right) and
        ``heart``, in the patient's anatomical convention of a PA view.

    Examples
    --------
    >>> img, masks = synthetic_chest((128, 128), seed=0, return_masks=True)
    >>> img.shape, img.dtype, bool(img[masks["left_lung"]].mean() < img[masks["heart"]].mean())
    ((128, 128), dtype('float32'), True)
    """
    rows, cols = (int(shape[0]), int(shape[1]))
    if rows < 16 or cols < 16:
        raise InvalidImageError(f"shape {shape!r}: expected at least (16, 16)")
    rng = np.random.default_rng(seed)
    j = lambda scale: float(rng.uniform(-scale, scale))  # noqa: E731 - small local jitter helper
    yy, xx = np.meshgrid(
        (np.arange(rows, dtype=np.float32) + 0.5) / rows,
        (np.arange(cols, dtype=np.float32) + 0.5) / cols,
        indexing="ij",
    )
    img, torso, right_lung, left_lung, heart = _soft_tissue_and_lungs(yy, xx, j)
    img = _bones_and_heart(img, yy, xx, torso, right_lung | left_lung, heart, j)

    sigma = max(rows, cols) / 256.0 * 1.5
    img = ndimage.gaussian_filter(img, sigma=sigma, mode="nearest")
    if noise > 0:
        img += rng.normal(0.0, noise, size=img.shape).astype(np.float32)
    np.clip(img, 0.0, 1.0, out=img)
    img = img.astype(np.float32, copy=False)
    if not return_masks:
        return img
    return img, {"right_lung": right_lung, "left_lung": left_lung, "heart": heart}


Jitter = Callable[[float], float]


def _soft_tissue_and_lungs(yy: np.ndarray, xx: np.ndarray, j: Jitter
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Torso, lungs (cut by the diaphragm domes and the heart) and the heart's outline, painted; jitter from
    ``j`` in a fixed order (the image depends on the seed only)."""
    img = np.full(yy.shape, 0.04, dtype=np.float32)

    # torso (soft tissue), shoulders and neck
    torso = _ellipse(yy, xx, 0.95 + j(0.02), 0.5, 0.9, 0.44 + j(0.02)) | (
        (np.abs(xx - 0.5) < 0.09 + j(0.01)) & (yy < 0.3)
    )
    img[torso] = 0.5 + j(0.04)

    # lungs: ellipses cut below by diaphragm domes
    cx_r, cx_l = 0.31 + j(0.02), 0.69 + j(0.02)
    cy = 0.46 + j(0.02)
    ry, rx = 0.29 + j(0.02), 0.14 + j(0.015)
    dome_r = 0.74 + j(0.02) + 0.12 * ((xx - cx_r) / rx) ** 2
    dome_l = 0.77 + j(0.02) + 0.12 * ((xx - cx_l) / rx) ** 2
    right_lung = _ellipse(yy, xx, cy, cx_r, ry, rx) & (yy < dome_r)
    left_lung = _ellipse(yy, xx, cy + 0.01, cx_l, ry * 0.98, rx * 0.95) & (yy < dome_l)

    # heart: bright, overlapping the left lung field (patient's left = image right)
    h_cy, h_cx, h_ry, h_rx = 0.64 + j(0.02), 0.56 + j(0.015), 0.13 + j(0.01), 0.15 + j(0.015)
    heart = _ellipse(yy, xx, h_cy, h_cx, h_ry, h_rx)
    left_lung &= ~(heart | ((yy > h_cy) & (xx < h_cx + h_rx)))
    right_lung &= ~heart
    lungs = right_lung | left_lung
    lung_value = 0.16 + 0.10 * (yy - 0.2) + j(0.03)  # a little brighter toward the bases
    img = np.where(lungs, lung_value, img).astype(np.float32)
    return img, torso, right_lung, left_lung, heart


def _bones_and_heart(img: np.ndarray, yy: np.ndarray, xx: np.ndarray, torso: np.ndarray, lungs: np.ndarray,
                     heart: np.ndarray, j: Jitter) -> np.ndarray:
    """Ribs over the lungs, mediastinum, spine, heart and clavicles."""
    # ribs: curved periodic bands, visible over the lungs
    n_ribs = 9.0 + j(0.5)
    curve = 0.09 * ((xx - 0.5) / 0.4) ** 2
    ribs = np.sin(2.0 * np.pi * ((yy + curve) * n_ribs + j(1.0))) > 0.55
    img[ribs & lungs] += 0.09

    # mediastinum, spine, heart, clavicles
    mediastinum = (np.abs(xx - 0.5 - j(0.01)) < 0.07) & (yy > 0.12) & torso
    img[mediastinum] = 0.68 + j(0.03)
    spine = (np.abs(xx - 0.5) < 0.035) & torso
    img[spine] = 0.76 + j(0.03)
    img[heart] = 0.7 + j(0.03)
    for side in (-1.0, 1.0):
        clav = np.abs(yy - (0.2 + j(0.01)) + 0.08 * np.abs(xx - 0.5)) < 0.012  # rising laterally
        clav &= (np.abs(xx - 0.5) > 0.04) & (np.abs(xx - 0.5) < 0.32) & (np.sign(xx - 0.5) == side)
        img[clav] = 0.8
    return img
