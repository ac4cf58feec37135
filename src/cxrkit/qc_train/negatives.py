"""Images for the "not a frontal chest film" side and the augmentations of training images."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image as PILImage

__all__ = ["augment", "synthetic_non_radiographs", "matplotlib_samples"]


def augment(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random flip, rotation (±8°), crop (80-100 % per side) and gamma (0.7-1.4) of float pixels in [0, 1]."""
    a = np.asarray(pixels, np.float32)
    if rng.random() < 0.5:
        a = a[:, ::-1]
    im = PILImage.fromarray(np.ascontiguousarray(a), mode="F")
    im = im.rotate(float(rng.uniform(-8, 8)), resample=PILImage.Resampling.BILINEAR, expand=False,
                   fillcolor=float(np.median(a)))
    h, w = a.shape
    ch, cw = int(h * rng.uniform(0.8, 1.0)), int(w * rng.uniform(0.8, 1.0))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = np.asarray(im, np.float32)[y0:y0 + ch, x0:x0 + cw]
    return np.clip(out, 0, 1) ** float(rng.uniform(0.7, 1.4))


def synthetic_non_radiographs(n: int, seed: int, size: int = 256) -> list[np.ndarray]:
    """``n`` seeded smooth images that are not radiographs (they pass the noise/uniform/binary rules):
    linear and radial gradients, Gaussian blobs, waves, stripes and blocks of "text" lines."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            a = np.cos(rng.uniform(0, np.pi)) * xx + np.sin(rng.uniform(0, np.pi)) * yy
        elif kind == 1:
            a = np.hypot(xx - rng.uniform(0.2, 0.8), yy - rng.uniform(0.2, 0.8))
        elif kind == 2:
            a = np.zeros_like(xx)
            for _ in range(int(rng.integers(1, 6))):
                cy, cx, s = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
                a += rng.uniform(-1, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        elif kind == 3:
            f1, f2 = rng.uniform(1, 8, 2)
            a = np.sin(2 * np.pi * f1 * xx + rng.uniform(0, 6)) * np.cos(2 * np.pi * f2 * yy)
        elif kind == 4:
            a = (np.sin(2 * np.pi * rng.uniform(2, 12) * (xx * rng.uniform(-1, 1) + yy)) > 0).astype(np.float32)
            a = a * 0.6 + 0.2 + 0.2 * xx
        else:  # "text": dark lines of short bright dashes on a plain page
            a = np.full_like(xx, rng.uniform(0.6, 0.95))
            for y in range(int(rng.integers(8, 20)), size - 10, int(rng.integers(10, 24))):
                x = int(rng.integers(5, 30))
                while x < size - 20:
                    wlen = int(rng.integers(5, 30))
                    a[y:y + int(rng.integers(4, 8)), x:x + wlen] = rng.uniform(0.0, 0.3)
                    x += wlen + int(rng.integers(3, 10))
        a = a + rng.normal(0, 0.01, a.shape)
        lo, hi = float(a.min()), float(a.max())
        im = PILImage.fromarray(((a - lo) / max(hi - lo, 1e-6)).astype(np.float32), mode="F")
        out.append(np.asarray(im, np.float32))
    return out


def matplotlib_samples() -> dict[str, np.ndarray]:
    """matplotlib's bundled sample images as grayscale float [0, 1]: ``grace_hopper`` (a portrait photograph),
    ``s1045`` (an MR brain slice), ``jacksboro`` and ``topobathy`` (terrain maps), ``logo2`` and
    ``minduka`` (graphics)."""
    import gzip

    from matplotlib import cbook

    def sample(name: str) -> Any:  # a file object, or the arrays of an .npz
        return cbook.get_sample_data(name)

    out: dict[str, np.ndarray] = {}

    def norm(a):
        a = np.asarray(a, np.float32)
        return (a - a.min()) / max(float(a.max() - a.min()), 1e-6)

    with sample("grace_hopper.jpg") as fh:
        out["grace_hopper"] = norm(np.asarray(PILImage.open(fh).convert("L")))
    with sample("s1045.ima.gz") as fh:
        raw = gzip.decompress(fh.read()) if not hasattr(fh, "peek") or fh.peek(2)[:2] == b"\x1f\x8b" else fh.read()
        out["s1045"] = norm(np.frombuffer(raw, np.uint16).astype(np.float32).reshape(256, 256))
    with sample("jacksboro_fault_dem.npz") as z:
        out["jacksboro"] = norm(z["elevation"])
    with sample("topobathy.npz") as z:
        out["topobathy"] = norm(z["topo"])
    for key, name in (("logo2", "logo2.png"), ("minduka", "Minduka_Present_Blue_Pack.png")):
        with sample(name) as fh:
            out[key] = norm(np.asarray(PILImage.open(fh).convert("L")))
    return out
