"""The classification runtime: a model package (card + ONNX + safetensors) → probabilities per finding.

>>> from cxrkit.models.classifier import load_classifier
>>> clf = load_classifier()                      # the shipped default model  # doctest: +SKIP
>>> probs = clf.predict([image.pixels])          # (1, len(clf.findings))      # doctest: +SKIP

Only the card's ``reported_findings`` (validated ones) are exposed by :meth:`Classifier.predict`;
:meth:`Classifier.predict_all` returns every output for evaluation. Outputs are probabilities (sigmoid of
the logits), not a diagnosis.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from cxrkit.data.transforms import TransformSpec, preprocess
from cxrkit.errors import DataFormatError, InvalidImageError, ModelError
from cxrkit.models.card import ModelCard
from cxrkit.types import Finding

__all__ = ["Classifier", "load_classifier", "DEFAULT_MODEL", "default_model_path"]

log = logging.getLogger(__name__)

#: File stem of the shipped default model in ``cxrkit/models/weights/``.
DEFAULT_MODEL = "cxr-adult-v2"


def default_model_path() -> Path:
    """The shipped default card: ``cxrkit/models/weights/cxr-adult-v2.card.json``."""
    return Path(__file__).resolve().parent / "weights" / f"{DEFAULT_MODEL}.card.json"


class Classifier:
    """A loaded, verified classifier.

    Attributes:
        card: the model card.
        labels: every head output, in order.
        findings: validated findings only (``card.reported_findings``), the columns of :meth:`predict`.
        transform: the input transform.
        thresholds: finding → default operating point (probability), for :attr:`findings`.
    """

    def __init__(self, card: ModelCard, *, threads: int | None = None) -> None:
        if card.kind != "classifier":
            raise ModelError(f"model {card.name!r} is a {card.kind}, not a classifier")
        self.card = card
        self.labels: list[str] = list(card.labels)
        self.findings: list[str] = list(card.reported_findings)
        self.transform: TransformSpec = card.transform_spec
        self.thresholds: dict[str, float] = {f: card.threshold(f) for f in self.findings}
        self._threads = threads
        self._session = None
        self._head: tuple[np.ndarray, np.ndarray] | None = None
        self._torch: Any = None
        self._lock = threading.Lock()
        self._cols = np.array([self.labels.index(f) for f in self.findings], dtype=np.int64)

    def __repr__(self) -> str:
        return f"Classifier({self.card.name!r}, findings={self.findings})"

    # ------------------------------------------------------------------ inference
    def _runner(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    from cxrkit.models.onnx import ort_session

                    o = self.card.onnx_path()
                    if o is None:
                        raise ModelError(f"model {self.card.name!r} has no ONNX export in its card")
                    self._session = ort_session(o, threads=self._threads)
        return self._session

    @property
    def has_features(self) -> bool:
        """True when the package's ONNX graph also returns the last feature map (CAM without PyTorch)."""
        from cxrkit.models.onnx import FEATURES

        return any(o.name == FEATURES for o in self._runner().get_outputs())

    def run(self, x: np.ndarray, *, features: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """One ONNX Runtime run on model input ``x (N, C, S, S)`` (from :meth:`preprocess`).

        Returns:
            ``(logits (N, len(labels)), features (N, D, h, w) or None)``; features only when asked for and the
            graph has them (:attr:`has_features`).
        """
        session = self._runner()
        feed = {session.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)}
        if features and self.has_features:
            logits, feats = session.run(None, feed)[:2]
            return np.asarray(logits, np.float32), np.asarray(feats, np.float32)
        return np.asarray(session.run([session.get_outputs()[0].name], feed)[0], np.float32), None

    def head(self) -> tuple[np.ndarray, np.ndarray]:
        """The linear head that pools :meth:`run`'s features: ``W (K, D)``, ``b (K,)`` float32, read from the
        package's safetensors (no PyTorch)."""
        if self._head is None:
            from safetensors import safe_open

            try:
                with safe_open(str(self.card.weights_path()), framework="numpy") as fh:
                    keys = list(fh.keys())
                    w = next(k for k in keys if k.endswith("classifier.weight"))
                    b = w[: -len("weight")] + "bias"
                    weight = fh.get_tensor(w).astype(np.float32)
                    bias = fh.get_tensor(b).astype(np.float32) if b in keys else np.zeros(weight.shape[0], np.float32)
            except StopIteration as exc:
                raise ModelError(f"model {self.card.name!r}: no linear head (classifier.weight) in its weights") from exc
            self._head = (weight, bias)
        return self._head

    def preprocess(self, pixels_list: Sequence[np.ndarray]) -> np.ndarray:
        """Images → model input ``(N, C, S, S)`` float32 (the card's transform).

        Raises:
            InvalidImageError: an item is not a finite 2-D array (its index is named).
        """
        out = []
        for i, px in enumerate(pixels_list):
            arr = np.asarray(getattr(px, "pixels", px))
            if arr.ndim != 2:
                raise InvalidImageError(f"image {i}: expected a 2-D (H, W) array, got shape {arr.shape}")
            if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
                raise InvalidImageError(f"image {i}: pixels must be finite numbers")
            out.append(preprocess(arr.astype(np.float32, copy=False), self.transform))
        return np.stack(out) if out else np.zeros((0, self.transform.channels, self.transform.size,
                                                   self.transform.size), np.float32)

    def predict_all(self, pixels_list: Sequence[np.ndarray], *, batch_size: int = 16) -> np.ndarray:
        """Probabilities of every head output: ``(N, len(labels))`` float32 in [0, 1].

        Args:
            pixels_list: images, each float32 ``(H, W)`` in [0, 1] (dark lungs), any size, or
                :class:`cxrkit.types.Image` objects.
            batch_size: images per ONNX Runtime call.
        """
        if batch_size < 1:
            raise DataFormatError(f"batch_size must be >= 1, got {batch_size}")
        res = []
        for s in range(0, len(pixels_list), batch_size):
            logits, _ = self.run(self.preprocess(pixels_list[s : s + batch_size]))
            res.append(expit(logits.astype(np.float64)))
        if not res:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.concatenate(res).astype(np.float32)

    def predict(self, pixels_list: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Probabilities of the validated findings: ``(N, len(findings))`` float32 in [0, 1].

        Not a diagnosis: compare with :attr:`thresholds` for the card's operating points.
        """
        return self.predict_all(pixels_list, batch_size=batch_size)[:, self._cols]

    def to_findings(self, probs: np.ndarray, thresholds: dict[str, float] | None = None) -> list[Finding]:
        """One image's :meth:`predict` row → :class:`~cxrkit.types.Finding` list (card thresholds by default)."""
        p = np.asarray(probs, dtype=np.float64).ravel()
        if p.shape[0] != len(self.findings):
            raise DataFormatError(f"expected {len(self.findings)} probabilities, got {p.shape[0]}")
        th = dict(self.thresholds)
        th.update(thresholds or {})
        return [Finding(name=f, probability=float(v), threshold=float(th[f]), positive=bool(v >= th[f]))
                for f, v in zip(self.findings, p)]

    def label_index(self, finding: str) -> int:
        """Position of ``finding`` in the head (for CAMs on :meth:`torch_model`)."""
        if finding not in self.labels:
            from cxrkit.errors import unknown_name

            raise unknown_name("finding of this model", finding, self.labels)
        return self.labels.index(finding)

    def torch_model(self):
        """The PyTorch module (eval mode, float32) rebuilt from the safetensors weights: ``.features(x)`` gives
        the last conv map, ``.classifier`` the linear head (outputs in :attr:`labels` order)."""
        if self._torch is None:
            from cxrkit.models.registry import create_model

            self._torch = create_model(self.card.architecture, weights=self.card.weights_path(),
                                       num_classes=len(self.labels), in_chans=self.transform.channels).eval()
        return self._torch


def load_classifier(path: str | Path | None = None, *, threads: int | None = None) -> Classifier:
    """Load and verify a classifier package (see :func:`cxrkit.models.load.load_package`).

    Args:
        path: None for the shipped default model; a ``.card.json``, a folder holding one, or the
            ``.safetensors`` / ``.onnx`` next to its card.
        threads: ONNX Runtime intra-op threads (default: ``CXRKIT_THREADS`` or the usable CPUs, at most 8).

    Raises:
        ModelError: card or weights missing, corrupt, not matching each other, or not a classifier.
    """
    from cxrkit.models.load import load_package

    if path is None:
        path = default_model_path()
        if not path.is_file():
            raise ModelError(f"the default model is not installed ({path} missing); reinstall cxrkit")
    clf = load_package(path, threads=threads)
    if not isinstance(clf, Classifier):
        raise ModelError(f"{path} is a {clf.card.kind}, not a classifier")
    return clf
