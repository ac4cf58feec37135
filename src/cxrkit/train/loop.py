"""The one training loop: AdamW + warm-up/cosine (or one-cycle) schedule, a loss and a validation metric
passed in, early stopping, atomic checkpoints and resume after a kill.

Data come from *batch sources* (:mod:`cxrkit.train.sources`: :class:`ImageSource`, :class:`FeatureSource`,
:class:`TensorSource`, or a :class:`PairSource` such as the anatomy segmenter's, whose targets are augmented
with the inputs): each knows
its targets (``labels``) and turns row indices into an input tensor, so one loop serves full training on
images, the frozen-trunk mode on cached features and segmentation. Every random draw comes from a generator
seeded by ``(seed, epoch)``, so a resumed run sees the same batches as an uninterrupted one.

The defaults train a classifier: NaN-masked class-weighted BCE (:func:`bce_loss`) and validation mean AUROC
(:func:`auroc_validation`). Pass ``loss=`` and ``validate=`` for another task (e.g.
:mod:`cxrkit.anatomy.train`: BCE + soft Dice, validation Dice).

Files in ``out_dir``: ``last.pt`` (every epoch), ``best.pt`` (best validation metric),
``metrics.jsonl`` (one JSON object per epoch), ``config.yaml`` (the resolved config).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from cxrkit.errors import DataFormatError, ModelError
from cxrkit.fs import atomic_path
from cxrkit.train.config import OptimConfig
from cxrkit.train.losses import batch_balance_weights, class_balance_weights, masked_weighted_bce
from cxrkit.train.sources import BatchSource, FeatureSource, ImageSource, PairSource, TensorSource, batch_of

__all__ = ["BatchSource", "PairSource", "ImageSource", "FeatureSource", "TensorSource", "FitResult", "Validation",
           "Validator", "LossFn", "fit", "bce_loss", "auroc_validation", "predict_source", "lr_lambda",
           "save_checkpoint", "load_checkpoint"]

log = logging.getLogger(__name__)


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(outputs, targets)`` → scalar tensor to minimise."""


@dataclass
class Validation:
    """One epoch's validation.

    Attributes:
        metric: higher is better; it picks ``best.pt`` and drives early stopping (NaN: this epoch cannot be best).
        record: joins the epoch's line in ``metrics.jsonl`` (after ``epoch`` and ``train_loss``).
        checkpoint: joins the checkpoint payload (e.g. validation predictions).
    """

    metric: float
    record: dict[str, Any]
    checkpoint: dict[str, Any] = field(default_factory=dict)


class Validator(Protocol):
    """Scores ``module`` on ``rows`` of ``source`` after epoch ``epoch`` (0-based)."""

    def __call__(self, module: nn.Module, source: BatchSource, rows: np.ndarray, *, epoch: int,
                 device: torch.device, batch_size: int) -> Validation: ...


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


def bce_loss(class_weighting: str, train_labels: np.ndarray, device: torch.device | str = "cpu") -> LossFn:
    """The classifier's loss: NaN-masked BCE, positives/negatives weighted per ``class_weighting``.

    Args:
        class_weighting: "dataset" (weights from ``train_labels`` counts), "batch" (from each batch) or "none".
        train_labels: ``(N, K)`` training labels (1 / 0 / NaN) of the rows trained on.
        device: where the dataset weights live.
    """
    w_pos = w_neg = None
    if class_weighting == "dataset":
        wp, wn = class_balance_weights(np.asarray(train_labels, dtype=np.float32))
        w_pos, w_neg = torch.from_numpy(wp).to(device), torch.from_numpy(wn).to(device)

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        wp_, wn_ = batch_balance_weights(y) if class_weighting == "batch" else (w_pos, w_neg)
        return masked_weighted_bce(logits.float(), y, wp_, wn_)

    return loss


def auroc_validation(findings: Sequence[str]) -> Validator:
    """The classifier's validation: mean AUROC over ``findings`` (NaN-free ones), validation BCE, and the
    validation probabilities in the checkpoint (``val_probs``, used to pick operating points).

    Raises:
        DataFormatError: no findings (the AUROCs need their names).
    """
    if not findings:
        raise DataFormatError("the default validation (mean AUROC) needs the findings' names")

    def validate(module: nn.Module, source: BatchSource, rows: np.ndarray, *, epoch: int, device: torch.device,
                 batch_size: int) -> Validation:
        probs = predict_source(module, source, rows, batch_size=batch_size, device=device)
        y_val = np.asarray(source.labels, dtype=np.float32)[rows]
        aucs = _aurocs(y_val, probs, findings)
        valid = [v for v in aucs.values() if np.isfinite(v)]
        metric = float(np.mean(valid)) if valid else float("nan")
        val_loss = float(masked_weighted_bce(torch.logit(torch.from_numpy(probs).clamp(1e-6, 1 - 1e-6)),
                                             torch.from_numpy(y_val)))
        return Validation(metric, {"val_loss": val_loss, "val_mean_auroc": metric, "val_auroc": aucs},
                          {"val_probs": probs})

    return validate


