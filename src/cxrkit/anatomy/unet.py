"""A compact U-Net for chest X-ray anatomy segmentation, in plain PyTorch.

Depthwise-separable convolutions keep it small (about 1 M parameters with the default widths) and fast on
CPU. The network standardizes each input image itself (zero mean, unit variance over the image), so callers
only need pixels in [0, 1] at the model's input size; this also makes it robust to the global brightness
and contrast differences between film scans (JSRT) and digital radiographs.

Outputs are independent per-structure logits (multi-label: clavicles overlap the lungs), one channel per
name in :data:`STRUCTURES`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from cxrkit.anatomy.structures import STRUCTURES

__all__ = ["STRUCTURES", "CompactUNet", "count_parameters"]

#: Output channels, in order. "left"/"right" are the PATIENT's sides: on a PA film the patient's right lung
#: is on the image's left.


class _SepConv(nn.Module):
    """Depthwise 3x3 then pointwise 1x1 convolution, batch norm, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.pw(self.dw(x))), inplace=True)


class _Block(nn.Module):
    """Two separable convolutions with a residual 1x1 projection."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.c1 = _SepConv(cin, cout)
        self.c2 = _SepConv(cout, cout)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c2(self.c1(x)) + self.skip(x)


class CompactUNet(nn.Module):
    """U-Net with depthwise-separable blocks.

    Parameters
    ----------
    in_channels:
        Input channels (1 for a grayscale radiograph).
    out_channels:
        Output channels (one logit map per structure).
    widths:
        Channels per resolution level, finest first; the input side must be divisible by
        ``2 ** (len(widths) - 1)``.

    Shapes
    ------
    input ``(N, in_channels, S, S)`` float32 pixels in [0, 1]; output ``(N, out_channels, S, S)`` logits.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = len(STRUCTURES),
        widths: tuple[int, ...] = (16, 32, 64, 128, 256, 384),
        fine_channels: int = 8,
    ) -> None:
        super().__init__()
        self.widths = tuple(widths)
        # stride-2 stem: the U-Net runs at half the input resolution (CPU cost / 4) ...
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        self.enc = nn.ModuleList()
        cin = widths[0]
        for w in widths:
            self.enc.append(_Block(cin, w))
            cin = w
        self.dec = nn.ModuleList()
        for w_skip in reversed(widths[:-1]):
            self.dec.append(_Block(cin + w_skip, w_skip))
            cin = w_skip
        # ... and a thin full-resolution path refines the boundaries.
        self.fine = nn.Sequential(
            nn.Conv2d(in_channels, fine_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(fine_channels),
            nn.ReLU(inplace=True),
        )
        self.refine = _SepConv(cin + fine_channels, cin)
        self.head = nn.Conv2d(cin, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # per-image standardization: robust to film vs digital intensity scales
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) / (std + 1e-5)
        fine = self.fine(x)
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.enc):
            if i > 0:
                h = F.max_pool2d(h, 2)
            h = block(h)
            skips.append(h)
        for block, skip in zip(self.dec, reversed(skips[:-1]), strict=True):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = block(torch.cat([h, skip], dim=1))
        h = F.interpolate(h, size=fine.shape[-2:], mode="bilinear", align_corners=False)
        h = self.refine(torch.cat([h, fine], dim=1))
        return self.head(h)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
