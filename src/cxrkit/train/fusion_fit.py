"""Fit and validate the classifier + CTR fusion for Cardiomegaly, and write it into the model card.

    python -m cxrkit.train.fusion_fit --card src/cxrkit/models/weights/cxr-adult-v2.card.json \\
        --nih-root ../shared/data/nih-cxr14 --split configs/splits/nih_v2.csv

On the NIH validation films of the fixed split (adult films the classifier never trained on):

1. the classifier's Cardiomegaly probability (the package's ONNX model, images read from disk) and the CTR of
   the shipped segmenter (:func:`cxrkit.anatomy.measure.measure`; films whose CTR is missing or implausible
   keep the classifier's probability, as the pipeline does);
2. a logistic model on ``logit(p)`` and the clipped CTR (:class:`cxrkit.models.fusion.CtrFusion`), validated
   by 5-fold cross-validation grouped by patient: every film's fused score comes from a model that did not
   see that patient; AUROC with a bootstrap 95% CI beside the classifier's and the CTR's on the same films;
3. the fusion is written into the card only when its cross-validated AUROC beats the classifier's (the
   evidence is stored either way in ``validation['Cardiomegaly'].per_source['_fusion']``); its operating
   point follows the card's rule for the other findings (false calls on "No Finding" films within the
   per-finding budget, never below Youden's point), chosen on the cross-validated scores.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.errors import DataFormatError
from cxrkit.evaluate.classification import bootstrap_auroc
from cxrkit.evaluate.operating_points import choose_threshold, rates_at

__all__ = ["fit_fusion", "cross_validated_fusion"]

log = logging.getLogger(__name__)

FINDING = "Cardiomegaly"


def _design(p: np.ndarray, ctr: np.ndarray, lo: float = 0.30, hi: float = 0.80) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.stack([np.log(q / (1 - q)), np.clip(ctr, lo, hi) - 0.5], axis=1)


def fit_fusion(p: np.ndarray, ctr: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Logistic fit on films with a CTR: returns ``(w_logit, w_ctr, bias)``."""
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=1.0, max_iter=1000).fit(_design(p, ctr), y.astype(int))
    return float(m.coef_[0, 0]), float(m.coef_[0, 1]), float(m.intercept_[0])


