"""``cxrkit evaluate localization --root NIH_ROOT --out DIR``: ChestX-ray8's localization protocol.

Writes ``DIR/localization.md`` (tables next to ChestX-ray8 Table 4), ``DIR/scores.csv``, ``DIR/pointing.csv``,
``DIR/cases.csv``, ``DIR/protocol.json`` and ``DIR/examples.html`` (+ ``DIR/examples/*.png``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from cxrkit.fs import atomic_open, atomic_write_text


def register_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "localization",
        help="heatmap localization vs the official NIH boxes (ChestX-ray8 protocol)",
        description="Accuracy and average false positives at T(IoBB) and T(IoU) in {0.1, 0.25, 0.5, 0.75, 0.9} per "
        "finding, the pointing game, and a data-free control, on NIH images with official boxes; printed next "
        "to ChestX-ray8's Table 4.",
    )
    p.add_argument("--root", required=True, type=Path, help="NIH ChestX-ray14 folder (labels/ + an image folder)")
    p.add_argument("--images", default="images_512", help="image folder under ROOT (boxes are scaled to it)")
    p.add_argument("--method", default="cam", help="heatmap method (default cam)")
    p.add_argument("--boxes", default=None,
                   help="comma-separated box methods scored side by side (default: anatomy,default,chestxray8 when "
                        "the model has shipped localization priors, else default,chestxray8)")
    p.add_argument("--model", default=None, help="classifier weights; default: the shipped model")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--limit", type=int, default=None, help="only the first N box images (smoke runs)")
    p.add_argument("--exclude", type=Path, default=None,
                   help="image names to leave out (e.g. those the classifier trained on): one per line, or a CSV "
                        "with an image_id column (rows with split=train only, when it has a split column)")
    p.add_argument("--no-holdout", action="store_true",
                   help="do not restrict to the classifier's held-out images (<card name>.holdout.csv beside its card)")
    p.add_argument("--split-file", type=Path, default=None,
                   help="split CSV (image_id, split); with --part, evaluate only that part (replaces the card's "
                        "hold-out file), e.g. configs/splits/nih_v2.csv")
    p.add_argument("--part", default="val", help="split value kept from --split-file (default val)")
    p.add_argument("--classes", default=None,
                   help="comma-separated box findings, or 'all' for the 8 ChestX-ray8 classes (research mode: heads "
                        "the card does not report are scored and marked not validated)")
    p.add_argument("--write-validated", action="store_true",
                   help="write the per-finding 'localization validated' verdicts of the anatomy boxes into "
                        "src/cxrkit/localize/validated.json (use only on the held-out part)")
    p.add_argument("--all-outputs", action="store_true",
                   help="also score head outputs the model does not report (not validated; marked as such)")
    p.add_argument("--examples", type=int, default=16, help="example overlays on the HTML page")
    p.add_argument("--batch-size", type=int, default=8)
    p.set_defaults(func=run)


def _card_summary(classifier: object) -> dict:
    card = getattr(classifier, "card", None)
    if card is None:
        return {}
    d = card.to_dict() if hasattr(card, "to_dict") else dict(getattr(card, "__dict__", {}))
    keep = ("name", "architecture", "reported_findings", "training_data", "training", "validation_protocol",
            "weights_sha256", "reproduce", "limits")
    return {k: d[k] for k in keep if k in d}


def read_exclude(path: Path) -> set[str]:
    """Image names from a text file (one per line, ``#`` comments) or a CSV with ``image_id`` (and optional
    ``split``) columns."""
    import pandas as pd

    from cxrkit.errors import DataFormatError

    if not path.is_file():
        raise DataFormatError(f"--exclude file not found: {path}")
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, dtype=str)
        if "image_id" not in df.columns:
            raise DataFormatError(f"{path} has no image_id column; columns: {list(df.columns)}")
        if "split" in df.columns:
            df = df[df["split"] == "train"]
        ids = df["image_id"].dropna()
    else:
        ids = pd.Series([ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")])
    # accept names with or without the .png extension
    return set(ids) | {i + ".png" for i in ids if not i.endswith(".png")}


def holdout_file(classifier: object) -> Path | None:
    """``<card name>.holdout.csv`` beside the classifier's card (its validation images), if there is one."""
    card = getattr(classifier, "card", None)
    path = getattr(card, "path", None)
    if card is None or path is None:
        return None
    f = Path(path).parent / f"{card.name}.holdout.csv"
    return f if f.is_file() else None


def read_holdout(path: Path) -> set[str]:
    """Image ids of a hold-out CSV (column ``image_id``)."""
    import pandas as pd

    from cxrkit.errors import DataFormatError

    df = pd.read_csv(path, dtype=str)
    if "image_id" not in df.columns:
        raise DataFormatError(f"{path} has no image_id column; columns: {list(df.columns)}")
    ids = set(df["image_id"].dropna())
    return ids | {i + ".png" for i in ids if not i.endswith(".png")}


def _boxes_cell(boxes) -> str:
    """Boxes as a JSON list of ``[x_min, y_min, x_max, y_max(, score)]`` for a CSV cell."""
    return json.dumps([[round(b.x_min, 1), round(b.y_min, 1), round(b.x_max, 1), round(b.y_max, 1)]
                       + ([round(b.score, 3)] if b.score is not None else []) for b in boxes])


