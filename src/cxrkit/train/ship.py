"""Turn a training run into a shipped model package with an honest card.

``python -m cxrkit.train.ship --run runs/classifier --out src/cxrkit/models/weights --name cxr-default-v1``

1. rebuild the run's train/val table from its resolved config (same seed → same split);
2. load the best checkpoint, write float16 safetensors + ONNX (:func:`~cxrkit.models.package.write_model_package`);
3. run the *written ONNX model* through :class:`~cxrkit.models.classifier.Classifier` on every validation
   image read from disk (exactly the inference path) and compute, per finding tried: AUROC with a stratified
   bootstrap 95% CI (2000 resamples), AUPRC, ECE, and the same per source;
4. apply the reporting rule (:func:`select_findings`), choose operating points on the validation set, and
   write the card plus ``<name>.holdout.csv`` (the validation images, never trained on).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.fs import atomic_open
from cxrkit.train.reporting import (
    ADULT_SOURCE,
    NORMAL_CALL_BUDGET,
    RULE,
    normal_budget_thresholds,
    operating_points,
    per_view,
    select_findings,
    validate_findings,
)

__all__ = ["ship", "clean_validation_rows"]

log = logging.getLogger(__name__)


def _method(cfg: Any) -> str:
    """The training recipe in words, from the resolved config."""
    m = cfg.model
    start = (f"initialised from {Path(m.init_from).name.replace('.card.json', '')} (head rows matched by finding)"
             if m.init_from else "ImageNet EfficientNet-Lite0")
    if m.feature_cache:
        part = (f"stem + blocks 0-{m.frozen_blocks - 1} frozen and computed once with ONNX Runtime (clean + "
                f"augmented views); blocks {m.frozen_blocks}-15 + head trained")
    elif int(m.frozen_blocks) > 0:
        part = f"stem + blocks 0-{m.frozen_blocks - 1} frozen; the rest trained on augmented images"
    else:
        part = "every layer fine-tuned on augmented images (rotation, scale, shift, brightness, contrast, gamma)"
    return (f"{start}; {m.size} px input; {part}; AdamW (lr {cfg.optim.lr}, weight decay {cfg.optim.weight_decay}), "
            f"{cfg.optim.schedule} schedule, NaN-masked class-weighted BCE; best epoch by validation mean AUROC")


def _limits(table: Any, cfg: Any, name: str, n_box_val: int, n_box_train: int) -> list[str]:
    """Plain-language limits, with the run's own counts."""
    meta = table.meta
    tr = meta["split"] == "train"
    n_tr = int(tr.sum())
    per = meta[tr].groupby("source").size().to_dict()
    nih_tr = int(per.get(ADULT_SOURCE, 0))
    return [
        f"Small training set ({n_tr:,} images: " + ", ".join(f"{k} {v:,}" for k, v in sorted(per.items()))
        + f"); only {nih_tr:,} adult NIH ChestX-ray14 films were trained on (CheXNet-style models use ~78,000). "
        "Rare findings are weak; a finding is reported only if it passes the adult validation rule.",
        "NIH labels are text-mined from reports (>90% accurate by NIH's estimate): validation AUROCs carry that "
        "label noise, and the NIH validation films are a boxed, pneumonia- and normal-enriched subset, not a "
        "hospital's case mix.",
        "Adult findings are validated on NIH films only (one hospital, 1992-2015 equipment): expect lower AUROC on "
        "other sites; recalibrate the operating points on local labelled films.",
        "Pediatric films (Kermany) train and validate Pneumonia in children 1-5 years; they never decide whether "
        "an adult finding or 'No Finding' is reported.",
        "Dataset shortcut risk: COVID-19 positives come from public collections of other sites, so COVID-19 is "
        "trained but never reported.",
        "Probabilities are not calibrated (class-weighted training raises them for rare findings): use the "
        "operating points (chosen to keep false calls on normal adult films low, at the cost of sensitivity), "
        "or recalibrate on local data (ECE in the card).",
        f"{cfg.model.size} px input limits small-nodule and small-pneumothorax detection.",
        "Lateral views, CT/MR and non-chest images are out of scope; the pipeline's quality check must reject "
        "them before this model.",
        "Shortcut, cross-site and subgroup audit: run `cxrkit audit` (docs/audit.md) before trusting a finding at a "
        "new site.",
        f"NIH images with official boxes: {n_box_val} are in the hold-out (never trained on; use only those for "
        f"CAM-box evaluation, listed in {name}.holdout.csv); {n_box_train} boxed NIH images were trained on.",
    ]


