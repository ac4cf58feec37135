"""a tiny real training run (few steps) on a synthetic JSRT-layout folder: loss, checkpoints, resume."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image as PILImage

from cxrkit.anatomy.jsrt import list_ids, split_ids
from cxrkit.anatomy.train import augment, dice_bce_loss, train
from cxrkit.anatomy.unet import STRUCTURES, CompactUNet
from cxrkit.synthetic import synthetic_chest


def _fake_jsrt(root, n_train=4, n_val=1):
    full = [f"JPCLN{i:03d}" for i in range(1, 155)]
    split = split_ids(full)
    ids = split["train"][:n_train] + split["val"][:n_val]
    (root / "images").mkdir(parents=True)
    for s in STRUCTURES:
        (root / "masks" / s).mkdir(parents=True)
    for k, cid in enumerate(ids):
        img, masks = synthetic_chest((96, 96), seed=k, return_masks=True)
        PILImage.fromarray((img * 255).astype(np.uint8)).save(root / "images" / f"{cid}.png")
        for s in STRUCTURES:
            m = masks.get(s, np.zeros((96, 96), bool))
            PILImage.fromarray(m.astype(np.uint8) * 255).save(root / "masks" / s / f"{cid}.png")
    return ids


def test_tiny_training_run_checkpoints_and_resumes(tmp_path):
    root = tmp_path / "jsrt"
    ids = _fake_jsrt(root)
    assert list_ids(root) == sorted(ids)
    out = tmp_path / "run"
    state = train(root, out, epochs=1, size=64, batch=2, max_steps=2, threads=1, widths=(8, 16, 32))
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file() and (out / "split.json").is_file()
    assert state["step"] == 2 and math.isfinite(state["history"][0]["loss"])
    first = torch.load(out / "last.pt", weights_only=False)["model"]
    state = train(root, out, epochs=2, size=64, batch=2, max_steps=4, threads=1, widths=(8, 16, 32))
    assert state["epoch"] == 2 and len(state["history"]) == 2 and state["step"] == 4
    second = torch.load(out / "last.pt", weights_only=False)["model"]
    assert any(not torch.equal(first[k], second[k]) for k in first)  # training changed the weights


def test_loss_and_augment_shapes():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 64, 64)
    y = (torch.rand(2, 5, 64, 64) > 0.5).float()
    xa, ya = augment(x, y, gen)
    assert xa.shape == x.shape and ya.shape == y.shape and 0 <= xa.min() and xa.max() <= 1
    perfect = dice_bce_loss(torch.where(y > 0.5, 20.0, -20.0), y)
    wrong = dice_bce_loss(torch.where(y > 0.5, -20.0, 20.0), y)
    assert perfect < 0.01 < 1.0 < wrong
    model = CompactUNet().eval()
    assert model(torch.rand(1, 1, 64, 64)).shape == (1, 5, 64, 64)
