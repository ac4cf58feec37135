"""The heatmap method names (no PyTorch here: naming a method must not import it).

``cam`` runs in ONNX Runtime for cxrkit packages; the gradient methods (and ``eigencam``) need PyTorch
(:mod:`cxrkit.explain.cam`, the ``train`` extra).
"""

from __future__ import annotations

from cxrkit.errors import unknown_name

__all__ = ["METHOD_NAMES", "NEEDS_GRADIENTS", "canonical_method", "method_names"]

METHOD_NAMES = ("cam", "eigencam", "gradcam", "gradcam++", "hirescam")
NEEDS_GRADIENTS = frozenset({"gradcam", "gradcam++", "hirescam"})
_ALIASES = {"grad-cam": "gradcam", "gradcampp": "gradcam++", "grad-cam++": "gradcam++", "eigen-cam": "eigencam",
            "hires-cam": "hirescam"}


def method_names() -> list[str]:
    """Names accepted by :func:`canonical_method`."""
    return sorted(METHOD_NAMES)


def canonical_method(name: str) -> str:
    """A method name, case-insensitive with a few aliases; unknown names give a did-you-mean error."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in METHOD_NAMES:
        raise unknown_name("heatmap method", name, METHOD_NAMES)
    return key
