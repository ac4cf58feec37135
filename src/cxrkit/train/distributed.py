"""Multi-process training with PyTorch DistributedDataParallel, launched by ``torchrun``.

``torchrun --nproc_per_node=N -m cxrkit.service.cli train --config FILE.yaml`` (or ``--nnodes``/``--rdzv-*``
for several machines) sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup` joins the process
group (NCCL on GPUs, gloo on CPU) and :func:`wrap` wraps the model. :func:`cxrkit.train.loop.fit` shards every
epoch's batches by rank, and only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "setup", "wrap", "cleanup", "env_world_size"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place: ``rank`` of ``world_size`` (``local_rank`` on its node), and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(backend: str | None = None) -> DistInfo:
    """Join the process group when launched by torchrun; a no-op single-process info otherwise."""
    world = env_world_size()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        backend = backend or ("nccl" if device.type == "cuda" else "gloo")
        dist.init_process_group(backend=backend)
        log.info("joined process group: rank %d of %d (%s)", rank, world, backend)
    return DistInfo(rank, world, local, device)


def wrap(model: nn.Module, info: DistInfo) -> nn.Module:
    """Move to the process's device and wrap in DDP when there are several processes."""
    model = model.to(info.device)
    if info.world_size <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.local_rank] if info.device.type == "cuda" else None
    # Frozen trunks leave parameters without gradients.
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def cleanup() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