def cross_validated_fusion(p: np.ndarray, ctr: np.ndarray, y: np.ndarray, groups: np.ndarray, *, folds: int = 5,
                           seed: int = 0) -> np.ndarray:
    """Out-of-fold fused probabilities (patient-grouped folds); films without a CTR keep ``p``.

    Args:
        p: ``(N,)`` classifier probabilities. ctr: ``(N,)`` CTR, NaN where not measured.
        y: ``(N,)`` 0/1 labels. groups: ``(N,)`` patient ids.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    from cxrkit.models.fusion import CtrFusion

    out = p.astype(np.float64).copy()
    ok = np.isfinite(ctr)
    idx = np.flatnonzero(ok)
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, te in cv.split(idx, y[idx], groups[idx]):
        w = fit_fusion(p[idx[tr]], ctr[idx[tr]], y[idx[tr]])
        f = CtrFusion(FINDING, *w, threshold=0.5)
        out[idx[te]] = [f.score(a, c) for a, c in zip(p[idx[te]], ctr[idx[te]])]
    return out


def _auc(y: np.ndarray, s: np.ndarray, n_boot: int) -> dict[str, Any]:
    a, lo, hi = bootstrap_auroc(y, s, n_boot=n_boot, seed=0)
    return {"auroc": round(float(a), 4), "auroc_ci": [round(float(lo), 4), round(float(hi), 4)], "n": int(len(y)),
            "positives": int(np.sum(y == 1))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--card", required=True)
    ap.add_argument("--nih-root", default="../shared/data/nih-cxr14")
    ap.add_argument("--split", default="configs/splits/nih_v2.csv")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import pandas as pd

    from cxrkit.anatomy.measure import measure
    from cxrkit.anatomy.segment import load_segmenter
    from cxrkit.data import load_dataset
    from cxrkit.io import read_image
    from cxrkit.models.card import ModelCard
    from cxrkit.models.classifier import Classifier
    from cxrkit.models.fusion import CtrFusion, usable_ctr
    from cxrkit.train.assemble import read_split_file
    from cxrkit.train.reporting import NORMAL_CALL_BUDGET

    card = ModelCard.load(a.card)
    clf = Classifier(card, threads=a.threads)
    seg = load_segmenter(threads=a.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds = load_dataset("nih", root=a.nih_root, images="adult_512")
    split = read_split_file(a.split)
    rows = np.flatnonzero(ds.meta["image_id"].map(split).to_numpy() == "val")
    j, nf = ds.findings.index(FINDING), ds.findings.index("No Finding")
    y, normal = ds.labels[rows, j], ds.labels[rows, nf] == 1
    k = clf.labels.index(FINDING)
    p, ctr = np.zeros(len(rows)), np.full(len(rows), np.nan)
    for i, r in enumerate(rows):
        img = read_image(ds.meta["path"].iloc[r])
        p[i] = clf.predict_all([img.pixels])[0, k]
        s = seg.segment(img.pixels)
        m = measure(s.masks, None, view=None, confidence=s.confidence)
        c = usable_ctr(m)
        if c is not None:
            ctr[i] = c
    groups = ds.meta["patient_id"].iloc[rows].astype(str).to_numpy()
    oof = cross_validated_fusion(p, ctr, y, groups)
    has = np.isfinite(ctr)
    ev: dict[str, Any] = {"classifier": _auc(y, p, a.n_boot), "fused_cross_validated": _auc(y, oof, a.n_boot),
          "ctr_alone_on_films_with_ctr": _auc(y[has], ctr[has], a.n_boot), "films_without_ctr": int((~has).sum()),
          "data": f"NIH validation films of {Path(a.split).name} (split == val), n = {len(rows)}",
          "method": "logistic on logit(p) and clip(CTR, 0.30, 0.80); 5-fold patient-grouped CV (seed 0); "
                    f"bootstrap CI {a.n_boot} resamples"}
    w = fit_fusion(p[has], ctr[has], y[has])
    k_calls = max(1, len([f for f in card.reported_findings if f != "No Finding"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yo = choose_threshold(y, oof, "youden").threshold
        q = float(np.quantile(oof[normal], 1.0 - NORMAL_CALL_BUDGET / k_calls, method="higher")) if normal.any() else 0.5
        t = round(max(float(yo), float(np.nextafter(q, 1.0))), 6)
        op = rates_at(y, oof, t)
    ev["operating_point"] = {"threshold": t, "sensitivity": round(op.sensitivity, 4),
                             "specificity": round(op.specificity, 4), "method": "normal_budget (cross-validated scores)"}
    better = ev["fused_cross_validated"]["auroc"] > ev["classifier"]["auroc"]
    ev["adopted"] = bool(better)
    print(pd.Series({k2: v for k2, v in ev.items()}).to_string())
    d = card.to_dict()
    v = d["validation"][FINDING]
    v["per_source"]["_fusion"] = ev
    if better:
        d["fusion"] = {FINDING: CtrFusion(FINDING, *w, threshold=t, validation=ev).to_dict()}
    else:
        d["fusion"] = {}
    if card.path is None:
        raise DataFormatError(f"card {card.name} was not loaded from a file; nothing to update")
    out = ModelCard.from_dict(d, path=None)
    out.save(card.path)
    ModelCard.load(card.path)
    log.info("fusion %s: fused CV AUROC %.3f vs classifier %.3f", "adopted" if better else "NOT adopted",
             ev["fused_cross_validated"]["auroc"], ev["classifier"]["auroc"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