def clean_validation_rows(table: Any, cfg: Any) -> tuple[np.ndarray, dict[str, int]]:
    """Validation rows the shipped weights never trained on, directly or through their starting point.

    A model fine-tuned from another package (``model.init_from``) inherits what that package trained on. Sources
    with a fixed split file were split to respect it; for every other source only the validation images that
    are also in the starting package's hold-out list (``<name>.holdout.csv``) are kept.

    Returns:
        (row positions, source → validation images dropped).
    """
    va = table.part("val")
    if not cfg.model.init_from:
        return va, {}
    import pandas as pd

    from cxrkit.train.init import _card_path

    card_path = _card_path(cfg.model.init_from)
    hold_path = card_path.with_name(card_path.name.replace(".card.json", ".holdout.csv"))
    if not hold_path.is_file():
        from cxrkit.errors import ModelError

        raise ModelError(f"{card_path.name} has no hold-out list {hold_path.name}: cannot tell which validation "
                         "images its weights trained on")
    hold = pd.read_csv(hold_path, dtype=str)
    held = set(zip(hold["source"], hold["image_id"]))
    meta = table.meta.iloc[va]
    fixed = set(cfg.data.split_files)
    keep = np.array([s in fixed or (s, str(i)) in held for s, i in zip(meta["source"], meta["image_id"])], dtype=bool)
    dropped = meta[~keep].groupby("source").size().to_dict()
    log.info("validation images dropped (trained on by %s): %s", card_path.name, dropped)
    return va[keep], {str(k): int(v) for k, v in dropped.items()}


def _validation_probs(clf: Any, meta: Any, cached: Path) -> np.ndarray:
    """The shipped ONNX model's probabilities on the validation images (cached beside the run)."""
    from cxrkit.io import read_image

    if cached.is_file():
        return np.load(cached)
    chunks = []
    for s in range(0, len(meta), 32):
        imgs = [read_image(p).pixels for p in meta["path"].iloc[s : s + 32]]
        chunks.append(clf.predict_all(imgs, batch_size=32))
    probs = np.concatenate(chunks)
    with atomic_open(cached, "wb", fsync=False) as fh:  # a cache of predictions
        np.save(fh, probs)
    return probs


def _common_card_fields(cfg: Any, ck: dict[str, Any], history: list[dict[str, Any]], name: str,
                        config_path: str | None) -> dict[str, Any]:
    """The card's ``reproduce`` command and ``training`` record (epochs, best epoch, config, method)."""
    return dict(
        reproduce=(f"cxrkit train --config {config_path or 'configs/default_classifier.yaml'} && "
                   f"python -m cxrkit.train.ship --run {cfg.run.out_dir} --out src/cxrkit/models/weights --name {name}"),
        training={"epochs_run": len(history), "best_epoch": ck["best_epoch"],
                  "best_val_mean_auroc_during_training": round(float(ck["best_metric"]), 4),
                  "history": [{k: h[k] for k in ("epoch", "train_loss", "val_mean_auroc", "seconds")} for h in history],
                  "config": cfg.to_dict(), "machine": "2 shared CPU cores (no GPU)",
                  "method": _method(cfg)},
    )


