"""Adapters between the pipeline and the model packages: default loading, card info, operating points and
measurement normalization. Kept apart from :mod:`cxrkit.pipeline` so the flow reads on its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.errors import ModelError
from cxrkit.result import ModelInfo
from cxrkit.types import Measurement

__all__ = ["load_default_classifier", "load_default_segmenter", "load_from_path", "card_info", "operating_points", "to_measurements"]

# descriptive fields of cxrkit.anatomy.measure's dict that are not measurements
_NOT_MEASUREMENTS = frozenset({"flags", "flag_details", "reliable", "view", "pixel_spacing_mm", "image_size",
                               "definition", "heart_line", "thorax_line", "mm_reliable", "mm_flags",
                               "mm_flag_details"})
_UNITS = (("_mm2", "mm2"), ("_mm", "mm"), ("_px2", "px2"), ("_px", "px"), ("ratio", "ratio"))


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
        from cxrkit.models.classifier import load_classifier as load
    else:
        from cxrkit.anatomy.segment import load_segmenter as load
    return load(Path(path))


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
            out.append(float(getattr(value, "threshold", value)))
        elif th is not None:
            out.append(float(np.asarray(th)[i]))
        else:
            raise ModelError("the classifier has no operating points (thresholds)")
    return out


def to_measurements(raw: Any) -> list[Measurement]:
    """Normalize the anatomy package's ``measure()`` output to :class:`Measurement` objects."""
    if raw is None:
        return []
    if isinstance(raw, Measurement):
        return [raw]
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        return [m for item in raw for m in to_measurements(item)]
    if hasattr(raw, "to_dict") and not isinstance(raw, Mapping):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        return []
    flags = tuple(str(f) for f in (raw.get("flags") or ()))
    reliable = bool(raw.get("reliable", not flags))
    out = []
    for key, value in raw.items():
        if key in _NOT_MEASUREMENTS or not _unit(key):
            continue
        if isinstance(value, Measurement):
            out.append(value)
        elif isinstance(value, Mapping) and "value" in value:
            out.append(Measurement(key, None if value["value"] is None else float(value["value"]),
                                   str(value.get("unit", _unit(key))), bool(value.get("reliable", reliable)),
                                   tuple(value.get("flags", flags))))
        elif isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) or value is None:
            v = None if value is None or not np.isfinite(float(value)) else float(value)
            if _unit(key) in ("mm", "mm2"):  # also needs a PixelSpacing that fits the stored matrix
                out.append(Measurement(key, v, _unit(key), reliable and bool(raw.get("mm_reliable", True)),
                                       tuple(str(f) for f in (raw.get("mm_flags") or ()))))
            else:
                out.append(Measurement(key, v, _unit(key), reliable, flags if key == "cardiothoracic_ratio" else ()))
    return out


def _unit(name: str) -> str:
    if "area" in name and name.endswith("_px"):
        return "px2"
    return next((u for suffix, u in _UNITS if name.endswith(suffix)), "ratio" if "ratio" in name else "")
