"""Adapters between the pipeline and the model packages: default loading, card info, operating points and
measurement normalization. Kept apart from :mod:`cxrkit.pipeline` so the flow reads on its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.errors import ModelError
from cxrkit.result import ModelInfo

__all__ = ["load_default_classifier", "load_default_segmenter", "load_from_path", "card_info", "operating_points"]


def load_default_classifier() -> tuple[Any | None, str]:
    from cxrkit.models.classifier import load_classifier

    try:
        return load_classifier(None), "shipped default classifier"
    except (ModelError, FileNotFoundError, NotImplementedError) as exc:
        return None, f"no classifier available ({exc})"


def load_default_segmenter() -> tuple[Any | None, str]:
    from cxrkit.anatomy.segment import load_segmenter

    try:
        return load_segmenter(None), "shipped default segmenter"
    except (ModelError, FileNotFoundError, NotImplementedError) as exc:
        return None, f"no segmenter available ({exc})"


def load_from_path(kind: str, path: str | Path) -> Any:
    """Load a user-given classifier (``kind="classifier"``) or segmenter package; errors are raised, since the
    user asked for this model explicitly.

    Raises:
        ModelError: the package is missing or inconsistent.
    """
    if kind == "classifier":
        from cxrkit.models.classifier import load_classifier

        return load_classifier(Path(path))
    from cxrkit.anatomy.segment import load_segmenter

    return load_segmenter(Path(path))


def card_info(classifier: Any) -> ModelInfo:
    card = getattr(classifier, "card", None)
    name = getattr(card, "name", None) or getattr(card, "architecture", None) or type(classifier).__name__
    version = (getattr(card, "version", None) or getattr(card, "created", None)
               or getattr(card, "cxrkit_version", None) or "unknown")
    checksum = (getattr(card, "checksum", None) or getattr(card, "weights_sha256", None)
                or getattr(card, "sha256", None))
    return ModelInfo(str(name), str(version), None if checksum is None else str(checksum),
                     tuple(str(f) for f in classifier.findings))


def operating_points(classifier: Any, findings: Sequence[str], override: Mapping[str, float] | None) -> list[float]:
    th = getattr(classifier, "thresholds", None)
    out = []
    for i, name in enumerate(findings):
        if override and name in override:
            out.append(float(override[name]))
        elif isinstance(th, Mapping):
            value = th.get(name)
            if value is None:
                raise ModelError(f"the model card has no operating point for {name!r}")
            threshold: Any = getattr(value, "threshold", value)
            out.append(float(threshold))
        elif th is not None:
            out.append(float(np.asarray(th)[i]))
        else:
            raise ModelError("the classifier has no operating points (thresholds)")
    return out
