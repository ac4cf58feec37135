"""Class activation maps (CAM, Grad-CAM, Grad-CAM++, HiResCAM, Eigen-CAM) at the original resolution, and overlays.

Heatmaps show where the model's evidence for a finding lies; they are not a diagnosis and not a segmentation.
PyTorch is imported on first use of a heatmap function, so ``cxrkit.explain.overlay`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["heatmaps", "explain_batch", "Explanation", "method_names", "DEFAULT_METHOD"]

_LAZY = {
    "heatmaps": "cxrkit.explain.heatmaps",
    "explain_batch": "cxrkit.explain.heatmaps",
    "Explanation": "cxrkit.explain.heatmaps",
    "DEFAULT_METHOD": "cxrkit.explain.heatmaps",
    "method_names": "cxrkit.explain.cam",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cxrkit.explain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
