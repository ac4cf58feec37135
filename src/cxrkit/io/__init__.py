"""Reading radiographs (writing what leaves the process is :mod:`cxrkit.deliver`).

* :func:`read_image` — DICOM / PNG / JPEG / TIFF / BMP file (or bytes) → :class:`cxrkit.types.Image`
  (float32 ``(H, W)`` in [0, 1], dark lungs, metadata).
* :func:`read_header` — metadata only, no pixel decoding.
* :func:`image_from_array` — in-memory array → :class:`~cxrkit.types.Image` with the same rules.
"""

from cxrkit.io.read import (
    DEFAULT_MAX_INFLATED_BYTES,
    DEFAULT_MAX_OUTPUT_PIXELS,
    DEFAULT_MAX_PIXELS,
    image_from_array,
    read_header,
    read_image,
    sniff_format,
)

__all__ = [
    "read_image",
    "read_header",
    "image_from_array",
    "sniff_format",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_OUTPUT_PIXELS",
    "DEFAULT_MAX_INFLATED_BYTES",
]
