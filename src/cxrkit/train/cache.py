"""Decode-once caches for CPU training.

* :func:`build_image_cache`: every image read once with :func:`cxrkit.io.read_image`, resized with the
  model card's geometry (:func:`cxrkit.data.transforms.resize_geometry`, exactly what inference does) and
  stored as uint8 ``(N, S, S)`` in a ``.npy`` file (memory-mapped when reused).
* :func:`build_feature_cache`: for a model trained with a frozen trunk, the trunk's output for every image
  (view 0: as is; views 1..V: augmented with :func:`cxrkit.train.augment.augment_batch`) computed once
  with ONNX Runtime and stored as float16. Training then runs only the unfrozen top.

Both files are written atomically and reused when their key (paths, size, options) matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from cxrkit.data.transforms import TransformSpec, apply_intensity, resize_geometry
from cxrkit.errors import CxrkitError, DataFormatError
from cxrkit.fs import atomic_open, atomic_write_text
from cxrkit.train.augment import AugmentConfig, augment_batch

__all__ = ["build_image_cache", "build_feature_cache", "cache_key"]

log = logging.getLogger(__name__)


def cache_key(*parts: object) -> str:
    """A short stable hash of JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _save_atomic(arr: np.ndarray, path: Path, meta: dict) -> None:
    with atomic_open(path, "wb", fsync=False) as fh:  # a cache: rebuilt when lost
        np.save(fh, arr)
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta))


def _valid(path: Path, key: str) -> bool:
    meta = path.with_suffix(".json")
    if not (path.is_file() and meta.is_file()):
        return False
    try:
        return json.loads(meta.read_text()).get("key") == key
    except (OSError, json.JSONDecodeError):
        return False


def build_image_cache(paths: Sequence[str], spec: TransformSpec, cache_dir: str | Path, *,
                      progress: bool = False) -> np.ndarray:
    """Decode and resize every image once.

    Args:
        paths: image files (DICOM/PNG/JPEG).
        spec: the model transform (its size and geometry are applied; intensity is not).
        cache_dir: folder of the cache files.
        progress: tqdm bar.

    Returns:
        uint8 ``(N, size, size)`` (memory-mapped), pixels as displayed (0 black).

    Raises:
        CxrkitError: an image cannot be read (the path is named).
    """
    from tqdm.auto import tqdm

    from cxrkit.io import read_image

    key = cache_key([str(p) for p in paths], spec.size, spec.geometry, "v1")
    out = Path(cache_dir) / f"images_{spec.size}_{key}.npy"
    if _valid(out, key):
        log.info("reusing image cache %s", out)
        return np.load(out, mmap_mode="r")
    out.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((len(paths), spec.size, spec.size), dtype=np.uint8)
    for i, p in enumerate(tqdm(paths, desc="decode", disable=not progress, mininterval=5)):
        try:
            img = read_image(p)
        except CxrkitError as exc:
            raise type(exc)(f"{p}: {exc}") from exc
        sq = resize_geometry(img.pixels, spec)
        arr[i] = np.clip(np.rint(sq * 255.0), 0, 255).astype(np.uint8)
    _save_atomic(arr, out, {"key": key, "n": len(paths), "size": spec.size})
    log.info("wrote image cache %s (%d images)", out, len(paths))
    return np.load(out, mmap_mode="r")


def to_model_input(u8: np.ndarray | torch.Tensor, spec: TransformSpec) -> torch.Tensor:
    """uint8 ``(N, S, S)`` (or float [0, 1] ``(N, 1, S, S)``) → float ``(N, C, S, S)`` in the card's convention."""
    x = torch.as_tensor(np.asarray(u8)).float() / 255.0 if not torch.is_tensor(u8) or u8.dtype == torch.uint8 else u8
    if x.ndim == 3:
        x = x[:, None]
    return intensity_tensor(x, spec)


def intensity_tensor(x: torch.Tensor, spec: TransformSpec) -> torch.Tensor:
    """Torch version of :func:`cxrkit.data.transforms.apply_intensity` for ``(N, 1, S, S)`` in [0, 1]."""
    x = x.clamp(0.0, 1.0)
    if spec.intensity in ("unit",):
        y = x
    elif spec.intensity == "symmetric":
        y = x * 2.0 - 1.0
    elif spec.intensity == "xrv":
        y = x * 2048.0 - 1024.0
    else:  # imagenet: reuse the numpy reference for exactness
        y = torch.from_numpy(np.stack([apply_intensity(s[0].numpy(), spec) for s in x]))
        return y
    return y.repeat(1, spec.channels, 1, 1) if spec.channels == 3 else y


def build_feature_cache(images: np.ndarray, rows_views: Sequence[tuple[int, int]], trunk: Callable[[np.ndarray], np.ndarray],
                        spec: TransformSpec, cache_dir: str | Path, *, key_parts: Sequence[object], seed: int,
                        batch_size: int = 32, aug: AugmentConfig = AugmentConfig(),
                        progress: bool = False) -> np.ndarray:
    """Trunk outputs for (row, view) pairs, computed once.

    Args:
        images: uint8 ``(N, S, S)`` image cache.
        rows_views: ``(row, view)`` pairs; view 0 is the image as is, view v > 0 an augmented copy drawn
            from a generator seeded with ``(seed, row, v)`` (reproducible whatever the order).
        trunk: float32 ``(B, C, S, S)`` → float32 ``(B, c, h, w)`` (e.g. an :class:`~cxrkit.models.onnx.OnnxRunner`).
        spec: the model transform (intensity convention).
        cache_dir: folder of the cache file.
        key_parts: what identifies the trunk (weights checksum, cut) for cache reuse.
        seed: augmentation seed.

    Returns:
        float16 ``(len(rows_views), c, h, w)`` (memory-mapped), in the order of ``rows_views``.
    """
    from tqdm.auto import tqdm

    if len(rows_views) == 0:
        raise DataFormatError("no images to encode for the feature cache")
    key = cache_key(list(key_parts), [list(map(int, rv)) for rv in rows_views], images.shape, seed, repr(aug), "v1")
    out = Path(cache_dir) / f"features_{key}.npy"
    if _valid(out, key):
        log.info("reusing feature cache %s", out)
        return np.load(out, mmap_mode="r")
    out.parent.mkdir(parents=True, exist_ok=True)
    result: np.ndarray | None = None
    rv = np.asarray(rows_views, dtype=np.int64)
    for start in tqdm(range(0, len(rv), batch_size), desc="features", disable=not progress, mininterval=10):
        chunk = rv[start:start + batch_size]
        x = torch.from_numpy(np.asarray(images[chunk[:, 0]])).float()[:, None] / 255.0
        for i, (row, view) in enumerate(chunk):
            if view > 0:
                g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(row) * 101 + int(view))
                x[i : i + 1] = augment_batch(x[i : i + 1], g, aug)
        feats = trunk(intensity_tensor(x, spec).numpy())
        if result is None:
            result = np.zeros((len(rv),) + feats.shape[1:], dtype=np.float16)
        result[start : start + len(chunk)] = feats.astype(np.float16)
    if result is None:  # pragma: no cover - rows_views is non-empty
        raise DataFormatError("feature cache is empty")
    _save_atomic(result, out, {"key": key, "n": len(rv)})
    log.info("wrote feature cache %s %s", out, result.shape)
    return np.load(out, mmap_mode="r")
