"""``cxrkit audit``: cross-site, subgroup, shortcut-probe and per-site calibration audit of a classifier.

Two ways in:

* ``--images DIR --labels CSV``: a folder of images and a CSV with ``image`` (file name), one 0/1 column per
  finding and optional ``sex``, ``age``, ``view``, ``site`` (and any other column: audited as a subgroup).
* ``--dataset NAME[:key=value,...] --root DIR`` (repeatable): registered datasets (``nih:images=adult_512``,
  ``kermany``, ``covid_ieee8023``, ``covid_hannover``, ``jsrt``...), one source each.

Select images with ``--split holdout`` (the model card's hold-out list) or ``--split-file CSV[:SPLIT]`` (an
``image_id`` [+ ``source``] [+ ``split``] table; it restricts only the sources it names) and ``--limit N`` (a
seeded sample of at most N images per source). Outputs in ``--out``: ``audit.html`` (self-contained),
``audit.json``, ``cache/`` (model outputs keyed by model checksum and image path + mtime: a second audit is
fast, a killed audit resumes).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _id_filter(table_path: str, split: str | None):
    import pandas as pd

    from cxrkit.errors import DataFormatError

    t = pd.read_csv(table_path)
    if "image_id" not in t.columns:
        raise DataFormatError(f"{table_path}: needs an image_id column; has {list(t.columns)}")
    if split is not None:
        if "split" not in t.columns:
            raise DataFormatError(f"{table_path}: no split column to select {split!r}")
        t = t[t["split"].astype(str) == split]
        if t.empty:
            raise DataFormatError(f"{table_path}: no row with split == {split!r}")
    return t


def _load(args):
    from cxrkit.audit.inputs import from_datasets, from_folder, parse_dataset_spec
    from cxrkit.errors import DataFormatError

    if args.images or args.labels:
        if not (args.images and args.labels):
            raise DataFormatError("--images and --labels go together")
        if args.dataset:
            raise DataFormatError("give either --images/--labels or --dataset/--root, not both")
        return from_folder(args.images, args.labels, source=args.source)
    if not args.dataset:
        raise DataFormatError("give --images DIR --labels CSV, or --dataset NAME --root DIR")
    roots = args.root or []
    if len(roots) != len(args.dataset):
        raise DataFormatError(f"{len(args.dataset)} --dataset but {len(roots)} --root; give one --root per --dataset")
    return from_datasets([parse_dataset_spec(d, r) for d, r in zip(args.dataset, roots)])


def _select(args, clf, data):
    """Apply --split holdout, --split-file and --limit."""
    from cxrkit.audit.inputs import restrict_ids, subsample
    from cxrkit.errors import DataFormatError

    if args.split == "holdout":
        hold = clf.card.path.with_name(clf.card.name + ".holdout.csv") if clf.card.path else None
        if hold is None or not hold.is_file():
            raise DataFormatError(f"model {clf.card.name!r} ships no hold-out list")
        data = restrict_ids(data, _id_filter(str(hold), None), f"{clf.card.name}'s hold-out list")
    elif args.split:
        raise DataFormatError(f"--split takes 'holdout', got {args.split!r}; for other splits use --split-file CSV:SPLIT")
    for spec in args.split_file or []:
        path, _, split = spec.partition(":") if not Path(spec).is_file() else (spec, "", "")
        data = restrict_ids(data, _id_filter(path, split or None),
                            f"{Path(path).name}" + (f" (split {split})" if split else ""))
    data = subsample(data, args.limit, seed=args.seed)
    if not len(data):
        raise DataFormatError("no image left to audit")
    return data


def _run(args: argparse.Namespace) -> int:
    from cxrkit.audit.report import write_audit
    from cxrkit.audit.run import AuditOptions, run_audit
    from cxrkit.models.classifier import load_classifier

    clf = load_classifier(args.model, threads=args.threads)
    data = _select(args, clf, _load(args))
    opts = AuditOptions(n_boot=args.n_boot, seed=args.seed, probes=not args.no_probes, probe_limit=args.probe_limit,
                        batch_size=args.batch_size, progress=None)
    result = run_audit(data, args.out, clf=clf, options=opts)
    files = write_audit(result, args.out)
    print(f"cxrkit audit: {clf.card.name} on {result['data']['n_images']} images "
          f"({', '.join(f'{s} {n}' for s, n in result['data']['sources'].items())}) in {result['seconds']} s")
    for line in result["summary"]:
        print(f"- {line}")
    for n in result["notes"]:
        print(f"note: {n}", file=sys.stderr)
    print(f"report: {files['audit.html']} and {files['audit.json']}")
    return 0


def add_selection_arguments(p: argparse.ArgumentParser) -> None:
    """--split, --split-file, --limit (shared with ``cxrkit recalibrate``)."""
    p.add_argument("--split", help="'holdout': only the images the model card lists as its hold-out")
    p.add_argument("--split-file", action="append", help="CSV[:SPLIT] with image_id (+ source, split): restricts "
                                                         "the sources it names (repeatable)")
    p.add_argument("--limit", type=int, help="at most N images per source (seeded random sample)")


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """The model and the labelled images (folder + CSV, or registered datasets), shared by audit and recalibrate."""
    p.add_argument("--model", help="model card / folder (default: the shipped model)")
    p.add_argument("--images", help="folder of images (with --labels)")
    p.add_argument("--labels", help="labels CSV: image, finding columns (0/1), optional sex, age, view, site, ...")
    p.add_argument("--source", help="source (site) name for --images mode when the CSV has no site column")
    p.add_argument("--dataset", action="append", help="registered dataset NAME[:key=value,...] (repeatable)")
    p.add_argument("--root", action="append", help="folder of the matching --dataset (repeatable, same order)")
    add_selection_arguments(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="cross-site, subgroup, shortcut and calibration audit of a classifier",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_arguments(p)
    p.add_argument("--probe-limit", type=int, default=150, help="images per source for the probes (default 150)")
    p.add_argument("--no-probes", action="store_true", help="skip the occlusion and source probes")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates for CIs (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, help="ONNX Runtime threads (default CXRKIT_THREADS or the CPUs)")
    p.add_argument("--out", required=True, help="output folder: audit.html, audit.json, cache/")
    p.set_defaults(func=_run)
