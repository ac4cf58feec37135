"""Decode time of ``cxrkit.io.read_image`` against the bare decoders it wraps, per file kind.

What it answers: how much does cxrkit's reading (format sniffing, header checks, windowing / VOI LUT, rescale,
MONOCHROME1 inversion, gray conversion, float32 [0, 1] output) cost on top of simply decoding the pixels?

Data (from ``../shared/data``, or ``$CXRKIT_SHARED_DATA``): the 12 NIH ChestX-ray14 PNGs at 1024x1024 in
``nih-cxr14/images_1024_original`` (9 gray "L", 3 "RGBA") and the 5 DICOMs in ``dicom-samples`` (3 JPEG
baseline 1024x1024 8-bit, RG1 1955x1841 15-bit in JPEG 2000 and JPEG-LS).
Baselines: ``np.asarray(PIL.Image.open(f))`` for PNG, ``pydicom.dcmread(f).pixel_array`` for DICOM (the raw
stored values, no display conversion at all). Single process; rounds interleave both pipelines file by file
and the table gives medians over rounds.

Run: ``.venv/bin/python benchmarks/io_read_bench.py [--rounds 7]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

from cxrkit.io import read_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CXRKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def kinds() -> dict[str, list[Path]]:
    nih = sorted((SHARED / "nih-cxr14" / "images_1024_original").glob("*.png"))
    dcm = SHARED / "dicom-samples"
    out = {
        "PNG 8-bit L 1024x1024 (NIH)": [p for p in nih if PILImage.open(p).mode == "L"],
        "PNG RGBA 1024x1024 (NIH)": [p for p in nih if PILImage.open(p).mode == "RGBA"],
        "DICOM JPEG baseline 8-bit 1024x1024 (SIIM, RSNA)": sorted(dcm.glob("siim/*.dcm"))
        + sorted(dcm.glob("rsna/*.dcm")),
        "DICOM JPEG 2000 15-bit 1955x1841 (NEMA RG1)": [dcm / "nema_wg04" / "RG1_J2KI"],
        "DICOM JPEG-LS 15-bit 1955x1841 (NEMA RG1)": [dcm / "nema_wg04" / "RG1_JLSN"],
    }
    return {k: v for k, v in out.items() if v}


def bare(path: Path) -> np.ndarray:
    if path.suffix == ".png":
        with PILImage.open(path) as im:
            return np.asarray(im)
    return pydicom.dcmread(path).pixel_array


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    info = machine_info(("numpy", "pillow", "pydicom", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg"))
    groups = kinds()
    if not groups:
        print(f"no data under {SHARED}", file=sys.stderr)
        return 1
    for files in groups.values():  # warm-up: imports, plugin discovery, file cache
        for f in files:
            read_image(f)
            bare(f)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for kind, files in groups.items():
            for name, fn in (("cxrkit", read_image), ("bare", bare)):
                t0 = time.perf_counter()
                for f in files:
                    fn(f)
                times.setdefault((kind, name), []).append((time.perf_counter() - t0) / len(files))
    rows, records = [], []
    for kind, files in groups.items():
        ours = statistics.median(times[(kind, "cxrkit")]) * 1000
        base = statistics.median(times[(kind, "bare")]) * 1000
        overhead = f"{ours - base:+.1f} ({(ours / base - 1) * 100:+.0f}%)"
        rows.append(f"| {kind} | {len(files)} | {ours:.1f} | {base:.1f} | {overhead} |")
        records.append({"kind": kind, "n_files": len(files), "rounds": args.rounds,
                        "read_image_ms": round(ours, 2), "bare_decode_ms": round(base, 2)})
    append_jsonl("io_read", records)
    body = "\n".join([
        "## Reading radiographs: `read_image` vs bare decoding",
        "",
        "Data: the 12 NIH ChestX-ray14 1024 px PNGs in `../shared/data/nih-cxr14/images_1024_original` and the 5 "
        "DICOMs in `../shared/data/dicom-samples`. `read_image` returns float32 (H, W) in [0, 1] as displayed "
        "(windowing/VOI LUT, rescale, MONOCHROME1 inversion, gray conversion); the baseline only decodes the stored "
        "values (`np.asarray(PIL.Image.open(f))`, `pydicom.dcmread(f).pixel_array`). Single process; "
        f"{args.rounds} interleaved rounds, median ms per image.",
        f"Machine: {machine_line(info)}.",
        "Command: `.venv/bin/python benchmarks/io_read_bench.py`.",
        "",
        "| files | n | `read_image` ms/image | bare decode ms/image | overhead |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
    ])
    write_section("io_read", body, info=info)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
