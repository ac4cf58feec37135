"""``cxrkit analyze PATH... --out DIR``: the main job (quality check, findings, boxes, CTR, draft report)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cxrkit.errors import InvalidImageError
from cxrkit.service.commands._engine_args import add_engine_arguments
from cxrkit.views import VIEW_OPTIONS as VIEWS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyze radiographs (DICOM/PNG/JPEG files or folders): findings, boxes, CTR, draft report",
        description="Writes DIR/<stem>-<hash>/result.json, overlay.png, report.md (and DICOM SR/SC with --dicom-out). "
        "Finished images are skipped on a rerun; per-file errors go to DIR/errors.jsonl. Not a diagnosis.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders (searched recursively)")
    p.add_argument("--catalog", type=Path, metavar="FILE.parquet",
                   help="analyze the images a `cxrkit catalog build` file lists (its path column), with or "
                   "instead of PATHs")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--dicom-out", action="store_true", help="also write DICOM SR, secondary capture (and SEG)")
    p.add_argument("--no-localize", action="store_true", help="skip heatmaps and boxes")
    p.add_argument("--no-segment", action="store_true", help="skip lung/heart segmentation and the CTR")
    p.add_argument("--no-qc", action="store_true",
                   help="analyze images the quality check would refuse (its reasons become warnings; the result "
                   "records that QC was skipped)")
    p.add_argument("--workers", type=int, default=None,
                   help="local engine: threads analyzing images in parallel (default 1); ray engine: workers, one "
                   "Analyzer and one CPU each (default: the cluster's CPUs)")
    add_engine_arguments(p, ray_output="also writes DIR/results.parquet")
    p.add_argument("--view", type=str.upper, choices=VIEWS, metavar="VIEW",
                   help=f"view position of inputs whose file has none (PNG/JPEG): {', '.join(VIEWS)}; an AP film's "
                   "CTR is flagged (the heart is magnified)")
    p.add_argument("--classifier", type=Path, metavar="PACKAGE",
                   help="classifier package (model card + weights) instead of the shipped one")
    p.add_argument("--segmenter", type=Path, metavar="PACKAGE",
                   help="segmenter package instead of the shipped one")
    p.set_defaults(func=run)


def summary_table(items) -> str:
    """A plain-text table: one row per image with status, usability, positive findings and CTR."""
    from cxrkit.report.draft import NO_FINDING  # lazy: keeps `cxrkit --help` free of numpy

    rows = [("image", "status", "usable", "positive findings (probability)", "CTR")]
    for it in items:
        if it.result is None:
            rows.append((it.name, it.status, "-", it.error[:60] if it.error else "-", "-"))
            continue
        r = it.result
        pos = ", ".join(f"{f.name} ({f.probability:.2f})" for f in r.positive_findings if f.name != NO_FINDING)
        if not r.quality.usable:
            pos = "not analyzed: " + "; ".join(r.quality.reasons)[:60]
        elif r.model is None:
            pos = "no classifier available"
        ctr = r.measurement("cardiothoracic_ratio")
        rows.append((it.name, it.status, "yes" if r.quality.usable else "no", pos or "none",
                     "-" if ctr is None or ctr.value is None else f"{ctr.value:.2f}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def job_inputs(paths, catalog: Path | None = None, *, stream=None) -> list[Path]:
    """The images of a job: those found in ``paths`` (:func:`cxrkit.deliver.batch.collect_inputs`), then those
    a catalog lists that are not already among them.

    Raises:
        InvalidImageError: no image at all.
    """
    from cxrkit.deliver.batch import collect_inputs

    inputs = collect_inputs(paths) if paths else []
    if catalog is not None:
        from cxrkit.data.catalog import catalog_image_paths

        listed, without_file = catalog_image_paths(catalog)
        seen = {p.resolve() for p in inputs}
        inputs += [p for p in listed if p.resolve() not in seen]
        if without_file:
            print(f"note: {without_file} row(s) of {catalog} have no image file (null path); not analyzed",
                  file=stream or sys.stdout)
    if not inputs:
        where = ", ".join([*map(str, paths or []), *([str(catalog)] if catalog else [])]) or "nothing (give PATHs "\
            "or --catalog)"
        raise InvalidImageError(f"no DICOM/PNG/JPEG images found in {where}")
    return inputs


@contextmanager
def _threads_per_worker(workers: int) -> Iterator[None]:
    """With several worker threads, each ONNX Runtime session gets cores / workers intra-op threads and BLAS one
    thread (unless ``CXRKIT_THREADS`` says otherwise): nested thread pools oversubscribe the cores, which cost
    the local engine ~25% of its throughput at 2 workers on 2 cores (docs/scaling.md)."""
    if workers <= 1 or "CXRKIT_THREADS" in os.environ:
        yield
        return
    from threadpoolctl import threadpool_limits

    os.environ["CXRKIT_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // workers))
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        os.environ.pop("CXRKIT_THREADS", None)


def analyze_paths(paths, out: Path, *, dicom_out=False, localize=True, segment=True, workers=None, stream=None,
                  classifier=None, segmenter=None, view: str | None = None, qc: bool = True,
                  catalog: Path | None = None, engine: str = "local", address: str | None = None) -> int:
    """Run the batch with a progress bar and print the summary; returns the exit code (1 if any error)."""
    from tqdm import tqdm

    from cxrkit.deliver.batch import run_batch
    from cxrkit.deliver.outdir import OutputLock, stale_folders
    from cxrkit.pipeline import Analyzer

    stream = stream or sys.stdout
    inputs = job_inputs(paths, catalog, stream=stream)
    Path(out).mkdir(parents=True, exist_ok=True)
    with OutputLock(out):  # fail fast, before loading models, when another run holds --out (run_batch re-locks)
        pass
    if engine == "ray":
        options = {"classifier": _absolute(classifier) or "default",
                   "segmenter": (_absolute(segmenter) or "default") if segment else None, "localize": localize,
                   "qc": qc}
        return _analyze_ray(inputs, Path(out), options, dicom_out=dicom_out, workers=workers, view=view,
                            address=address, stream=stream)
    workers = max(1, workers or 1)
    with _threads_per_worker(workers):
        analyzer = Analyzer(classifier=classifier or "default",
                            segmenter=(segmenter or "default") if segment else None, localize=localize, qc=qc)
        with tqdm(total=len(inputs), unit="image", desc="analyze", file=sys.stderr) as bar:
            items = run_batch(analyzer, inputs, out, dicom_out=dicom_out, workers=workers, view=view,
                              progress=lambda _: bar.update(1))
    done = sum(i.status == "done" for i in items)
    skipped = sum(i.status == "skipped" for i in items)
    errors = sum(i.status == "error" for i in items)
    print(summary_table(items), file=stream)
    print(f"\n{done} analyzed, {skipped} already done (skipped), {errors} errors"
          + (f" (see {out / 'errors.jsonl'})" if errors else "") + f"; outputs in {out}/", file=stream)
    stale = stale_folders(Path(out), {i.name for i in items})
    if stale:
        print(f"note: {len(stale)} result folder(s) in {out} belong to no input of this run (inputs left out, or "
              f"named by an older cxrkit), e.g. {stale[0]}; they were left as they are", file=stream)
    for note in analyzer.notes.values():
        print(f"note: {note}", file=stream)
    print("Draft results generated by software; not a diagnosis; must be reviewed by a radiologist.", file=stream)
    return 1 if errors else 0


def _absolute(path: Path | None) -> str | None:
    return None if path is None else str(Path(path).absolute())


def _analyze_ray(inputs, out: Path, options, *, dicom_out, workers, view, address, stream) -> int:
    from tqdm import tqdm

    from cxrkit.deliver.outdir import output_name, stale_folders
    from cxrkit.engine.ray_analyze import run_ray_batch
    from cxrkit.engine.ray_cluster import check_address
    from cxrkit.errors import ConfigError

    check_address(address)
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")

    with tqdm(total=len(inputs), unit="image", desc="analyze (ray)", file=sys.stderr) as bar:
        summary = run_ray_batch(inputs, out, analyzer_options=options, dicom_out=dicom_out, view=view,
                                address=address, workers=workers, progress=lambda _: bar.update(1))
    c, pool = summary.counts, summary.pool
    print(f"{c['done']} analyzed, {c['reused']} already done (skipped), {c['error']} errors"
          + (f" (see {out / 'errors.jsonl'})" if c["error"] else "") + f"; outputs in {out}/, one row per image "
          f"in {summary.results}", file=stream)
    print(f"ray: {len(pool.workers)} worker(s) started, {pool.actor_failures} lost and replaced, "
          f"{pool.retried} image attempt(s) retried, {pool.lost} image(s) given up; {summary.seconds:.1f} s",
          file=stream)
    stale = stale_folders(Path(out), {output_name(p) for p in inputs})
    if stale:
        print(f"note: {len(stale)} result folder(s) in {out} belong to no input of this run, e.g. {stale[0]}; "
              "they were left as they are", file=stream)
    print("Draft results generated by software; not a diagnosis; must be reviewed by a radiologist.", file=stream)
    return 1 if c["error"] else 0


def run(args: argparse.Namespace) -> int:
    return analyze_paths(args.paths, args.out, dicom_out=args.dicom_out, localize=not args.no_localize,
                         segment=not args.no_segment, workers=args.workers, classifier=args.classifier,
                         segmenter=args.segmenter, view=args.view, qc=not args.no_qc, catalog=args.catalog,
                         engine=args.engine, address=args.address)
