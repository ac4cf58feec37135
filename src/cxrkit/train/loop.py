"""The training loop: AdamW + warm-up/cosine (or one-cycle) schedule, NaN-masked class-weighted BCE,
per-epoch validation AUROC, early stopping, atomic checkpoints and resume after a kill.

Data come from *batch sources* (:class:`ImageSource`, :class:`FeatureSource`, :class:`TensorSource`): each
knows its label matrix and turns row indices into an input tensor, so one loop serves full training on
images and the frozen-trunk mode on cached features. Every random draw comes from a generator seeded by
``(seed, epoch)``, so a resumed run sees the same batches as an uninterrupted one.

Files in ``out_dir``: ``last.pt`` (every epoch), ``best.pt`` (best validation mean AUROC),
``metrics.jsonl`` (one JSON object per epoch), ``config.yaml`` (the resolved config).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from cxrkit.data.transforms import TransformSpec
from cxrkit.errors import DataFormatError, ModelError
from cxrkit.fs import atomic_path
from cxrkit.train.augment import AugmentConfig, augment_batch
from cxrkit.train.cache import intensity_tensor
from cxrkit.train.config import OptimConfig
from cxrkit.train.losses import batch_balance_weights, class_balance_weights, masked_weighted_bce

__all__ = ["BatchSource", "ImageSource", "FeatureSource", "TensorSource", "FitResult", "fit", "predict_source",
           "lr_lambda", "save_checkpoint", "load_checkpoint"]

log = logging.getLogger(__name__)


class BatchSource(Protocol):
    """Rows with labels; ``get`` turns row indices into a model input batch."""

    labels: np.ndarray

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor: ...


@dataclass
class TensorSource:
    """In-memory inputs ``x`` ``(N, ...)`` float32 and labels ``(N, K)`` (tests, small data)."""

    x: torch.Tensor
    labels: np.ndarray

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor:
        return self.x[torch.as_tensor(idx, dtype=torch.long)]


@dataclass
class ImageSource:
    """uint8 image cache ``(N, S, S)`` → augmented (train) model inputs in the card's intensity convention."""

    images: np.ndarray
    labels: np.ndarray
    spec: TransformSpec
    seed: int = 0
    aug: AugmentConfig | None = field(default_factory=AugmentConfig)

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor:
        x = torch.from_numpy(np.asarray(self.images[idx])).float()[:, None] / 255.0
        if train and self.aug is not None:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch * 7919 + int(idx[0]))
            x = augment_batch(x, g, self.aug)
        return intensity_tensor(x, self.spec)


@dataclass
class FeatureSource:
    """Cached trunk features: ``views[i]`` lists the feature rows of data row ``i`` (view 0 first)."""

    features: np.ndarray
    views: list[list[int]]
    labels: np.ndarray
    seed: int = 0

    def get(self, idx: np.ndarray, *, epoch: int, train: bool) -> torch.Tensor:
        if train:
            rng = np.random.default_rng([self.seed, epoch, int(idx[0])])
            rows = [self.views[i][int(rng.integers(len(self.views[i])))] for i in idx]
        else:
            rows = [self.views[i][0] for i in idx]
        order = np.argsort(rows)
        feats = np.asarray(self.features[np.asarray(rows)[order]])
        out = np.empty_like(feats)
        out[order] = feats
        return torch.from_numpy(out.astype(np.float32))


@dataclass
class FitResult:
    """What :func:`fit` did: best epoch and metric, per-epoch history, checkpoint paths."""

    best_epoch: int
    best_metric: float
    history: list[dict[str, Any]]
    best_path: Path
    last_path: Path
    stopped_early: bool


