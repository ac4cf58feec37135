"""Write a model package: ``<name>.safetensors`` + ``<name>.onnx`` + ``<name>.card.json`` in one folder.

The card's checksums are computed from the files actually written, so a package written here always
verifies (:meth:`cxrkit.models.card.ModelCard.verify`).
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cxrkit import __version__
from cxrkit.errors import ModelError
from cxrkit.fs import atomic_path
from cxrkit.models.card import ModelCard, sha256_file
from cxrkit.models.onnx import add_features_output, export_onnx, store_weights_fp16

__all__ = ["write_model_package", "export_package_onnx"]

log = logging.getLogger(__name__)


def write_model_package(model: nn.Module, out_dir: str | Path, *, name: str, architecture: str, labels: list[str],
                        transform: dict[str, Any], onnx: bool = True, half: bool = False,
                        **card_fields: Any) -> ModelCard:
    """Save weights (safetensors), the ONNX export and the card.

    Args:
        model: the trained model (its ``classifier`` has ``len(labels)`` outputs).
        out_dir: destination folder.
        name: file stem and card name (e.g. "cxr-default-v1").
        architecture: registry name to rebuild the model.
        labels: head outputs in order.
        transform: the input transform dict (``TransformSpec.to_dict()``).
        onnx: also export ``<name>.onnx`` (float32).
        half: store weights as float16 in both files (half the size; computed in float32 at load).
        **card_fields: the other :class:`ModelCard` fields (validation, operating points, limits...).

    Returns:
        The saved, verified card.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    sd = {}
    for k, v in model.state_dict().items():
        t = v.detach().cpu().contiguous()
        if half and t.is_floating_point():
            t = t.half()
        sd[k] = t
    w = out / f"{name}.safetensors"
    with atomic_path(w, suffix=".safetensors") as tmp:
        save_file(sd, str(tmp), metadata={"name": name, "architecture": architecture})
    onnx_file = onnx_sha = None
    if onnx:
        size = int(transform["size"])
        chans = int(getattr(model, "in_chans", 1))
        o = export_package_onnx(model, out / f"{name}.onnx", size=size, channels=chans, half=half)
        onnx_file, onnx_sha = o.name, sha256_file(o)
    card_fields.setdefault("created", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    card_fields.setdefault("cxrkit_version", __version__)
    card = ModelCard(name=name, architecture=architecture, labels=list(labels),
                     reported_findings=card_fields.pop("reported_findings", []), transform=dict(transform),
                     weights_file=w.name, weights_sha256=sha256_file(w), onnx_file=onnx_file, onnx_sha256=onnx_sha,
                     **card_fields)
    card.save(out / f"{name}.card.json")
    card.verify()
    return card


def export_package_onnx(model: nn.Module, path: str | Path, *, size: int, channels: int, half: bool) -> Path:
    """The package's ONNX graph: ``image (N, C, S, S)`` → ``logits (N, K)`` and, for a GAP + linear head,
    ``features (N, D, h, w)`` (the map the head pools, for CAM without PyTorch; see
    :func:`cxrkit.models.onnx.add_features_output`)."""
    from cxrkit.explain.cam import linear_head

    o = export_onnx(model, path, input_shape=(1, channels, size, size))
    if half:
        store_weights_fp16(o)
    if linear_head(model) is not None:
        try:
            add_features_output(o)
        except ModelError as exc:
            log.warning("%s; the package's CAM will need PyTorch", exc)
    return o


def load_state_float32(path: str | Path) -> dict[str, torch.Tensor]:
    """A safetensors state dict with floating tensors cast to float32."""
    from safetensors.torch import load_file

    return {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(path)).items()}
