"""``cxrkit segment PATH... --out DIR``: anatomy masks, cardiothoracic ratio and an overlay per radiograph.

Per input image ``DIR/<stem>/``:

* ``right_lung.png``, ``left_lung.png``, ``heart.png``, ``right_clavicle.png``, ``left_clavicle.png`` —
  8-bit 0/255, the input image's size; names use the PATIENT's side (the right lung is on the image left);
* ``measurements.json`` — ``cardiothoracic_ratio`` (number, or null when it cannot be measured) and the
  other measurements and flags of :func:`cxrkit.anatomy.measure.measure`;
* ``overlay.png`` — masks and the two width lines with their values;
* ``seg.dcm`` with ``--dicom-seg`` for DICOM inputs (a DICOM SEG referencing the source image).

Every file is written atomically. Unreadable files are reported on stderr and skipped; the exit code is 1
when any input failed.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

def _inputs(paths: list[str]) -> list[Path]:
    from cxrkit.io.find import find_images

    return find_images(paths, keep_missing=True)


def _unique_stem(path: Path, used: set[str]) -> str:
    from cxrkit.deliver.outdir import safe_stem

    stem = safe_stem(path.stem)  # never "." / ".." / a path: nothing is written outside --out
    name, k = stem, 2
    while name in used:
        name, k = f"{stem}-{k}", k + 1
    used.add(name)
    return name


def segment_one(path: Path, out_dir: Path, segmenter, *, overlay: bool = True, dicom_seg: bool = False) -> dict:
    """Read, segment, measure and write the outputs of one image; returns the measurements dict."""
    from PIL import Image as PILImage

    from cxrkit.anatomy.analyze import analyze_anatomy
    from cxrkit.anatomy.overlay import draw_overlay
    from cxrkit.deliver.png import write_png
    from cxrkit.fs import atomic_write_bytes
    from cxrkit.io import read_image

    image = read_image(path)
    res = analyze_anatomy(image, segmenter)
    meas = dict(res.measurements)
    meas["source"] = str(path)
    for name, m in res.masks.items():
        write_png(out_dir / f"{name}.png", (m.astype("uint8") * 255))
    atomic_write_bytes(out_dir / "measurements.json", (json.dumps(meas, indent=2) + "\n").encode())
    if overlay:
        rgb = draw_overlay(image.pixels, res.masks, meas)
        buf = io.BytesIO()
        PILImage.fromarray(rgb, mode="RGB").save(buf, format="PNG")
        atomic_write_bytes(out_dir / "overlay.png", buf.getvalue())
    if dicom_seg and image.meta.format == "dicom":
        from cxrkit.deliver.dicom_seg import write_seg

        write_seg(path, res.masks, out_dir / "seg.dcm",
                  model_name=segmenter.card.name, model_version=segmenter.card.version)
    return meas


def run(args: argparse.Namespace) -> int:
    from cxrkit.anatomy.segment import load_segmenter
    from cxrkit.errors import CxrkitError

    files = _inputs(args.paths)
    if not files:
        print("cxrkit segment: no input files found", file=sys.stderr)
        return 1
    segmenter = load_segmenter(args.model, threads=args.threads)
    out = Path(args.out)
    used: set[str] = set()
    failed = 0
    for f in files:
        stem = _unique_stem(f, used)
        try:
            meas = segment_one(f, out / stem, segmenter, overlay=not args.no_overlay, dicom_seg=args.dicom_seg)
        except CxrkitError as exc:
            failed += 1
            print(f"{f}: skipped: {exc}", file=sys.stderr)
            continue
        except OSError as exc:
            failed += 1
            print(f"{f}: skipped: cannot write outputs: {exc}", file=sys.stderr)
            continue
        ctr = meas["cardiothoracic_ratio"]
        ctr_txt = f"CTR {ctr:.3f}" if ctr is not None else "CTR n/a"
        flags = ", ".join(meas["flags"]) or "none"
        print(f"{f}: {ctr_txt} ({'reliable' if meas['reliable'] else 'unreliable'}; flags: {flags}) -> {out / stem}")
    print(f"{len(files) - failed} of {len(files)} images segmented into {out}"
          + (f"; {failed} skipped" if failed else ""))
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="lung/heart/clavicle masks, cardiothoracic ratio and overlay per radiograph",
        description=__doc__.split("\n\n")[0] + " Masks are model outputs, not a diagnosis.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (DICOM, PNG, JPEG, ...)")
    p.add_argument("--out", required=True, help="output folder (one subfolder per image)")
    p.add_argument("--model", default=None, help="model card or folder (default: the shipped model)")
    p.add_argument("--no-overlay", action="store_true", help="skip overlay.png")
    p.add_argument("--dicom-seg", action="store_true", help="also write seg.dcm (DICOM SEG) for DICOM inputs")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.set_defaults(func=run)
