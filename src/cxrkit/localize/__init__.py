"""Heatmap → boxes (ChestX-ray8's method and cxrkit's default) and localization metrics (IoU, IoBB, pointing game)."""

from cxrkit.localize.boxes import box_method_names, boxes_from_heatmap
from cxrkit.localize.metrics import THRESHOLDS, accuracy_afp, iobb, iou, pointing_hit

__all__ = ["boxes_from_heatmap", "box_method_names", "iou", "iobb", "accuracy_afp", "pointing_hit", "THRESHOLDS"]
