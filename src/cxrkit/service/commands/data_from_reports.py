"""``cxrkit data from-reports PATH... --out labels.csv``: a training label table from a report archive.

Labels every report (as ``cxrkit label-reports`` does) and writes one row per *image* of the report, the
ChestX-ray8 way: ``image_id, report_id`` then one column per canonical finding (1 / 0 / -1 / blank, or the
``--uncertain`` policy applied). Open-i XML lists its images (``parentImage id``); for CSV / JSONL input give
the column holding the image ids (``--image-col``, several ids separated by ``;``). Reports without images
are counted and skipped. ``--images-meta`` joins columns (e.g. the view) from an image metadata table.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cxrkit.errors import DataFormatError
from cxrkit.fs import atomic_path

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd
    from tqdm import tqdm

    from cxrkit.labels import FINDINGS, uncertain_to_target
    from cxrkit.text.batch import Labeled, label_paths

    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise DataFormatError(f"--out must end in .csv or .parquet; got {out}")
    image_map: dict[str, list[str]] = {}
    if args.image_col:
        image_map = _images_from_tables(args.paths, args.id_col, args.image_col)
    rows: list[list[object]] = []
    n_reports = n_bad = n_no_image = 0
    items = label_paths(args.paths, id_col=args.id_col, text_col=args.text_col, workers=args.workers,
                        chunk_size=args.chunk_size)
    for item in tqdm(items, unit="report", disable=args.quiet or None, file=sys.stderr):
        if not isinstance(item, Labeled):
            n_bad += 1
            print(f"cxrkit data from-reports: skipped {item.report_id or '?'} ({item.source}): {item.error}",
                  file=sys.stderr)
            continue
        n_reports += 1
        rid = item.record.report_id
        images = item.record.image_ids or image_map.get(rid, [])
        if not images:
            n_no_image += 1
            continue
        got = item.labels.values
        vals = [np.nan if (v := got.get(f)) is None else float(v) for f in FINDINGS]
        rows.extend([img, rid, *vals] for img in images)
    if not rows:
        raise DataFormatError(
            f"no image rows: {n_reports} report(s) labeled, {n_no_image} without image ids"
            + ("" if args.image_col else " (for CSV/JSONL input set --image-col)")
        )
    df = pd.DataFrame(rows, columns=["image_id", "report_id", *FINDINGS])
    if args.uncertain != "keep":
        df[list(FINDINGS)] = uncertain_to_target(df[list(FINDINGS)].to_numpy(), args.uncertain)
    if args.images_meta:
        df = _join_meta(df, Path(args.images_meta), args.meta_id_col, args.meta_cols)
    with atomic_path(out) as tmp:  # never a half-written table under the final name
        if out.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False, float_format="%.0f")
    print(f"{len(df)} image row(s) from {n_reports} report(s) -> {out}; {n_no_image} report(s) without images, "
          f"{n_bad} bad record(s) skipped", file=sys.stderr)
    return 0


def _images_from_tables(paths: list[str], id_col: str | None, image_col: str) -> dict[str, list[str]]:
    import pandas as pd

    from cxrkit.text.readers import expand_paths

    out: dict[str, list[str]] = {}
    for p in expand_paths(paths):
        suffix = p.suffix.lower()
        if suffix not in (".csv", ".tsv", ".jsonl"):
            continue
        df = pd.read_json(p, lines=True, dtype=False) if suffix == ".jsonl" else pd.read_csv(
            p, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
        icol = id_col or next((c for c in ("report_id", "id") if c in df.columns), None)
        if icol is None or icol not in df.columns or image_col not in df.columns:
            raise DataFormatError(f"{p}: needs id column {id_col or 'report_id/id'!r} and image column "
                                  f"{image_col!r}; columns found: {', '.join(map(str, df.columns))}")
        for rid, imgs in zip(df[icol].astype(str), df[image_col].astype(str)):
            out[rid.strip()] = [s.strip() for s in imgs.split(";") if s.strip()]
    return out


def _join_meta(df, path: Path, id_col: str, cols: list[str] | None):
    import pandas as pd

    if not path.is_file():
        raise DataFormatError(f"--images-meta file not found: {path}")
    meta = pd.read_csv(path, dtype=str, low_memory=False)
    if id_col not in meta.columns:
        raise DataFormatError(f"{path}: no column {id_col!r} (--meta-id-col); columns found: "
                              f"{', '.join(map(str, meta.columns[:40]))}")
    keep = cols or [c for c in meta.columns if c != id_col]
    missing = [c for c in keep if c not in meta.columns]
    if missing:
        raise DataFormatError(
            f"{path}: no column(s) {missing}; columns found: {', '.join(map(str, meta.columns[:40]))}"
        )
    meta = meta[[id_col, *keep]].drop_duplicates(id_col).rename(columns={id_col: "image_id"})
    return df.merge(meta, on="image_id", how="left")


def _add_from_reports(data_sub: argparse._SubParsersAction) -> None:
    from cxrkit.service.commands.label_reports import add_input_arguments

    p = data_sub.add_parser("from-reports", help="image label table from a report archive (labeler + image ids)",
                            description=__doc__.split("\n\n")[0])
    add_input_arguments(p)
    p.add_argument("--out", required=True, help="output .csv or .parquet")
    p.add_argument("--image-col", default=None, help="CSV/JSONL column with the report's image ids (';'-separated)")
    p.add_argument("--uncertain", choices=("keep", "ignore", "zeros", "ones"), default="keep",
                   help="uncertain (-1) labels: keep as -1 (default), or ignore (blank) / zeros / ones")
    p.add_argument("--images-meta", default=None, help="CSV of image metadata to join on the image id")
    p.add_argument("--meta-id-col", default="imageid", help="image id column of --images-meta (default imageid)")
    p.add_argument("--meta-cols", nargs="+", default=None, help="columns of --images-meta to keep (default all)")
    p.set_defaults(func=run)


def register(sub: argparse._SubParsersAction) -> None:
    existing = sub.choices.get("data") if hasattr(sub, "choices") else None
    if existing is not None:  # another module made `cxrkit data`: add our subcommand to it
        for action in existing._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_from_reports(action)
                return
        raise RuntimeError("`cxrkit data` exists without subcommands; cannot add from-reports")
    p = sub.add_parser("data", help="build dataset files (from-reports: labels from radiology reports)")
    data_sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    _add_from_reports(data_sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
