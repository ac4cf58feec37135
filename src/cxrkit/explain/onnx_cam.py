"""CAM through ONNX Runtime: one inference gives the logits *and* the last feature map.

On CPU, ONNX Runtime runs cxrkit's EfficientNet-Lite0 several times faster than eager PyTorch (see
``benchmarks/localize_bench.py``), and CAM needs no gradient, so the default heatmap path exports the model
once per process with two outputs, ``logits (N, K)`` and ``features (N, D, h, w)``, and computes
``CAM_k = sum_d w_kd A_d`` in NumPy. The export is in memory (nothing written, nothing downloaded); sessions are
cached per model object.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
import weakref
from typing import Any

import numpy as np
import torch
from torch import nn

from cxrkit.errors import ModelError

__all__ = ["FeatureSession", "feature_session", "cam_from_features"]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_SESSIONS: "weakref.WeakKeyDictionary[nn.Module, FeatureSession]" = weakref.WeakKeyDictionary()


class _LogitsAndFeatures(nn.Module):
    """Wraps a classifier so that ``forward`` returns ``(logits, features)`` for export."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = getattr(self.model, "features")
        if isinstance(feats, nn.Module):
            store: dict[str, torch.Tensor] = {}
            handle = feats.register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
            try:
                logits = self.model(x)
            finally:
                handle.remove()
            return logits, store["a"]
        a = feats(x)
        head = getattr(self.model, "forward_head", None)
        logits = head(a) if callable(head) else self.model.classifier(a.mean(dim=(2, 3)))
        return logits, a


class FeatureSession:
    """An ONNX Runtime session of ``model`` returning logits and the last feature map.

    Args:
        model: classifier with ``features`` (module or timm-style method) and a ``classifier`` head, eval mode.
        size: model input side ``S``; channels: input channels.
        threads: ONNX Runtime intra-op threads (None: ``cxrkit.models.onnx.default_threads()``, i.e.
            ``CXRKIT_THREADS`` or the usable CPUs up to 8).
    """

    def __init__(self, model: nn.Module, size: int, channels: int, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        wrapper = _LogitsAndFeatures(model).eval()
        x = torch.zeros((1, channels, size, size), dtype=torch.float32)
        buf = io.BytesIO()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # exporter deprecation chatter, local to this block
                torch.onnx.export(
                    wrapper, (x,), buf, input_names=["x"], output_names=["logits", "features"],
                    dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}, "features": {0: "n"}}, opset_version=17,
                    dynamo=False,
                )
        except Exception as exc:  # torch.onnx raises many types; report them as one clear error
            raise ModelError(f"could not export {type(model).__name__} to ONNX for CAM: {exc}") from exc
        opts = ort.SessionOptions()
        if threads is None:
            try:  # the same thread policy as the classifier's own session (CXRKIT_THREADS)
                from cxrkit.models.onnx import default_threads

                threads = default_threads()
            except ImportError:  # pragma: no cover - classifier runtime absent
                threads = None
        if threads:
            opts.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x (N, C, S, S)`` float32 → ``(logits (N, K), features (N, D, h, w))``."""
        logits, feats = self.session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)})
        return logits, feats


def feature_session(model: nn.Module, size: int, channels: int, *, threads: int | None = None) -> FeatureSession:
    """The cached :class:`FeatureSession` of ``model`` (exported on first use; parameters must not change after)."""
    with _LOCK:
        sess = _SESSIONS.get(model)
        if sess is None or getattr(sess, "_key", None) != (size, channels):
            sess = FeatureSession(model, size, channels, threads=threads)
            sess._key = (size, channels)  # type: ignore[attr-defined]
            _SESSIONS[model] = sess
        return sess


def cam_from_features(
    logits: np.ndarray, feats: np.ndarray, head: Any, indices: list[int]
) -> np.ndarray:
    """CAM maps ``(N, len(indices), h, w)`` from features, checking that the head is GAP + linear.

    Raises:
        ModelError: ``head(mean(features))`` (or of their ReLU) does not reproduce the logits.
    """
    if head is None:
        raise ModelError("CAM needs a linear `classifier` head after global average pooling; use method='gradcam'")
    w = head.weight.detach().cpu().numpy().astype(np.float32)
    b = head.bias.detach().cpu().numpy().astype(np.float32) if head.bias is not None else np.zeros(w.shape[0], np.float32)
    for a in (feats, np.maximum(feats, 0.0)):
        pooled = a.mean(axis=(2, 3))
        if np.allclose(pooled @ w.T + b, logits, rtol=1e-3, atol=1e-3):
            return np.einsum("ndhw,kd->nkhw", a, w[indices], optimize=True)
    raise ModelError(
        "CAM needs a head that is global average pooling followed by one linear layer (logit = w . mean(A) + b); "
        "this model's head is not, use method='gradcam'"
    )
