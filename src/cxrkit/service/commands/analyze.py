"""``cxrkit analyze PATH... --out DIR``: the main job (quality check, findings, boxes, CTR, draft report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cxrkit.errors import InvalidImageError
from cxrkit.service.settings import VIEW_OPTIONS as VIEWS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyze radiographs (DICOM/PNG/JPEG files or folders): findings, boxes, CTR, draft report",
        description="Writes DIR/<stem>-<hash>/result.json, overlay.png, report.md (and DICOM SR/SC with --dicom-out). "
        "Finished images are skipped on a rerun; per-file errors go to DIR/errors.jsonl. Not a diagnosis.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--dicom-out", action="store_true", help="also write DICOM SR, secondary capture (and SEG)")
    p.add_argument("--no-localize", action="store_true", help="skip heatmaps and boxes")
    p.add_argument("--no-segment", action="store_true", help="skip lung/heart segmentation and the CTR")
    p.add_argument("--no-qc", action="store_true",
                   help="analyze images the quality check would refuse (its reasons become warnings; the result "
                   "records that QC was skipped)")
    p.add_argument("--workers", type=int, default=1, help="threads analyzing images in parallel (default 1)")
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


def analyze_paths(paths, out: Path, *, dicom_out=False, localize=True, segment=True, workers=1, stream=None,
                  classifier=None, segmenter=None, view: str | None = None, qc: bool = True) -> int:
    """Run the batch with a progress bar and print the summary; returns the exit code (1 if any error)."""
    from tqdm import tqdm

    from cxrkit.pipeline import Analyzer
    from cxrkit.deliver.batch import collect_inputs, run_batch
    from cxrkit.deliver.outdir import OutputLock, stale_folders

    stream = stream or sys.stdout
    inputs = collect_inputs(paths)
    if not inputs:
        raise InvalidImageError(f"no DICOM/PNG/JPEG images found in {', '.join(map(str, paths))}")
    Path(out).mkdir(parents=True, exist_ok=True)
    with OutputLock(out):  # fail fast, before loading models, when another run holds --out (run_batch re-locks)
        pass
    analyzer = Analyzer(classifier=classifier or "default",
                        segmenter=(segmenter or "default") if segment else None, localize=localize, qc=qc)
    with tqdm(total=len(inputs), unit="image", desc="analyze", file=sys.stderr) as bar:
        items = run_batch(analyzer, inputs, out, dicom_out=dicom_out, workers=max(1, workers), view=view,
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


def run(args: argparse.Namespace) -> int:
    return analyze_paths(args.paths, args.out, dicom_out=args.dicom_out, localize=not args.no_localize,
                         segment=not args.no_segment, workers=args.workers, classifier=args.classifier,
                         segmenter=args.segmenter, view=args.view, qc=not args.no_qc)
