"""Segmentation quality (overlap, boundary distance, CTR error) and CTR-as-cardiomegaly-score AUROC.

Pure computation on arrays plus two drivers that read a data folder: :func:`evaluate_jsrt` (masks vs SCR expert
masks at the masks' full resolution) and :func:`evaluate_cardiomegaly` (NIH images with Cardiomegaly labels).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from cxrkit.anatomy.measure import measure
from cxrkit.anatomy.structures import STRUCTURES
from cxrkit.errors import DataFormatError
from cxrkit.views import is_frontal

if TYPE_CHECKING:
    from cxrkit.data.dataset import Sample

__all__ = [
    "overlap",
    "boundary_distances",
    "bootstrap_ci",
    "summarize",
    "evaluate_jsrt",
    "evaluate_cardiomegaly",
    "evaluate_covid_lungs",
    "PUBLISHED",
]

log = logging.getLogger(__name__)

#: Published reference points on SCR (Jaccard from van Ginneken et al. 2006 (human second observer);
#: Dice from Gaggion et al. HybridGNet (IEEE TMI 2022)).
PUBLISHED = {
    "human observer Jaccard (van Ginneken 2006)": {"lungs": 0.946, "heart": 0.878, "clavicles": 0.896},
    "HybridGNet Dice (Gaggion 2022)": {"lungs": 0.97, "heart": 0.93},
}


def overlap(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Dice and Jaccard of two boolean masks; (1.0, 1.0) when both are empty."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    inter = np.logical_and(p, t).sum()
    ps, ts = p.sum(), t.sum()
    if ps + ts == 0:
        return 1.0, 1.0
    return float(2 * inter / (ps + ts)), float(inter / (ps + ts - inter))


def _border(m: np.ndarray) -> np.ndarray:
    return m & ~ndimage.binary_erosion(m)


def boundary_distances(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Symmetric mean boundary distance and 95th-percentile Hausdorff distance in pixels.

    Computed with Euclidean distance transforms on the union's bounding box (plus a margin). NaN when one
    mask is empty and the other is not; 0 when both are empty.
    """
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    if not p.any() and not t.any():
        return 0.0, 0.0
    if not p.any() or not t.any():
        return float("nan"), float("nan")
    rows, cols = np.nonzero(p | t)
    m = 5
    r0, r1 = max(rows.min() - m, 0), min(rows.max() + m + 1, p.shape[0])
    c0, c1 = max(cols.min() - m, 0), min(cols.max() + m + 1, p.shape[1])
    p, t = p[r0:r1, c0:c1], t[r0:r1, c0:c1]
    bp, bt = _border(p), _border(t)
    d_to_t = ndimage.distance_transform_edt(~bt)[bp]
    d_to_p = ndimage.distance_transform_edt(~bp)[bt]
    both = np.concatenate([d_to_t, d_to_p])
    return float(both.mean()), float(np.percentile(both, 95))


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 2000, seed: int = 0, stat: Callable = np.mean
                 ) -> tuple[float, float, float]:
    """(statistic, 2.5 %, 97.5 %) percentile bootstrap over items; NaNs are dropped first."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    boots = np.array([stat(v[i]) for i in idx])
    return float(stat(v)), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def summarize(per_image: list[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """Mean and 95 % bootstrap CI of every metric per structure, plus CTR error, from per-image rows."""
    out: dict[str, Any] = {"structures": {}}
    for s in STRUCTURES:
        rows = [r["structures"][s] for r in per_image]
        out["structures"][s] = {
            metric: dict(zip(("mean", "ci_low", "ci_high"), bootstrap_ci([r[metric] for r in rows], seed=seed),
                             strict=True))
            for metric in ("dice", "jaccard", "mean_boundary_px", "hd95_px")
        }
    for group, members in (("lungs", ("right_lung", "left_lung")), ("clavicles", ("right_clavicle", "left_clavicle"))):
        for metric in ("dice", "jaccard"):
            vals = [np.mean([r["structures"][m][metric] for m in members]) for r in per_image]
            out.setdefault("groups", {}).setdefault(group, {})[metric] = dict(
                zip(("mean", "ci_low", "ci_high"), bootstrap_ci(vals, seed=seed), strict=True))
    err = [r["ctr_abs_error"] for r in per_image if r["ctr_abs_error"] is not None]
    out["ctr_abs_error"] = dict(zip(("mean", "ci_low", "ci_high"), bootstrap_ci(err, seed=seed), strict=True))
    out["ctr_abs_error"]["median"] = float(np.median(err)) if err else float("nan")
    out["ctr_abs_error"]["max"] = float(np.max(err)) if err else float("nan")
    out["ctr_abs_error"]["fraction_within_0.02"] = float(np.mean(np.array(err) <= 0.02)) if err else float("nan")
    pairs = [(r["ctr_pred"], r["ctr_true"]) for r in per_image if r["ctr_pred"] is not None]
    if len(pairs) > 2:
        a = np.array(pairs)
        out["ctr_pearson_r"] = float(np.corrcoef(a[:, 0], a[:, 1])[0, 1])
        out["ctr_bias"] = float(np.mean(a[:, 0] - a[:, 1]))
    if per_image and "flags_pred" in per_image[0]:
        out["fraction_reliable_pred"] = float(np.mean([not r["flags_pred"] for r in per_image]))
        out["fraction_reliable_expert"] = float(np.mean([not r["flags_expert"] for r in per_image]))
    out["n_images"] = len(per_image)
    return out


def _case(sample: Sample, case_id: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pixels and expert masks of one JSRT row (``require_masks`` rows always have both)."""
    if sample.image is None or sample.masks is None:
        raise DataFormatError(f"JSRT case {case_id} has no image or no masks")
    return sample.image.pixels, sample.masks