def lr_lambda(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total``."""
    total = max(1, total)
    if schedule == "onecycle":  # PyTorch OneCycleLR shape: cosine up from lr/25, cosine down to ~0
        peak = max(1, warmup)
        if step < peak:
            return 0.04 + 0.96 * (1 - math.cos(math.pi * step / peak)) / 2
        t = min(1.0, (step - peak) / max(1, total - peak))
        return 1e-4 + (1 - 1e-4) * (1 + math.cos(math.pi * t)) / 2
    if step < warmup:
        return (step + 1) / max(1, warmup)
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1 + math.cos(math.pi * t))


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file, then rename: a kill never leaves a half-written checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        ModelError: missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several untyped errors for corrupt files
        raise ModelError(f"cannot read checkpoint {path}: {exc}") from exc


@torch.no_grad()
def predict_source(module: nn.Module, source: BatchSource, rows: np.ndarray, *, batch_size: int = 64,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Sigmoid probabilities ``(len(rows), K)`` of ``module`` on rows of ``source`` (eval mode)."""
    was = module.training
    module.eval()
    out = []
    for s in range(0, len(rows), batch_size):
        x = source.get(rows[s : s + batch_size], epoch=0, train=False).to(device)
        out.append(torch.sigmoid(module(x).float()).cpu().numpy())
    module.train(was)
    return np.concatenate(out) if out else np.zeros((0, source.labels.shape[1]), dtype=np.float32)


def _aurocs(labels: np.ndarray, probs: np.ndarray, findings: Sequence[str]) -> dict[str, float]:
    from cxrkit.evaluate.classification import auroc

    return {f: auroc(labels[:, j], probs[:, j], warn=False) for j, f in enumerate(findings)}


def fit(
    module: nn.Module,
    train_source: BatchSource,
    val_source: BatchSource,
    *,
    findings: Sequence[str],
    optim_cfg: OptimConfig,
    out_dir: str | Path,
    seed: int = 0,
    save_model: nn.Module | None = None,
    frozen: Sequence[nn.Module] = (),
    resume: bool = False,
    progress: bool = False,
    extra: dict[str, Any] | None = None,
    train_rows: np.ndarray | None = None,
    val_rows: np.ndarray | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> FitResult:
    """Train ``module`` with early stopping on validation mean AUROC.

    Args:
        module: what runs forward on the sources' batches (may be a DDP wrapper or a top-only view).
        train_source / val_source: batch sources (labels ``(N, K)`` with 1 / 0 / NaN).
        findings: K names (metrics keys).
        optim_cfg: optimiser / schedule / stopping settings.
        out_dir: checkpoints, ``metrics.jsonl``.
        seed: seeds batch order and augmentation.
        save_model: the full model whose ``state_dict`` goes into checkpoints (default ``module``).
        frozen: modules kept in eval mode with no gradient (frozen BatchNorm statistics).
        resume: continue from ``out_dir/last.pt`` when it exists.
        progress: tqdm bars.
        extra: JSON-able data stored in every checkpoint (config, findings, transform...).
        train_rows / val_rows: row subsets of the sources (default all rows).
        rank / world_size: DDP process index and count; batches are sharded by rank, only rank 0 writes.

    Returns:
        :class:`FitResult`.
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    save_model = save_model if save_model is not None else module
    device = next(save_model.parameters()).device
    tr_rows = np.arange(len(train_source.labels)) if train_rows is None else np.asarray(train_rows)
    va_rows = np.arange(len(val_source.labels)) if val_rows is None else np.asarray(val_rows)
    if len(tr_rows) == 0 or len(va_rows) == 0:
        raise DataFormatError(f"empty training ({len(tr_rows)}) or validation ({len(va_rows)}) set")
    y_train = np.asarray(train_source.labels, dtype=np.float32)
    y_val = np.asarray(val_source.labels, dtype=np.float32)[va_rows]
    w_pos = w_neg = None
    if optim_cfg.class_weighting == "dataset":
        wp, wn = class_balance_weights(y_train[tr_rows])
        w_pos, w_neg = torch.from_numpy(wp).to(device), torch.from_numpy(wn).to(device)
    for m in frozen:
        for p in m.parameters():
            p.requires_grad_(False)
    params = [p for p in save_model.parameters() if p.requires_grad]
    if not params:
        raise ModelError("nothing to train: every parameter is frozen")
    opt = torch.optim.AdamW(params, lr=float(optim_cfg.lr), weight_decay=float(optim_cfg.weight_decay))
    bs = int(optim_cfg.batch_size)
    per_rank = len(tr_rows) // world_size
    steps_per_epoch = max(1, per_rank // bs)
    if optim_cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, int(optim_cfg.max_steps_per_epoch))
    total = steps_per_epoch * int(optim_cfg.epochs)
    warmup = int(round(float(optim_cfg.warmup_fraction) * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, total, warmup, optim_cfg.schedule))
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    start_epoch, best, best_epoch, bad, history = 0, -math.inf, -1, 0, []
    last_path, best_path = out / "last.pt", out / "best.pt"
    if resume and last_path.is_file():
        ck = load_checkpoint(last_path)
        save_model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        if use_amp and ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        start_epoch, best, best_epoch, bad = ck["epoch"] + 1, ck["best_metric"], ck["best_epoch"], ck["bad_epochs"]
        history = list(ck.get("history", []))
        log.info("resumed from %s at epoch %d (best %.4f at epoch %d)", last_path, start_epoch, best, best_epoch)
    stopped = False
    if start_epoch > 0 and bad >= int(optim_cfg.patience):
        stopped = True
    for epoch in range(start_epoch, int(optim_cfg.epochs)):
        if stopped:
            break
        t0 = time.time()
        module.train()
        for m in frozen:
            m.eval()
        perm = tr_rows[np.random.default_rng([seed, epoch]).permutation(len(tr_rows))]
        perm = perm[rank * per_rank : (rank + 1) * per_rank]
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}", disable=not progress or rank != 0, mininterval=10)
        for step in bar:
            idx = perm[step * bs : (step + 1) * bs]
            x = train_source.get(idx, epoch=epoch, train=True).to(device)
            y = torch.from_numpy(y_train[idx]).to(device)
            if optim_cfg.class_weighting == "batch":
                w_pos, w_neg = batch_balance_weights(y)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                logits = module(x)
            loss = masked_weighted_bce(logits.float(), y, w_pos, w_neg)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            losses.append(float(loss.detach()))
            if progress and rank == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        probs = predict_source(module, val_source, va_rows, batch_size=max(bs, 64), device=device)
        aucs = _aurocs(y_val, probs, findings)
        valid = [v for v in aucs.values() if np.isfinite(v)]
        metric = float(np.mean(valid)) if valid else float("nan")
        val_loss = float(masked_weighted_bce(torch.logit(torch.from_numpy(probs).clamp(1e-6, 1 - 1e-6)),
                                             torch.from_numpy(y_val)))
        improved = np.isfinite(metric) and metric > best + 1e-4
        if improved:
            best, best_epoch, bad = metric, epoch, 0
        else:
            bad += 1
        rec = {"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": val_loss, "val_mean_auroc": metric,
               "val_auroc": aucs, "lr": float(sched.get_last_lr()[0]), "seconds": round(time.time() - t0, 1),
               "steps": steps_per_epoch, "best_epoch": best_epoch}
        history.append(rec)
        if rank == 0:
            payload = {"model": save_model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                       "scaler": scaler.state_dict() if use_amp else None, "epoch": epoch, "best_metric": best,
                       "best_epoch": best_epoch, "bad_epochs": bad, "history": history, "findings": list(findings),
                       "val_probs": probs, "extra": extra or {}}
            save_checkpoint(last_path, payload)
            if improved:
                save_checkpoint(best_path, payload)
            with open(out / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            log.info("epoch %d: train loss %.4f, val mean AUROC %.4f (best %.4f @ %d), %.0fs", epoch,
                     rec["train_loss"], metric, best, best_epoch, rec["seconds"])
        if bad >= int(optim_cfg.patience):
            stopped = True
            log.info("early stop: no improvement for %d epochs", bad)
    return FitResult(best_epoch=best_epoch, best_metric=best, history=history, best_path=best_path,
                     last_path=last_path, stopped_early=stopped)
