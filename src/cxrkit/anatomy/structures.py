"""Names of the segmented structures, by the PATIENT's side (torch-free, so light modules can import it)."""

from __future__ import annotations

__all__ = ["STRUCTURES", "STRUCTURE_COLORS"]

#: Output channels of the segmenter, in order. ``right_lung`` is the patient's right (image left on a PA film).
STRUCTURES: tuple[str, ...] = ("right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle")

#: RGB colour per structure, shared by every overlay (anatomy.png, overlay.png, the web viewer's legend).
STRUCTURE_COLORS: dict[str, tuple[int, int, int]] = {
    "right_lung": (66, 135, 245),
    "left_lung": (60, 200, 90),
    "heart": (235, 64, 52),
    "right_clavicle": (245, 200, 40),
    "left_clavicle": (245, 140, 30),
}