def evaluate_jsrt(root: str | Path, segmenter, *, fold: str = "test", batch: int = 4, seed: int = 0,
                  ids: list[str] | None = None) -> dict[str, Any]:
    """Compare a segmenter's masks with the SCR expert masks on one fold of the seeded JSRT split.

    Masks are compared at the expert masks' full resolution (1024 px here): the model's 256-px output is
    upsampled exactly as :meth:`Segmenter.predict` does for users. CTR error = |CTR(predicted masks) -
    CTR(expert masks)| with the same :func:`~cxrkit.anatomy.measure.measure` definition.

    Returns a dict with ``protocol``, ``per_image`` rows and ``summary`` (see :func:`summarize`).
    """
    from cxrkit.data import load_dataset
    from cxrkit.data.adapters.jsrt import anatomy_split

    ds = load_dataset("jsrt", root=str(root), require_masks=True)
    all_ids = [str(c) for c in ds.meta["image_id"]]
    row_of = {cid: i for i, cid in enumerate(all_ids)}
    if ids is None:
        ids = all_ids if fold == "all" else anatomy_split(all_ids)[fold]
    unknown = [c for c in ids if c not in row_of]
    if unknown:
        raise DataFormatError(f"JSRT ids without an image and all five masks under {root}: {unknown[:5]}")
    t0 = time.time()
    per_image = []
    for i in range(0, len(ids), batch):
        chunk = ids[i : i + batch]
        cases = [_case(ds[row_of[c]], c) for c in chunk]
        segs = segmenter.segment_batch([c[0] for c in cases])
        for cid, (_, truth), seg in zip(chunk, cases, segs, strict=True):
            row: dict[str, Any] = {"id": cid, "structures": {}}
            for s in STRUCTURES:
                d, j = overlap(seg.masks[s], truth[s])
                mbd, hd95 = boundary_distances(seg.masks[s], truth[s])
                row["structures"][s] = {"dice": d, "jaccard": j, "mean_boundary_px": mbd, "hd95_px": hd95}
            m_pred = measure(seg.masks, confidence=seg.confidence)
            m_true = measure(truth)
            ctr_p, ctr_t = m_pred["cardiothoracic_ratio"], m_true["cardiothoracic_ratio"]
            row["flags_pred"], row["flags_expert"] = m_pred["flags"], m_true["flags"]
            row["ctr_pred"], row["ctr_true"] = ctr_p, ctr_t
            row["ctr_abs_error"] = abs(ctr_p - ctr_t) if (ctr_p is not None and ctr_t is not None) else None
            row["confidence"] = seg.confidence
            per_image.append(row)
    shape = cases[0][0].shape if per_image else None
    return {
        "protocol": {
            "data": str(root),
            "fold": fold,
            "split": ("cxrkit.data.adapters.jsrt.anatomy_split (seed 20261128, stratified JPCLN/JPCNN; "
                      "one image per patient)"),
            "n_images": len(per_image),
            "resolution": f"{shape[0]}x{shape[1]} (expert mask resolution)" if shape else None,
            "model": {"name": segmenter.card.name, "version": segmenter.card.version},
            "ci": f"95% percentile bootstrap over images, 2000 resamples, seed {seed}",
            "seconds": round(time.time() - t0, 1),
        },
        "per_image": per_image,
        "summary": summarize(per_image, seed=seed),
        "published": PUBLISHED,
    }


