"""Augmentations that suit frontal chest radiographs, on batches of tensors.

Small rotations, scalings and translations (patients are never upside down, so no vertical flip), and
brightness / contrast / gamma changes that mimic exposure and processing differences between sites.
Horizontal flips are off by default: the heart is on the patient's left, and flipping teaches the model
that dextrocardia is normal and moves left-sided findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cxrkit.errors import InvalidImageError

__all__ = ["AugmentConfig", "augment_batch"]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random changes (uniform draws).

    Attributes:
        rotate_deg: maximum absolute rotation, degrees.
        scale: ``(min, max)`` zoom factor.
        translate: maximum shift as a fraction of the side.
        brightness: maximum absolute additive change (intensity units, image in [0, 1]).
        contrast: ``(min, max)`` multiplicative change around the image mean.
        gamma: ``(min, max)`` exponent.
        hflip: probability of a horizontal flip (0 by default: laterality matters).
    """

    rotate_deg: float = 7.0
    scale: tuple[float, float] = (0.9, 1.1)
    translate: float = 0.06
    brightness: float = 0.08
    contrast: tuple[float, float] = (0.85, 1.15)
    gamma: tuple[float, float] = (0.8, 1.25)
    hflip: float = 0.0


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def augment_batch(images: torch.Tensor, gen: torch.Generator, cfg: AugmentConfig = AugmentConfig()) -> torch.Tensor:
    """Randomly transform a batch.

    Args:
        images: float ``(N, C, H, W)`` in [0, 1] (dark lungs), CPU.
        gen: the seeded generator that draws every random value (reproducible runs).
        cfg: ranges.

    Returns:
        float ``(N, C, H, W)`` in [0, 1]; areas moved in from outside the image are black (0).
    """
    if images.ndim != 4:
        raise InvalidImageError(f"augment_batch expects (N, C, H, W), got shape {tuple(images.shape)}")
    n = images.shape[0]
    angle = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg, gen) * math.pi / 180.0
    scale = _uniform(n, cfg.scale[0], cfg.scale[1], gen)
    tx = _uniform(n, -cfg.translate, cfg.translate, gen) * 2.0
    ty = _uniform(n, -cfg.translate, cfg.translate, gen) * 2.0
    flip = torch.where(torch.rand(n, generator=gen) < cfg.hflip, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], dim=1), torch.stack([sin * flip, cos, ty], dim=1)], dim=1
    ).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = _uniform(n, *cfg.contrast, gen).view(n, 1, 1, 1).to(images.dtype)
    bright = _uniform(n, -cfg.brightness, cfg.brightness, gen).view(n, 1, 1, 1).to(images.dtype)
    out = ((out - mean) * contrast + mean + bright).clamp(0.0, 1.0)
    gamma = _uniform(n, *cfg.gamma, gen).view(n, 1, 1, 1).to(images.dtype)
    return out.clamp_min(1e-6).pow(gamma).clamp(0.0, 1.0)
