"""``cxrkit info INPUT [INPUT ...]``: metadata of images as JSON (one object, or a list for several files)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cxrkit.errors import CxrkitError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="print image metadata as JSON",
        description="Print each file's metadata (cxrkit ImageMeta plus the displayed shape) as JSON: one object "
        "for one file, a list for several. Files that cannot be read get an 'error' entry and the exit "
        "code is 1.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="DICOM, PNG, JPEG, TIFF or BMP files")
    p.add_argument("--header-only", action="store_true", help="do not decode pixels (faster; no displayed shape)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="refuse larger images (rows*columns; default: the reader's limit, 80 million)")
    p.set_defaults(func=run)


def describe(path: str, *, header_only: bool = False, max_pixels: int | None = None) -> dict[str, Any]:
    """JSON-ready metadata of one file: ``ImageMeta.to_dict()`` plus ``shape`` (displayed rows, columns).

    ``max_pixels`` None means the reader's default limit (``cxrkit.io.DEFAULT_MAX_PIXELS``).
    """
    from cxrkit.io import DEFAULT_MAX_PIXELS, read_header, read_image  # lazy: light CLI start-up

    if header_only:
        meta = read_header(path)
        return {**meta.to_dict(), "shape": None}
    image = read_image(path, max_pixels=DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels)
    return {**image.meta.to_dict(), "shape": list(image.shape)}


def run(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    failed = False
    for path in args.inputs:
        try:
            results.append(describe(path, header_only=args.header_only, max_pixels=args.max_pixels))
        except CxrkitError as exc:
            if len(args.inputs) == 1:
                raise
            failed = True
            results.append({"source": path, "error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    return 1 if failed else 0
