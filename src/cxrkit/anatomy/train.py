"""Train the compact anatomy U-Net on JSRT/SCR through the one training loop (:func:`cxrkit.train.loop.fit`).

The data come from the ``jsrt`` adapter (``load_dataset("jsrt", require_masks=True)``) and its held-out fold
(:func:`cxrkit.data.adapters.jsrt.anatomy_split`); inputs go through the segmenter's own transform
(:func:`cxrkit.anatomy.preprocess.to_model_input`), cached once as uint8. This module supplies what is
specific to segmentation: the batch source (inputs and masks warped together, :func:`augment`), the loss
(:func:`dice_bce_loss`) and the validation (:func:`dice_validation`, mean Dice of the five structures).

Run (background, CPU)::

    nohup nice -n 5 .venv/bin/python -m cxrkit.anatomy.train --root ../shared/data/jsrt-scr \\
        --out runs/anatomy --epochs 50 --full-size-from 30 --threads 1 > runs/anatomy/train.out 2>&1 &

Every epoch writes ``OUT/last.pt`` and ``OUT/best.pt`` (best validation mean Dice among full-size epochs) and a
line of ``OUT/metrics.jsonl``; rerunning the same command resumes from ``last.pt``. ``--max-minutes`` stops
cleanly after the current epoch once the wall-time budget is spent. Progressive resizing: epochs before
``--full-size-from`` run at half resolution (4x cheaper on CPU; the network is fully convolutional).
Schedule: AdamW (weight decay 1e-4), linear warm-up over the first 20 steps, then cosine to zero.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from cxrkit.anatomy.preprocess import resize_mask, to_model_input
from cxrkit.anatomy.unet import STRUCTURES, CompactUNet
from cxrkit.data.dataset import Dataset
from cxrkit.errors import DataFormatError
from cxrkit.fs import atomic_path, atomic_write_text
from cxrkit.train.config import OptimConfig
from cxrkit.train.loop import FitResult, Validation, Validator, fit
from cxrkit.train.sources import BatchSource

__all__ = ["build_cache", "augment", "dice_bce_loss", "SegmentationSource", "dice_validation", "train", "main"]

log = logging.getLogger(__name__)


def build_cache(ds: Dataset, ids: list[str], size: int, path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Decode and preprocess rows of a JSRT dataset once: ``x`` uint8 ``(N, S, S)``, ``y`` uint8
    ``(N, 5, S, S)`` coverage*255, ``ids`` the image ids (rows of ``ds`` whose ``image_id`` is in ``ids``, in
    that order; every row needs all five masks).

    With ``path``, the arrays are stored as ``.npz`` and reused when the ids and size match.
    """
    if path is not None and Path(path).is_file():
        data = np.load(path)
        if list(data["ids"]) == list(ids) and data["x"].shape[-1] == size:
            return {k: data[k] for k in ("x", "y", "ids")}
    row_of = {str(c): i for i, c in enumerate(ds.meta["image_id"])}
    xs = np.zeros((len(ids), size, size), np.uint8)
    ys = np.zeros((len(ids), len(STRUCTURES), size, size), np.uint8)
    for i, cid in enumerate(ids):
        sample = ds[row_of[cid]]
        if sample.image is None or sample.masks is None:
            raise DataFormatError(f"JSRT row {cid} has no image or no masks")
        xs[i] = np.rint(to_model_input(sample.image.pixels, size) * 255)
        for j, s in enumerate(STRUCTURES):
            ys[i, j] = np.rint(resize_mask(sample.masks[s], size) * 255)
    out = {"x": xs, "y": ys, "ids": np.array(ids)}
    if path is not None:
        with atomic_path(path, suffix=".tmp.npz") as tmp:
            np.savez_compressed(tmp, x=out["x"], y=out["y"], ids=out["ids"])
    return out


