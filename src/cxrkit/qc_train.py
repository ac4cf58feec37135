"""Train the learned view check of :mod:`cxrkit.qc_view` (frontal chest film vs lateral view / not a chest film).

    python -m cxrkit.qc_train --data ../shared/data --out src/cxrkit/qc_weights [--cache /tmp/qc_feats.npz]

Data (``--data``, see each SOURCE.md):

* frontal films (label 0): NIH ChestX-ray14 (``images_512`` + ``images_extra_512`` via the manifests),
  covid-ieee8023 rows with view PA / AP / AP Supine, covid-hannover, kermany-pneumonia (pediatric), jsrt-scr;
* lateral films (label 1): covid-ieee8023 rows with view L;
* not chest films (label 1): seeded synthetic smooth non-radiographs (gradients, blobs, waves, stripes, "text"
  blocks) and matplotlib's bundled sample images other than the portrait (an MR slice, terrain maps, logos); the
  portrait ``grace_hopper.jpg`` is kept out of training as a held-out real photograph.

Split (:func:`split_of`) by patient: NIH by ``configs/splits/nih_v2.csv`` (train / val) when that file exists,
else by a hash of the patient id; every other source by a hash of its patient id (covid-ieee8023 ``patientid``,
covid-hannover ``patient_id``, kermany ``person<N>`` / ``IM-<N>``, jsrt one film per patient) into train
(60 %) and held-out (40 %). Thresholds are chosen on out-of-fold probabilities of a 5-fold grouped
cross-validation within the training part (:func:`choose_thresholds`); the shipped model is then fitted on the
whole training part and evaluated once on the held-out part. Training images are augmented (flips, small
rotations, crops, gamma); laterals and non-chest images more often, since they are few.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from scipy.special import expit, logit

from cxrkit.fs import atomic_open
from cxrkit.qc_view import FEATURE_VERSION, ViewModel, view_features
from cxrkit.views import is_frontal

__all__ = ["Item", "list_items", "split_of", "assign_splits", "load_nih_split", "augment", "synthetic_non_radiographs",
           "fit_view_model", "choose_thresholds", "wilson", "main"]

log = logging.getLogger(__name__)

HELDOUT_FRACTION = 0.4
SEED = 20240610
MARGIN_LOGIT = 1.0  # t_refuse sits this far (in logit) above the highest out-of-fold frontal training film
T_FLAG_MAX = 0.5
FLAG_LATERAL_RECALL = 0.97  # t_flag: at least this share of out-of-fold training laterals is flagged or refused


@dataclass(frozen=True)
class Item:
    """One training/evaluation image: ``label`` 1 = not a frontal chest film (``kind`` lateral / non_chest)."""

    path: str
    source: str
    group: str
    label: int
    kind: str


def _hash_fraction(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


def _kermany_patient(name: str) -> str:
    m = re.match(r"(person\d+)_", name) or re.match(r"((?:NORMAL2-)?IM-\d+)-", name)
    return m.group(1) if m else name


def _rows(path: Path, errors: str = "strict") -> list[dict[str, str]]:
    with open(path, encoding="utf-8", errors=errors, newline="") as fh:
        return list(csv.DictReader(fh))


def list_items(root: Path) -> list[Item]:
    """Every real image of the training/evaluation sets under ``root`` (shared/data)."""
    root = Path(root)
    items: list[Item] = []
    nih = root / "nih-cxr14"
    for manifest, folder in (("images_manifest.csv", "images_512"), ("images_extra_manifest.csv", None)):
        for r in _rows(nih / manifest):
            p = nih / (r["file"] if folder is None else f"{folder}/{r['image']}")
            if p.is_file():
                items.append(Item(str(p), "nih-cxr14", r["patient_id"], 0, "frontal"))
    cov = root / "covid-ieee8023"
    seen: set[str] = set()
    for r in _rows(cov / "metadata.csv", errors="replace"):
        name = r.get("shared_file") or r["filename"]
        p = cov / "images" / name
        if r["modality"] != "X-ray" or not p.is_file() or name in seen:
            continue
        seen.add(name)
        if is_frontal(r["view"]):
            items.append(Item(str(p), "covid-ieee8023", r["patientid"], 0, "frontal"))
        elif r["view"] == "L":
            items.append(Item(str(p), "covid-ieee8023", r["patientid"], 1, "lateral"))
    han = root / "covid-hannover"
    for r in _rows(han / "data.csv"):
        p = han / "images" / f"{r['image_id']}.jpg"
        if p.is_file():
            items.append(Item(str(p), "covid-hannover", r["patient_id"], 0, "frontal"))
    for p in sorted((root / "kermany-pneumonia" / "train").rglob("*.jpeg")):
        items.append(Item(str(p), "kermany-pneumonia", _kermany_patient(p.name), 0, "frontal"))
    for p in sorted((root / "jsrt-scr" / "images").glob("*.jpg")):
        items.append(Item(str(p), "jsrt-scr", p.stem, 0, "frontal"))
    return items


def load_nih_split(path: Path | None) -> dict[str, str]:
    """patient id (no leading zeros) → "train" / "val" from ``configs/splits/nih_v2.csv``; {} when absent."""
    if path is None or not Path(path).is_file():
        return {}
    return {str(int(r["patient_id"])): r["split"] for r in csv.DictReader(open(path, encoding="utf-8"))}


def split_of(item: Item, nih_split: dict[str, str] | None = None) -> str:
    """"train" or "heldout", by patient (see the module docstring)."""
    if item.source == "nih-cxr14" and nih_split:
        s = nih_split.get(str(int(item.group)))
        if s is not None:
            return "train" if s == "train" else "heldout"
    return "heldout" if _hash_fraction(f"{item.source}:{item.group}") < HELDOUT_FRACTION else "train"


def assign_splits(items: list[Item], nih_split: dict[str, str] | None = None, *,
                  kermany_train_max: int = 800) -> list[str]:
    """"train" / "heldout" / "unused" per item: :func:`split_of`, with kermany's training films capped at
    ``kermany_train_max`` (chosen by a hash of the patient; pediatric films must not dominate the frontal
    class); the rest of kermany's training part is "unused" (neither trained on nor held out)."""
    split = [split_of(it, nih_split) for it in items]
    ker = [i for i, it in enumerate(items) if it.source == "kermany-pneumonia" and split[i] == "train"]
    if len(ker) > kermany_train_max:
        order = sorted(ker, key=lambda i: _hash_fraction("kermany-train:" + items[i].group))
        for i in order[kermany_train_max:]:
            split[i] = "unused"
    return split


