"""Shortcut probes: does the model read the lungs, the image border, or the collection?

* :func:`occlusion_probe` compares AUROC on the full image with AUROC when only the lungs are kept, when the
  lungs are blacked out, and when a border band is blanked (paired bootstrap CIs of each drop). A model that
  keeps most of its above-chance AUROC with the lungs blacked out reads something else (Mask of Truth); one
  that loses AUROC when the border is blanked reads markers or text.
* :func:`source_probe` fits a logistic regression on the model's pooled embedding to predict the source
  collection, cross-validated by patient (grouped folds): if the collection is decodable, any finding whose
  positives come from one collection can be scored by recognising the collection.

Each returns plain-language verdicts next to the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cxrkit.audit.stats import auroc_stats, paired_auroc_diff

__all__ = ["occlusion_probe", "source_probe", "VARIANTS"]

#: Occlusion variants: key → description.
VARIANTS = {"lungs_only": "only the lungs kept", "lungs_out": "lungs blacked out",
            "border": "border band blanked"}


def _retained(full: float, other: float) -> float:
    return (other - 0.5) / (full - 0.5) if full - 0.5 > 1e-9 else float("nan")


#: Findings whose signs lie partly outside the segmenter's lung masks (heart, pleura, costophrenic angles).
EDGE_FINDINGS = frozenset({"Cardiomegaly", "Effusion", "Pneumothorax", "Pleural_Thickening", "Hernia"})


def _verdicts(f: str, res: dict[str, Any], scope: str = "pooled") -> list[str]:
    return [f"[{scope}] {v}" for v in _verdict_lines(f, res)]


def _verdict_lines(f: str, res: dict[str, Any]) -> list[str]:
    full = res["full"]["auroc"]
    if full is None:
        return [f"{f}: not estimable on the probe images ({res['full']['note']})."]
    if full < 0.6:
        return [f"{f}: AUROC {full:.3f} on the full image is close to chance; the probes say little."]
    out = []
    lo = res["lungs_out"]
    if lo["auroc"] is not None:
        r = _retained(full, lo["auroc"])
        if lo["lo"] > 0.5 and r >= 0.6 and f in EDGE_FINDINGS:
            out.append(f"{f}: keeps {r:.0%} of its above-chance AUROC with the lungs blacked out "
                       f"({lo['auroc']:.3f} vs {full:.3f}): it reads outside the lung masks, where this finding's "
                       "signs partly lie (heart, pleura, costophrenic angles); not by itself a shortcut.")
        elif lo["lo"] > 0.5 and r >= 0.6:
            out.append(f"{f}: keeps {r:.0%} of its above-chance AUROC with the lungs blacked out "
                       f"({lo['auroc']:.3f} vs {full:.3f}): it reads something outside the lungs (shortcut risk).")
        elif lo["lo"] > 0.5 and r >= 0.3:
            out.append(f"{f}: keeps {r:.0%} of its above-chance AUROC with the lungs blacked out "
                       f"({lo['auroc']:.3f} vs {full:.3f}): partly reads outside the lungs (heart, pleura, mediastinum "
                       "or non-anatomical cues).")
        else:
            out.append(f"{f}: falls to {lo['auroc']:.3f} (from {full:.3f}) with the lungs blacked out: it relies on "
                       "the lung fields.")
    lonly = res["lungs_only"]
    if lonly["auroc"] is not None:
        r = _retained(full, lonly["auroc"])
        kept = f"keeps {r:.0%} of its above-chance AUROC" if r > 0 else "loses all of its above-chance AUROC"
        out.append(f"{f}: with only the lungs visible it {kept} "
                   f"({lonly['auroc']:.3f})" + ("." if r >= 0.7 else
                                                 "; it needs context outside the lung masks (for cardiac or pleural "
                                                 "findings this is expected)."))
    d = res.get("drop_border")
    if d is not None:
        if d["significant"] and d["diff"] > 0.03:
            out.append(f"{f}: AUROC falls by {d['diff']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}] when the border band is "
                       "blanked: it uses the image border (text markers, laterality letters, collimation).")
        else:
            out.append(f"{f}: blanking the border changes AUROC by {-d['diff']:+.3f} [{-d['hi']:+.3f}, {-d['lo']:+.3f}]: "
                       "no sign that it reads border markers.")
    return out


def occlusion_probe(labels: np.ndarray, scores: Mapping[str, np.ndarray], findings: Sequence[str],
                    sources: np.ndarray, *, n_boot: int = 500, seed: int = 0) -> list[dict[str, Any]]:
    """AUROC per finding for ``scores["full"]`` and each of :data:`VARIANTS`, pooled and within source.

    Args:
        labels: ``(N, K)`` 1 / 0 / NaN.
        scores: ``"full"`` and variant name → ``(N, K)`` probabilities (NaN rows: image not probed).
        sources: ``(N,)`` source names.
    """
    src = np.asarray(sources).astype(str)
    out = []
    for j, f in enumerate(findings):
        entry: dict[str, Any] = {"finding": f}
        for scope in ["pooled"] + sorted(set(src.tolist())):
            m = np.ones(len(src), bool) if scope == "pooled" else src == scope
            y = labels[m, j]
            res: dict[str, Any] = {}
            for name in ("full",) + tuple(VARIANTS):
                if name in scores:
                    res[name], _ = auroc_stats(y, scores[name][m, j], n_boot=n_boot, seed=seed)
            if "border" in scores:
                res["drop_border"] = paired_auroc_diff(y, scores["full"][m, j], scores["border"][m, j],
                                                       n_boot=n_boot, seed=seed)
            if "lungs_out" in scores:
                res["drop_lungs_out"] = paired_auroc_diff(y, scores["full"][m, j], scores["lungs_out"][m, j],
                                                          n_boot=n_boot, seed=seed)
            has_all = all(k in res for k in ("lungs_out", "lungs_only"))
            if scope == "pooled":
                entry["pooled"] = res
                entry["verdicts"] = _verdicts(f, res) if has_all else []
            elif res["full"]["auroc"] is not None:
                entry.setdefault("per_source", {})[scope] = res
                if has_all and len(set(src.tolist())) > 1:
                    entry.setdefault("verdicts_within", []).extend(_verdicts(f, res, f"within {scope}"))
        out.append(entry)
    return out


def source_probe(embeddings: np.ndarray, sources: np.ndarray, groups: np.ndarray, *, seed: int = 0,
                 folds: int = 5, n_pca: int = 64) -> dict[str, Any]:
    """How well the embedding predicts the source collection (logistic regression, grouped CV by patient).

    Args:
        embeddings: ``(N, D)`` pooled features (rows with NaN are dropped).
        sources: ``(N,)`` source names (>= 2 distinct).
        groups: ``(N,)`` patient ids (all films of a patient fall in one fold).

    Returns:
        balanced accuracy, chance level, per-source recall, confusion matrix and a verdict.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(embeddings, dtype=np.float64)
    ok = np.all(np.isfinite(x), axis=1)
    x, y, g = x[ok], np.asarray(sources).astype(str)[ok], np.asarray(groups).astype(str)[ok]
    names = sorted(set(y.tolist()))
    if len(names) < 2:
        return {"verdict": "not applicable: one source only", "n": int(len(y))}
    k = min(folds, len(set(g.tolist())))
    pred = np.empty(len(y), dtype=object)
    for tr, te in GroupKFold(n_splits=k).split(x, y, g):
        if len(set(y[tr].tolist())) < 2:
            pred[te] = y[tr][0]
            continue
        clf = make_pipeline(StandardScaler(), PCA(n_components=min(n_pca, len(tr) - 1, x.shape[1]), random_state=seed),
                            LogisticRegression(C=0.1, max_iter=1000))
        clf.fit(x[tr], y[tr])
        pred[te] = clf.predict(x[te])
    pred = pred.astype(str)
    bacc = float(balanced_accuracy_score(y, pred))
    chance = 1.0 / len(names)
    cm = confusion_matrix(y, pred, labels=names)
    recall = {s: float(cm[i, i] / cm[i].sum()) for i, s in enumerate(names)}
    if bacc >= 0.9:
        v = (f"The embedding identifies the source collection almost perfectly (balanced accuracy {bacc:.3f}, chance "
             f"{chance:.3f}): the features carry a strong collection signature, so a finding whose positives come "
             "mostly from one collection can be scored by recognising the collection. Trust only within-source AUROCs.")
    elif bacc >= chance + 0.2:
        v = (f"The embedding predicts the source collection well above chance (balanced accuracy {bacc:.3f}, chance "
             f"{chance:.3f}): a collection signature is present; check within-source AUROCs.")
    else:
        v = (f"The embedding predicts the source collection weakly (balanced accuracy {bacc:.3f}, chance {chance:.3f}).")
    return {"n": int(len(y)), "sources": names, "folds": int(k), "balanced_accuracy": bacc, "chance": chance,
            "recall": recall, "confusion": cm.tolist(), "verdict": v,
            "method": f"standardised features ({x.shape[1]}) -> PCA ({n_pca} components, fitted "
                      f"per fold) -> logistic regression (L2, C=0.1), {k}-fold CV grouped by patient"}
