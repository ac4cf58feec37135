"""``python -m cxrkit.qc_train``: features, cross-validated thresholds, the final fit, held-out validation, card."""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.fs import atomic_open
from cxrkit.qc_train.fit import (
    FLAG_LATERAL_RECALL,
    MARGIN_LOGIT,
    T_FLAG_MAX,
    choose_thresholds,
    class_weights,
    fit_view_model,
    wilson,
)
from cxrkit.qc_train.items import HELDOUT_FRACTION, SEED, Item, assign_splits, list_items, load_nih_split
from cxrkit.qc_train.negatives import augment, matplotlib_samples, synthetic_non_radiographs
from cxrkit.qc_view import FEATURE_VERSION, ViewModel, view_features

__all__ = ["main"]

log = logging.getLogger(__name__)


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


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m cxrkit.qc_train", description="Train the learned view check of cxrkit.qc_view.")
    ap.add_argument("--data", type=Path, required=True, help="shared data folder (../shared/data)")
    ap.add_argument("--out", type=Path, required=True, help="folder for view_model.npz + view_model.json")
    ap.add_argument("--nih-split", type=Path, default=Path("configs/splits/nih_v2.csv"))
    ap.add_argument("--cache", type=Path, help="feature cache (.npz) reused between runs")
    ap.add_argument("--c", type=float, default=0.05, help="inverse L2 strength")
    ap.add_argument("--hidden", type=int, default=0, help="hidden units (0 = logistic regression)")
    ap.add_argument("--aug-pos", type=int, default=12, help="augmented copies per training lateral/non-chest image")
    ap.add_argument("--aug-neg", type=int, default=1, help="augmented copies per training frontal film")
    ap.add_argument("--kermany-train-max", type=int, default=800, help="cap on kermany training films (by patient)")
    return ap.parse_args(argv)


def _non_chest(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, list[np.ndarray]], dict[str, Any]]:
    """Non-chest training features (matplotlib samples but the portrait, synthetic images, 3 augmented copies
    each), the held-out non-chest sets, and what went in (for the card)."""
    samples = matplotlib_samples()
    syn_train = synthetic_non_radiographs(120, SEED)
    syn_test = synthetic_non_radiographs(60, SEED + 1)
    nc_train_px = [v for k, v in samples.items() if k != "grace_hopper"] + syn_train
    nc_train = [view_features(px) for px in nc_train_px]
    nc_train += [view_features(augment(px, rng)) for px in nc_train_px for _ in range(3)]
    nc_test = {"grace_hopper (photograph)": [view_features(samples["grace_hopper"])],
               "synthetic non-radiographs (other seed)": [view_features(px) for px in syn_test]}
    used = {"matplotlib samples": [k for k in samples if k != "grace_hopper"], "synthetic": len(syn_train),
            "augmented copies": 3}
    return np.asarray(nc_train), nc_test, used


