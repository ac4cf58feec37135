"""CAM through ONNX Runtime: one inference gives the logits *and* the last feature map.

CAM needs no gradient: ``CAM_k = sum_d w_kd A_d`` for a head that is global average pooling + one linear layer.
A shipped cxrkit package's ONNX graph already returns ``features`` beside ``logits``
(:func:`cxrkit.models.onnx.add_features_output`) and its head weights are read from the package's safetensors,
so the default heatmaps need no PyTorch. For a bare PyTorch module (research use), :func:`feature_session`
exports a two-output graph once per model (through :func:`cxrkit.models.onnx.export_onnx`, into a temporary
folder that is removed at once; nothing downloaded).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cxrkit.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FeatureSession", "feature_session", "cam_from_features"]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_SESSIONS: weakref.WeakKeyDictionary[Any, FeatureSession] = weakref.WeakKeyDictionary()


def _logits_and_features(model: nn.Module) -> nn.Module:
    """Wrap a classifier so that ``forward`` returns ``(logits, features)`` for export."""
    from torch import nn as tnn

    class Wrapped(tnn.Module):
        def __init__(self, inner: tnn.Module) -> None:
            super().__init__()
            self.model = inner

        def forward(self, x: Any) -> tuple[Any, Any]:
            feats: Any = self.model.features
            if isinstance(feats, tnn.Module):
                store: dict[str, Any] = {}
                handle = feats.register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
                try:
                    logits = self.model(x)
                finally:
                    handle.remove()
                return logits, store["a"]
            a = feats(x)
            head = getattr(self.model, "forward_head", None)
            classifier: Any = self.model.classifier
            logits = head(a) if callable(head) else classifier(a.mean(dim=(2, 3)))
            return logits, a

    return Wrapped(model)


class FeatureSession:
    """An ONNX Runtime session of a bare PyTorch ``model`` returning logits and the last feature map.

    Args:
        model: classifier with ``features`` (module or timm-style method) and a ``classifier`` head, eval mode.
        size: model input side ``S``; channels: input channels.
        threads: ONNX Runtime intra-op threads (None: the one thread policy of
            :func:`cxrkit.models.onnx.ort_session`).
    """

    def __init__(self, model: nn.Module, size: int, channels: int, *, threads: int | None = None) -> None:
        from cxrkit.models.onnx import export_onnx, ort_session

        wrapper = _logits_and_features(model).eval()
        with tempfile.TemporaryDirectory(prefix="cxrkit-cam-") as tmp:
            path = Path(tmp) / "cam.onnx"
            try:
                export_onnx(wrapper, path, input_shape=(1, channels, size, size), input_name="x",
                            output_names=("logits", "features"))
            except Exception as exc:  # torch.onnx raises many types; report them as one clear error
                raise ModelError(f"could not export {type(model).__name__} to ONNX for CAM: {exc}") from exc
            self.session = ort_session(path.read_bytes(), threads=threads)

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


def head_arrays(head: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(W (K, D), b (K,))`` float32 of a ``torch.nn.Linear`` head, or None."""
    if head is None:
        return None
    w = head.weight.detach().cpu().numpy().astype(np.float32)
    b = head.bias.detach().cpu().numpy().astype(np.float32) if head.bias is not None else np.zeros(w.shape[0], np.float32)
    return w, b


def cam_from_features(
    logits: np.ndarray, feats: np.ndarray, head: tuple[np.ndarray, np.ndarray] | None, indices: list[int]
) -> np.ndarray:
    """CAM maps ``(N, len(indices), h, w)`` from features ``(N, D, h, w)`` and the head ``(W (K, D), b (K,))``,
    checking that the head is GAP + linear.

    Raises:
        ModelError: ``head(mean(features))`` (or of their ReLU) does not reproduce the logits.
    """
    if head is None:
        raise ModelError("CAM needs a linear `classifier` head after global average pooling; use method='gradcam'")
    w, b = head
    for a in (feats, np.maximum(feats, 0.0)):
        pooled = a.mean(axis=(2, 3))
        if np.allclose(pooled @ w.T + b, logits, rtol=1e-3, atol=1e-3):
            return np.einsum("ndhw,kd->nkhw", a, w[indices], optimize=True)
    raise ModelError(
        "CAM needs a head that is global average pooling followed by one linear layer (logit = w . mean(A) + b); "
        "this model's head is not, use method='gradcam'"
    )