def augment(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random flip, rotation (±8°), crop (80-100 % per side) and gamma (0.7-1.4) of float pixels in [0, 1]."""
    a = np.asarray(pixels, np.float32)
    if rng.random() < 0.5:
        a = a[:, ::-1]
    im = PILImage.fromarray(np.ascontiguousarray(a), mode="F")
    im = im.rotate(float(rng.uniform(-8, 8)), resample=PILImage.Resampling.BILINEAR, expand=False, fillcolor=float(np.median(a)))
    h, w = a.shape
    ch, cw = int(h * rng.uniform(0.8, 1.0)), int(w * rng.uniform(0.8, 1.0))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = np.asarray(im, np.float32)[y0:y0 + ch, x0:x0 + cw]
    return np.clip(out, 0, 1) ** float(rng.uniform(0.7, 1.4))


def synthetic_non_radiographs(n: int, seed: int, size: int = 256) -> list[np.ndarray]:
    """``n`` seeded smooth images that are not radiographs (they pass the noise/uniform/binary rules):
    linear and radial gradients, Gaussian blobs, waves, stripes and blocks of "text" lines."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            a = np.cos(rng.uniform(0, np.pi)) * xx + np.sin(rng.uniform(0, np.pi)) * yy
        elif kind == 1:
            a = np.hypot(xx - rng.uniform(0.2, 0.8), yy - rng.uniform(0.2, 0.8))
        elif kind == 2:
            a = np.zeros_like(xx)
            for _ in range(int(rng.integers(1, 6))):
                cy, cx, s = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
                a += rng.uniform(-1, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        elif kind == 3:
            f1, f2 = rng.uniform(1, 8, 2)
            a = np.sin(2 * np.pi * f1 * xx + rng.uniform(0, 6)) * np.cos(2 * np.pi * f2 * yy)
        elif kind == 4:
            a = (np.sin(2 * np.pi * rng.uniform(2, 12) * (xx * rng.uniform(-1, 1) + yy)) > 0).astype(np.float32)
            a = a * 0.6 + 0.2 + 0.2 * xx
        else:  # "text": dark lines of short bright dashes on a plain page
            a = np.full_like(xx, rng.uniform(0.6, 0.95))
            for y in range(int(rng.integers(8, 20)), size - 10, int(rng.integers(10, 24))):
                x = int(rng.integers(5, 30))
                while x < size - 20:
                    wlen = int(rng.integers(5, 30))
                    a[y:y + int(rng.integers(4, 8)), x:x + wlen] = rng.uniform(0.0, 0.3)
                    x += wlen + int(rng.integers(3, 10))
        a = a + rng.normal(0, 0.01, a.shape)
        lo, hi = float(a.min()), float(a.max())
        im = PILImage.fromarray(((a - lo) / max(hi - lo, 1e-6)).astype(np.float32), mode="F")
        out.append(np.asarray(im, np.float32))
    return out


def matplotlib_samples() -> dict[str, np.ndarray]:
    """matplotlib's bundled sample images as grayscale float [0, 1]: ``grace_hopper`` (a portrait photograph),
    ``s1045`` (an MR brain slice), ``jacksboro`` and ``topobathy`` (terrain maps), ``logo2`` and
    ``minduka`` (graphics)."""
    import gzip

    from matplotlib import cbook

    def sample(name: str) -> Any:  # a file object, or the arrays of an .npz
        return cbook.get_sample_data(name)

    out: dict[str, np.ndarray] = {}

    def norm(a):
        a = np.asarray(a, np.float32)
        return (a - a.min()) / max(float(a.max() - a.min()), 1e-6)

    with sample("grace_hopper.jpg") as fh:
        out["grace_hopper"] = norm(np.asarray(PILImage.open(fh).convert("L")))
    with sample("s1045.ima.gz") as fh:
        raw = gzip.decompress(fh.read()) if not hasattr(fh, "peek") or fh.peek(2)[:2] == b"\x1f\x8b" else fh.read()
        out["s1045"] = norm(np.frombuffer(raw, np.uint16).astype(np.float32).reshape(256, 256))
    with sample("jacksboro_fault_dem.npz") as z:
        out["jacksboro"] = norm(z["elevation"])
    with sample("topobathy.npz") as z:
        out["topobathy"] = norm(z["topo"])
    for key, name in (("logo2", "logo2.png"), ("minduka", "Minduka_Present_Blue_Pack.png")):
        with sample(name) as fh:
            out[key] = norm(np.asarray(PILImage.open(fh).convert("L")))
    return out


def class_weights(kind: np.ndarray, shares: dict[str, float] | None = None) -> np.ndarray:
    """Per-sample weights giving each kind (frontal / lateral / non_chest) its share of the total weight."""
    shares = shares or {"frontal": 0.5, "lateral": 0.35, "non_chest": 0.15}
    kind = np.asarray(kind)
    w = np.zeros(len(kind))
    for k, share in shares.items():
        m = kind == k
        if m.any():
            w[m] = share / m.sum()
    return w * len(kind)


def fit_view_model(x: np.ndarray, y: np.ndarray, *, weights: np.ndarray | None = None, c: float = 0.05,
                   hidden: int = 0, seed: int = SEED) -> ViewModel:
    """Fit standardization + logistic regression (``hidden`` = 0) or a one-hidden-layer MLP on features ``x``
    ``(N, D)`` and labels ``y`` ``(N,)`` (1 = not frontal)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, np.float64)
    y = np.asarray(y, int)
    if len(np.unique(y)) != 2:
        raise ValueError("training data need both classes (frontal 0 and not frontal 1)")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    if hidden:
        from sklearn.neural_network import MLPClassifier

        mlp = MLPClassifier((hidden,), alpha=1.0 / c, max_iter=500, random_state=seed, early_stopping=False)
        mlp.fit(z, y)  # MLPClassifier has no sample weights
        layers = [(mlp.coefs_[0], mlp.intercepts_[0]), (mlp.coefs_[1], mlp.intercepts_[1])]
    else:
        lr = LogisticRegression(C=c, max_iter=5000, class_weight=None if weights is not None else "balanced")
        lr.fit(z, y, sample_weight=weights)
        layers = [(lr.coef_.T.copy(), lr.intercept_.copy())]
    return ViewModel(mean, scale, layers)


def choose_thresholds(p_frontal: np.ndarray, p_positive: np.ndarray) -> tuple[float, float]:
    """``(t_flag, t_refuse)`` from out-of-fold probabilities of training frontal films and training laterals.

    ``t_refuse``: :data:`MARGIN_LOGIT` above the highest frontal logit (no frontal training film refused, with
    margin), at least 0.5. ``t_flag``: the largest threshold flagging :data:`FLAG_LATERAL_RECALL` of laterals,
    at most :data:`T_FLAG_MAX` (more likely not frontal than frontal is always worth a flag) and ``t_refuse``,
    at least 0.05.
    """
    pf = np.clip(np.asarray(p_frontal, np.float64), 1e-9, 1 - 1e-9)
    top = float(logit(pf.max()))
    t_refuse = max(0.5, float(expit(top + MARGIN_LOGIT)))
    q = float(np.quantile(np.asarray(p_positive, np.float64), 1.0 - FLAG_LATERAL_RECALL)) if len(p_positive) else 0.5
    t_flag = float(min(max(q, 0.05), T_FLAG_MAX, t_refuse))
    return round(t_flag, 4), round(float(t_refuse), 4)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n (``(nan, nan)`` when n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def _features_for(items: list[Item], train_mask: np.ndarray, cache: dict, seed: int,
                  n_aug_pos: int, n_aug_neg: int) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Base features of every item and augmented features of training items (read once per image; the
    augmentations of an image depend only on ``seed`` and its path, so a cache changes nothing)."""
    from cxrkit.errors import CxrkitError
    from cxrkit.io import read_image

    rows, augs = [], []
    t0 = time.time()
    for i, it in enumerate(items):
        n_aug = (n_aug_pos if it.label else n_aug_neg) if train_mask[i] else 0
        key = it.path
        hit = cache.get(key)
        if hit is not None and hit[1].shape[0] >= n_aug:
            rows.append(hit[0])
            augs.append(list(hit[1][:n_aug]))
            continue
        try:
            px = read_image(Path(it.path)).pixels
        except CxrkitError as exc:
            log.warning("skipped %s: %s", it.path, exc)
            rows.append(None)
            augs.append([])
            continue
        f = view_features(px)
        item_rng = np.random.default_rng([seed, int(hashlib.sha256(it.path.encode()).hexdigest()[:8], 16)])
        a = [view_features(augment(px, item_rng)) for _ in range(n_aug)]
        cache[key] = (f, np.asarray(a, np.float32).reshape(len(a), f.shape[0]))
        rows.append(f)
        augs.append(a)
        if i % 500 == 0:
            log.info("features %d / %d (%.0f s)", i, len(items), time.time() - t0)
    dim = next(r.shape[0] for r in rows if r is not None)
    base = np.stack([r if r is not None else np.full(dim, np.nan, np.float32) for r in rows])
    return base, augs


def _load_cache(path: Path | None) -> dict:
    if path is None or not Path(path).is_file():
        return {}
    with np.load(path, allow_pickle=False) as z:
        if int(z["feature_version"]) != FEATURE_VERSION:
            return {}
        keys = [str(k) for k in z["keys"]]
        base = np.array(z["base"])  # read once: z[...] decodes the whole array on every access
        return {k: (base[i].copy(), np.array(z[f"aug{i}"])) for i, k in enumerate(keys)}


def _save_cache(path: Path | None, cache: dict) -> None:
    if path is None:
        return
    keys = list(cache)
    arrays = {f"aug{i}": cache[k][1] for i, k in enumerate(keys)}
    with atomic_open(path, "wb", fsync=False) as fh:  # a feature cache
        np.savez(fh, keys=np.array(keys), base=np.stack([cache[k][0] for k in keys]),
                 feature_version=FEATURE_VERSION, **arrays)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cxrkit.qc_train", description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="shared data folder (../shared/data)")
    ap.add_argument("--out", type=Path, required=True, help="folder for view_model.npz + view_model.json")
    ap.add_argument("--nih-split", type=Path, default=Path("configs/splits/nih_v2.csv"))
    ap.add_argument("--cache", type=Path, help="feature cache (.npz) reused between runs")
    ap.add_argument("--c", type=float, default=0.05, help="inverse L2 strength")
    ap.add_argument("--hidden", type=int, default=0, help="hidden units (0 = logistic regression)")
    ap.add_argument("--aug-pos", type=int, default=12, help="augmented copies per training lateral/non-chest image")
    ap.add_argument("--aug-neg", type=int, default=1, help="augmented copies per training frontal film")
    ap.add_argument("--kermany-train-max", type=int, default=800, help="cap on kermany training films (by patient)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(SEED)
    nih_split = load_nih_split(args.nih_split)
    items = list_items(args.data)
    split = np.array(assign_splits(items, nih_split, kermany_train_max=args.kermany_train_max))
    train = split == "train"
    cache = _load_cache(args.cache)
    base, augs = _features_for(items, train, cache, SEED, args.aug_pos, args.aug_neg)
    _save_cache(args.cache, cache)
    ok = ~np.isnan(base).any(axis=1)
    y = np.array([it.label for it in items])
    groups = np.array([f"{it.source}:{it.group}" for it in items])

    samples = matplotlib_samples()
    syn_train = synthetic_non_radiographs(120, SEED)
    syn_test = synthetic_non_radiographs(60, SEED + 1)
    nc_train_px = [v for k, v in samples.items() if k != "grace_hopper"] + syn_train
    nc_train = [view_features(px) for px in nc_train_px]
    nc_train += [view_features(augment(px, rng)) for px in nc_train_px for _ in range(3)]
    nc_test = {"grace_hopper (photograph)": [view_features(samples["grace_hopper"])],
               "synthetic non-radiographs (other seed)": [view_features(px) for px in syn_test]}

    tr = np.flatnonzero(train & ok)

    kinds = np.array([it.kind for it in items])

    def fit_on(idx):
        """Fit on items ``idx`` (with their augmented copies) plus the non-chest training images."""
        xs = [base[idx]] + [np.asarray(augs[i]) for i in idx if len(augs[i])] + [x_nc]
        ys = [y[idx]] + [np.full(len(augs[i]), y[i]) for i in idx if len(augs[i])] + [np.ones(len(x_nc), int)]
        ks = [kinds[idx]] + [np.full(len(augs[i]), kinds[i]) for i in idx if len(augs[i])] + [np.full(len(x_nc), "non_chest")]
        k = np.concatenate(ks)
        return fit_view_model(np.concatenate(xs), np.concatenate(ys), weights=class_weights(k), c=args.c,
                              hidden=args.hidden)

    x_nc = np.asarray(nc_train)
    # out-of-fold probabilities within the training part (grouped 5-fold) → thresholds
    oof = np.full(len(items), np.nan)
    for fold, (a, b) in enumerate(StratifiedGroupKFold(5, shuffle=True, random_state=SEED).split(tr, y[tr], groups[tr])):
        m = fit_on(tr[a])
        oof[tr[b]] = m.predict_proba(base[tr[b]])
        log.info("fold %d done", fold)
    is_f, is_l = y == 0, np.array([it.kind == "lateral" for it in items])
    t_flag, t_refuse = choose_thresholds(oof[tr][is_f[tr]], oof[tr][is_l[tr]])
    model = fit_on(tr)

    def rates(mask, p):
        n = int(mask.sum())
        ref, flg = int((p[mask] >= t_refuse).sum()), int((p[mask] >= t_flag).sum())
        return {"n": n, "refused": ref, "refused_ci": [round(v, 4) for v in wilson(ref, n)],
                "flagged_or_refused": flg, "flagged_or_refused_ci": [round(v, 4) for v in wilson(flg, n)]}

    p_all = np.full(len(items), np.nan)
    p_all[ok] = model.predict_proba(base[ok])
    held = (split == "heldout") & ok
    sources = sorted({it.source for it in items})
    src = np.array([it.source for it in items])
    validation: dict[str, dict[str, Any]] = {"heldout": {}, "train_out_of_fold": {}}
    for s in sources:
        for kind, km in (("frontal", is_f), ("lateral", is_l)):
            if (held & km & (src == s)).any():
                validation["heldout"][f"{s} {kind}"] = rates(held & km & (src == s), p_all)
            if (train & ok & km & (src == s)).any():
                validation["train_out_of_fold"][f"{s} {kind}"] = rates(train & ok & km & (src == s), oof)
    validation["heldout"]["all frontal"] = rates(held & is_f, p_all)
    validation["heldout"]["all lateral"] = rates(held & is_l, p_all)
    validation["train_out_of_fold"]["all frontal"] = rates(train & ok & is_f, oof)
    validation["train_out_of_fold"]["all lateral"] = rates(train & ok & is_l, oof)
    for name, feats in nc_test.items():
        validation["heldout"][name] = rates(np.ones(len(feats), bool), model.predict_proba(np.asarray(feats)))
    counts = Counter((it.source, it.kind, str(s)) for it, s in zip(items, split))
    card = {
        "name": "cxrkit-view-check",
        "version": time.strftime("%Y.%m.%d"),
        "feature_version": FEATURE_VERSION,
        "architecture": "standardize + logistic regression" if not args.hidden else f"standardize + MLP({args.hidden})",
        "t_flag": t_flag,
        "t_refuse": t_refuse,
        "output": "p_not_frontal: probability that the image is not a frontal chest radiograph (lateral or other)",
        "thresholds_rule": (f"t_refuse = sigmoid(max out-of-fold logit of training frontal films + {MARGIN_LOGIT}); "
                            f"t_flag = min({T_FLAG_MAX}, {1 - FLAG_LATERAL_RECALL:.2f} quantile of out-of-fold training "
                            "lateral probabilities) (5-fold grouped CV within the training part)"),
        "intended_use": "image-only fallback for PNG/JPEG or DICOM without a view tag; refuse only clear laterals / "
                        "non-chest images, flag uncertain ones (still analysed)",
        "training": {
            "command": "python -m cxrkit.qc_train " + " ".join(argv if argv is not None else sys.argv[1:]),
            "options": {"c": args.c, "hidden": args.hidden, "aug_pos": args.aug_pos, "aug_neg": args.aug_neg,
                        "kermany_train_max": args.kermany_train_max, "seed": SEED,
                        "heldout_fraction": HELDOUT_FRACTION},
            "nih_split": (f"{args.nih_split} (sha256 {hashlib.sha256(Path(args.nih_split).read_bytes()).hexdigest()[:16]})"
                          if nih_split else "hash of patient id"),
            "counts": {f"{s} {k} {sp}": n for (s, k, sp), n in sorted(counts.items())},
            "non_chest_training": {"matplotlib samples": [k for k in samples if k != "grace_hopper"],
                                   "synthetic": len(syn_train), "augmented copies": 3},
            "unreadable": int((~ok).sum()),
        },
        "validation": validation,
    }
    saved = model.save(args.out, card)
    log.info("saved %s (t_flag %.4f, t_refuse %.4f)", args.out, saved.t_flag, saved.t_refuse)
    for k, v in validation["heldout"].items():
        log.info("heldout %-45s n=%5d refused %4d flagged+refused %4d", k, v["n"], v["refused"], v["flagged_or_refused"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
