"""DenseNet-121 (Huang et al. 2017) as used by CheXNet (Rajpurkar et al. 2017), in plain PyTorch.

Module names follow torchvision's and TorchXRayVision's layout (``features.conv0``, ``features.denseblock1.
denselayer1.norm1``, ..., ``features.norm5``, ``classifier``), so their state dicts load directly
(:func:`convert_xrv_state_dict` also accepts the legacy ``norm.1`` spelling and drops TorchXRayVision's
``op_threshs`` buffer: cxrkit reports raw probabilities, never site-rescaled scores). The forward pass
matches TorchXRayVision's ``DenseNet`` with ``apply_sigmoid=False`` and no ``op_threshs``: features →
ReLU → global average pool → linear.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DenseNet121", "convert_xrv_state_dict"]

log = logging.getLogger(__name__)


class _DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bottleneck) then BN-ReLU-conv3x3; output concatenated to the input."""

    def __init__(self, c_in: int, growth: int, bn_size: int, drop_rate: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(c_in)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(c_in, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.relu1(self.norm1(x)))
        y = self.conv2(self.relu2(self.norm2(y)))
        if self.drop_rate > 0:
            y = F.dropout(y, p=self.drop_rate, training=self.training)
        return torch.cat([x, y], 1)


class _Transition(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(c_in)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(c_in, c_out, 1, bias=False)),
            ("pool", nn.AvgPool2d(2, stride=2)),
        ]))


class DenseNet121(nn.Module):
    """DenseNet-121 classifier.

    Args:
        num_classes: outputs (logits).
        in_chans: input channels (1 for TorchXRayVision weights, 3 for ImageNet-style ones).
        growth_rate / block_config / num_init_features / bn_size: the DenseNet-121 shape by default.
        drop_rate: dropout inside dense layers.

    Input: float ``(N, in_chans, S, S)`` (TorchXRayVision weights expect [-1024, 1024] at S = 224);
    :meth:`features` gives ``(N, 1024, S/32, S/32)`` (after ``norm5``, before the final ReLU).
    """

    def __init__(self, num_classes: int = 18, in_chans: int = 1, growth_rate: int = 32,
                 block_config: tuple[int, ...] = (6, 12, 24, 16), num_init_features: int = 64, bn_size: int = 4,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        self.in_chans = in_chans
        layers: OrderedDict[str, nn.Module] = OrderedDict([
            ("conv0", nn.Conv2d(in_chans, num_init_features, 7, stride=2, padding=3, bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(3, stride=2, padding=1)),
        ])
        c = num_init_features
        for i, n in enumerate(block_config):
            block = nn.Sequential(OrderedDict(
                (f"denselayer{j + 1}", _DenseLayer(c + j * growth_rate, growth_rate, bn_size, drop_rate))
                for j in range(n)))
            layers[f"denseblock{i + 1}"] = block
            c += n * growth_rate
            if i != len(block_config) - 1:
                layers[f"transition{i + 1}"] = _Transition(c, c // 2)
                c //= 2
        layers["norm5"] = nn.BatchNorm2d(c)
        self.features_net = nn.Sequential(layers)
        self.feature_channels = c
        self.classifier = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    # torchvision / TorchXRayVision name the trunk ``features``; keep that key prefix in state dicts while
    # ``features`` is the method every cxrkit model offers.
    def state_dict(self, *args, **kwargs):
        sd = super().state_dict(*args, **kwargs)
        return OrderedDict((re.sub(r"^features_net\.", "features.", k), v) for k, v in sd.items())

    def load_state_dict(self, state_dict: Mapping[str, torch.Tensor], strict: bool = True, assign: bool = False):
        sd = OrderedDict((re.sub(r"^features\.", "features_net.", k), v) for k, v in state_dict.items())
        return super().load_state_dict(sd, strict=strict, assign=assign)

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last conv feature map ``(N, 1024, S/32, S/32)`` (before the final ReLU, as TorchXRayVision)."""
        return self.features_net(x)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(F.relu(feats), 1).flatten(1)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a fresh ``Linear(1024, num_classes)``."""
        self.classifier = nn.Linear(self.feature_channels, int(num_classes))
        nn.init.zeros_(self.classifier.bias)


_LEGACY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:1|2))\.(weight|bias|running_mean|running_var)$")


def convert_xrv_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A TorchXRayVision / torchvision DenseNet-121 state dict → :class:`DenseNet121` keys.

    Legacy ``norm.1`` keys become ``norm1``; ``op_threshs`` is dropped (logged) since cxrkit keeps raw
    probabilities and puts operating points in the model card.
    """
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k == "op_threshs":
            log.info("dropping TorchXRayVision op_threshs: cxrkit outputs raw probabilities")
            continue
        m = _LEGACY.match(k)
        out[f"{m.group(1)}{m.group(2)}.{m.group(3)}" if m else k] = v
    return out
