"""``load_package()``: the one loader of cxrkit model packages (card + ONNX + safetensors), whatever the kind.

A package is a folder with one ``*.card.json`` beside the files it lists; the card's checksums are verified
before anything runs, and its ``kind`` picks the runtime: :class:`cxrkit.models.classifier.Classifier` or
:class:`cxrkit.anatomy.segment.Segmenter`. No PyTorch is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cxrkit.errors import ModelError
from cxrkit.models.card import ModelCard

if TYPE_CHECKING:
    from cxrkit.anatomy.segment import Segmenter
    from cxrkit.models.classifier import Classifier

__all__ = ["load_package", "resolve_card"]


def resolve_card(path: str | Path) -> Path:
    """The ``.card.json`` of a package given as its folder, its card, or its ``.safetensors`` / ``.onnx``.

    Raises:
        ModelError: nothing, or more than one card, found.
    """
    p = Path(path)
    if p.is_dir():
        cards = sorted(p.glob("*.card.json"))
        if len(cards) != 1:
            raise ModelError(f"expected one *.card.json in {p}, found {len(cards)}")
        return cards[0]
    if p.suffix in (".safetensors", ".onnx"):
        stem = p.name.rsplit(".", 1)[0]
        p = p.with_name(f"{stem}.card.json")
    if not p.is_file():
        raise ModelError(f"model card not found: {p} (a model is a folder or a .card.json with its weights)")
    return p


def load_package(path: str | Path, *, threads: int | None = None) -> Classifier | Segmenter:
    """Load and verify a model package; the runtime matches the card's ``kind``.

    Args:
        path: a package folder, its ``.card.json``, or the ``.safetensors`` / ``.onnx`` beside the card.
        threads: ONNX Runtime intra-op threads (None: ``CXRKIT_THREADS`` or the usable CPUs, at most 8).

    Raises:
        ModelError: card or files missing, corrupt, or not matching each other.
    """
    card = ModelCard.load(resolve_card(path), verify=True)
    if card.kind == "segmenter":
        from cxrkit.anatomy.segment import Segmenter

        return Segmenter(card, threads=threads)
    from cxrkit.models.classifier import Classifier

    return Classifier(card, threads=threads)
