"""``cxrkit index build|add|delete|info``: similar-case indexes (see ``docs/retrieval.md``).

``build SOURCES --out IDX`` embeds image files (or ``--dataset``) into a new or partly built index: films
already in ``IDX`` are skipped and the index is saved every ``--save-every`` films, so an interrupted build
resumes where it stopped. ``add IDX FILES`` adds to an existing index; ``delete IDX --patient ID`` is a
patient's opt-out (their films are removed and refused from then on).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _sources(args: argparse.Namespace):
    """(metadata table, dataset-or-None) of what to index."""
    import pandas as pd

    from cxrkit.errors import DataFormatError
    from cxrkit.retrieval.metadata import meta_from_dataset, meta_from_files

    table = None
    if getattr(args, "meta", None):
        try:
            table = pd.read_csv(args.meta, dtype=str, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise DataFormatError(f"--meta {args.meta}: not a readable CSV ({exc})") from None
    if getattr(args, "dataset", None):
        from cxrkit.data import load_dataset

        kw = {"images": args.images} if args.images else {}
        ds = load_dataset(args.dataset, root=args.root, **kw)
        meta = meta_from_dataset(ds)
        if args.split_file:
            sp = pd.read_csv(args.split_file, dtype=str)
            if not {"image_id", "split"} <= set(sp.columns):
                raise DataFormatError(f"--split-file {args.split_file}: needs columns image_id, split")
            keep = set(sp.loc[sp["split"] == args.split, "image_id"])
            if not keep:
                raise DataFormatError(f"--split {args.split!r}: no rows in {args.split_file} "
                                      f"(splits: {', '.join(sorted(sp['split'].unique()))})")
            meta = meta[meta["image_id"].isin(keep)].reset_index(drop=True)
        return meta
    from cxrkit.io.find import find_images

    files = find_images(args.sources)
    if not files:
        raise DataFormatError(f"no image files found in {args.sources}")
    return meta_from_files(files, dataset=args.dataset_name, table=table)


def _embed_into(idx_path: Path, meta, args: argparse.Namespace, *, create: bool) -> int:
    from tqdm.auto import tqdm

    from cxrkit.errors import CxrkitError
    from cxrkit.io import read_image
    from cxrkit.retrieval.embed import load_embedder
    from cxrkit.retrieval.errors import CorruptIndexError
    from cxrkit.retrieval.index import RetrievalIndex

    emb = load_embedder(args.model, threads=args.threads)
    if (idx_path / "manifest.json").is_file():
        idx = RetrievalIndex.load(idx_path)
        idx.spec.check_same(emb.spec, "--model's embedding")
    elif create:
        idx = RetrievalIndex(emb.spec)
    else:
        raise CorruptIndexError(f"{idx_path}: no index there (create one with `cxrkit index build`)")
    have = set(idx.meta["image_id"])
    opted = (meta["patient_id"] != "") & meta["patient_id"].isin(idx.opted_out)
    todo = meta[~meta["image_id"].isin(have) & ~opted].reset_index(drop=True)
    skipped, failed = len(meta) - len(todo), 0
    if opted.any():
        print(f"skipped {int(opted.sum())} film(s) of opted-out patients", file=sys.stderr)
    bar = tqdm(total=len(todo), unit="film", desc="indexing", disable=args.quiet or None)
    since_save = 0
    for s in range(0, len(todo), args.batch_size):
        chunk = todo.iloc[s:s + args.batch_size]
        ims, rows = [], []
        for i, p in enumerate(chunk["source_path"]):
            try:
                ims.append(read_image(p))
                rows.append(i)
            except (CxrkitError, OSError) as exc:
                failed += 1
                log.warning("not indexed: %s (%s: %s)", p, type(exc).__name__, exc)
        if ims:
            idx.add(emb.embed(ims, batch_size=args.batch_size), chunk.iloc[rows], spec=emb.spec)
            since_save += len(ims)
        bar.update(len(chunk))
        if since_save >= args.save_every:
            idx.save(idx_path)
            since_save = 0
    bar.close()
    idx.save(idx_path)
    print(f"{idx_path}: {len(idx)} films ({len(todo) - failed} added, {skipped} already there or opted out, "
          f"{failed} unreadable); embedding {idx.spec.label}", file=sys.stderr)
    return 1 if failed and failed == len(todo) else 0


def _build(args: argparse.Namespace) -> int:
    from cxrkit.errors import DataFormatError

    if not args.sources and not args.dataset:
        raise DataFormatError("give image files/folders (SOURCES) or --dataset NAME --root DIR")
    return _embed_into(Path(args.out), _sources(args), args, create=True)


def _add(args: argparse.Namespace) -> int:
    args.dataset = None
    return _embed_into(Path(args.index), _sources(args), args, create=False)


def _delete(args: argparse.Namespace) -> int:
    from cxrkit.retrieval.index import RetrievalIndex

    idx = RetrievalIndex.load(args.index)
    for pid in args.patient:
        n = idx.delete_patient(pid)
        print(f"patient {pid}: {n} film(s) removed; opt-out recorded", file=sys.stderr)
    idx.save(args.index)
    return 0


def _info(args: argparse.Namespace) -> int:
    import json

    from cxrkit.retrieval.index import RetrievalIndex

    idx = RetrievalIndex.load(args.index)
    m = idx.meta
    print(json.dumps({"films": len(idx), "patients": int(m["patient_id"].replace("", None).nunique()),
                      "embedding": idx.spec.to_dict(), "opted_out_patients": len(idx.opted_out),
                      "datasets": m["dataset"].value_counts().to_dict(), "views": m["view"].value_counts().to_dict()},
                     indent=1))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--meta", default=None, help="CSV keyed by image_id (file name) with patient_id, study_date, "
                                                "view, labels, dataset columns for files that carry none (PNG)")
    p.add_argument("--dataset-name", default="files", help="value of the 'dataset' column for files (default files)")
    p.add_argument("--model", default=None, help="classifier package whose embedding to use (default: shipped)")
    p.add_argument("--batch-size", type=int, default=16, help="films per network call (default 16)")
    p.add_argument("--save-every", type=int, default=256, help="save the index every N films (resume point)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="similar-case indexes: build, add, delete (opt-out), info")
    ops = p.add_subparsers(dest="op", metavar="OP")
    b = ops.add_parser("build", help="embed films into an index folder (resumable)")
    b.add_argument("sources", nargs="*", help="image files or folders")
    b.add_argument("--out", required=True, help="index folder (created; an existing one is resumed)")
    b.add_argument("--dataset", default=None, help="index a dataset instead of files (e.g. nih)")
    b.add_argument("--root", default=None, help="dataset root folder")
    b.add_argument("--images", default=None, help="dataset image set (e.g. adult_512 for nih)")
    b.add_argument("--split-file", default=None, help="CSV with image_id, split (e.g. configs/splits/nih_v2.csv)")
    b.add_argument("--split", default="train", help="split to index from --split-file (default train)")
    _common(b)
    b.set_defaults(func=_build)
    a = ops.add_parser("add", help="add image files to an existing index")
    a.add_argument("index", help="index folder")
    a.add_argument("sources", nargs="+", help="image files or folders")
    _common(a)
    a.set_defaults(func=_add)
    d = ops.add_parser("delete", help="a patient's opt-out: remove their films, refuse them from then on")
    d.add_argument("index", help="index folder")
    d.add_argument("--patient", action="append", required=True, help="patient id (repeatable)")
    d.set_defaults(func=_delete)
    i = ops.add_parser("info", help="what an index holds")
    i.add_argument("index", help="index folder")
    i.set_defaults(func=_info)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
