"""Start training from an existing model package (fine-tuning) instead of ImageNet weights."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from cxrkit.errors import ModelError

__all__ = ["init_from_package"]

log = logging.getLogger(__name__)


def _card_path(ref: str) -> Path:
    p = Path(ref)
    if p.suffix == ".safetensors":
        p = p.with_name(p.name[: -len(".safetensors")] + ".card.json")
    if p.is_file():
        return p
    from cxrkit.models.classifier import default_model_path

    shipped = default_model_path().parent / f"{ref}.card.json"
    if shipped.is_file():
        return shipped
    raise ModelError(f"model.init_from: no model package at {ref!r} (a .card.json / .safetensors path or a "
                     f"shipped model name such as 'cxr-default-v1')")


def init_from_package(model: nn.Module, findings: Sequence[str], ref: str) -> list[str]:
    """Copy a package's weights into ``model``; head rows are matched by finding name.

    Args:
        model: a freshly built model of the package's architecture, its head sized ``len(findings)``.
        findings: the new model's outputs, in order.
        ref: a ``.card.json`` / ``.safetensors`` path or a shipped model name.

    Returns:
        The findings whose head rows came from the package (the others start at zero weight and bias).

    Raises:
        ModelError: no such package, another architecture, or trunk tensors that do not fit.
    """
    from safetensors.torch import load_file

    from cxrkit.models.card import ModelCard

    card = ModelCard.load(_card_path(ref), verify=True)
    sd = {k: v.float() for k, v in load_file(str(card.weights_path())).items()}
    own = model.state_dict()
    head_w = [k for k in own if k.endswith("weight") and own[k].ndim == 2 and own[k].shape[0] == len(findings)]
    if len(head_w) != 1:
        raise ModelError(f"cannot find the classifier head of {type(model).__name__} ({len(findings)} outputs)")
    hw = head_w[0]
    hb = hw[: -len("weight")] + "bias"
    trunk = {k: v for k, v in sd.items() if k not in (hw, hb)}
    bad = [k for k, v in trunk.items() if k not in own or tuple(own[k].shape) != tuple(v.shape)]
    if bad:
        raise ModelError(f"{card.name} ({card.architecture}) does not fit {type(model).__name__}: {bad[:5]}")
    new_w, new_b = torch.zeros_like(own[hw]), torch.zeros_like(own[hb])
    kept = []
    for j, f in enumerate(findings):
        if f in card.labels:
            i = card.labels.index(f)
            new_w[j], new_b[j] = sd[hw][i], sd[hb][i]
            kept.append(f)
    trunk.update({hw: new_w, hb: new_b})
    model.load_state_dict({**own, **trunk})
    log.info("initialised from %s; head rows reused for %s", card.name, kept)
    return kept
