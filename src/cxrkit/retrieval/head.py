"""A projection head on the classifier's pooled features, trained for retrieval (label-aware contrastive loss).

A linear map ``W (1280, d)`` followed by L2 normalisation, trained with a multi-label supervised contrastive loss
(Khosla et al. 2020): for each film, the films sharing at least one label are its positives. The shipped head
(``weights/<model>.head.npz`` + ``.head.json`` card) was chosen on an inner patient split of the classifier's
training films and adopted because it retrieves better there; ``docs/retrieval.md`` has the figures and
``benchmarks/retrieval_projection_head.py`` reruns the selection and writes the files.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cxrkit.errors import ModelError

__all__ = ["HeadCard", "ProjectionHead", "train_head", "shipped_head_path"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class HeadCard:
    """What a head is: the base model it applies to, its size, how it was trained and chosen, its checksum."""

    name: str
    base_model: str
    base_weights_sha256: str
    in_dim: int
    out_dim: int
    loss: str
    temperature: float
    epochs: int
    training_data: str
    selection: str
    weights_sha256: str

    def to_dict(self) -> dict:
        return asdict(self)


class ProjectionHead:
    """``W (D, d)`` float32 with its card; :meth:`apply` maps unit vectors ``(N, D)`` to unit vectors ``(N, d)``."""

    def __init__(self, weight: np.ndarray, card: HeadCard) -> None:
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)
        self.card = card

    def apply(self, x: np.ndarray) -> np.ndarray:
        from cxrkit.retrieval.embed import l2_normalize

        return l2_normalize(np.asarray(x, np.float32) @ self.weight)

    def save(self, stem: str | Path) -> tuple[Path, Path]:
        """Write ``<stem>.npz`` and ``<stem>.json`` atomically (the card's checksum is the npz's)."""
        from dataclasses import replace

        from cxrkit.fs import atomic_write_bytes, atomic_write_text

        buf = io.BytesIO()
        np.savez(buf, weight=self.weight)
        data = buf.getvalue()
        self.card = replace(self.card, weights_sha256=hashlib.sha256(data).hexdigest())
        stem = Path(stem)
        npz, card = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
        atomic_write_bytes(npz, data)
        atomic_write_text(card, json.dumps(self.card.to_dict(), indent=1))
        return npz, card

    @classmethod
    def load(cls, stem: str | Path) -> ProjectionHead:
        """Read ``<stem>.npz`` + ``<stem>.json`` and verify the checksum.

        Raises:
            ModelError: missing files, bad card, checksum or shape mismatch.
        """
        stem = Path(stem)
        npz, card = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
        try:
            c = HeadCard(**json.loads(card.read_text(encoding="utf-8")))
            data = npz.read_bytes()
        except (OSError, TypeError, ValueError) as exc:
            raise ModelError(f"projection head {stem}: unreadable ({exc})") from None
        if hashlib.sha256(data).hexdigest() != c.weights_sha256:
            raise ModelError(f"projection head {npz}: checksum does not match its card")
        with np.load(io.BytesIO(data)) as z:
            w = z["weight"]
        if w.shape != (c.in_dim, c.out_dim):
            raise ModelError(f"projection head {npz}: weight {w.shape}, card says ({c.in_dim}, {c.out_dim})")
        return cls(w, c)


def shipped_head_path(model_name: str) -> Path | None:
    """Stem of the shipped head of ``model_name`` (``weights/<model>.head``), or None if there is none."""
    stem = WEIGHTS_DIR / f"{model_name}.head"
    return stem if stem.with_name(stem.name + ".npz").is_file() else None


def train_head(x: np.ndarray, labels: np.ndarray, *, dim: int = 128, tau: float = 0.1, epochs: int = 100,
               lr: float = 1e-3, seed: int = 0) -> np.ndarray:
    """Fit ``W (D, dim)`` on unit vectors ``x (N, D)`` and bool labels ``(N, F)`` (full batch, Adam, one thread).

    Positives of a film: the other films sharing at least one label. Needs torch (the ``train`` extra).
    """
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    xt = torch.tensor(np.asarray(x, np.float32))
    lab = np.asarray(labels, np.float32)
    eye = torch.eye(len(x), dtype=torch.bool)
    pos = torch.tensor((lab @ lab.T) > 0) & ~eye
    w = torch.nn.Linear(x.shape[1], dim, bias=False)
    opt = torch.optim.Adam(w.parameters(), lr=lr, weight_decay=1e-4)
    has = pos.sum(1) > 0
    for _ in range(epochs):
        z = torch.nn.functional.normalize(w(xt), dim=1)
        logits = (z @ z.T / tau).masked_fill(eye, -1e9)
        logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        loss = -((logp * pos).sum(1)[has] / pos.sum(1)[has]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.weight.detach().numpy().T.copy()
