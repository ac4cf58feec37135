"""Names of the segmented structures, by the PATIENT's side (torch-free, so light modules can import it)."""

from __future__ import annotations

__all__ = ["STRUCTURES"]

#: Output channels of the segmenter, in order. ``right_lung`` is the patient's right (image left on a PA film).
STRUCTURES: tuple[str, ...] = ("right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle")