def _split_part(split_file: Path, part: str) -> set[str]:
    """Image ids of the rows with ``split == part`` in a split CSV (``image_id``, ``split``)."""
    import pandas as pd

    from cxrkit.errors import DataFormatError

    split = pd.read_csv(split_file, dtype=str)
    if not {"image_id", "split"} <= set(split.columns):
        raise DataFormatError(f"{split_file} needs image_id and split columns; has {list(split.columns)}")
    include = set(split.loc[split["split"] == part, "image_id"])
    if not include:
        raise DataFormatError(f"no rows with split == {part!r} in {split_file}")
    return include


def run(args: argparse.Namespace) -> int:

    from cxrkit.data import load_dataset
    from cxrkit.errors import DataFormatError
    from cxrkit.localize.evaluate import BOX_FINDINGS, evaluate_localization
    from cxrkit.localize.priors import prior_names
    from cxrkit.service.commands.localize import load_classifier_or_explain

    classifier = load_classifier_or_explain(args.model)
    name = getattr(getattr(classifier, "card", None), "name", None)
    if args.boxes is None:
        args.boxes = "anatomy,default,chestxray8" if name in prior_names() else "default,chestxray8"
    box_methods = [b.strip() for b in args.boxes.split(",") if b.strip()]
    classes = None
    if args.classes:
        classes = list(BOX_FINDINGS) if args.classes.strip().lower() == "all" else [
            c.strip() for c in args.classes.split(",") if c.strip()]
        reported = set(getattr(classifier, "findings", ()) or ())
        if any(c not in reported for c in classes):
            args.all_outputs = True  # research mode: unreported heads scored, marked † / not validated
    exclude = read_exclude(args.exclude) if args.exclude else set()
    ds = load_dataset("nih", root=args.root, images=args.images)
    include = _split_part(args.split_file, args.part) if args.split_file is not None else None
    if include is not None:
        args.no_holdout = True  # the split file says which images are held out
    holdout = None if args.no_holdout else holdout_file(classifier)
    if holdout is not None:  # keep only images the classifier held out (never trained on)
        kept = read_holdout(holdout)
        exclude |= set(ds.meta["image_id"].astype(str)) - kept
    t0 = time.perf_counter()
    ev = evaluate_localization(
        classifier, ds, method=args.method, box_methods=box_methods, include=include, findings=classes,
        limit=args.limit, exclude=exclude, all_outputs=args.all_outputs, batch_size=args.batch_size,
        n_examples=args.examples, progress=True,
    )
    elapsed = time.perf_counter() - t0
    ev.protocol.update({
        "data": f"NIH ChestX-ray14 official boxes (BBox_List_2017), images in {args.root / args.images}, boxes scaled "
                "from 1024 px to the stored size",
        "model": str(args.model or "shipped default"),
        "model_card": _card_summary(classifier),
        "holdout_file": str(holdout) if holdout is not None else None,
        "machine": f"{platform.machine()} {platform.processor() or ''} ({platform.system()}), CPU".strip(),
        "seconds": round(elapsed, 1),
        "command": "cxrkit evaluate localization " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k in ("root", "images", "method", "boxes", "model", "exclude", "split_file", "part", "classes", "out",
                     "limit") and v is not None),
        "split": f"{args.split_file} part {args.part}" if args.split_file is not None else None,
    })
    if "anatomy" in box_methods:
        from cxrkit.localize.priors import load_priors
        from cxrkit.localize.validation import accuracy_summary, verdicts, write_validated

        v = verdicts(ev, source="anatomy", reported=tuple(getattr(classifier, "findings", ()) or ()))
        pri = load_priors(name)
        for f in v:  # which placement produced the boxes (the CAM only orders the two boxes of "both_sides")
            v[f]["strategy"] = pri.get(f).strategy
        ev.protocol["localization_verdicts"] = v
        (args.out).mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "verdicts.json", json.dumps(v, indent=2))
        if args.write_validated:
            if args.limit is not None or include is None:
                raise DataFormatError("--write-validated needs --split-file (the held-out part) and no --limit")
            path = write_validated(name or str(args.model), "anatomy", v, {
                "data": ev.protocol["data"], "split": ev.protocol["split"], "n_images": ev.protocol["n_images"],
                "n_cases": ev.protocol["n_cases"], "command": ev.protocol["command"],
                "priors": ev.protocol.get("priors_model"), **accuracy_summary(ev, "anatomy")})
            print(f"verdicts written to {path}")
    print(_write_outputs(ev, args.out, examples=bool(args.examples)))
    return 0


def _write_outputs(ev: Any, out: Path, *, examples: bool) -> str:
    """``localization.md``, ``scores.csv``, ``pointing.csv``, ``cases.csv``, ``protocol.json`` (and the
    examples page) under ``out``; returns the Markdown report."""
    from cxrkit.localize.report import markdown_report, write_examples_page

    out.mkdir(parents=True, exist_ok=True)
    md = markdown_report(ev)
    atomic_write_text(out / "localization.md", md)
    with atomic_open(out / "scores.csv", "w", newline="") as fh:
        ev.scores.to_csv(fh, index=False)
    with atomic_open(out / "pointing.csv", "w", newline="") as fh:
        ev.pointing.to_csv(fh, index=False)
    cases = ev.cases.copy()
    for col in [c for c in cases.columns if c == "truth" or c in ev.protocol["box_methods"] or c.startswith("control:")]:
        cases[col] = cases[col].map(_boxes_cell)
    with atomic_open(out / "cases.csv", "w", newline="") as fh:
        cases.to_csv(fh, index=False)
    atomic_write_text(out / "protocol.json", json.dumps(ev.protocol, indent=2, default=str))
    if examples:
        write_examples_page(ev, out)
    return md
