"""Read every image file under ``../shared/data`` with ``cxrkit.io.read_image``; count formats, notes, errors.

A robustness check on real data, not a timing: it reports any file that raises (a CxrkitError is listed with
its message; anything else is a crash, i.e. a bug) or comes back outside float32 [0, 1].

Run: ``.venv/bin/python benchmarks/io_scan.py [ROOT]`` (default ``$CXRKIT_SHARED_DATA`` or ``../shared/data``).
About 2 minutes for the ~9,100 files there on a 2-core machine. Exit status 1 when any file failed.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

import numpy as np

from cxrkit.errors import CxrkitError
from cxrkit.io import read_image, sniff_format

REPO = Path(__file__).resolve().parents[1]
SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".tif", ".tiff", ".bmp"}


def candidates(root: Path) -> list[Path]:
    """Image-like files: known suffixes, plus suffix-less files whose first bytes sniff as an image."""
    out = []
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix.lower() in SUFFIXES:
            out.append(p)
        elif not p.suffix:
            with open(p, "rb") as fh:
                if sniff_format(fh.read(132)) is not None:
                    out.append(p)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = os.environ.get("CXRKIT_SHARED_DATA", REPO.parent / "shared" / "data")
    parser.add_argument("root", nargs="?", type=Path, default=Path(default))
    args = parser.parse_args()
    groups: dict[str, list[Path]] = collections.defaultdict(list)
    for p in candidates(args.root):
        groups[p.relative_to(args.root).parts[0]].append(p)
    kinds: collections.Counter = collections.Counter()
    failures: list[str] = []
    total = 0
    for name, files in sorted(groups.items()):
        t0 = time.perf_counter()
        for p in files:
            try:
                image = read_image(p)
            except CxrkitError as exc:
                failures.append(f"{p}: {type(exc).__name__}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - a crash is exactly what this script looks for
                failures.append(f"{p}: CRASH {type(exc).__name__}: {exc}")
                continue
            px = image.pixels
            if px.dtype != np.float32 or px.ndim != 2 or float(px.min()) < 0 or float(px.max()) > 1:
                failures.append(f"{p}: pixels {px.dtype} {px.shape} outside float32 (H, W) [0, 1]")
            kinds[(name, image.meta.format, image.meta.photometric)] += 1
        total += len(files)
        print(f"{name}: {len(files)} files in {time.perf_counter() - t0:.1f} s", flush=True)
    print("\n| folder | format | photometric / mode | files |\n| --- | --- | --- | ---: |")
    for (name, fmt, mode), n in sorted(kinds.items()):
        print(f"| {name} | {fmt} | {mode} | {n} |")
    print(f"\n{total} files, {len(failures)} failed")
    for line in failures:
        print("FAILED", line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
