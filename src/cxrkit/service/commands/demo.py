"""``cxrkit demo --out DIR``: analyze the bundled example radiographs and show where the results are."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from cxrkit.service.commands.analyze import analyze_paths


def examples_dir() -> Path:
    """Folder of the bundled examples (three NIH PNGs, one SIIM DICOM; see its README.md)."""
    return Path(str(resources.files("cxrkit").joinpath("examples")))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="analyze the bundled example radiographs")
    p.add_argument("--out", type=Path, default=Path("demo-output"), metavar="DIR", help="output folder")
    p.add_argument("--dicom-out", action="store_true", help="also write DICOM SR and secondary capture")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    src = examples_dir()
    print(f"cxrkit demo: analyzing the bundled examples in {src} (see README.md there for their origin)")
    code = analyze_paths([src], args.out, dicom_out=args.dicom_out)
    print(f"\nOpen {args.out}/<image>/report.md and overlay.png; result.json holds the full result.")
    return code
