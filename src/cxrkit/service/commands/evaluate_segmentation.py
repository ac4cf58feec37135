"""``cxrkit evaluate segmentation --root JSRT_SCR [--fold test] [--cardiomegaly-nih NIH]``.

Dice / Jaccard / boundary distances per structure with 95 % bootstrap CIs and the CTR error against the CTR
measured on the SCR expert masks, next to published reference points; optionally the AUROC of the CTR as a
cardiomegaly score on NIH ChestX-ray14 images (next to the shipped classifier's, when it reports Cardiomegaly).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from cxrkit.anatomy.structures import STRUCTURES
from cxrkit.fs import atomic_write_text

log = logging.getLogger(__name__)

TARGETS = {"lungs dice": 0.97, "heart dice": 0.93, "ctr abs error": 0.02}


def _fmt(d: dict) -> str:
    return f"{d['mean']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"


def jsrt_markdown(res: dict) -> str:
    """The results table of :func:`cxrkit.anatomy.evaluation.evaluate_jsrt` as markdown."""
    p, s = res["protocol"], res["summary"]
    lines = [
        f"Data: {p['data']} | fold: {p['fold']} | n = {p['n_images']} images | resolution {p['resolution']} | "
        f"model {p['model']['name']} {p['model']['version']} | CI: {p['ci']}",
        "",
        "| structure | Dice | Jaccard | mean boundary dist. (px) | HD95 (px) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in STRUCTURES:
        m = s["structures"][name]
        lines.append(f"| {name} | {_fmt(m['dice'])} | {_fmt(m['jaccard'])} | {_fmt(m['mean_boundary_px'])} | "
                     f"{_fmt(m['hd95_px'])} |")
    for g, m in s["groups"].items():
        lines.append(f"| {g} (mean of both sides) | {_fmt(m['dice'])} | {_fmt(m['jaccard'])} | | |")
    c = s["ctr_abs_error"]
    lines += [
        "",
        f"CTR absolute error vs CTR of the expert masks: mean {_fmt(c)}, median {c['median']:.4f}, max "
        f"{c['max']:.4f}, within 0.02: {c['fraction_within_0.02']:.0%}; bias {s.get('ctr_bias', float('nan')):+.4f}, "
        f"Pearson r {s.get('ctr_pearson_r', float('nan')):.3f}",
        f"Measurements without any flag (`reliable`): {s.get('fraction_reliable_pred', float('nan')):.0%} of images "
        f"with the predicted masks, {s.get('fraction_reliable_expert', float('nan')):.0%} with the expert masks.",
        "",
        "Reference points (other data splits, not a head-to-head): SCR human second observer Jaccard lungs 0.946, "
        "heart 0.878, clavicles 0.896 (van Ginneken et al. 2006); HybridGNet Dice ~0.97 lungs, ~0.93 heart.",
        f"Targets: Dice lungs >= {TARGETS['lungs dice']}, heart >= {TARGETS['heart dice']}, CTR abs error <= "
        f"{TARGETS['ctr abs error']}: lungs {'met' if s['groups']['lungs']['dice']['mean'] >= 0.97 else 'NOT met'}, "
        f"heart {'met' if s['structures']['heart']['dice']['mean'] >= 0.93 else 'NOT met'}, "
        f"CTR {'met' if c['mean'] <= 0.02 else 'NOT met'}.",
    ]
    return "\n".join(lines)


def nih_markdown(res: dict) -> str:
    """The cardiomegaly AUROC table as markdown."""
    p = res["protocol"]
    lines = [
        f"Data: {p['data']} | {p.get('subset', '')} | n = {p['n_images']} | score: {p['score']} | CI: {p['ci']}",
        "",
        "| score | subset | n (positives) | AUROC [95% CI] |",
        "| --- | --- | --- | --- |",
    ]
    for subset, r in res["ctr"].items():
        lines.append(f"| CTR | {subset} | {r['n']} ({r['n_pos']}) | {r['auroc']:.3f} [{r['ci_low']:.3f}, "
                     f"{r['ci_high']:.3f}] |")
    if "classifier" in res:
        c = res["classifier"]
        for subset in ("all", "pa_only"):
            r = c[subset]
            lines.append(f"| {c['name']} P(Cardiomegaly) | {subset} | {r['n']} ({r['n_pos']}) | {r['auroc']:.3f} "
                         f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] |")
    else:
        lines.append("| classifier | - | - | not available (no shipped classifier reporting Cardiomegaly) |")
    t = res["ctr_above_0.5"]
    lines += ["", f"CTR > 0.5 as a rule: sensitivity {t['sensitivity']:.3f}, specificity {t['specificity']:.3f}; "
              f"{res['n_no_ctr']} images without a CTR (ranked lowest)."]
    return "\n".join(lines)


def covid_markdown(res: dict) -> str:
    """The COVID-19 V7 lung-mask check as markdown."""
    p = res["protocol"]
    lines = [
        f"Data: {p['data']} | n = {p['n_images']} | metric: {p['metric']} | CI: {p['ci']}",
        "",
        "| views | n | Dice [95% CI] | median Dice | Jaccard | mean boundary dist. (px) | flagged | Dice < 0.8 (flagged) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g, r in res["groups"].items():
        if not r["n"]:
            continue
        lines.append(f"| {g} | {r['n']} | {_fmt(r['dice'])} | {r['median_dice']:.3f} | {_fmt(r['jaccard'])} | "
                     f"{_fmt(r['mean_boundary_px'])} | {r['fraction_flagged']:.0%} | {r['n_dice_below_0.8']} "
                     f"({r['flagged_among_dice_below_0.8']:.0%}) |")
    lines += ["", "flagged = any flag other than ap_view_magnifies_heart (which every AP film gets)."]
    return "\n".join(lines)


def _load_classifier():
    from cxrkit.errors import CxrkitError
    from cxrkit.models.classifier import load_classifier

    try:
        return load_classifier()
    except (CxrkitError, OSError) as exc:  # a missing classifier must not stop the segmentation evaluation
        log.warning("classifier not available for the comparison: %s", exc)
        return None


def run(args: argparse.Namespace) -> int:
    from cxrkit.anatomy.evaluation import evaluate_cardiomegaly, evaluate_covid_lungs, evaluate_jsrt
    from cxrkit.anatomy.segment import load_segmenter

    seg = load_segmenter(args.model, threads=args.threads)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    if args.root:
        res = evaluate_jsrt(args.root, seg, fold=args.fold)
        md = jsrt_markdown(res)
        print("## Anatomy segmentation on JSRT/SCR\n\n" + md)
        if out:
            atomic_write_text(out / f"segmentation_jsrt_{args.fold}.json", json.dumps(res, indent=1))
            atomic_write_text(out / f"segmentation_jsrt_{args.fold}.md", md + "\n")
    if args.cardiomegaly_nih:
        cls = None if args.no_classifier else _load_classifier()
        only = None
        if args.images_csv:
            import pandas as pd

            from cxrkit.errors import DataFormatError

            table = pd.read_csv(args.images_csv)
            if "image_id" not in table:
                raise DataFormatError(f"{args.images_csv} has no image_id column")
            if "source" in table:
                table = table[table["source"] == "nih"]
            only = set(table["image_id"].astype(str))
        res = evaluate_cardiomegaly(args.cardiomegaly_nih, seg, classifier=cls, limit=args.limit, only_images=only)
        md = nih_markdown(res)
        if "classifier" in res and only is None:
            md += ("\n\nWARNING: the classifier was scored on every labelled image, possibly including its own "
                   "training images; pass its hold-out list with --images-csv for a fair comparison.")
        print("\n## CTR as a cardiomegaly score on NIH ChestX-ray14\n\n" + md)
        if out:
            atomic_write_text(out / "cardiomegaly_nih.json", json.dumps(res, indent=1))
            atomic_write_text(out / "cardiomegaly_nih.md", md + "\n")
    if args.covid_lungs:
        res = evaluate_covid_lungs(args.covid_lungs, seg, limit=args.limit)
        md = covid_markdown(res)
        print("\n## Lungs on COVID-19 films (V7 Labs masks, out of distribution)\n\n" + md)
        if out:
            atomic_write_text(out / "covid_lungs.json", json.dumps(res, indent=1))
            atomic_write_text(out / "covid_lungs.md", md + "\n")
    if not args.root and not args.cardiomegaly_nih and not args.covid_lungs:
        print("nothing to evaluate: give --root, --cardiomegaly-nih and/or --covid-lungs")
        return 2
    return 0


def register_evaluate(kinds: argparse._SubParsersAction) -> None:
    p = kinds.add_parser("segmentation", help="anatomy masks vs JSRT/SCR expert masks; CTR vs NIH Cardiomegaly",
                         description=__doc__.split("\n\n")[1])
    p.add_argument("--root", default=None, help="JSRT/SCR folder (images/, masks/)")
    p.add_argument("--fold", default="test", choices=["test", "val", "train", "all"])
    p.add_argument("--cardiomegaly-nih", default=None, metavar="NIH_ROOT", help="NIH ChestX-ray14 folder")
    p.add_argument("--covid-lungs", default=None, metavar="COVID_ROOT",
                   help="COVID-19 image data collection folder: lungs vs its V7 Labs lung masks")
    p.add_argument("--limit", type=int, default=None, help="at most this many NIH / COVID images")
    p.add_argument("--no-classifier", action="store_true", help="skip the classifier comparison")
    p.add_argument("--images-csv", default=None,
                   help="CSV with an image_id column (rows with source != nih ignored): evaluate NIH only on "
                        "these, e.g. the classifier's hold-out list, so it is not scored on its training images")
    p.add_argument("--model", default=None, help="segmentation model card or folder (default: shipped)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="folder for JSON + markdown results")
    p.set_defaults(func=run)
