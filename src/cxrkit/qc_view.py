"""Learned view check: is this image a frontal chest radiograph, or a lateral view / not a chest film?

A small model (standardized hand-made features → logistic regression or a one-hidden-layer MLP, numpy only, no
torch) gives ``p_not_frontal`` = probability that the image is *not* a frontal chest radiograph (a lateral view,
or another kind of image). :func:`cxrkit.qc.check_quality` turns it into a decision with the two thresholds of
the model card: ``p >= t_refuse`` refuses the image, ``t_flag <= p < t_refuse`` flags it ("possibly lateral")
and the image is still analysed.

Features (:func:`view_features`) come from the displayed pixels after the standard read, on a 64 x 64
thumbnail of the image without flat borders (padding): a 16 x 16 grid of mean intensities, column and row
intensity profiles, the left-right mirror difference of the column profile, an intensity histogram, HOG-like
gradient orientation histograms on a 4 x 4 grid of cells, the three layout cues of
:func:`cxrkit.qc.layout_features`, the mirror correlation of four horizontal bands and the position of the
brightest vertical band (the spine, central on a frontal film). The thumbnail is first mirrored, when needed,
so that this band lies in its right half: laterals facing either way then look alike.

The shipped parameters (``qc_weights/view_model.npz``) and their card (``qc_weights/view_model.json``: training
data and counts, held-out numbers, thresholds, SHA-256 of the npz) are produced by
``python -m cxrkit.qc_train``; the card's checksum is verified on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from scipy.special import expit

from cxrkit.errors import ModelError
from cxrkit.fs import atomic_open, atomic_write_text

__all__ = ["FEATURE_VERSION", "ViewModel", "ViewModelCard", "view_features", "load_view_model", "default_view_model"]

log = logging.getLogger(__name__)

FEATURE_VERSION = 2
THUMB = 64
GRID = 16  # mean-intensity grid
HIST_BINS = 16
HOG_CELLS = 4  # per side
HOG_BINS = 8
WEIGHTS_PACKAGE = "qc_weights"
WEIGHTS_NAME = "view_model"


def content_box(pixels: np.ndarray, *, min_std: float = 0.02, keep: float = 0.5) -> tuple[int, int, int, int]:
    """``(r0, r1, c0, c1)``: the image without flat borders (padding, black frames), found on a 128 px box
    thumbnail by trimming edge rows/columns whose standard deviation is below ``min_std``; at least ``keep`` of
    each side is kept."""
    a = np.asarray(pixels, dtype=np.float32)
    h, w = a.shape
    t = np.asarray(PILImage.fromarray(a, mode="F").resize((128, 128), PILImage.Resampling.BOX), dtype=np.float32)
    box = []
    for sd in (t.std(axis=1), t.std(axis=0)):
        idx = np.flatnonzero(sd >= min_std)
        lo, hi = (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 128)
        if hi - lo < keep * 128:
            mid = (lo + hi) / 2
            lo, hi = int(max(0, mid - keep * 64)), int(min(128, mid + keep * 64))
        box.append((lo, hi))
    (r0, r1), (c0, c1) = box
    return r0 * h // 128, max(r1 * h // 128, r0 * h // 128 + 1), c0 * w // 128, max(c1 * w // 128, c0 * w // 128 + 1)


def _thumbnail(pixels: np.ndarray) -> np.ndarray:
    a = np.asarray(pixels, dtype=np.float32)
    r0, r1, c0, c1 = content_box(a)
    a = np.ascontiguousarray(a[r0:r1, c0:c1])
    t = np.asarray(PILImage.fromarray(a, mode="F").resize((THUMB, THUMB), PILImage.Resampling.BILINEAR), dtype=np.float32)
    lo, hi = np.percentile(t, (1.0, 99.0))
    if hi - lo < 1e-6:
        lo, hi = float(t.min()), float(t.max())
    return np.clip((t - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)


def view_features(pixels: np.ndarray) -> np.ndarray:
    """Feature vector of one image for the view model.

    Parameters
    ----------
    pixels:
        float32 ``(H, W)`` in [0, 1], dark lungs (as :func:`cxrkit.io.read_image` returns them).

    Returns
    -------
    float32 ``(D,)``, D = 256 + 64 + 64 + 32 + 16 + 128 + 9 = 569 (feature version 2).
    """
    from cxrkit.qc import layout_features  # lazy: qc imports this module

    t = _thumbnail(pixels)
    # canonical orientation: brightest vertical band (spine) in the right half, so that laterals facing
    # either way look alike (a frontal film's spine is central, so flipping it changes little)
    prof = np.convolve(t.mean(axis=0), np.ones(5) / 5, mode="same")
    if np.argmax(prof[4:-4]) + 4 < THUMB / 2:
        t = t[:, ::-1]
    k = THUMB // GRID
    grid = t.reshape(GRID, k, GRID, k).mean(axis=(1, 3)).ravel()
    cols = t.mean(axis=0)
    rows = t.mean(axis=1)
    mirror = np.abs(cols - cols[::-1])[: THUMB // 2]
    hist = np.histogram(t, bins=HIST_BINS, range=(0.0, 1.0))[0].astype(np.float32) / t.size
    gy, gx = np.gradient(t)
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((ang / np.pi * HOG_BINS).astype(int), HOG_BINS - 1)
    c = THUMB // HOG_CELLS
    hog = np.zeros((HOG_CELLS, HOG_CELLS, HOG_BINS), np.float32)
    for i in range(HOG_CELLS):
        for j in range(HOG_CELLS):
            hog[i, j] = np.bincount(bins[i * c:(i + 1) * c, j * c:(j + 1) * c].ravel(),
                                    weights=mag[i * c:(i + 1) * c, j * c:(j + 1) * c].ravel(), minlength=HOG_BINS)
    hog = hog.ravel() / max(float(hog.sum()), 1e-6) * HOG_CELLS * HOG_CELLS
    lay = layout_features(pixels)
    band_sym = []
    for b in range(4):  # left-right mirror correlation of four horizontal bands
        band = t[b * THUMB // 4:(b + 1) * THUMB // 4]
        sd = float(band.std())
        band_sym.append(float(np.corrcoef(band.ravel(), band[:, ::-1].ravel())[0, 1]) if sd > 1e-6 else 1.0)
    smooth = np.convolve(cols, np.ones(5) / 5, mode="same")
    spine = float(np.argmax(smooth[4:-4]) + 4) / THUMB  # brightest vertical band (spine on a frontal film)
    cues = np.array([lay["symmetry"], lay["imbalance"], lay["dark_fraction"], *band_sym, spine, abs(spine - 0.5)],
                    np.float32)
    return np.concatenate([grid, cols, rows, mirror, hist, hog, cues]).astype(np.float32)


@dataclass(frozen=True)
class ViewModelCard:
    """What the shipped view model is, how it was trained and how it measured (``view_model.json``)."""

    name: str
    version: str
    feature_version: int
    n_features: int
    architecture: str
    t_flag: float
    t_refuse: float
    sha256: str
    training: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    thresholds_rule: str = ""
    intended_use: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ViewModelCard:
        known = {f for f in cls.__dataclass_fields__}
        missing = {"name", "version", "feature_version", "n_features", "architecture", "t_flag", "t_refuse",
                   "sha256"} - set(d)
        if missing:
            raise ModelError(f"view model card lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in d.items() if k in known})


class ViewModel:
    """Standardization + dense layers (ReLU between, sigmoid at the end) → ``p_not_frontal`` in [0, 1].

    Parameters
    ----------
    mean, scale:
        float ``(D,)`` feature standardization.
    layers:
        ``[(W, b), ...]``, W float ``(D_in, D_out)``; one layer = logistic regression.
    card:
        the model card (thresholds), or None for a model being trained.
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]],
                 card: ViewModelCard | None = None) -> None:
        self.mean = np.asarray(mean, np.float64)
        self.scale = np.asarray(scale, np.float64)
        self.layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]
        self.card = card
        if self.layers[0][0].shape[0] != self.mean.shape[0] or self.layers[-1][0].shape[1] != 1:
            raise ModelError("view model layers do not match the feature size or do not end in one output")

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def logit(self, features: np.ndarray) -> np.ndarray:
        """Logit of ``p_not_frontal`` for float ``(N, D)`` or ``(D,)`` features → ``(N,)``."""
        x = (np.atleast_2d(np.asarray(features, np.float64)) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x[:, 0]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """``p_not_frontal`` in [0, 1], ``(N,)``."""
        return expit(self.logit(features))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"mean": self.mean.astype(np.float32), "scale": self.scale.astype(np.float32)}
        for i, (w, b) in enumerate(self.layers):
            out[f"w{i}"] = w.astype(np.float32)
            out[f"b{i}"] = b.astype(np.float32)
        return out

    def save(self, folder: Path, card: dict[str, Any]) -> ViewModelCard:
        """Write ``view_model.npz`` and ``view_model.json`` (card with the npz's SHA-256) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        npz = folder / f"{WEIGHTS_NAME}.npz"
        with atomic_open(npz, "wb") as fh:
            np.savez(fh, **self.arrays())  # type: ignore[arg-type]
        card = {**card, "sha256": hashlib.sha256(npz.read_bytes()).hexdigest(), "n_features": self.n_features}
        atomic_write_text(folder / f"{WEIGHTS_NAME}.json", json.dumps(card, indent=2, sort_keys=False) + "\n")
        self.card = ViewModelCard.from_dict(card)
        return self.card


def load_view_model(folder: str | Path | None = None) -> ViewModel:
    """Load a view model (``view_model.npz`` + ``view_model.json``) from ``folder`` (None: the shipped one).

    Raises
    ------
    ModelError
        files missing, checksum different from the card's, or a feature version this code does not compute.
    """
    base = Path(str(resources.files("cxrkit").joinpath(WEIGHTS_PACKAGE))) if folder is None else Path(folder)
    npz, js = base / f"{WEIGHTS_NAME}.npz", base / f"{WEIGHTS_NAME}.json"
    if not npz.is_file() or not js.is_file():
        raise ModelError(f"view model not found in {base} (expected {npz.name} and {js.name})")
    card = ViewModelCard.from_dict(json.loads(js.read_text()))
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    if digest != card.sha256:
        raise ModelError(f"view model checksum mismatch: {npz} has {digest[:12]}..., the card says {card.sha256[:12]}...")
    if card.feature_version != FEATURE_VERSION:
        raise ModelError(f"view model uses feature version {card.feature_version}; this cxrkit computes {FEATURE_VERSION}")
    with np.load(npz) as z:
        n = sum(1 for k in z.files if k.startswith("w"))
        model = ViewModel(z["mean"], z["scale"], [(z[f"w{i}"], z[f"b{i}"]) for i in range(n)], card)
    if model.n_features != card.n_features:
        raise ModelError(f"view model has {model.n_features} features, its card says {card.n_features}")
    return model


@lru_cache(maxsize=1)
def default_view_model() -> ViewModel | None:
    """The shipped view model, loaded once; None (logged) when it is missing or corrupt."""
    try:
        return load_view_model(None)
    except ModelError as exc:
        log.warning("learned view check unavailable: %s", exc)
        return None
