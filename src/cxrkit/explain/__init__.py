"""Class activation maps (CAM, Grad-CAM, Grad-CAM++, HiResCAM, Eigen-CAM) at the original resolution, and overlays.

Heatmaps show where the model's evidence for a finding lies; they are not a diagnosis and not a segmentation.
"""

from cxrkit.explain.heatmaps import DEFAULT_METHOD, Explanation, explain_batch, heatmaps
from cxrkit.explain.methods import method_names

__all__ = ["heatmaps", "explain_batch", "Explanation", "method_names", "DEFAULT_METHOD"]
