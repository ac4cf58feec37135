"""The experiments behind classifier v2's choices, rerunnable (docs/classifier.md cites them).

On the NIH validation films of ``configs/splits/nih_v2.csv`` (split == val; 744 adult films neither model
trained on), with the shipped ONNX models on images read from disk:

1. cxr-default-v1 vs cxr-adult-v2: within-NIH AUROC of every output both have;
2. operating points: positive calls per "No Finding" film when the thresholds are chosen on half of the normal
   patients and counted on the other half (40 random patient halves), at several budgets;
3. test-time augmentation: mean of the original with a horizontal flip and/or a 4% zoom;
4. Cardiomegaly: classifier vs CTR vs the logistic fusion without and with the view (AP indicator and
   interactions), 5-fold cross-validation grouped by patient.

    .venv/bin/python benchmarks/classifier_v2_checks.py [--root ../shared/data/nih-cxr14]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "cxrkit" / "models" / "weights"


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def _predictions(a: argparse.Namespace) -> dict:
    """Every validation film through v1, v2 (original, flipped, zoomed input) and the segmenter's CTR."""
    from cxrkit.anatomy.measure import measure
    from cxrkit.anatomy.segment import load_segmenter
    from cxrkit.data import load_dataset
    from cxrkit.io import read_image
    from cxrkit.models.classifier import load_classifier
    from cxrkit.models.fusion import usable_ctr
    from cxrkit.train.assemble import read_split_file

    ds = load_dataset("nih", root=a.root, images="adult_512", read_sizes=False)
    rows = np.flatnonzero(ds.meta["image_id"].map(read_split_file(a.split)).to_numpy() == "val")
    meta = ds.meta.iloc[rows].reset_index(drop=True)
    v1 = load_classifier(WEIGHTS / "cxr-default-v1.card.json", threads=a.threads)
    v2 = load_classifier(WEIGHTS / "cxr-adult-v2.card.json", threads=a.threads)
    seg = load_segmenter(threads=a.threads)
    p1, views, ctr = [], {"orig": [], "flip": [], "zoom": []}, np.full(len(rows), np.nan)
    for i, path in enumerate(meta["path"]):
        px = read_image(path).pixels
        p1.append(v1.predict_all([px])[0])
        x = v2.preprocess([px])
        s, m = x.shape[-1], int(x.shape[-1] * 0.04)
        crop = x[..., m:s - m, m:s - m]
        zi = np.minimum((np.arange(s) * crop.shape[-1] / s).astype(int), crop.shape[-1] - 1)
        for k, xin in (("orig", x), ("flip", x[..., ::-1]), ("zoom", crop[..., zi, :][..., zi])):
            logits = v2.run(np.ascontiguousarray(xin, dtype=np.float32))[0]
            views[k].append(1 / (1 + np.exp(-logits[0])))
        sg = seg.segment(px)
        c = usable_ctr(measure(sg.masks, None, view=None, confidence=sg.confidence))
        ctr[i] = np.nan if c is None else c
    pv = {k: np.array(v) for k, v in views.items()}
    return {"rows": rows, "meta": meta, "y": ds.labels[rows], "F": ds.findings, "v1": v1, "v2": v2,
            "p1": np.array(p1), "pv": pv, "p2": pv["orig"], "ctr": ctr}


def _auc(d: dict, f: str, p: np.ndarray, labels: list[str]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(d["y"][:, d["F"].index(f)], p[:, labels.index(f)]))


def _v1_vs_v2(d: dict, records: list) -> list[str]:
    v1, v2, y, F = d["v1"], d["v2"], d["y"], d["F"]
    shared = [f for f in v1.labels if f in v2.labels and f in F and np.nansum(y[:, F.index(f)]) > 0]
    lines = ["**1. cxr-default-v1 vs cxr-adult-v2, within-NIH AUROC**", "", "| output | v1 | v2 |",
             "| --- | ---: | ---: |"]
    for f in shared:
        a1, a2 = _auc(d, f, d["p1"], v1.labels), _auc(d, f, d["p2"], v2.labels)
        lines.append(f"| {f} | {a1:.3f} | {a2:.3f} |")
        records.append({"check": "v1_vs_v2", "finding": f, "v1": round(a1, 4), "v2": round(a2, 4)})
    m1 = np.mean([_auc(d, f, d["p1"], v1.labels) for f in shared])
    m2 = np.mean([_auc(d, f, d["p2"], v2.labels) for f in shared])
    return lines + [f"| **mean over {len(shared)}** | **{m1:.3f}** | **{m2:.3f}** |", ""]


