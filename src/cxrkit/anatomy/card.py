"""The segmentation model card: a small typed JSON document stored beside the weights, checked at load.

It records what the model is (architecture, input transform, output structures and side convention), how it
was trained (data, split, epochs) and validated (Dice/Jaccard per structure with 95 % bootstrap CIs on the
held-out fold), its intended use and limits, and the SHA-256 of each weights file, verified by
:func:`load_card` so that a card never describes other weights.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cxrkit.errors import ModelError

__all__ = ["SegmentationCard", "load_card", "sha256_file"]


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class SegmentationCard:
    """Model card of an anatomy segmenter (see the module docstring).

    Attributes:
        name: model name, e.g. ``"cxrkit-anatomy-unet-256"``.
        version: model version string.
        architecture: ``{"name": "CompactUNet", "widths": [...], "parameters": int}``.
        input: ``{"size": 256, "transform": "...", "range": "[0, 1] dark lungs"}``.
        structures: output channel names in order (PATIENT sides).
        side_convention: text explaining patient vs image sides.
        threshold: probability threshold for the masks.
        files: file name (relative to the card) -> SHA-256.
        training: data, split, epochs, augmentation, seed, command.
        metrics: held-out results (structure -> metric -> value/CI), with the protocol.
        intended_use / limitations: free text lists.
    """

    name: str
    version: str
    architecture: dict[str, Any]
    input: dict[str, Any]
    structures: list[str]
    side_convention: str
    threshold: float = 0.5
    files: dict[str, str] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    intended_use: list[str] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        """Pretty JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    def save(self, path: str | Path) -> None:
        """Write atomically."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)


def load_card(path: str | Path, *, verify: bool = True) -> SegmentationCard:
    """Read a card and (by default) check the SHA-256 of every file it lists, relative to the card's folder.

    Raises
    ------
    ModelError
        missing or malformed card, missing weights file, or checksum mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"segmentation model card not found: {path}")
    try:
        data = json.loads(path.read_text())
        card = SegmentationCard(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelError(f"malformed segmentation model card {path}: {exc}") from exc
    if verify:
        for fname, digest in card.files.items():
            f = path.parent / fname
            if not f.is_file():
                raise ModelError(f"weights file {f} listed in {path.name} is missing")
            actual = sha256_file(f)
            if actual != digest:
                raise ModelError(f"checksum mismatch for {f}: card says {digest[:12]}..., file is {actual[:12]}...")
    return card