def _full_history(run: Path, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every epoch's metrics (``metrics.jsonl`` of the run when present; else the checkpoint's history)."""
    import json

    mpath = run / "metrics.jsonl"
    if not mpath.is_file():
        return history
    return [json.loads(x) for x in mpath.read_text().splitlines() if x.strip()]


def _operating_point_method(calls_per_normal: float | None, n_normal: int) -> str:
    return (
        f"reported adult findings: the larger of Youden's J point and the threshold that keeps positive calls on "
        f"'No Finding' {ADULT_SOURCE.upper()} validation films at <= {NORMAL_CALL_BUDGET} per film summed over the "
        f"reported findings (measured: {calls_per_normal if calls_per_normal is None else round(calls_per_normal, 3)} "
        f"calls per normal film, n = {n_normal}); chosen on adult films only. Others: Youden's J. "
        "Alternatives (Youden, sensitivity >= 0.9, PPV >= 0.8) under validation[f].per_source"
        "['_alternative_operating_points']; per-view (PA/AP) AUROCs under ['_per_view']")


def _validation_protocol(cfg: Any, n_val: int, n_boot: int, excluded: dict[str, int], name: str) -> str:
    return (f"Patient-level validation hold-out (seed {cfg.run.seed}; stratified per source; "
            f"fractions {cfg.data.val_fraction} per source, overrides {cfg.data.val_fraction_by_source}; "
            f"fixed split files {({k: Path(v).name for k, v in cfg.data.split_files.items()})}); "
            f"n = {n_val} images; probabilities from the shipped ONNX model on images read from "
            f"disk; AUROC 95% CI by stratified bootstrap ({n_boot} resamples, seed 0). {RULE}. "
            f"Validation images the starting weights ({cfg.model.init_from and Path(cfg.model.init_from).name}) "
            f"trained on were dropped: {excluded or 'none'}. "
            f"The hold-out image list is {name}.holdout.csv. The same hold-out also chose the best "
            "epoch and the operating points, so these numbers are optimistic compared with a fresh "
            "test set.")


def ship(run_dir: str | Path, out_dir: str | Path, name: str, *, config_path: str | None = None, n_boot: int = 2000,
         threads: int = 1, checkpoint: str = "best.pt") -> Path:
    """Write the package for the best checkpoint of ``run_dir``; returns the card path."""

    from cxrkit.models import create_model
    from cxrkit.models.card import FindingValidation, ModelCard
    from cxrkit.models.classifier import Classifier
    from cxrkit.models.package import write_model_package
    from cxrkit.train.api import transform_of
    from cxrkit.train.config import config_from_dict
    from cxrkit.train.loop import load_checkpoint

    run = Path(run_dir)
    ck = load_checkpoint(run / checkpoint)
    cfg = config_from_dict(ck["extra"]["config"])
    findings = list(ck["findings"])
    from cxrkit.train.assemble import read_table

    table = read_table(run / "data.csv", findings)
    va, excluded = clean_validation_rows(table, cfg)
    model = create_model(cfg.model.name, num_classes=len(findings), in_chans=1)
    model.load_state_dict(ck["model"])
    spec = transform_of(cfg)
    history = ck.get("history", [])
    common = _common_card_fields(cfg, ck, history, name, config_path)
    card = write_model_package(model, out_dir, name=name, architecture=cfg.model.name, labels=findings,
                               transform=spec.to_dict(), half=True, reported_findings=[], **common)
    clf = Classifier(card, threads=threads)
    meta = table.meta.iloc[va].reset_index(drop=True)
    probs = _validation_probs(clf, meta, run / f"val_probs_onnx_{(card.onnx_sha256 or 'none')[:16]}.npy")
    y = table.labels[va]
    sources = meta["source"].to_numpy().astype(str)
    val = validate_findings(y, probs, sources, findings, n_boot=n_boot, seed=0)
    sel = select_findings(val)
    reported = [f for f in findings if sel[f][0]]
    adult = sources == ADULT_SOURCE
    ya, pa = y[adult], probs[adult]
    views = per_view(ya, pa, meta["view"].to_numpy()[adult], findings, n_boot=n_boot, seed=0)
    thresholds = normal_budget_thresholds(ya, pa, findings, reported) if "No Finding" in findings else {}
    ops, alts = operating_points(y, probs, adult, findings, thresholds)
    calls = [f for f in reported if f != "No Finding" and f in ops]
    nf_rows = ya[:, findings.index("No Finding")] == 1 if "No Finding" in findings else np.zeros(len(ya), bool)
    calls_per_normal = (float(np.mean(np.sum([pa[nf_rows, findings.index(f)] >= ops[f].threshold for f in calls],
                                             axis=0))) if calls and nf_rows.any() else None)
    validation = {f: FindingValidation(n=v["n"], positives=v["positives"], auroc=v["auroc"],
                                       auroc_ci=tuple(v["auroc_ci"]), auprc=v["auprc"],
                                       per_source={**v["per_source"], "_ece": v["ece"], "_per_view": views.get(f, {}),
                                                   "_alternative_operating_points": alts.get(f, {})},
                                       reported=sel[f][0], reason=sel[f][1]) for f, v in val.items()}
    counts = table.counts()
    nih = table.meta["source"] == "nih"
    boxed = table.meta["has_boxes"].astype(bool)
    n_box = {s: int((nih & boxed & (table.meta["split"] == s)).sum()) for s in ("val", "train")}
    full_history = _full_history(run, history)
    common["training"]["history"] = [{k: h[k] for k in ("epoch", "train_loss", "val_mean_auroc", "seconds")}
                                     for h in full_history]
    common["training"]["epochs_run"] = len(full_history)
    hold = meta[["image_id", "source", "patient_id", "has_boxes"]]
    with atomic_open(Path(out_dir) / f"{name}.holdout.csv", "w", newline="") as fh:
        hold.to_csv(fh, index=False)
    d = card.to_dict()
    d["training"] = common["training"]
    d.update(
        reported_findings=reported,
        operating_points={f: ops[f] for f in findings if f in ops},
        operating_point_method=_operating_point_method(calls_per_normal, int(nf_rows.sum())),
        validation=validation,
        validation_protocol=_validation_protocol(cfg, len(va), n_boot, excluded, name),
        training_data=counts.to_dict("records"),
        intended_use=("Research, education and software testing of chest X-ray pipelines on frontal (PA/AP) "
                      "radiographs. Not a medical device; probabilities are not a diagnosis and must not guide care."),
        limits=_limits(table, cfg, name, n_box["val"], n_box["train"]),
    )
    final = ModelCard.from_dict({k: v for k, v in d.items()}, path=None)
    path = final.save(Path(out_dir) / f"{name}.card.json")
    ModelCard.load(path)  # verify
    log.info("wrote %s: reported %s", path, reported)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="write a model package from a training run")
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--config", help="config path to name in the reproduce command")
    ap.add_argument("--checkpoint", default="best.pt")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    path = ship(args.run, args.out, args.name, config_path=args.config, n_boot=args.n_boot, threads=args.threads,
                checkpoint=args.checkpoint)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
