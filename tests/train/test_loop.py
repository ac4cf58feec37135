"""The training loop on a tiny model: learns, checkpoints atomically, resumes identically, stops early."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from cxrkit.errors import DataFormatError, ModelError
from cxrkit.train.config import OptimConfig
from cxrkit.train.loop import TensorSource, fit, load_checkpoint, lr_lambda


class Tiny(nn.Module):
    def __init__(self, k: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.classifier = nn.Linear(4, k)

    def forward(self, x):
        return self.classifier(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _data(n=96, seed=0):
    g = np.random.default_rng(seed)
    y = (g.random((n, 2)) < 0.4).astype(np.float32)
    x = g.normal(0, 1, (n, 1, 8, 8)).astype(np.float32)
    x[:, 0, :4] += 2.0 * y[:, 0, None, None]  # finding 0: bright top half
    x[:, 0, 4:] += 2.0 * y[:, 1, None, None]  # finding 1: bright bottom half
    y[::7, 1] = np.nan  # unknown labels
    return TensorSource(torch.from_numpy(x), y)


def _fit(tmp, epochs, resume=False, patience=10):
    torch.manual_seed(0)
    src = _data()
    model = Tiny()
    return model, fit(model, src, src, findings=["a", "b"], optim_cfg=OptimConfig(epochs=epochs, batch_size=16, lr=0.05,
                      patience=patience), out_dir=tmp, seed=1, train_rows=np.arange(64), val_rows=np.arange(64, 96),
                      resume=resume)


def test_fit_learns_and_writes_logs(tmp_path):
    model, res = _fit(tmp_path, 4)
    assert res.best_metric > 0.85
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1, 2, 3] and "val_auroc" in lines[0]
    ck = load_checkpoint(res.best_path)
    assert ck["epoch"] == res.best_epoch and ck["findings"] == ["a", "b"]
    assert not list(tmp_path.glob("*.tmp"))


class _Killed(Exception):
    pass


def test_resume_after_kill_matches_uninterrupted_run(tmp_path, monkeypatch):
    src = _data()
    cfg = OptimConfig(epochs=3, batch_size=16, lr=0.05, patience=10)
    kw = dict(findings=["a", "b"], optim_cfg=cfg, seed=1, train_rows=np.arange(64), val_rows=np.arange(64, 96))
    torch.manual_seed(0)
    ref = Tiny()
    fit(ref, src, src, out_dir=tmp_path / "ref", **kw)

    # Same run, killed right after the epoch-1 checkpoint is written (mid-run, before epoch 2).
    real_replace = __import__("os").replace

    def replace_then_kill(a, b):
        real_replace(a, b)
        if str(b).endswith("last.pt") and load_checkpoint(b)["epoch"] == 1:
            raise _Killed

    monkeypatch.setattr("cxrkit.fs.os.replace", replace_then_kill)  # save_checkpoint writes through cxrkit.fs
    torch.manual_seed(0)
    with pytest.raises(_Killed):
        fit(Tiny(), src, src, out_dir=tmp_path / "run", **kw)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1

    torch.manual_seed(123)  # a new process starts from other random weights
    resumed = Tiny()
    res = fit(resumed, src, src, out_dir=tmp_path / "run", resume=True, **kw)
    assert [h["epoch"] for h in res.history] == [0, 1, 2]
    for a, b in zip(ref.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_early_stopping(tmp_path):
    src = _data()
    src.labels[:] = (np.random.default_rng(5).random(src.labels.shape) < 0.5)  # noise: nothing to learn
    torch.manual_seed(0)
    res = fit(Tiny(), src, src, findings=["a", "b"], optim_cfg=OptimConfig(epochs=30, batch_size=32, lr=0.05, patience=2),
              out_dir=tmp_path, train_rows=np.arange(64), val_rows=np.arange(64, 96))
    assert res.stopped_early and len(res.history) < 30


def test_schedule_shapes():
    total, warm = 100, 10
    cos = [lr_lambda(s, total, warm, "cosine") for s in range(total)]
    assert cos[0] < cos[9] <= 1.0 and cos[-1] < 0.01
    one = [lr_lambda(s, total, warm, "onecycle") for s in range(total)]
    assert abs(one[0] - 0.04) < 1e-6 and max(one) <= 1.0 and one[-1] < 0.01


def test_bad_inputs(tmp_path):
    src = _data()
    with pytest.raises(DataFormatError, match="empty"):
        fit(Tiny(), src, src, findings=["a", "b"], optim_cfg=OptimConfig(epochs=1), out_dir=tmp_path,
            train_rows=np.arange(0), val_rows=np.arange(4))
    m = Tiny()
    with pytest.raises(ModelError, match="frozen"):
        fit(m, src, src, findings=["a", "b"], optim_cfg=OptimConfig(epochs=1), out_dir=tmp_path, frozen=[m])
    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