def _normal_calls(d: dict, records: list) -> list[str]:
    from cxrkit.train.reporting import normal_budget_thresholds

    v2, y, F, p2 = d["v2"], d["y"], d["F"], d["p2"]
    rep = list(v2.findings)
    yv = np.stack([y[:, F.index(f)] if f in F else np.full(len(d["rows"]), np.nan) for f in v2.labels], axis=1)
    normal = yv[:, v2.labels.index("No Finding")] == 1
    pid = d["meta"]["patient_id"].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    lines = ["**2. Positive calls per 'No Finding' film, thresholds from the other half of the patients "
             "(40 halves)**", "", "| budget | mean | 90th percentile |", "| ---: | ---: | ---: |"]
    for budget in (0.35, 0.25, 0.20):
        res = []
        for _ in range(20):
            pats = np.unique(pid)
            half = set(rng.choice(pats, len(pats) // 2, replace=False))
            A = np.array([q in half for q in pid])
            for tr, te in ((A, ~A), (~A, A)):
                th = normal_budget_thresholds(yv[tr], p2[tr], v2.labels, rep, budget=budget)
                calls = sum((p2[te & normal, v2.labels.index(f)] >= th[f]) for f in rep if f != "No Finding")
                res.append(float(np.mean(calls)))
        lines.append(f"| {budget} | {np.mean(res):.2f} | {np.quantile(res, 0.9):.2f} |")
        records.append({"check": "normal_calls_split_half", "budget": budget, "mean": round(float(np.mean(res)), 3),
                        "p90": round(float(np.quantile(res, 0.9)), 3)})
    return lines + [""]


def _tta(d: dict, records: list) -> list[str]:
    v2, y, F = d["v2"], d["y"], d["F"]
    labelled = [f for f in v2.labels if f in F and np.nansum(y[:, F.index(f)]) > 0]
    lines = [f"**3. Test-time augmentation, mean within-NIH AUROC over {len(labelled)} outputs**", "",
             "| views averaged | mean AUROC |", "| --- | ---: |"]
    for combo in (("orig",), ("orig", "flip"), ("orig", "zoom"), ("orig", "flip", "zoom")):
        p = np.mean([d["pv"][k] for k in combo], axis=0)
        mean = float(np.mean([_auc(d, f, p, v2.labels) for f in labelled]))
        lines.append(f"| {' + '.join(combo)} | {mean:.4f} |")
        records.append({"check": "tta", "views": "+".join(combo), "mean_auroc": round(mean, 4)})
    return lines + [""]


def _fusion(d: dict, records: list) -> list[str]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    y, F, v2, ctr, meta = d["y"], d["F"], d["v2"], d["ctr"], d["meta"]
    pid = meta["patient_id"].astype(str).to_numpy()
    yc = y[:, F.index("Cardiomegaly")]
    pc = d["p2"][:, v2.labels.index("Cardiomegaly")]
    ok = np.isfinite(ctr)
    ap_ = (meta["view"].astype(str).str.upper() == "AP").to_numpy().astype(float)
    cc = np.clip(np.nan_to_num(ctr, nan=0.5), 0.30, 0.80) - 0.5
    lg = _logit(pc)
    lines = ["**4. Cardiomegaly (5-fold CV by patient; films without a usable CTR keep the classifier)**", "",
             "| score | AUROC |", "| --- | ---: |",
             f"| classifier | {roc_auc_score(yc, pc):.3f} |",
             f"| CTR alone (films with a CTR, n = {int(ok.sum())}) | {roc_auc_score(yc[ok], ctr[ok]):.3f} |"]
    for name, X in (("fusion: logit + CTR", np.c_[lg, cc]), ("fusion with the view (AP, AP x CTR, AP x logit)",
                                                             np.c_[lg, cc, ap_, ap_ * cc, ap_ * lg])):
        oof = pc.copy()
        idx = np.flatnonzero(ok)
        for tr, te in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(idx, yc[idx], pid[idx]):
            lr = LogisticRegression(max_iter=1000).fit(X[idx[tr]], yc[idx[tr]])
            oof[idx[te]] = lr.predict_proba(X[idx[te]])[:, 1]
        val = float(roc_auc_score(yc, oof))
        lines.append(f"| {name} | {val:.3f} |")
        records.append({"check": "cardiomegaly_fusion", "score": name, "auroc": round(val, 4)})
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "nih-cxr14"))
    ap.add_argument("--split", default=str(REPO / "configs" / "splits" / "nih_v2.csv"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    load0 = os.getloadavg()[0]
    d = _predictions(a)
    records: list[dict] = []
    lines = [f"NIH validation films of `{Path(a.split).name}` (split == val, n = {len(d['rows'])}), images from "
             f"`{os.path.relpath(a.root, REPO)}` (`adult_512`), shipped ONNX models; 1-minute load {load0:.2f} "
             "at start.", ""]
    for section in (_v1_vs_v2, _normal_calls, _tta, _fusion):
        lines += section(d, records)
    md = "\n".join(lines)
    print(md)
    print(machine_line())
    append_jsonl("classifier_v2_checks", records)
    write_section("classifier-v2-checks", "## Classifier v2: the experiments behind its choices\n\n"
                  "`benchmarks/classifier_v2_checks.py`\n\n" + md, info=machine_info())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