def _pixels(sample: Any) -> np.ndarray:
    """A dataset sample's pixels; a row without an image is a data error."""
    if sample.image is None:
        raise DataFormatError(f"dataset row without an image: {sample.meta.get('image_id')}")
    return sample.image.pixels


def _auc_ci(y: np.ndarray, mask: np.ndarray, score: np.ndarray, seed: int) -> dict[str, Any]:
    """AUROC of ``score`` on ``mask`` with a 95% percentile bootstrap CI (2000 resamples); NaN with one class."""
    from sklearn.metrics import roc_auc_score

    yy, ss = y[mask], score[mask]
    n_pos, n_neg = int(yy.sum()), int((1 - yy).sum())
    if n_pos == 0 or n_neg == 0:
        return {"auroc": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": int(mask.sum()),
                "n_pos": n_pos}
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(2000):
        j = rng.integers(0, len(yy), len(yy))
        if 0 < yy[j].sum() < len(j):
            boots.append(roc_auc_score(yy[j], ss[j]))
    return {"auroc": float(roc_auc_score(yy, ss)), "ci_low": float(np.percentile(boots, 2.5)),
            "ci_high": float(np.percentile(boots, 97.5)), "n": int(mask.sum()), "n_pos": n_pos}


def evaluate_cardiomegaly(root: str | Path, segmenter, *, classifier=None, batch: int = 8, seed: int = 0,
                          limit: int | None = None, only_images: set[str] | None = None) -> dict[str, Any]:
    """AUROC of the CTR as a Cardiomegaly score on NIH ChestX-ray14 images with a Cardiomegaly label.

    Every labelled image is scored (CTR withheld -> ranked lowest, counted in ``n_no_ctr``); AUROCs are also
    given on PA films only and on images whose measurement is ``reliable``. With a ``classifier`` whose
    findings include Cardiomegaly, its AUROC on the same images is reported next to it. ``only_images``
    (NIH image names, e.g. the classifier's hold-out list) restricts the evaluation to those images, so that a
    classifier is never scored on its own training images.
    """

    from cxrkit.data import load_dataset

    ds = load_dataset("nih", root=str(root))
    k = list(ds.findings).index("Cardiomegaly")
    y_all = ds.labels[:, k]
    idx = [i for i in range(len(ds)) if np.isfinite(y_all[i])]
    if only_images is not None:
        names = ds.meta["image_id"].astype(str)
        idx = [i for i in idx if names.iloc[i] in only_images]
    if limit is not None:
        idx = idx[:limit]
    meta = ds.meta
    rows = []
    t0 = time.time()
    cls_scores: list[float] = []
    use_cls = classifier is not None and "Cardiomegaly" in list(getattr(classifier, "findings", []))
    for b in range(0, len(idx), batch):
        chunk = idx[b : b + batch]
        images = [_pixels(ds[i]) for i in chunk]
        segs = segmenter.segment_batch(images)
        if use_cls:
            probs = classifier.predict(images)
            kc = list(classifier.findings).index("Cardiomegaly")
            cls_scores.extend(float(p) for p in probs[:, kc])
        for i, seg in zip(chunk, segs, strict=True):
            view = meta["view"].iloc[i] if "view" in meta else None
            age = meta["age_years"].iloc[i] if "age_years" in meta else None
            age = float(age) if age is not None and np.isfinite(age) else None
            m = measure(seg.masks, None, view if isinstance(view, str) else None, confidence=seg.confidence,
                        age_years=age)
            rows.append({"image": str(meta["image_id"].iloc[i]), "label": int(y_all[i]), "view": view,
                         "ctr": m["cardiothoracic_ratio"], "reliable": m["reliable"], "flags": m["flags"],
                         "confidence": seg.confidence})
    y = np.array([r["label"] for r in rows])
    ctr = np.array([r["ctr"] if r["ctr"] is not None else -1.0 for r in rows])

    everything = np.ones(len(rows), bool)
    pa = np.array([r["view"] == "PA" for r in rows])
    reliable = np.array([bool(r["reliable"]) for r in rows])
    result: dict[str, Any] = {
        "protocol": {
            "data": f"{root} (NIH ChestX-ray14 images_512 copies; labels text-mined from reports, noisy)",
            "n_images": len(rows),
            "score": "cardiothoracic ratio from the segmenter's masks (images without a CTR ranked lowest)",
            "subset": ("all labelled images" if only_images is None
                       else f"restricted to {len(only_images)} listed images"),
            "ci": f"95% percentile bootstrap over images, 2000 resamples, seed {seed}",
            "seconds": round(time.time() - t0, 1),
        },
        "ctr": {"all": _auc_ci(y, everything, ctr, seed), "pa_only": _auc_ci(y, pa, ctr, seed),
                "reliable_only": _auc_ci(y, reliable, ctr, seed)},
        "n_no_ctr": int(np.sum(ctr < 0)),
        "ctr_above_0.5": {
            "sensitivity": float(np.mean(ctr[y == 1] > 0.5)) if (y == 1).any() else float("nan"),
            "specificity": float(np.mean(ctr[y == 0] <= 0.5)) if (y == 0).any() else float("nan"),
        },
        "rows": rows,
    }
    if use_cls:
        cs = np.array(cls_scores)
        result["classifier"] = {"name": getattr(getattr(classifier, "card", None), "name", "classifier"),
                                "all": _auc_ci(y, everything, cs, seed), "pa_only": _auc_ci(y, pa, cs, seed)}
    return result


