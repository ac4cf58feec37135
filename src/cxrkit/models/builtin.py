"""Registration of the built-in architectures (imported lazily by the registry)."""

from __future__ import annotations

from typing import Any

from torch import nn

from cxrkit.errors import ModelError
from cxrkit.models.registry import register_model

__all__: list[str] = []


@register_model("efficientnet_lite0")
def _efficientnet_lite0(num_classes: int, in_chans: int, pretrained: bool, **kw: Any) -> nn.Module:
    from cxrkit.models.efficientnet import EfficientNetLite0, load_imagenet_weights

    model = EfficientNetLite0(num_classes=num_classes, in_chans=in_chans, **kw)
    if pretrained:
        load_imagenet_weights(model)
    return model


@register_model("densenet121")
def _densenet121(num_classes: int, in_chans: int, pretrained: bool, **kw: Any) -> nn.Module:
    from cxrkit.models.densenet import DenseNet121

    if pretrained:
        raise ModelError("no ImageNet DenseNet-121 weights are available offline; pass a .safetensors path")
    return DenseNet121(num_classes=num_classes, in_chans=in_chans, **kw)
