"""Cache CAMs (all 8 ChestX-ray8 classes) and anatomy masks of the NIH box images, for fitting and evaluation.

Writes ``runs/localize_v2/cache/masks.npz`` (segmenter output, model-independent) and
``runs/localize_v2/cache/cams_<model>.npz`` (CAM of every box finding, min-max normalized as
:func:`cxrkit.explain.explain_batch` returns it), both on a ``GRID x GRID`` grid over the 512 px images, for
every image of the split file that has boxes. Rerun-safe: existing caches are reused unless ``--force``.

    nice -n 10 .venv/bin/python benchmarks/localize_cache.py --model src/cxrkit/models/weights/cxr-default-v1.card.json
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "localize_v2" / "cache"
GRID = 128

log = logging.getLogger("localize_cache")


def box_rows(ds, split_file: Path) -> list[int]:
    split = pd.read_csv(split_file, dtype={"image_id": str})
    ids = set(split.loc[split["has_boxes"].astype(str).str.lower() == "true", "image_id"])
    rows = sorted({int(r) for r in ds.boxes["row"]})
    return [r for r in rows if str(ds.meta["image_id"].iloc[r]) in ids]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "data" / "nih-cxr14")
    ap.add_argument("--split-file", type=Path, default=ROOT / "configs" / "splits" / "nih_v2.csv")
    ap.add_argument("--model", default=None, help="classifier card (default: shipped)")
    ap.add_argument("--no-masks", action="store_true")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)

    from cxrkit.data import load_dataset
    from cxrkit.localize.anatomy import masks_to_grid

    CACHE.mkdir(parents=True, exist_ok=True)
    ds = load_dataset("nih", root=args.root, images="adult_512")
    rows = box_rows(ds, args.split_file)
    ids = np.array([str(ds.meta["image_id"].iloc[r]) for r in rows])
    log.info("%d box images", len(rows))

    mpath = CACHE / "masks.npz"
    if not args.no_masks and (args.force or not mpath.is_file()):
        from cxrkit.anatomy.segment import load_segmenter

        seg = load_segmenter()
        out = {k: [] for k in ("right_lung", "left_lung", "heart")}
        shapes = []
        for i in range(0, len(rows), 16):
            pix = [ds[r].image.pixels for r in rows[i : i + 16]]
            for p, m in zip(pix, seg.predict_batch(pix)):
                g = masks_to_grid(m, (GRID, GRID))
                for k in out:
                    out[k].append(g[k])
                shapes.append(p.shape)
            log.info("masks %d/%d", i + len(pix), len(rows))
        np.savez_compressed(mpath, image_id=ids, shape=np.array(shapes), **{k: np.stack(v) for k, v in out.items()})

    from cxrkit.explain.heatmaps import explain_batch, resolve_target
    from cxrkit.localize.evaluate import BOX_FINDINGS
    from cxrkit.models.classifier import load_classifier

    clf = load_classifier(args.model)
    name = clf.card.name
    cpath = CACHE / f"cams_{name}.npz"
    if cpath.is_file() and not args.force:
        log.info("%s exists", cpath)
        return
    target = resolve_target(clf)
    target = replace(target, reported=target.outputs)
    cams, probs = [], []
    for i in range(0, len(rows), 16):
        imgs = [ds[r].image for r in rows[i : i + 16]]
        for e in explain_batch(target, imgs, list(BOX_FINDINGS), "cam", batch_size=16, max_side=GRID):
            cams.append(np.stack([e.maps[f] for f in BOX_FINDINGS]).astype(np.float16))
            probs.append([e.probabilities[f] for f in BOX_FINDINGS])
        log.info("cams %d/%d", i + len(imgs), len(rows))
    np.savez_compressed(cpath, image_id=ids, cams=np.stack(cams), probs=np.array(probs, np.float32),
                        findings=np.array(BOX_FINDINGS), model=name)


if __name__ == "__main__":
    main()