def evaluate_covid_lungs(root: str | Path, segmenter, *, batch: int = 8, seed: int = 0, limit: int | None = None
                         ) -> dict[str, Any]:
    """Out-of-distribution check: both lungs together vs the V7 Labs lung masks of the COVID-19 collection.

    Uses ``load_dataset("covid_ieee8023", masks="v7labs")`` (frontal X-rays with a mask only). The V7 masks
    cover both lungs in one mask and follow their own protocol (they usually include the lung behind the heart
    and below the dome, which SCR's masks exclude), so this measures robustness on AP / ICU / figure-cropped
    films, not agreement with SCR-style expert outlines.
    """
    from cxrkit.data import load_dataset

    ds = load_dataset("covid_ieee8023", root=str(root), masks="v7labs")
    views = ds.meta["view"].astype(str)
    masks = ds.masks or []
    idx = [i for i in range(len(ds)) if masks[i] and is_frontal(views.iloc[i])]
    if limit is not None:
        idx = idx[:limit]
    t0 = time.time()
    rows = []
    for b in range(0, len(idx), batch):
        chunk = idx[b : b + batch]
        samples = [ds[i] for i in chunk]
        segs = segmenter.segment_batch([_pixels(s) for s in samples])
        for i, s, seg in zip(chunk, samples, segs, strict=True):
            pred = seg.masks["right_lung"] | seg.masks["left_lung"]
            truth = np.asarray((s.masks or {})["lungs"], bool)
            d, j = overlap(pred, truth)
            mbd, hd95 = boundary_distances(pred, truth)
            m = measure(seg.masks, None, views.iloc[i], confidence=seg.confidence)
            rows.append({"image": str(ds.meta["image_id"].iloc[i]), "view": views.iloc[i], "dice": d,
                         "jaccard": j, "mean_boundary_px": mbd, "hd95_px": hd95, "flags": m["flags"],
                         "size": list(truth.shape)})
    out: dict[str, Any] = {
        "protocol": {
            "data": f"{root} (COVID-19 image data collection, V7 Labs lung masks; frontal X-rays with a mask)",
            "n_images": len(rows),
            "metric": "Dice / Jaccard / boundary distance (px of the stored image) of both lungs together",
            "ci": f"95% percentile bootstrap over images, 2000 resamples, seed {seed}",
            "seconds": round(time.time() - t0, 1),
        },
        "groups": {},
        "rows": rows,
    }
    groups = {"all frontal": rows, "PA": [r for r in rows if r["view"] == "PA"],
              "AP / AP supine": [r for r in rows if r["view"] != "PA"]}
    for g, rr in groups.items():
        out["groups"][g] = {"n": len(rr)} | {
            metric: dict(zip(("mean", "ci_low", "ci_high"), bootstrap_ci([r[metric] for r in rr], seed=seed),
                             strict=True))
            for metric in ("dice", "jaccard", "mean_boundary_px")}
        out["groups"][g]["median_dice"] = float(np.median([r["dice"] for r in rr])) if rr else float("nan")
        flagged = [r for r in rr if set(r["flags"]) - {"ap_view_magnifies_heart"}]
        out["groups"][g]["fraction_flagged"] = len(flagged) / len(rr) if rr else float("nan")
        low = [r for r in rr if r["dice"] < 0.8]
        out["groups"][g]["n_dice_below_0.8"] = len(low)
        out["groups"][g]["flagged_among_dice_below_0.8"] = (
            sum(bool(set(r["flags"]) - {"ap_view_magnifies_heart"}) for r in low) / len(low) if low else float("nan"))
    return out
