"""Worker for test_distributed.py: run under ``torchrun --nproc_per_node=2`` (gloo, CPU)."""

import json
import sys

import numpy as np
import torch
from torch import nn

from cxrkit.train.config import OptimConfig
from cxrkit.train.distributed import cleanup, setup, wrap
from cxrkit.train.loop import TensorSource, fit


def main(out: str) -> None:
    info = setup()
    torch.set_num_threads(1)
    torch.manual_seed(0)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    g = np.random.default_rng(0)
    y = (g.random((64, 2)) < 0.5).astype(np.float32)
    x = torch.from_numpy(g.normal(0, 1, (64, 1, 4, 4)).astype(np.float32) + y[:, :1, None, None])
    src = TensorSource(x, y)
    res = fit(wrap(model, info), src, src, findings=["a", "b"], optim_cfg=OptimConfig(epochs=2, batch_size=8, lr=0.05),
              out_dir=out, save_model=model, seed=0, rank=info.rank, world_size=info.world_size,
              train_rows=np.arange(48), val_rows=np.arange(48, 64))
    digest = float(sum(p.double().sum() for p in model.parameters()))
    with open(f"{out}/rank{info.rank}.json", "w") as fh:
        json.dump({"rank": info.rank, "world": info.world_size, "digest": digest, "steps": res.history[-1]["steps"]}, fh)
    cleanup()


if __name__ == "__main__":
    main(sys.argv[1])