@dataclass
class _State:
    """Where a fit stands: next epoch, best metric so far and its epoch, epochs without improvement, history."""

    epoch: int = 0
    best: float = -math.inf
    best_epoch: int = -1
    bad: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def update(self, epoch: int, metric: float) -> bool:
        """Count ``epoch``'s validation ``metric``; True when it is the new best (by more than 1e-4)."""
        improved = bool(np.isfinite(metric) and metric > self.best + 1e-4)
        if improved:
            self.best, self.best_epoch, self.bad = metric, epoch, 0
        else:
            self.bad += 1
        return improved


@dataclass
class _Run:
    """Optimiser, schedule and step plan of one :func:`fit`."""

    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    use_amp: bool
    device: torch.device
    batch_size: int
    per_rank: int
    steps_per_epoch: int

    @classmethod
    def build(cls, save_model: nn.Module, frozen: Sequence[nn.Module], cfg: OptimConfig, n_rows: int,
              world_size: int, device: torch.device) -> _Run:
        for m in frozen:
            for p in m.parameters():
                p.requires_grad_(False)
        params = [p for p in save_model.parameters() if p.requires_grad]
        if not params:
            raise ModelError("nothing to train: every parameter is frozen")
        opt = torch.optim.AdamW(params, lr=float(cfg.lr), weight_decay=float(cfg.weight_decay))
        bs = int(cfg.batch_size)
        per_rank = n_rows // world_size
        steps = max(1, per_rank // bs)
        if cfg.max_steps_per_epoch:
            steps = min(steps, int(cfg.max_steps_per_epoch))
        total = steps * int(cfg.epochs)
        warmup = int(round(float(cfg.warmup_fraction) * total))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, total, warmup, cfg.schedule))
        use_amp = device.type == "cuda"
        return cls(opt, sched, torch.amp.GradScaler("cuda", enabled=use_amp), use_amp, device, bs, per_rank, steps)

    def resume(self, save_model: nn.Module, last_path: Path) -> _State:
        """Load ``last_path`` into the model, optimiser, schedule (and scaler); the state to continue from."""
        ck = load_checkpoint(last_path)
        save_model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        if self.use_amp and ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        state = _State(ck["epoch"] + 1, ck["best_metric"], ck["best_epoch"], ck["bad_epochs"],
                       list(ck.get("history", [])))
        log.info("resumed from %s at epoch %d (best %.4f at epoch %d)", last_path, state.epoch, state.best,
                 state.best_epoch)
        return state

    def checkpoint(self, save_model: nn.Module) -> dict[str, Any]:
        """Model and optimiser part of a checkpoint payload."""
        return {"model": save_model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "scaler": self.scaler.state_dict() if self.use_amp else None}

    def train_epoch(self, module: nn.Module, frozen: Sequence[nn.Module], source: BatchSource, perm: np.ndarray,
                    loss: LossFn, *, epoch: int, show: bool) -> list[float]:
        """One epoch of steps over ``perm`` (this rank's shuffled rows); the per-step losses."""
        from tqdm.auto import tqdm

        module.train()
        for m in frozen:
            m.eval()
        losses: list[float] = []
        bs = self.batch_size
        bar = tqdm(range(self.steps_per_epoch), desc=f"epoch {epoch}", disable=not show, mininterval=10)
        for step in bar:
            x, y = batch_of(source, perm[step * bs : (step + 1) * bs], epoch=epoch, train=True)
            x, y = x.to(self.device), y.to(self.device)
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp):
                logits = module(x)
            step_loss = loss(logits.float(), y)
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(step_loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self.sched.step()
            losses.append(float(step_loss.detach()))
            if show:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        return losses


def _write_epoch(out: Path, payload: dict[str, Any], rec: dict[str, Any], improved: bool) -> None:
    save_checkpoint(out / "last.pt", payload)
    if improved:
        save_checkpoint(out / "best.pt", payload)
    with open(out / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")


def fit(
    module: nn.Module, train_source: BatchSource, val_source: BatchSource, *,
    findings: Sequence[str] = (), optim_cfg: OptimConfig, out_dir: str | Path, seed: int = 0,
    save_model: nn.Module | None = None, frozen: Sequence[nn.Module] = (), resume: bool = False,
    progress: bool = False, extra: dict[str, Any] | None = None,
    train_rows: np.ndarray | None = None, val_rows: np.ndarray | None = None, rank: int = 0, world_size: int = 1,
    loss: LossFn | None = None, validate: Validator | None = None, max_minutes: float | None = None,
) -> FitResult:
    """Train ``module`` with early stopping on a validation metric (default: mean AUROC).

    Args:
        module: what runs forward on the sources' batches (may be a DDP wrapper or a top-only view).
        train_source / val_source: batch sources (classification: labels ``(N, K)`` with 1 / 0 / NaN).
        findings: K names (metrics keys of the default validation; stored in checkpoints).
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
        loss: ``loss(outputs, targets)`` (default :func:`bce_loss` with ``optim_cfg.class_weighting``).
        validate: the per-epoch :class:`Validator` (default :func:`auroc_validation` over ``findings``).
        max_minutes: stop after the epoch during which this much wall time was spent (resume continues).

    Returns:
        :class:`FitResult`.
    """
    out = Path(out_dir)
    save_model = save_model if save_model is not None else module
    device = next(save_model.parameters()).device
    tr_rows = np.arange(len(train_source.labels)) if train_rows is None else np.asarray(train_rows)
    va_rows = np.arange(len(val_source.labels)) if val_rows is None else np.asarray(val_rows)
    if len(tr_rows) == 0 or len(va_rows) == 0:
        raise DataFormatError(f"empty training ({len(tr_rows)}) or validation ({len(va_rows)}) set")
    loss = loss or bce_loss(optim_cfg.class_weighting, np.asarray(train_source.labels)[tr_rows], device)
    validate = validate or auroc_validation(findings)
    run = _Run.build(save_model, frozen, optim_cfg, len(tr_rows), world_size, device)
    last_path, best_path = out / "last.pt", out / "best.pt"
    state = run.resume(save_model, last_path) if resume and last_path.is_file() else _State()
    stopped = state.epoch > 0 and state.bad >= int(optim_cfg.patience)
    t_start = time.time()
    for epoch in range(state.epoch, int(optim_cfg.epochs)):
        if stopped:
            break
        t0 = time.time()
        perm = tr_rows[np.random.default_rng([seed, epoch]).permutation(len(tr_rows))]
        perm = perm[rank * run.per_rank : (rank + 1) * run.per_rank]
        losses = run.train_epoch(module, frozen, train_source, perm, loss, epoch=epoch,
                                 show=progress and rank == 0)
        val = validate(module, val_source, va_rows, epoch=epoch, device=device, batch_size=max(run.batch_size, 64))
        improved = state.update(epoch, float(val.metric))
        rec = {"epoch": epoch, "train_loss": float(np.mean(losses)), **val.record,
               "lr": float(run.sched.get_last_lr()[0]), "seconds": round(time.time() - t0, 1),
               "steps": run.steps_per_epoch, "best_epoch": state.best_epoch}
        state.history.append(rec)
        if rank == 0:
            payload = {**run.checkpoint(save_model), "epoch": epoch, "best_metric": state.best,
                       "best_epoch": state.best_epoch, "bad_epochs": state.bad, "history": state.history,
                       "findings": list(findings), **val.checkpoint, "extra": extra or {}}
            _write_epoch(out, payload, rec, improved)
            log.info("epoch %d: train loss %.4f, val metric %.4f (best %.4f @ %d), %.0fs", epoch,
                     rec["train_loss"], val.metric, state.best, state.best_epoch, rec["seconds"])
        if state.bad >= int(optim_cfg.patience):
            stopped = True
            log.info("early stop: no improvement for %d epochs", state.bad)
        elif max_minutes is not None and (time.time() - t_start) / 60 > max_minutes:
            log.info("time budget of %.0f min spent; stopping after epoch %d (resume continues)", max_minutes, epoch)
            break
    return FitResult(best_epoch=state.best_epoch, best_metric=state.best, history=state.history,
                     best_path=best_path, last_path=last_path, stopped_early=stopped)
