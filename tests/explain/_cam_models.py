"""Small models for CAM tests: a hooked-module one and a timm-style one (features() + forward_head())."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class LesionNet(nn.Module):
    """Logit 0 = mean brightness of an 8x8-pooled grid (a bright lesion drives it); logit 1 = its negative.

    ``features`` is a module (hooked); the head is GAP + linear, so CAM is exact.
    """

    labels = ("Nodule", "Effusion")

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.AvgPool2d(8))
        with torch.no_grad():
            self.features[0].weight.zero_()
            self.features[0].weight[:, 0, 1, 1] = torch.tensor([1.0, 0.5, 0.25, 2.0])
        self.classifier = nn.Linear(4, 2)
        with torch.no_grad():
            self.classifier.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]]))
            self.classifier.bias.copy_(torch.tensor([-0.5, 0.3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


class RandomNet(nn.Module):
    """Random small CNN with ReLU before pooling (CAM must detect the ReLU to stay exact)."""

    labels = ("Atelectasis", "Cardiomegaly", "Pneumonia")

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Conv2d(8, 16, 3, padding=1))
        self.classifier = nn.Linear(16, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.relu(self.features(x)).mean(dim=(2, 3)))


class TimmStyleNet(RandomNet):
    """Same weights, but ``features`` is a method and the head is ``forward_head`` (as cxrkit's EfficientNet)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.body = self._modules.pop("features")

    def features(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.relu(self.body(x))

    def forward_head(self, a: torch.Tensor) -> torch.Tensor:
        return self.classifier(a.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(x))


def lesion_image(shape: tuple[int, int], centre: tuple[int, int], radius: float, rng: np.random.Generator) -> np.ndarray:
    """Dark noisy background with one bright disc: float32 ``(H, W)`` in [0, 1]."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    img = 0.15 + 0.03 * rng.standard_normal(shape)
    img[(yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2] = 0.95
    return np.clip(img, 0, 1).astype(np.float32)
