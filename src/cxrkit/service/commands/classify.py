"""``cxrkit classify PATH... --out FILE.csv``: probabilities of the validated findings for many radiographs.

Files or folders (recursive; every image :func:`cxrkit.io.find.find_images` finds: DICOM, PNG, JPEG, TIFF,
...). One row per image: ``path``, one probability column per finding the model is validated for (its card's
``reported_findings``), and ``error`` (empty when the image was classified; otherwise why not — unreadable
files, and images that :func:`cxrkit.qc.check_quality` finds are not frontal chest radiographs; the run
continues). The CSV is written atomically. Probabilities are model outputs, not a diagnosis.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from cxrkit.fs import atomic_open

log = logging.getLogger(__name__)

def iter_inputs(paths: Iterable[str]) -> Iterator[Path]:
    """Files given, and the image files under given folders (:func:`cxrkit.io.find.find_images`); a missing
    path is yielded as is so that it gets an error row."""
    from cxrkit.io.find import find_images

    yield from find_images(paths, keep_missing=True)


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from cxrkit.errors import CxrkitError, DataFormatError
    from cxrkit.io import read_image
    from cxrkit.models.classifier import load_classifier

    if args.batch_size < 1:
        raise DataFormatError(f"--batch-size must be >= 1, got {args.batch_size}")
    clf = load_classifier(args.model, threads=args.threads)
    files = list(iter_inputs(args.paths))
    if not files:
        raise DataFormatError(f"no image files found in {args.paths}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    batch: list[tuple[int, object]] = []

    def flush() -> None:
        if not batch:
            return
        try:
            probs = clf.predict([px for _, px in batch], batch_size=args.batch_size)
        except CxrkitError as exc:  # one bad array fails the batch: redo one by one
            probs = None
            log.debug("batch failed (%s); retrying images one by one", exc)
        for k, (i, px) in enumerate(batch):
            if probs is not None:
                p = probs[k]
            else:
                try:
                    p = clf.predict([px])[0]
                except CxrkitError as exc:
                    rows[i]["error"] = f"{type(exc).__name__}: {exc}"
                    continue
            for f, v in zip(clf.findings, p):
                rows[i][f] = f"{float(v):.6f}"
        batch.clear()

    ok = 0
    for f in files:
        row: dict[str, object] = {"path": str(f), "error": ""}
        rows.append(row)
        try:
            img = read_image(f)
        except CxrkitError as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
            continue
        except OSError as exc:
            row["error"] = f"OSError: {exc}"
            continue
        if not np.all(np.isfinite(img.pixels)):
            row["error"] = "InvalidImageError: non-finite pixel values"
            continue
        if not args.no_qc:
            from cxrkit.qc import check_quality

            q = check_quality(img)
            if not q.usable:
                row["error"] = "NotAChestXrayError: " + "; ".join(q.reasons)
                continue
        batch.append((len(rows) - 1, img.pixels))
        ok += 1
        if len(batch) >= args.batch_size:
            flush()
    flush()
    fields = ["path", *clf.findings, "error"]
    with atomic_open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, restval="")
        w.writeheader()
        w.writerows(rows)
    n_err = sum(1 for r in rows if r["error"])
    print(f"{len(rows) - n_err} of {len(rows)} images classified with {clf.card.name} "
          f"(findings: {', '.join(clf.findings)}); {n_err} errors; wrote {out}")
    print("Probabilities from a research model, not a diagnosis.", file=sys.stderr)
    return 0 if n_err < len(rows) else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="probabilities of validated findings for images/folders → CSV",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (recursive)")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--model", help="model card or folder (default: the shipped model)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, help="ONNX Runtime threads (default: CXRKIT_THREADS or the CPUs)")
    p.add_argument("--no-qc", action="store_true",
                   help="classify every readable image (default: images failing cxrkit.qc get an error row)")
    p.set_defaults(func=_run)