class _Trainer:
    """Fits on a set of items (with their augmented copies) plus the non-chest training images."""

    def __init__(self, base: np.ndarray, augs: list[list[np.ndarray]], y: np.ndarray, kinds: np.ndarray,
                 x_nc: np.ndarray, args: argparse.Namespace) -> None:
        self.base, self.augs, self.y, self.kinds, self.x_nc, self.args = base, augs, y, kinds, x_nc, args

    def fit(self, idx: np.ndarray) -> ViewModel:
        augs, y, kinds, x_nc = self.augs, self.y, self.kinds, self.x_nc
        xs = [self.base[idx]] + [np.asarray(augs[i]) for i in idx if len(augs[i])] + [x_nc]
        ys = [y[idx]] + [np.full(len(augs[i]), y[i]) for i in idx if len(augs[i])] + [np.ones(len(x_nc), int)]
        ks = ([kinds[idx]] + [np.full(len(augs[i]), kinds[i]) for i in idx if len(augs[i])]
              + [np.full(len(x_nc), "non_chest")])
        return fit_view_model(np.concatenate(xs), np.concatenate(ys), weights=class_weights(np.concatenate(ks)),
                              c=self.args.c, hidden=self.args.hidden)

    def out_of_fold(self, tr: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
        """Out-of-fold probabilities within the training part (grouped 5-fold), NaN elsewhere."""
        from sklearn.model_selection import StratifiedGroupKFold

        oof = np.full(n, np.nan)
        folds = StratifiedGroupKFold(5, shuffle=True, random_state=SEED).split(tr, self.y[tr], groups[tr])
        for fold, (a, b) in enumerate(folds):
            oof[tr[b]] = self.fit(tr[a]).predict_proba(self.base[tr[b]])
            log.info("fold %d done", fold)
        return oof


def _validation(items: list[Item], split: np.ndarray, ok: np.ndarray, p_all: np.ndarray, oof: np.ndarray,
                thresholds: tuple[float, float], nc_test: dict[str, list[np.ndarray]], model: Any
                ) -> dict[str, dict[str, Any]]:
    """Refused / flagged rates (Wilson CIs) per source and kind: held-out and training out-of-fold."""
    t_flag, t_refuse = thresholds
    y = np.array([it.label for it in items])
    is_f, is_l = y == 0, np.array([it.kind == "lateral" for it in items])
    train, held = split == "train", (split == "heldout") & ok

    def rates(mask, p):
        n = int(mask.sum())
        ref, flg = int((p[mask] >= t_refuse).sum()), int((p[mask] >= t_flag).sum())
        return {"n": n, "refused": ref, "refused_ci": [round(v, 4) for v in wilson(ref, n)],
                "flagged_or_refused": flg, "flagged_or_refused_ci": [round(v, 4) for v in wilson(flg, n)]}

    src = np.array([it.source for it in items])
    validation: dict[str, dict[str, Any]] = {"heldout": {}, "train_out_of_fold": {}}
    for s in sorted({it.source for it in items}):
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
    return validation


def _card(args: argparse.Namespace, argv: list[str] | None, thresholds: tuple[float, float],
          training: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
    t_flag, t_refuse = thresholds
    split_note = (f"{args.nih_split} (sha256 {hashlib.sha256(Path(args.nih_split).read_bytes()).hexdigest()[:16]})"
                  if load_nih_split(args.nih_split) else "hash of patient id")
    return {
        "name": "cxrkit-view-check",
        "version": time.strftime("%Y.%m.%d"),
        "feature_version": FEATURE_VERSION,
        "architecture": "standardize + logistic regression" if not args.hidden else f"standardize + MLP({args.hidden})",
        "t_flag": t_flag,
        "t_refuse": t_refuse,
        "output": "p_not_frontal: probability that the image is not a frontal chest radiograph (lateral or other)",
        "thresholds_rule": (f"t_refuse = sigmoid(max out-of-fold logit of training frontal films + {MARGIN_LOGIT}); "
                            f"t_flag = min({T_FLAG_MAX}, {1 - FLAG_LATERAL_RECALL:.2f} quantile of out-of-fold "
                            "training lateral probabilities) (5-fold grouped CV within the training part)"),
        "intended_use": "image-only fallback for PNG/JPEG or DICOM without a view tag; refuse only clear laterals / "
                        "non-chest images, flag uncertain ones (still analysed)",
        "training": {
            "command": "python -m cxrkit.qc_train " + " ".join(argv if argv is not None else sys.argv[1:]),
            "options": {"c": args.c, "hidden": args.hidden, "aug_pos": args.aug_pos, "aug_neg": args.aug_neg,
                        "kermany_train_max": args.kermany_train_max, "seed": SEED,
                        "heldout_fraction": HELDOUT_FRACTION},
            "nih_split": split_note,
            **training,
        },
        "validation": validation,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(SEED)
    items = list_items(args.data)
    split = np.array(assign_splits(items, load_nih_split(args.nih_split), kermany_train_max=args.kermany_train_max))
    train = split == "train"
    cache = _load_cache(args.cache)
    base, augs = _features_for(items, train, cache, SEED, args.aug_pos, args.aug_neg)
    _save_cache(args.cache, cache)
    ok = ~np.isnan(base).any(axis=1)
    y = np.array([it.label for it in items])
    groups = np.array([f"{it.source}:{it.group}" for it in items])
    x_nc, nc_test, nc_used = _non_chest(rng)
    tr = np.flatnonzero(train & ok)
    trainer = _Trainer(base, augs, y, np.array([it.kind for it in items]), x_nc, args)
    oof = trainer.out_of_fold(tr, groups, len(items))
    is_f, is_l = y == 0, np.array([it.kind == "lateral" for it in items])
    thresholds = choose_thresholds(oof[tr][is_f[tr]], oof[tr][is_l[tr]])
    model = trainer.fit(tr)
    p_all = np.full(len(items), np.nan)
    p_all[ok] = model.predict_proba(base[ok])
    validation = _validation(items, split, ok, p_all, oof, thresholds, nc_test, model)
    counts = Counter((it.source, it.kind, str(s)) for it, s in zip(items, split))
    training = {"counts": {f"{s} {k} {sp}": n for (s, k, sp), n in sorted(counts.items())},
                "non_chest_training": nc_used, "unreadable": int((~ok).sum())}
    saved = model.save(args.out, _card(args, argv, thresholds, training, validation))
    log.info("saved %s (t_flag %.4f, t_refuse %.4f)", args.out, saved.t_flag, saved.t_refuse)
    for k, v in validation["heldout"].items():
        log.info("heldout %-45s n=%5d refused %4d flagged+refused %4d", k, v["n"], v["refused"],
                 v["flagged_or_refused"])
    return 0
