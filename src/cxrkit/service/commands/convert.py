"""``cxrkit convert INPUT OUTPUT.png``: write a radiograph as displayed, as an 8-bit PNG (atomically)."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="write an image (DICOM/PNG/JPEG/...) as displayed, as an 8-bit gray PNG",
        description="Read INPUT with cxrkit's reader (DICOM windowing/VOI LUT, rescale, MONOCHROME1 inversion, "
        "bit depth) and write the displayed image to OUTPUT as an 8-bit gray PNG, atomically.",
    )
    p.add_argument("input", help="DICOM, PNG, JPEG, TIFF or BMP file")
    p.add_argument("output", help="PNG file to write (parent folders are created)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="refuse larger images (rows*columns; default: the reader's limit, 80 million)")
    p.add_argument("--notes", action="store_true", help="also print the conversion notes as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cxrkit.deliver.png import write_png  # lazy: light CLI start-up
    from cxrkit.io import DEFAULT_MAX_PIXELS, read_image

    max_pixels = DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels
    image = read_image(args.input, max_pixels=max_pixels)
    path = write_png(args.output, image)
    print(f"{path}  ({image.shape[0]}x{image.shape[1]}, {image.meta.format}, {image.meta.photometric})")
    if args.notes:
        print(json.dumps(list(image.meta.notes), indent=2))
    return 0
