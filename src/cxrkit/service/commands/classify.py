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
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxrkit.fs import atomic_open
from cxrkit.service.commands._engine_args import add_engine_arguments

if TYPE_CHECKING:
    import numpy as np

    from cxrkit.models.classifier import Classifier

log = logging.getLogger(__name__)

def iter_inputs(paths: Iterable[str]) -> Iterator[Path]:
    """Files given, and the image files under given folders (:func:`cxrkit.io.find.find_images`); a missing
    path is yielded as is so that it gets an error row."""
    from cxrkit.io.find import find_images

    yield from find_images(paths, keep_missing=True)


#: images per ONNX Runtime call: batch 2-4 is as fast per image as 16 on this runtime and holds a quarter
#: of the memory (benchmarks/classify_bench.py)
DEFAULT_BATCH = 4


def default_workers() -> int:
    """Decoding threads: the usable CPUs, at most 4 (decoding and resizing release the GIL)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def adaptive_threads() -> int | None:
    """ONNX Runtime threads when neither ``--threads`` nor ``CXRKIT_THREADS`` says: one thread when the machine
    is already busy (1-minute load at or above the usable CPUs: extra threads then only wait for a core),
    else None (cxrkit's default, the usable CPUs)."""
    if os.environ.get("CXRKIT_THREADS"):
        return None
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    return 1 if n > 1 and os.getloadavg()[0] >= n else None


def _prepare(clf: Classifier, path: Path, qc: bool) -> tuple[np.ndarray | None, str]:
    """Decode, check and transform one file (runs in a worker thread): ``(model input (C, S, S), "")`` or
    ``(None, error text)``."""
    import numpy as np

    from cxrkit.errors import CxrkitError
    from cxrkit.io import read_image

    try:
        img = read_image(path)
        if not np.all(np.isfinite(img.pixels)):
            return None, "InvalidImageError: non-finite pixel values"
        if qc:
            from cxrkit.qc import check_quality

            q = check_quality(img)
            if not q.usable:
                return None, "NotAChestXrayError: " + "; ".join(q.reasons)
        return clf.preprocess([img.pixels])[0], ""
    except CxrkitError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    except OSError as exc:
        return None, f"OSError: {exc}"


def classify_paths(clf: Classifier, paths: Sequence[Path], *, batch_size: int = DEFAULT_BATCH,
                   workers: int | None = None, qc: bool = True) -> Iterator[tuple[Path, np.ndarray | None, str]]:
    """Classify files in order: ``(path, probabilities of clf.findings (float32) or None, error text)``.

    Files are decoded, checked and resized in ``workers`` threads (default :func:`default_workers`) while the
    model runs on the previous batch, a bounded number ahead (memory stays at a few images per worker).
    """
    import numpy as np
    from scipy.special import expit

    cols = np.array([clf.labels.index(f) for f in clf.findings], dtype=np.int64)
    workers = workers or default_workers()
    window = batch_size + 2 * workers
    pending: deque = deque()
    held: list[tuple[Path, np.ndarray | None, str]] = []  # input order; errors wait for the images before them
    n_ready = 0

    def release() -> Iterator[tuple[Path, np.ndarray | None, str]]:
        ready = [x for _, x, _ in held if x is not None]
        probs = None
        if ready:
            logits, _ = clf.run(np.stack(ready))
            probs = iter(expit(logits.astype(np.float64)).astype(np.float32)[:, cols])
        for p, x, err in held:
            yield (p, next(probs), "") if x is not None and probs is not None else (p, None, err)
        held.clear()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cxrkit-decode") as pool:
        it = iter(paths)
        for p in it:
            pending.append((p, pool.submit(_prepare, clf, p, qc)))
            if len(pending) >= window:
                break
        while pending:
            p, fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_prepare, clf, nxt, qc)))
            x, err = fut.result()
            held.append((p, x, err))
            n_ready += x is not None
            if n_ready >= batch_size:
                yield from release()
                n_ready = 0
        yield from release()


def _run(args: argparse.Namespace) -> int:
    from cxrkit.errors import DataFormatError
    from cxrkit.models.classifier import load_classifier

    if args.batch_size < 1:
        raise DataFormatError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.workers is not None and args.workers < 1:
        raise DataFormatError(f"--workers must be >= 1, got {args.workers}")
    files = list(iter_inputs(args.paths))
    if args.catalog is not None:
        from cxrkit.data.catalog import catalog_image_paths

        listed, _ = catalog_image_paths(args.catalog)
        files += listed
    if not files:
        raise DataFormatError("no image files found in "
                              + (", ".join([*args.paths, *([str(args.catalog)] if args.catalog else [])])
                                 or "nothing (give PATHs or --catalog)"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: Iterator[tuple[Path, Any, str]]
    if args.engine == "ray":  # workers (Ray actors) load the model once each and run classify_paths on units
        from cxrkit.engine.ray_classify import run_ray_classify

        job = run_ray_classify(files, classify_paths, model=args.model, batch_size=args.batch_size,
                               qc=not args.no_qc, address=args.address, workers=args.workers)
        findings, model_name, results = job.findings, job.model, iter(job.rows)
    else:
        clf = load_classifier(args.model, threads=args.threads or adaptive_threads())
        findings, model_name = list(clf.findings), clf.card.name
        results = classify_paths(clf, files, batch_size=args.batch_size, workers=args.workers, qc=not args.no_qc)
    rows: list[dict[str, object]] = []
    for path, probs, err in results:
        row: dict[str, object] = {"path": str(path), "error": err}
        if probs is not None:
            row.update({f: f"{float(v):.6f}" for f, v in zip(findings, probs)})
        rows.append(row)
    fields = ["path", *findings, "error"]
    with atomic_open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, restval="")
        w.writeheader()
        w.writerows(rows)
    n_err = sum(1 for r in rows if r["error"])
    print(f"{len(rows) - n_err} of {len(rows)} images classified with {model_name} "
          f"(findings: {', '.join(findings)}); {n_err} errors; wrote {out}")
    print("Probabilities from a research model, not a diagnosis.", file=sys.stderr)
    return 0 if n_err < len(rows) else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="probabilities of validated findings for images/folders → CSV",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders (recursive)")
    p.add_argument("--catalog", type=Path, metavar="FILE.parquet",
                   help="also classify the images a `cxrkit catalog build` file lists (its path column)")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--model", help="model card or folder (default: the shipped model)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help=f"images per model call (default {DEFAULT_BATCH})")
    p.add_argument("--threads", type=int,
                   help="ONNX Runtime threads (default: CXRKIT_THREADS, else the CPUs; 1 when the machine is busy)")
    p.add_argument("--workers", type=int,
                   help="local engine: threads decoding and resizing images while the model runs (default: the CPUs, "
                   "at most 4); ray engine: workers, one model and one CPU each (default: the cluster's CPUs)")
    add_engine_arguments(p, ray_output="the same CSV")
    p.add_argument("--no-qc", action="store_true",
                   help="classify every readable image (default: images failing cxrkit.qc get an error row)")
    p.set_defaults(func=_run)
