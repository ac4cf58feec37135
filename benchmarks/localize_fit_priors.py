"""Fit the anatomy-guided localization priors of one classifier on the TRAINING box images only.

Reads the caches of ``benchmarks/localize_cache.py`` (CAMs of the 8 box findings, lung / heart masks), then:

1. per finding, 5-fold cross-validation **within** ``split == "train"`` of ``configs/splits/nih_v2.csv``, folds
   by patient: priors (size, location) fitted on 4 folds, every strategy scored on the 5th;
2. the strategy with the best CV score is kept — score = mean accuracy over T(IoBB) in {0.1, 0.25, 0.5} and
   T(IoU) in {0.1, 0.25, 0.5} (fixed before running; IoU is in it so that small boxes are not favoured);
   ``heart`` competes for Cardiomegaly only;
3. the priors are refitted on all training boxes and written to ``src/cxrkit/localize/priors/<model>.json``
   with the CV table.

Nothing here reads the validation images' boxes except ``--report-val`` (a quick look from the caches, printed
only, after the choice is written; the documented held-out numbers come from ``cxrkit evaluate localization``).

    nice -n 10 .venv/bin/python benchmarks/localize_fit_priors.py --model cxr-default-v1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
CACHE = ROOT / "runs" / "localize_v2" / "cache"
MEASURES = (("iobb", 0.1), ("iobb", 0.25), ("iobb", 0.5), ("iou", 0.1), ("iou", 0.25), ("iou", 0.5))


def load_cases(model: str, root: Path, split_file: Path):
    from cxrkit.data import load_dataset
    from cxrkit.localize.evaluate import BOX_FINDINGS
    from cxrkit.types import Box

    masks = dict(np.load(CACHE / "masks.npz"))
    cams = dict(np.load(CACHE / f"cams_{model}.npz"))
    cams["cams"] = cams["cams"].astype(np.float32)
    assert list(masks["image_id"]) == list(cams["image_id"])
    ids = list(cams["image_id"])
    grid = cams["cams"].shape[-1]
    ds = load_dataset("nih", root=root, images="adult_512")
    split = pd.read_csv(split_file, dtype={"image_id": str, "patient_id": str}).set_index("image_id")
    b = ds.boxes[ds.boxes["image_id"].isin(ids)]
    pos = {i: k for k, i in enumerate(ids)}
    cases = []
    for (iid, f), g in b.groupby(["image_id", "finding"]):
        k = pos[iid]
        hh, ww = masks["shape"][k]
        sy, sx = grid / hh, grid / ww
        truth = [Box(r.x_min * sx, r.y_min * sy, r.x_max * sx, r.y_max * sy) for r in g.itertuples()]
        cases.append({"image_id": iid, "patient_id": split.loc[iid, "patient_id"], "split": split.loc[iid, "split"],
                      "finding": f, "k": k, "truth": truth})
    return pd.DataFrame(cases), masks, cams, list(BOX_FINDINGS), grid


def case_masks(masks, k):
    return {n: masks[n][k] for n in ("right_lung", "left_lung", "heart")}


def fit(df, masks, finding, strategy, grid):
    from cxrkit.localize.anatomy import _bbox, lung_field
    from cxrkit.localize.priors import fit_finding_prior

    pairs, hearts = [], []
    for r in df.itertuples():
        m = case_masks(masks, r.k)
        fld = lung_field(m, (grid, grid))
        hb = _bbox(m["heart"])
        for t in r.truth:
            pairs.append(((t.x_min, t.y_min, t.x_max, t.y_max), tuple(fld)))
            if hb is not None:
                hearts.append(((t.x_min, t.y_min, t.x_max, t.y_max), hb))
    return fit_finding_prior(finding, pairs, strategy=strategy, heart_boxes=hearts if finding == "Cardiomegaly" else ())


def score(df, masks, cams, prior, strategy, findings):
    from cxrkit.localize.anatomy import place_boxes
    from cxrkit.localize.metrics import case_result

    j = findings.index(prior.finding)
    out = np.zeros((len(df), len(MEASURES)), bool)
    nb = 0
    for i, r in enumerate(df.itertuples()):
        boxes = place_boxes(cams["cams"][r.k, j], case_masks(masks, r.k), prior, strategy=strategy)
        nb += len(boxes)
        for c, (meas, t) in enumerate(MEASURES):
            out[i, c] = case_result(boxes, r.truth, t, meas)[0]
    return out, nb / max(len(df), 1)


def control(df, grid):
    from cxrkit.localize.boxes import boxes_from_heatmap
    from cxrkit.localize.evaluate import centre_prior
    from cxrkit.localize.metrics import case_result

    boxes = boxes_from_heatmap(centre_prior((grid, grid)), "default")
    return np.array([[case_result(boxes, r.truth, t, m)[0] for m, t in MEASURES] for r in df.itertuples()])


def strategies_for(finding):
    from cxrkit.localize.anatomy import STRATEGIES

    return [s for s in STRATEGIES if s != "heart" or finding == "Cardiomegaly"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cxr-default-v1")
    ap.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "data" / "nih-cxr14")
    ap.add_argument("--split-file", type=Path, default=ROOT / "configs" / "splits" / "nih_v2.csv")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--report-val", action="store_true")
    args = ap.parse_args()

    from cxrkit.localize.priors import PRIORS_DIR, LocalizationPriors

    cases, masks, cams, findings, grid = load_cases(args.model, args.root, args.split_file)
    train = cases[cases["split"] == "train"].reset_index(drop=True)
    patients = sorted(train["patient_id"].unique())
    rng = np.random.default_rng(0)
    fold_of = dict(zip(rng.permutation(patients), np.arange(len(patients)) % args.folds))
    train["fold"] = train["patient_id"].map(fold_of)
    cv_rows, chosen = [], {}
    for f in findings:
        sub = train[train["finding"] == f].reset_index(drop=True)
        res = {s: np.zeros((len(sub), len(MEASURES)), bool) for s in strategies_for(f)}
        nbox = {s: 0.0 for s in res}
        for k in range(args.folds):
            te = sub["fold"] == k
            if not te.any():
                continue
            for s in res:
                prior = fit(sub[~te], masks, f, s, grid)
                r, nb = score(sub[te], masks, cams, prior, s, findings)
                res[s][te.to_numpy()] = r
                nbox[s] += nb * te.sum() / len(sub)
        ctl = control(sub, grid)
        for s, r in list(res.items()) + [("control", ctl)]:
            acc = r.mean(axis=0)
            cv_rows.append({"finding": f, "strategy": s, "n_cases": len(sub), "cv_score": round(float(acc.mean()), 4),
                            **{f"{m}@{t:g}": round(float(a), 4) for (m, t), a in zip(MEASURES, acc)},
                            "boxes_per_case": round(nbox.get(s, 1.0), 2)})
        best = max(res, key=lambda s: (res[s].mean(), -strategies_for(f).index(s)))
        chosen[f] = best
        print(f"{f:13s} n={len(sub):3d} " + "  ".join(f"{s}={res[s].mean():.3f}" for s in res)
              + f"  control={ctl.mean():.3f} -> {best}", flush=True)
    cv = pd.DataFrame(cv_rows)
    priors = {f: fit(train[train["finding"] == f], masks, f, chosen[f], grid) for f in findings}
    n_img = train["image_id"].nunique()
    out = args.out or PRIORS_DIR / f"{args.model}.json"
    LocalizationPriors(args.model, priors, {
        "data": f"NIH ChestX-ray14 official boxes, {args.split_file.name} split == 'train': {n_img} images, "
                f"{len(train)} cases, {sum(len(t) for t in train['truth'])} boxes",
        "heatmaps": f"CAM of {args.model} (min-max normalized), {grid}x{grid} grid over the 512 px image",
        "masks": "shipped anatomy segmenter (anatomy_unet), same grid",
        "selection": f"{args.folds}-fold cross-validation within train, folds by patient (seed 0); per finding the "
                     "strategy with the best mean accuracy over T(IoBB) 0.1/0.25/0.5 and T(IoU) 0.1/0.25/0.5; "
                     "'heart' a candidate for Cardiomegaly only. Size = median, location = mean of all training boxes.",
        "cv": cv.to_dict(orient="records"),
        "command": f"python benchmarks/localize_cache.py --model <{args.model} card> && "
                   f"python benchmarks/localize_fit_priors.py --model {args.model}",
    }).save(out)
    print(f"wrote {out}")
    if args.report_val:
        val = cases[cases["split"] == "val"].reset_index(drop=True)
        print("\nVAL (look only; from the 128 px caches):")
        for f in findings:
            sub = val[val["finding"] == f].reset_index(drop=True)
            line = []
            for s in strategies_for(f):
                r, _ = score(sub, masks, cams, fit(train[train["finding"] == f], masks, f, s, grid), s, findings)
                line.append(f"{s}=" + "/".join(f"{a:.2f}" for a in r.mean(axis=0)))
            ctl = control(sub, grid).mean(axis=0)
            print(f"{f:13s} n={len(sub):3d} [{chosen[f]}] " + " ".join(line) + " control=" + "/".join(f"{a:.2f}" for a in ctl))


if __name__ == "__main__":
    main()
