"""``cxrkit evaluate classification``: AUROC with 95% CIs, AUPRC, operating points, calibration, report.

Two ways in:

* ``--predictions P.csv --labels L.csv``: a predictions table (``path``/``Image Index`` + probability
  columns) against a label table (finding columns, the NIH ``Data_Entry_2017*.csv.gz`` table, or a CheXNet
  split list). Reproduces published results from their prediction files.
* ``--dataset NAME --root DIR [--split S] [--model PATH]``: runs a classifier (default: the shipped model) on a
  dataset's images, then evaluates every output the dataset has labels for. ``--split holdout`` selects the
  images the model card lists as its validation hold-out.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import numpy as np

from cxrkit.fs import atomic_open

log = logging.getLogger(__name__)


def _from_tables(args: argparse.Namespace):
    from cxrkit.evaluate.report import Protocol
    from cxrkit.evaluate.tables import align

    a = align(args.predictions, args.labels, args.findings)
    data = args.data_name or f"labels {Path(args.labels).name}"
    split = args.split_name or f"images in both tables ({len(a.ids)} of {a.n_predictions} predictions)"
    return a.labels, a.probs, a.findings, Protocol(data=data, split=split, model=f"predictions {Path(args.predictions).name}",
                                                  n_boot=args.n_boot, seed=args.seed), None


def _from_dataset(args: argparse.Namespace):
    import pandas as pd

    from cxrkit.data import load_dataset
    from cxrkit.errors import DataFormatError
    from cxrkit.evaluate.report import Protocol
    from cxrkit.io import read_image
    from cxrkit.models.classifier import load_classifier

    clf = load_classifier(args.model)
    ds = load_dataset(args.dataset, root=args.root, **({"images": args.images} if args.images else {}))
    meta = ds.meta.reset_index(drop=True)
    if args.split in (None, "all"):
        rows = np.arange(len(ds))
    elif args.split == "holdout":
        hold = clf.card.path.with_name(clf.card.name + ".holdout.csv") if clf.card.path else None
        if hold is None or not hold.is_file():
            raise DataFormatError(f"model {clf.card.name!r} ships no hold-out list")
        ids = set(pd.read_csv(hold)["image_id"].astype(str))
        rows = np.flatnonzero(meta["image_id"].astype(str).isin(ids).to_numpy())
    else:
        col = next((c for c in ("split", "chexnet_split", "fold") if c in meta.columns
                    and (meta[c].astype(str) == args.split).any()), None)
        if col is None:
            raise DataFormatError(f"dataset {args.dataset!r} has no split named {args.split!r}")
        rows = np.flatnonzero((meta[col].astype(str) == args.split).to_numpy())
    if args.limit:
        rows = rows[: args.limit]
    if not len(rows):
        raise DataFormatError(f"no images selected from {args.dataset!r} (split {args.split!r})")
    findings = [f for f in clf.labels if f in ds.findings]
    if args.findings:
        from cxrkit.labels import canonical

        findings = [canonical(f) for f in args.findings]
    if not findings:
        raise DataFormatError(f"the model's outputs {clf.labels} and {args.dataset!r}'s labels {ds.findings} share nothing")
    from tqdm.auto import tqdm

    fusions = {}
    if args.with_anatomy:
        from cxrkit.models.fusion import fusion_from_card, usable_ctr

        fusions = {f: fz for f in clf.labels if (fz := fusion_from_card(clf.card, f)) is not None}
    seg = None
    if fusions:
        from cxrkit.anatomy.measure import measure
        from cxrkit.anatomy.segment import load_segmenter

        seg = load_segmenter()
    probs_all = []
    for s in tqdm(range(0, len(rows), args.batch_size), desc="classify", disable=not sys.stderr.isatty()):
        imgs = [read_image(meta.loc[int(i), "path"]).pixels for i in rows[s : s + args.batch_size]]
        pr = clf.predict_all(imgs, batch_size=args.batch_size)
        if seg is not None:  # the pipeline's fused score where the CTR is measured (see cxrkit.models.fusion)
            for i, px in enumerate(imgs):
                sg = seg.segment(px)
                ctr = usable_ctr(measure(sg.masks, None, view=None, confidence=sg.confidence))
                if ctr is None:
                    continue
                for f, fz in fusions.items():
                    k = clf.labels.index(f)
                    pr[i, k] = fz.score(float(pr[i, k]), ctr)
        probs_all.append(pr)
    probs = np.concatenate(probs_all)
    cols = [clf.labels.index(f) for f in findings]
    y = np.stack([ds.labels[rows, ds.findings.index(f)] for f in findings], axis=1)
    p = probs[:, cols]
    pred_table = pd.DataFrame({"image_id": meta.loc[rows, "image_id"].to_numpy()})
    for j, f in enumerate(findings):
        pred_table[f] = p[:, j]
    proto = Protocol(data=f"{args.dataset} at {args.root}", split=str(args.split or "all"),
                     model=f"{clf.card.name} ({clf.card.architecture})", n_boot=args.n_boot, seed=args.seed,
                     notes=("findings outside the model card's reported_findings are evaluated but never shown to users"
                            + (f"; {', '.join(fusions)}: the card's classifier+CTR fusion (--with-anatomy)" if fusions
                               else "")))
    return y, p, findings, proto, pred_table


def _run(args: argparse.Namespace) -> int:
    from cxrkit.errors import DataFormatError
    from cxrkit.evaluate.report import evaluate_classification, write_report

    if args.predictions or args.labels:
        if not (args.predictions and args.labels):
            raise DataFormatError("--predictions and --labels go together")
        y, p, findings, proto, table = _from_tables(args)
    elif args.dataset:
        if not args.root:
            raise DataFormatError("--dataset needs --root")
        y, p, findings, proto, table = _from_dataset(args)
    else:
        raise DataFormatError("give --predictions and --labels, or --dataset and --root")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        report = evaluate_classification(y, p, findings, proto)
    print(f"Protocol: data {proto.data}; split {proto.split}; n = {report.n_images} images; "
          f"AUROC with stratified bootstrap 95% CI ({proto.n_boot} resamples, seed {proto.seed})")
    print(f"{'finding':<20}{'n':>7}{'pos':>7}  {'AUROC':>6}  {'95% CI':<13}{'AUPRC':>6}")
    for m in report.metrics:
        ci = f"{m.auroc_lo:.3f}-{m.auroc_hi:.3f}" if np.isfinite(m.auroc_lo) else "n/a"
        auc = f"{m.auroc:.4f}" if np.isfinite(m.auroc) else "   n/a"
        ap = f"{m.auprc:.3f}" if np.isfinite(m.auprc) else "n/a"
        print(f"{m.finding:<20}{m.n:>7}{m.positives:>7}  {auc:>6}  {ci:<13}{ap:>6}")
    mean = f"{report.mean_auroc:.4f}" if np.isfinite(report.mean_auroc) else "n/a (no finding has both classes)"
    print(f"mean AUROC {mean}")
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.out:
        files = write_report(report, y, p, args.out)
        if table is not None:
            with atomic_open(Path(args.out) / "predictions.csv", "w", newline="") as fh:
                table.to_csv(fh, index=False)
        print(f"report: {files['report.md']} and {files['report.html']}")
    return 0


def register_evaluate(kinds: argparse._SubParsersAction) -> None:
    p = kinds.add_parser("classification", help="AUROC (95%% CI), AUPRC, operating points, calibration",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", help="predictions CSV (id column + probability columns)")
    p.add_argument("--labels", help="labels CSV, NIH Data_Entry table or CheXNet split list")
    p.add_argument("--dataset", help="dataset name (cxrkit.data.list_datasets()) to run a model on")
    p.add_argument("--root", help="dataset folder")
    p.add_argument("--split", help="split of the dataset: all (default), a split name, or holdout")
    p.add_argument("--model", help="model card / folder (default: the shipped model)")
    p.add_argument("--findings", nargs="+", help="restrict to these findings")
    p.add_argument("--images", help="image folder option of the dataset adapter (nih: images_512, adult_512, ...)")
    p.add_argument("--with-anatomy", action="store_true",
                   help="score findings the card fuses with the CTR (Cardiomegaly) as the pipeline does: segment "
                        "every image and apply the card's fusion")
    p.add_argument("--limit", type=int, help="first N selected images only")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for the 95%% CI")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-name", help="protocol: name of the data (tables mode)")
    p.add_argument("--split-name", help="protocol: name of the split (tables mode)")
    p.add_argument("--out", help="folder for report.md / report.html / metrics.json / plots")
    p.set_defaults(func=_run)