def augment(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random geometry (rotation +-10 deg, scale 0.85-1.15 per axis, shift +-8 %) and tone (gamma, noise, blur).

    ``x`` (N, 1, S, S) in [0, 1], ``y`` (N, C, S, S) coverage in [0, 1]; the same warp is applied to both.
    No horizontal flip: the anatomy is not left/right symmetric.
    """
    n = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    ang = u(-10, 10) * math.pi / 180
    sx, sy = u(0.85, 1.15), u(0.85, 1.15)
    tx, ty = u(-0.08, 0.08), u(-0.08, 0.08)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack(
        [torch.stack([cos / sx, -sin / sx, tx], 1), torch.stack([sin / sy, cos / sy, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # pad with the image's own border tone (equalized background is near 0 or 1): use reflection
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    y = F.grid_sample(y, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gamma = torch.exp(u(-0.4, 0.4)).view(n, 1, 1, 1)
    x = x.clamp(1e-4, 1) ** gamma
    blur = torch.rand(n, generator=gen) < 0.2
    if blur.any():
        x[blur] = F.avg_pool2d(x[blur], 3, stride=1, padding=1, count_include_pad=False)
    noise = u(0, 0.04).view(n, 1, 1, 1)
    x = x + noise * torch.randn(x.shape, generator=gen)
    return x.clamp(0, 1), y


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over channels of (BCE + 1 - soft Dice), Dice summed over the batch per channel."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(0, 2, 3))
    denom = p.sum(dim=(0, 2, 3)) + target.sum(dim=(0, 2, 3))
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return bce + (1 - dice).mean()


@torch.no_grad()
def _val_dice(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 8, size: int | None = None) -> list[float]:
    model.eval()
    if size is not None and size != x.shape[-1]:
        xt = F.interpolate(torch.from_numpy(x).float().unsqueeze(1), size=(size, size), mode="area")
        x = xt.squeeze(1).round().numpy().astype(np.uint8)
        yt = F.interpolate(torch.from_numpy(y).float(), size=(size, size), mode="area")
        y = yt.round().numpy().astype(np.uint8)
    inter = np.zeros(len(STRUCTURES))
    total = np.zeros(len(STRUCTURES))
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i : i + batch]).float().div(255).unsqueeze(1)
        pred = (model(xb) > 0).numpy()
        tgt = y[i : i + batch] >= 128
        inter += (pred & tgt).sum(axis=(0, 2, 3))
        total += pred.sum(axis=(0, 2, 3)) + tgt.sum(axis=(0, 2, 3))
    return list(2 * inter / np.maximum(total, 1))


@dataclass
class SegmentationSource:
    """Cached inputs ``images`` uint8 ``(N, S, S)`` and targets ``labels`` uint8 ``(N, C, S, S)`` (coverage*255).

    Training batches are warped together (:func:`augment`, seeded by ``(seed, epoch, first row)``) and, for
    epochs before ``full_size_from``, area-averaged to half size.
    """

    images: np.ndarray
    labels: np.ndarray
    seed: int = 0
    full_size_from: int = 0

    def size_at(self, epoch: int) -> int:
        """Side of the training batches in ``epoch`` (0-based)."""
        size = int(self.images.shape[-1])
        return size if epoch >= self.full_size_from else size // 2

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor:
        return self.get_pair(idx, epoch=epoch, train=train)[0]

    def get_pair(self, idx: np.ndarray, *, epoch: int, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.asarray(idx)
        x = torch.from_numpy(self.images[idx]).float().div(255).unsqueeze(1)
        y = torch.from_numpy(self.labels[idx]).float().div(255)
        if not train:
            return x, y
        s = self.size_at(epoch)
        if s != x.shape[-1]:
            x = F.interpolate(x, size=(s, s), mode="area")
            y = F.interpolate(y, size=(s, s), mode="area")
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch * 7919 + int(idx[0]))
        return augment(x, y, gen)


def dice_validation(full_size_from: int = 0) -> Validator:
    """Validation of a :class:`SegmentationSource`: Dice per structure at the epoch's training size; the metric
    is their mean at full size (NaN during the half-size epochs, which therefore never give ``best.pt``)."""

    def validate(module: nn.Module, source: BatchSource, rows: np.ndarray, *, epoch: int, device: torch.device,
                 batch_size: int) -> Validation:
        if not isinstance(source, SegmentationSource):
            raise TypeError(f"dice_validation needs a SegmentationSource, got {type(source).__name__}")
        size = int(source.images.shape[-1])
        s_ep = size if epoch >= full_size_from else size // 2
        vd = _val_dice(module, source.images[rows], source.labels[rows], size=s_ep)
        dice = dict(zip(STRUCTURES, [round(v, 4) for v in vd], strict=True))
        metric = float(np.mean(vd)) if s_ep == size else float("nan")
        return Validation(metric, {"size": s_ep, "val_dice": dice}, {"val_dice": dice})

    return validate


def train(
    root: str | Path,
    out: str | Path,
    *,
    epochs: int = 40,
    size: int = 256,
    full_size_from: int = 0,
    batch: int = 8,
    lr: float = 3e-3,
    seed: int = 0,
    threads: int = 2,
    max_minutes: float | None = None,
    max_steps_per_epoch: int | None = None,
    ids: list[str] | None = None,
    widths: tuple[int, ...] | None = None,
) -> FitResult:
    """Train (or resume) the segmenter with :func:`cxrkit.train.loop.fit`; see the module docstring.

    Args:
        root: JSRT/SCR folder (``images/``, ``masks/<structure>/``).
        out: run folder (checkpoints, ``metrics.jsonl``, ``split.json``, input caches).
        epochs / batch / lr / seed: the schedule; ``max_steps_per_epoch`` caps steps (smoke runs, tests).
        size: input side; epochs before ``full_size_from`` train at ``size // 2``.
        threads: torch intra-op threads.
        max_minutes: stop after the epoch that spends this wall-time budget (rerun to resume).
        ids: restrict to these image ids (default: every image with all five masks).
        widths: U-Net channel widths (default the shipped model's).
    """
    from cxrkit.data import load_dataset
    from cxrkit.data.adapters.jsrt import anatomy_split

    torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset("jsrt", root=str(root), require_masks=True)
    all_ids = [str(c) for c in ds.meta["image_id"]] if ids is None else list(ids)
    split = anatomy_split(all_ids)
    if not split["val"]:
        raise DataFormatError(f"no validation image among the {len(all_ids)} JSRT ids (the fold needs some)")
    tr = build_cache(ds, split["train"], size, out / f"cache_train_{size}.npz")
    va = build_cache(ds, split["val"], size, out / f"cache_val_{size}.npz")
    atomic_write_text(out / "split.json", json.dumps(split, indent=1))
    with torch.random.fork_rng(devices=[]):  # seeded weight init without changing the caller's global RNG
        torch.manual_seed(seed)
        model = CompactUNet() if widths is None else CompactUNet(widths=tuple(widths))
    steps = max(1, len(tr["x"]) // batch)
    if max_steps_per_epoch:
        steps = min(steps, max_steps_per_epoch)
    cfg = OptimConfig(epochs=epochs, batch_size=batch, lr=lr, weight_decay=1e-4, schedule="cosine",
                      warmup_fraction=min(0.5, 20 / (steps * epochs)), patience=epochs, class_weighting="none",
                      max_steps_per_epoch=max_steps_per_epoch)
    return fit(model, SegmentationSource(tr["x"], tr["y"], seed=seed, full_size_from=full_size_from),
               SegmentationSource(va["x"], va["y"], seed=seed, full_size_from=full_size_from),
               optim_cfg=cfg, out_dir=out, seed=seed, resume=True, loss=dice_bce_loss,
               validate=dice_validation(full_size_from), max_minutes=max_minutes,
               extra={"task": "segmentation", "structures": list(STRUCTURES), "size": size,
                      "full_size_from": full_size_from, "split": split})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="JSRT/SCR folder (images/, masks/)")
    ap.add_argument("--out", default="runs/anatomy")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--full-size-from", type=int, default=0, help="first epoch (0-based) at full size")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--max-steps-per-epoch", type=int, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train(args.root, args.out, epochs=args.epochs, size=args.size, full_size_from=args.full_size_from,
          batch=args.batch, lr=args.lr, seed=args.seed, threads=args.threads, max_minutes=args.max_minutes,
          max_steps_per_epoch=args.max_steps_per_epoch)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
