"""Heatmaps per finding at the original image resolution, for a classifier or a bare PyTorch model.

One forward pass per batch serves every requested finding: CAM needs nothing more, the gradient methods add
one backward per finding. Maps are normalized per image and finding to [0, 1]:

* ``cam``: min-max of the signed map (as CAM and ChestX-ray8 do: the coolest cell is 0, the hottest 1);
* the others (non-negative after their ReLU): divided by their maximum.

A constant map (e.g. Grad-CAM of a logit with zero gradient) becomes all zeros, which gives no boxes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from cxrkit.data.transforms import TransformSpec, preprocess
from cxrkit.errors import InvalidImageError, ModelError, unknown_name
from cxrkit.explain.methods import canonical_method
from cxrkit.explain.resample import to_original
from cxrkit.labels import canonical
from cxrkit.types import Image

__all__ = ["DEFAULT_METHOD", "Explanation", "ExplainTarget", "resolve_target", "heatmaps", "explain_batch", "cams_from_run"]

log = logging.getLogger(__name__)

DEFAULT_METHOD = "cam"


@dataclass(frozen=True)
class ExplainTarget:
    """What the CAM code needs from a classifier.

    Attributes:
        model: PyTorch module in eval mode with ``features`` (last conv block) and ``classifier`` (linear head),
            or None when the package's ONNX graph gives the features (CAM without PyTorch).
        transform: the input transform of its card.
        outputs: names of the model's K output columns, in order.
        reported: the findings a user may ask for (the validated ones for a shipped classifier).
        package: the runtime classifier whose ONNX graph returns ``features`` (None for a bare module).
    """

    model: Any
    transform: TransformSpec
    outputs: tuple[str, ...]
    reported: tuple[str, ...]
    package: Any = None

    def index(self, finding: str) -> int:
        """Output column of a reported finding (synonyms accepted); unknown → did-you-mean error."""
        name = canonical(finding, strict=False) or str(finding)
        if name not in self.reported:
            raise unknown_name("finding for this model", finding, self.reported)
        return self.outputs.index(name)


def _is_module(obj: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")  # a torch module can only exist if torch was imported
    return torch is not None and isinstance(obj, torch.nn.Module)


def resolve_target(
    classifier: Any, *, transform: TransformSpec | None = None, labels: Sequence[str] | None = None,
    need_torch: bool = True,
) -> ExplainTarget:
    """Accept a runtime classifier (``.torch_model()``, ``.transform``, ``.findings``) or a bare ``nn.Module``.

    For a bare module give ``transform`` and ``labels`` (or set ``module.transform`` / ``module.labels``).
    With ``need_torch=False`` a runtime classifier whose ONNX graph returns features is used without building
    its PyTorch module.
    """
    if isinstance(classifier, ExplainTarget):
        return classifier
    package = None
    if hasattr(classifier, "torch_model") and not _is_module(classifier):
        package = classifier if getattr(classifier, "has_features", False) else None
        model = None if (package is not None and not need_torch) else classifier.torch_model()
        spec = transform or classifier.transform
        reported = tuple(labels or classifier.findings)
        outputs = tuple(getattr(classifier, "labels", None) or reported)
    elif _is_module(classifier):
        model = classifier
        spec = transform or getattr(classifier, "transform", None)
        outputs = tuple(labels or getattr(classifier, "labels", None) or ())
        reported = outputs
    else:
        raise ModelError(f"expected a cxrkit Classifier or a torch.nn.Module, got {type(classifier).__name__}")
    if not isinstance(spec, TransformSpec):
        raise ModelError("the model's input transform is unknown: pass transform=TransformSpec(...)")
    if not outputs:
        raise ModelError("the model's output labels are unknown: pass labels=[...]")
    missing = [f for f in reported if f not in outputs]
    if missing:
        raise ModelError(f"reported findings {missing} are not among the model outputs {list(outputs)}")
    if model is not None:
        model.eval()
    return ExplainTarget(model=model, transform=spec, outputs=tuple(outputs), reported=tuple(reported),
                         package=package)


@dataclass(frozen=True)
class Explanation:
    """Heatmaps and probabilities for one image.

    Attributes:
        maps: finding → float32 heatmap in [0, 1] covering the whole original image: ``(H, W)`` at the original
            resolution, or a smaller grid of the same aspect when ``max_side`` was given.
        probabilities: finding → sigmoid of the logit from the same forward pass (a probability, not a
            diagnosis).
        method: the heatmap method used.
        scale: ``(sy, sx)`` original pixels per map pixel (``(1.0, 1.0)`` at the original resolution).
    """

    maps: dict[str, np.ndarray]
    probabilities: dict[str, float]
    method: str
    scale: tuple[float, float] = (1.0, 1.0)


def _pixels(image: Image | np.ndarray) -> np.ndarray:
    arr = image.pixels if isinstance(image, Image) else np.asarray(image)
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise InvalidImageError(f"expected (H, W) pixels in [0, 1], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InvalidImageError("pixels contain NaN or infinity")
    return arr.astype(np.float32, copy=False)


def _normalize(raw: np.ndarray, signed: bool) -> np.ndarray:
    """Per-map normalization to [0, 1]; ``raw`` is ``(N, h, w)``."""
    out = np.zeros_like(raw, dtype=np.float32)
    for i, m in enumerate(raw):
        lo = float(m.min()) if signed else 0.0
        hi = float(m.max())
        if hi - lo > 1e-12 * max(1.0, abs(hi)):
            out[i] = (m - lo) / (hi - lo)
    return np.clip(out, 0.0, 1.0)


def _raw_torch(target: ExplainTarget, name: str, fn: Any, x: np.ndarray, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from cxrkit.explain.cam import NEEDS_GRADIENTS, forward_pass

    device = next(iter(target.model.parameters()), torch.empty(0)).device
    p = forward_pass(target.model, torch.from_numpy(x).to(device), grad=name in NEEDS_GRADIENTS)
    logits = p.logits.detach().cpu().float().numpy()
    raw = np.stack([fn(p, k).detach().cpu().float().numpy() for k in idx], axis=1)  # (n, K, h, w)
    return logits, raw


def _raw_onnx(target: ExplainTarget, x: np.ndarray, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    from cxrkit.explain.onnx_cam import cam_from_features

    if target.package is not None:  # the package's own graph and head: no PyTorch
        logits, feats = target.package.run(x, features=True)
        return logits, cam_from_features(logits, feats, target.package.head(), idx)
    from cxrkit.explain.cam import linear_head
    from cxrkit.explain.onnx_cam import feature_session, head_arrays

    sess = feature_session(target.model, target.transform.size, target.transform.channels)
    logits, feats = sess.run(x)
    return logits, cam_from_features(logits, feats, head_arrays(linear_head(target.model)), idx)


def cams_from_run(classifier: Any, logits: np.ndarray, feats: np.ndarray, findings: Sequence[str],
                  shapes: Sequence[tuple[int, int]], *, max_side: int | None = None) -> list[Explanation]:
    """CAM explanations from an ONNX run the caller already made (``classifier.run(x, features=True)``), so one
    run gives probabilities and heatmaps. ``shapes`` are the original ``(H, W)`` of the images in ``x``."""
    from cxrkit.explain.onnx_cam import cam_from_features

    target = resolve_target(classifier, need_torch=False)
    idx = [target.index(f) for f in findings]
    raw = cam_from_features(logits, feats, classifier.head(), idx)
    return _explanations(target, "cam", logits, raw, idx, shapes, max_side)


def _explanations(target: ExplainTarget, name: str, logits: np.ndarray, raw: np.ndarray, idx: list[int],
                  shapes: Sequence[tuple[int, int]], max_side: int | None) -> list[Explanation]:
    names = [target.outputs[i] for i in idx]
    probs = expit(logits.astype(np.float64))
    out = []
    for j, shape in enumerate(shapes):
        norm = _normalize(raw[j], signed=(name == "cam"))
        oshape = _out_shape(shape, max_side)
        full = to_original(norm, shape, target.transform, oshape)
        scale = (1.0, 1.0) if oshape is None else (shape[0] / oshape[0], shape[1] / oshape[1])
        out.append(Explanation(maps={f: full[i] for i, f in enumerate(names)},  # convex combinations of [0, 1]
                               probabilities={f: float(probs[j, k]) for f, k in zip(names, idx)},
                               method=name, scale=scale))
    return out


def _out_shape(shape: tuple[int, int], max_side: int | None) -> tuple[int, int] | None:
    if not max_side or max(shape) <= max_side:
        return None
    f = max(shape) / float(max_side)
    return (max(1, round(shape[0] / f)), max(1, round(shape[1] / f)))


def explain_batch(
    classifier: Any,
    images: Sequence[Image | np.ndarray],
    findings: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    *,
    batch_size: int = 8,
    max_side: int | None = None,
    backend: str = "auto",
    transform: TransformSpec | None = None,
    labels: Sequence[str] | None = None,
) -> list[Explanation]:
    """Heatmaps for several images and findings, one forward pass per batch.

    Args:
        classifier: a cxrkit Classifier (``load_classifier()``) or a ``torch.nn.Module`` with ``features`` and
            ``classifier`` (then give ``transform`` and ``labels``).
        images: radiographs, each an :class:`~cxrkit.types.Image` or float32 ``(H, W)`` in [0, 1]; any size.
        findings: finding names (synonyms accepted); None = every reported finding.
        method: one of :func:`cxrkit.explain.cam.method_names` ("cam", "gradcam", "gradcam++", "hirescam",
            "eigencam").
        batch_size: images per forward pass.
        max_side: None = maps at each image's original resolution; else maps on a grid of the same aspect whose
            longer side is at most ``max_side`` (``Explanation.scale`` converts to original pixels). Faster and
            lighter for large images; the map content is the same (it comes from a coarse feature grid).
        backend: "torch", "onnx" (CAM only: ONNX Runtime gives logits and features in one run) or "auto"
            (onnx for CAM when ONNX Runtime is installed, else torch).

    Returns:
        One :class:`Explanation` per image.

    Raises:
        UnknownNameError: unknown method or a finding the model does not report (the message lists them).
        ModelError: CAM asked of a model whose head is not GAP + linear, or an unusable model.
    """
    name = canonical_method(method)
    if backend not in ("auto", "torch", "onnx"):
        raise unknown_name("backend", backend, ("auto", "torch", "onnx"))
    use_onnx = name == "cam" and backend in ("auto", "onnx")
    target = resolve_target(classifier, transform=transform, labels=labels,
                            need_torch=not use_onnx or not getattr(classifier, "has_features", False))
    wanted = list(findings) if findings is not None else list(target.reported)
    idx = [target.index(f) for f in wanted]
    pixels = [_pixels(im) for im in images]
    results: list[Explanation] = []
    step = max(1, int(batch_size))
    for start in range(0, len(pixels), step):
        chunk = pixels[start : start + step]
        x = np.stack([preprocess(p, target.transform) for p in chunk])
        if use_onnx:
            logits, raw = _raw_onnx(target, x, idx)
        else:
            from cxrkit.explain.cam import get_method

            logits, raw = _raw_torch(target, name, get_method(name)[1], x, idx)
        results += _explanations(target, name, logits, raw, idx, [p.shape for p in chunk], max_side)
    return results


def heatmaps(
    classifier: Any,
    pixels: Image | np.ndarray,
    findings: Sequence[str] | None = None,
    method: str = DEFAULT_METHOD,
    **kwargs: Any,
) -> dict[str, np.ndarray]:
    """Heatmaps of one image: finding → float32 ``(H, W)`` in [0, 1] at the original resolution.

    See :func:`explain_batch` for the arguments. The default method is CAM (exact for global-pooling + linear
    heads and needs no backward pass); "gradcam", "gradcam++", "hirescam" and "eigencam" are available.

    Examples:
        >>> from cxrkit.models.classifier import load_classifier  # doctest: +SKIP
        >>> maps = heatmaps(load_classifier(), image, ["Pneumonia"])  # doctest: +SKIP
        >>> maps["Pneumonia"].shape == image.shape  # doctest: +SKIP
        True
    """
    return explain_batch(classifier, [pixels], findings, method, **kwargs)[0].maps
