"""Train the compact anatomy U-Net on JSRT/SCR: cached inputs, augmentation, Dice + BCE, checkpoint + resume.

Run (background, CPU)::

    nohup nice -n 5 .venv/bin/python -m cxrkit.anatomy.train --root ../shared/data/jsrt-scr \\
        --out runs/anatomy --epochs 40 > runs/anatomy/train.out 2>&1 &

Every epoch writes ``OUT/last.pt`` (model, optimizer, epoch, history, RNG state) and ``OUT/best.pt`` (best
validation mean Dice); rerunning the same command resumes from ``last.pt``. ``--max-minutes`` stops cleanly
after the current epoch once the wall-time budget is spent. Progressive resizing: epochs before
``--full-size-from`` run at half resolution (4x cheaper on CPU; the network is fully convolutional).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from cxrkit.anatomy.jsrt import list_ids, read_case, split_ids
from cxrkit.anatomy.preprocess import resize_mask, to_model_input
from cxrkit.anatomy.unet import STRUCTURES, CompactUNet

__all__ = ["build_cache", "augment", "dice_bce_loss", "train", "main"]

log = logging.getLogger(__name__)


def build_cache(root: str | Path, ids: list[str], size: int, path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Decode and preprocess cases once: ``x`` uint8 ``(N, S, S)``, ``y`` uint8 ``(N, 5, S, S)`` coverage*255.

    With ``path``, the arrays are stored as ``.npz`` and reused when the ids and size match.
    """
    if path is not None and Path(path).is_file():
        data = np.load(path)
        if list(data["ids"]) == list(ids) and data["x"].shape[-1] == size:
            return {k: data[k] for k in ("x", "y", "ids")}
    xs = np.zeros((len(ids), size, size), np.uint8)
    ys = np.zeros((len(ids), len(STRUCTURES), size, size), np.uint8)
    for i, cid in enumerate(ids):
        pixels, masks = read_case(root, cid)
        xs[i] = np.rint(to_model_input(pixels, size) * 255)
        for j, s in enumerate(STRUCTURES):
            ys[i, j] = np.rint(resize_mask(masks[s], size) * 255)
    out = {"x": xs, "y": ys, "ids": np.array(ids)}
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(path) + ".tmp.npz")
        np.savez_compressed(tmp, **out)
        tmp.replace(path)
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
def _val_dice(model: CompactUNet, x: np.ndarray, y: np.ndarray, batch: int = 8, size: int | None = None) -> list[float]:
    model.eval()
    if size is not None and size != x.shape[-1]:
        x = F.interpolate(torch.from_numpy(x).float().unsqueeze(1), size=(size, size), mode="area")
        x = x.squeeze(1).round().numpy().astype(np.uint8)
        y = F.interpolate(torch.from_numpy(y).float(), size=(size, size), mode="area").round().numpy()
        y = y.astype(np.uint8)
    inter = np.zeros(len(STRUCTURES))
    total = np.zeros(len(STRUCTURES))
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i : i + batch]).float().div(255).unsqueeze(1)
        pred = (model(xb) > 0).numpy()
        tgt = y[i : i + batch] >= 128
        inter += (pred & tgt).sum(axis=(0, 2, 3))
        total += pred.sum(axis=(0, 2, 3)) + tgt.sum(axis=(0, 2, 3))
    return list(2 * inter / np.maximum(total, 1))


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
    max_steps: int | None = None,
    ids: list[str] | None = None,
    widths: tuple[int, ...] | None = None,
) -> dict:
    """Train (or resume) and return the history dict; see the module docstring for the files written."""
    torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_ids = list_ids(root) if ids is None else ids
    split = split_ids(all_ids)
    tr = build_cache(root, split["train"], size, out / f"cache_train_{size}.npz")
    va = build_cache(root, split["val"], size, out / f"cache_val_{size}.npz") if split["val"] else None
    (out / "split.json").write_text(json.dumps(split, indent=1))
    with torch.random.fork_rng(devices=[]):  # seeded weight init without changing the caller's global RNG
        torch.manual_seed(seed)
        model = CompactUNet() if widths is None else CompactUNet(widths=tuple(widths))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(tr["x"]) / batch)
    total_steps = epochs * steps_per_epoch
    gen = torch.Generator().manual_seed(seed)
    state = {"epoch": 0, "step": 0, "history": [], "best": -1.0}
    last = out / "last.pt"
    if last.is_file():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        state = ck["state"]
        log.info("resumed from %s at epoch %d", last, state["epoch"])
    t_start = time.time()
    xs = torch.from_numpy(tr["x"])
    ys = torch.from_numpy(tr["y"])
    while state["epoch"] < epochs:
        ep = state["epoch"]
        s_ep = size if ep >= full_size_from else size // 2
        model.train()
        perm = torch.randperm(len(xs), generator=gen)
        t0, losses = time.time(), []
        for i in range(0, len(perm), batch):
            idx = perm[i : i + batch]
            if len(idx) < 2:
                continue
            xb = xs[idx].float().div(255).unsqueeze(1)
            yb = ys[idx].float().div(255)
            if s_ep != size:
                xb = F.interpolate(xb, size=(s_ep, s_ep), mode="area")
                yb = F.interpolate(yb, size=(s_ep, s_ep), mode="area")
            xb, yb = augment(xb, yb, gen)
            frac = state["step"] / max(total_steps, 1)
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (state["step"] + 1) / 20) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
            loss = dice_bce_loss(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            state["step"] += 1
            losses.append(loss.item())
            if max_steps is not None and state["step"] >= max_steps:
                break
        vd = _val_dice(model, va["x"], va["y"], size=s_ep) if va is not None else [float("nan")] * len(STRUCTURES)
        mean_vd = float(np.nanmean(vd)) if va is not None else -float(np.mean(losses))
        rec = {
            "epoch": ep + 1,
            "size": s_ep,
            "loss": float(np.mean(losses)) if losses else float("nan"),
            "val_dice": dict(zip(STRUCTURES, [round(v, 4) for v in vd], strict=True)),
            "seconds": round(time.time() - t0, 1),
        }
        state["history"].append(rec)
        state["epoch"] = ep + 1
        log.info("epoch %s", json.dumps(rec))
        if s_ep == size and mean_vd > state["best"]:
            state["best"] = mean_vd
            torch.save({"model": model.state_dict(), "epoch": ep + 1, "val_dice": rec["val_dice"]}, out / "best.tmp")
            (out / "best.tmp").replace(out / "best.pt")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(), "state": state},
                   out / "last.tmp")
        (out / "last.tmp").replace(last)
        if max_steps is not None and state["step"] >= max_steps:
            break
        if max_minutes is not None and (time.time() - t_start) / 60 > max_minutes:
            log.info("time budget of %.0f min spent; stopping after epoch %d", max_minutes, ep + 1)
            break
    if not (out / "best.pt").is_file():
        torch.save({"model": model.state_dict(), "epoch": state["epoch"], "val_dice": None}, out / "best.pt")
    return state


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
    ap.add_argument("--max-steps", type=int, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train(args.root, args.out, epochs=args.epochs, size=args.size, full_size_from=args.full_size_from,
          batch=args.batch, lr=args.lr, seed=args.seed, threads=args.threads, max_minutes=args.max_minutes,
          max_steps=args.max_steps)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
