"""Model registry: architectures register a builder with :func:`register_model`; :func:`create_model` builds
them by name and optionally loads weights (a ``.safetensors`` file or ``"imagenet"``).

>>> from cxrkit.models import create_model
>>> m = create_model("efficientnet_lite0", num_classes=3)
>>> m.classifier.out_features
3
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from cxrkit.errors import ModelError, unknown_name

__all__ = ["register_model", "create_model", "list_models", "load_weights_file"]

log = logging.getLogger(__name__)

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a builder ``fn(num_classes, in_chans, pretrained, **kw) -> nn.Module`` under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ModelError(f"model name {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return deco


def _ensure_builtin() -> None:
    # Importing the architecture modules runs their @register_model decorators.
    from cxrkit.models import builtin  # noqa: F401


def list_models() -> list[str]:
    """Registered architecture names, sorted."""
    _ensure_builtin()
    return sorted(_REGISTRY)


def load_weights_file(model: nn.Module, path: str | Path, *, strict: bool = True) -> None:
    """Load a ``.safetensors`` (or PyTorch ``.pt``/``.pth`` state dict) file into ``model``.

    Raises:
        ModelError: missing file, unreadable file, or tensors that do not fit the model (names listed).
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"weights file not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p))
        else:
            loaded: Any = torch.load(p, map_location="cpu", weights_only=True)
            sd = loaded.get("model", loaded) if isinstance(loaded, dict) else loaded
    except Exception as exc:  # safetensors / torch raise untyped errors on corrupt files
        raise ModelError(f"cannot read weights file {p}: {exc}") from exc
    own = model.state_dict()
    shape_bad = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in sd.items()
                 if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if shape_bad:
        raise ModelError(f"weights {p.name} do not fit the model: " + "; ".join(shape_bad[:5]))
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if strict and (missing or unexpected):
        raise ModelError(f"weights {p.name} do not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.load_state_dict(sd, strict=False)


def create_model(name: str, weights: str | Path | None = None, *, num_classes: int = 14, in_chans: int = 1,
                 **kwargs: Any) -> nn.Module:
    """Build a registered architecture.

    Args:
        name: registry name (:func:`list_models`), e.g. ``"efficientnet_lite0"``, ``"densenet121"``.
        weights: None (random init), ``"imagenet"`` (the architecture's ImageNet weights, first conv adapted
            to ``in_chans``; only where available offline) or a path to a ``.safetensors`` file.
        num_classes: outputs of the classifier head.
        in_chans: input channels (1 for radiographs).
        **kwargs: passed to the architecture (e.g. ``drop_rate``).

    Raises:
        UnknownNameError: unknown name (with a did-you-mean hint).
        ModelError: weights missing or not matching.
    """
    _ensure_builtin()
    if name not in _REGISTRY:
        raise unknown_name("model", name, _REGISTRY)
    pretrained = weights == "imagenet"
    model = _REGISTRY[name](num_classes=int(num_classes), in_chans=int(in_chans), pretrained=pretrained, **kwargs)
    if weights is not None and not pretrained:
        load_weights_file(model, weights)
    return model
