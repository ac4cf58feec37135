"""Model input transforms declared by a model card: geometry, intensity convention, channels.

Everything here is arrays in, arrays out. Input pixels follow the :class:`cxrkit.types.Image` convention
(float32 ``(H, W)`` in [0, 1], dark lungs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image as PILImage

from cxrkit.errors import InvalidImageError, unknown_name

__all__ = ["TransformSpec", "Geometry", "geometry", "resize_geometry", "apply_intensity", "preprocess", "preprocess_batch"]

GEOMETRIES = ("resize", "center_crop", "pad")
INTENSITIES = ("unit", "imagenet", "xrv", "symmetric")
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class TransformSpec:
    """How a model wants its input.

    Attributes:
        size: output side in pixels (square output ``(size, size)``).
        geometry: "resize" (squash to square), "center_crop" (shorter side to ``size``, crop the centre, as
            TorchXRayVision's XRayCenterCrop + resize) or "pad" (longer side to ``size``, pad with black).
        intensity: "unit" ([0, 1]), "symmetric" ([-1, 1]), "xrv" ([-1024, 1024], TorchXRayVision's
            convention) or "imagenet" (ImageNet mean/std per channel).
        channels: 1 or 3 (gray repeated).
    """

    size: int = 224
    geometry: str = "resize"
    intensity: str = "unit"
    channels: int = 1

    def __post_init__(self) -> None:
        if self.geometry not in GEOMETRIES:
            raise unknown_name("geometry", self.geometry, GEOMETRIES)
        if self.intensity not in INTENSITIES:
            raise unknown_name("intensity convention", self.intensity, INTENSITIES)
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if not 8 <= int(self.size) <= 4096:
            raise ValueError(f"size must be in [8, 4096], got {self.size}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TransformSpec":
        return cls(**{k: d[k] for k in ("size", "geometry", "intensity", "channels") if k in d})


@dataclass(frozen=True)
class Geometry:
    """Maps model-input pixels back to original pixels: ``orig = (model - offset) / scale``.

    Attributes:
        scale_y, scale_x: model pixels per original pixel along rows and columns.
        offset_y, offset_x: model-space position of original pixel (0, 0) (negative when cropped).
    """

    scale_y: float
    scale_x: float
    offset_y: float
    offset_x: float

    def to_original(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple:
        """Model-space ``(x, y)`` → original-image ``(x, y)``."""
        return ((np.asarray(x) - self.offset_x) / self.scale_x, (np.asarray(y) - self.offset_y) / self.scale_y)


def geometry(shape: tuple[int, int], spec: TransformSpec) -> Geometry:
    """The :class:`Geometry` that :func:`preprocess` applies to an image of ``shape`` ``(rows, cols)``."""
    h, w = int(shape[0]), int(shape[1])
    s = spec.size
    if spec.geometry == "resize":
        return Geometry(s / h, s / w, 0.0, 0.0)
    if spec.geometry == "center_crop":
        k = s / min(h, w)
        return Geometry(k, k, (s - h * k) / 2.0, (s - w * k) / 2.0)
    k = s / max(h, w)
    return Geometry(k, k, (s - h * k) / 2.0, (s - w * k) / 2.0)


def resize_geometry(pixels: np.ndarray, spec: TransformSpec) -> np.ndarray:
    """Apply the card's geometry: float32 ``(H, W)`` → float32 ``(size, size)``, same intensity scale."""
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise InvalidImageError(f"expected a 2-D image of at least 2x2 pixels, got shape {arr.shape}")
    h, w = arr.shape
    s = spec.size
    g = geometry((h, w), spec)
    new_h, new_w = max(1, round(h * g.scale_y)), max(1, round(w * g.scale_x))
    img = PILImage.fromarray(np.ascontiguousarray(arr))
    out = np.asarray(img.resize((new_w, new_h), PILImage.Resampling.BILINEAR, reducing_gap=None), dtype=np.float32)
    if spec.geometry == "resize":
        return out
    canvas = np.zeros((s, s), dtype=np.float32)
    top, left = (s - new_h) // 2, (s - new_w) // 2
    src_top, src_left = max(0, -top), max(0, -left)
    dst_top, dst_left = max(0, top), max(0, left)
    hh, ww = min(new_h - src_top, s - dst_top), min(new_w - src_left, s - dst_left)
    canvas[dst_top : dst_top + hh, dst_left : dst_left + ww] = out[src_top : src_top + hh, src_left : src_left + ww]
    return canvas


def apply_intensity(square: np.ndarray, spec: TransformSpec) -> np.ndarray:
    """``(S, S)`` in [0, 1] → ``(C, S, S)`` float32 in the card's intensity convention."""
    x = np.clip(np.asarray(square, dtype=np.float32), 0.0, 1.0)
    if spec.intensity == "xrv":
        x = x * 2048.0 - 1024.0
    elif spec.intensity == "symmetric":
        x = x * 2.0 - 1.0
    if spec.intensity == "imagenet":
        x3 = np.repeat(x[None], 3, axis=0)
        x3 = (x3 - _IMAGENET_MEAN[:, None, None]) / _IMAGENET_STD[:, None, None]
        return x3 if spec.channels == 3 else x3.mean(axis=0, keepdims=True)
    x = x[None]
    return np.repeat(x, 3, axis=0) if spec.channels == 3 else x


def preprocess(pixels: np.ndarray, spec: TransformSpec) -> np.ndarray:
    """Full transform: float32 ``(H, W)`` in [0, 1] → float32 ``(C, size, size)`` ready for the model."""
    return apply_intensity(resize_geometry(pixels, spec), spec)


def preprocess_batch(images: list[np.ndarray], spec: TransformSpec) -> np.ndarray:
    """Stack of :func:`preprocess` outputs: ``(N, C, size, size)``."""
    return np.stack([preprocess(p, spec) for p in images], axis=0)
