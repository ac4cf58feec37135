"""a tiny real training run (few steps) through the one training loop on a synthetic JSRT-layout folder read by
the jsrt adapter: loss, checkpoints, resume."""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from PIL import Image as PILImage

from cxrkit.anatomy.train import SegmentationSource, augment, dice_bce_loss, train
from cxrkit.anatomy.unet import STRUCTURES, CompactUNet
from cxrkit.data import load_dataset
from cxrkit.data.adapters.jsrt import anatomy_split
from cxrkit.synthetic import synthetic_chest


def _fake_jsrt(root, n_train=4, n_val=1):
    full = [f"JPCLN{i:03d}" for i in range(1, 155)]
    split = anatomy_split(full)
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
    ds = load_dataset("jsrt", root=root, require_masks=True)
    assert list(ds.meta["image_id"]) == sorted(ids)
    assert set(ds.meta["anatomy_split"]) == {"train", "val"}
    out = tmp_path / "run"
    res = train(root, out, epochs=1, size=64, batch=2, max_steps_per_epoch=2, threads=1, widths=(8, 16, 32))
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file() and (out / "split.json").is_file()
    split = json.loads((out / "split.json").read_text())
    assert len(split["train"]) == 4 and len(split["val"]) == 1 and not split["test"]
    assert res.history[0]["steps"] == 2 and math.isfinite(res.history[0]["train_loss"])
    assert set(res.history[0]["val_dice"]) == set(STRUCTURES) and res.best_epoch == 0
    first = torch.load(out / "last.pt", weights_only=False)
    assert first["val_dice"] == res.history[0]["val_dice"] and first["extra"]["task"] == "segmentation"
    res = train(root, out, epochs=2, size=64, batch=2, max_steps_per_epoch=2, threads=1, widths=(8, 16, 32))
    assert [h["epoch"] for h in res.history] == [0, 1]  # resumed: epoch 0 was not rerun
    second = torch.load(out / "last.pt", weights_only=False)["model"]
    assert any(not torch.equal(first["model"][k], second[k]) for k in second)  # training changed the weights
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_progressive_resizing_and_half_size_epochs_never_best(tmp_path):
    root = tmp_path / "jsrt"
    _fake_jsrt(root, n_train=4, n_val=1)
    res = train(root, tmp_path / "run", epochs=2, size=64, full_size_from=1, batch=2, max_steps_per_epoch=1,
                threads=1, widths=(8, 16, 32))
    assert [h["size"] for h in res.history] == [32, 64]
    assert res.best_epoch == 1  # the half-size epoch cannot be the best checkpoint


def test_segmentation_source_warps_inputs_and_masks_together():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (3, 32, 32), dtype=np.uint8)
    y = np.repeat(x[:, None], 5, axis=1)  # targets equal to the input: one warp keeps them equal
    src = SegmentationSource(x, y, seed=3, full_size_from=2)
    xb, yb = src.get_pair(np.array([0, 2]), epoch=0, train=False)
    assert xb.shape == (2, 1, 32, 32) and yb.shape == (2, 5, 32, 32) and torch.equal(xb[:, 0], yb[:, 0])
    xa, ya = src.get_pair(np.array([0, 2]), epoch=0, train=True)
    assert xa.shape == (2, 1, 16, 16) and ya.shape == (2, 5, 16, 16)  # half size before full_size_from
    xb2, _ = src.get_pair(np.array([0, 2]), epoch=0, train=True)
    assert torch.equal(xa, xb2)  # seeded by (seed, epoch, rows): a resumed run sees the same batches


def test_loss_and_augment_shapes():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 64, 64)
    y = (torch.rand(2, 5, 64, 64) > 0.5).float()
    xa, ya = augment(x, y, gen)
    assert xa.shape == x.shape and ya.shape == y.shape and xa.min() >= 0 and xa.max() <= 1
    perfect = dice_bce_loss(torch.where(y > 0.5, 20.0, -20.0), y)
    wrong = dice_bce_loss(torch.where(y > 0.5, -20.0, 20.0), y)
    assert perfect < 0.01 < 1.0 < wrong
    model = CompactUNet().eval()
    assert model(torch.rand(1, 1, 64, 64)).shape == (1, 5, 64, 64)
