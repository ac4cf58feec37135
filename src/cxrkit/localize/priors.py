"""Per-finding localization priors learned from training boxes (size, location, strategy), stored as JSON.

A prior file ``src/cxrkit/localize/priors/<model name>.json`` holds, for each of the 8 ChestX-ray8 findings, a
:class:`FindingPrior` fitted on the *training* box images of the NIH split (``configs/splits/nih_v2.csv``,
``split == "train"``) with the classifier ``<model name>``'s CAMs, plus how it was fitted (``fitted``: data,
counts, cross-validation scores of every strategy, the command). See ``benchmarks/localize_fit_priors.py``.

Positions and sizes are fractions of the lung field's bounding box (:mod:`cxrkit.localize.anatomy`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.errors import DataFormatError, unknown_name
from cxrkit.fs import atomic_write_text
from cxrkit.labels import canonical

__all__ = ["PRIORS_DIR", "FindingPrior", "LocalizationPriors", "load_priors", "fit_finding_prior", "prior_names"]

PRIORS_DIR = Path(__file__).resolve().parent / "priors"
#: Classifier whose priors are used when none is named (the shipped default model).
DEFAULT_MODEL = "cxr-default-v1"


def _pair(values: Any) -> tuple[float, float]:
    """Two floats (a width and a height scale) from any iterable of two numbers."""
    a, b = (float(v) for v in values)
    return a, b


@dataclass(frozen=True)
class FindingPrior:
    """Where and how big one finding's box is, relative to the lung field, and how to place it.

    Attributes:
        finding: canonical finding name.
        strategy: one of :data:`cxrkit.localize.anatomy.STRATEGIES`.
        width, height: box size as fractions of the lung field's width and height (median of training boxes).
        cy: mean box-centre row in lung-field coordinates (0 = top of the lungs, 1 = bottom).
        dx: mean distance of the box centre from the lung field's midline, as a fraction of its width.
        sx, sy: standard deviations of ``|u - 0.5|`` and ``v`` (the location prior's spread).
        heart_scale: (width, height) of the box as multiples of the heart mask's bounding box ("heart" strategy).
        n_boxes: training boxes the prior was fitted on.
    """

    finding: str
    strategy: str
    width: float
    height: float
    cy: float
    dx: float
    sx: float
    sy: float
    heart_scale: tuple[float, float] = (1.0, 1.0)
    n_boxes: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FindingPrior:
        from cxrkit.localize.anatomy import STRATEGIES

        try:
            p = cls(
                finding=str(d["finding"]), strategy=str(d["strategy"]), width=float(d["width"]),
                height=float(d["height"]), cy=float(d["cy"]), dx=float(d["dx"]), sx=float(d["sx"]),
                sy=float(d["sy"]), heart_scale=_pair(d.get("heart_scale", (1.0, 1.0))),
                n_boxes=int(d.get("n_boxes", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"bad finding prior {dict(d)!r}: {exc}") from exc
        if p.strategy not in STRATEGIES:
            raise unknown_name("anatomy box strategy", p.strategy, STRATEGIES)
        if not (0 < p.width <= 1.5 and 0 < p.height <= 1.5):
            raise DataFormatError(f"prior of {p.finding}: width/height must be in (0, 1.5], got {p.width}, {p.height}")
        return p


@dataclass(frozen=True)
class LocalizationPriors:
    """The priors of one classifier: finding → :class:`FindingPrior`, with the fitting record."""

    model: str
    findings: dict[str, FindingPrior]
    fitted: dict[str, Any] = field(default_factory=dict)

    def get(self, finding: str) -> FindingPrior:
        """Prior of ``finding`` (synonyms accepted); unknown → did-you-mean error."""
        name = canonical(finding, strict=False) or str(finding)
        if name not in self.findings:
            raise unknown_name(f"finding with a localization prior for {self.model}", finding, self.findings)
        return self.findings[name]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "findings": {k: asdict(v) for k, v in self.findings.items()},
                "fitted": self.fitted}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LocalizationPriors:
        if "model" not in d or "findings" not in d:
            raise DataFormatError("a priors file needs 'model' and 'findings'")
        return cls(str(d["model"]), {canonical(k, strict=False) or k: FindingPrior.from_dict(v)
                                     for k, v in d["findings"].items()}, dict(d.get("fitted", {})))


def prior_names() -> list[str]:
    """Models with shipped priors (file stems in :data:`PRIORS_DIR`)."""
    return sorted(p.name[: -len(".json")] for p in PRIORS_DIR.glob("*.json"))


@lru_cache(maxsize=8)
def _load(path: str) -> LocalizationPriors:
    try:
        return LocalizationPriors.from_dict(json.loads(Path(path).read_text()))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path} is not valid JSON: {exc}") from exc


def load_priors(model: str | Path | None = None) -> LocalizationPriors:
    """Priors of a classifier: its name (shipped file in :data:`PRIORS_DIR`), a path to a JSON file, or None
    (the default model's).

    Raises:
        UnknownNameError: no shipped priors for that model name (the message lists those that exist).
    """
    if model is None:
        model = DEFAULT_MODEL
    p = Path(model)
    if p.suffix == ".json" and p.is_file():
        return _load(str(p.resolve()))
    path = PRIORS_DIR / f"{model}.json"
    if not path.is_file():
        raise unknown_name("classifier with localization priors", str(model), prior_names())
    return _load(str(path))


def fit_finding_prior(
    finding: str,
    boxes: Iterable[tuple[tuple[float, float, float, float], tuple[float, float, float, float]]],
    *,
    strategy: str = "cam_prior",
    heart_boxes: Iterable[tuple[tuple[float, float, float, float], tuple[float, float, float, float]]] = (),
) -> FindingPrior:
    """Fit size and location of one finding from training boxes.

    Args:
        finding: finding name.
        boxes: ``(truth box (x_min, y_min, x_max, y_max), lung field (r0, c0, r1, c1))`` pairs, same pixel grid.
        strategy: the strategy to store (chosen elsewhere, by cross-validation).
        heart_boxes: ``(truth box, heart mask bbox (r0, c0, r1, c1))`` pairs: the median width and height
            ratios become ``heart_scale``.

    Returns:
        :class:`FindingPrior` (medians for size, means and standard deviations for location).
    """
    u, v, w, h = [], [], [], []
    for (x0, y0, x1, y1), (r0, c0, r1, c1) in boxes:
        fw, fh = max(c1 - c0, 1e-9), max(r1 - r0, 1e-9)
        u.append(((x0 + x1) / 2 - c0) / fw)
        v.append(((y0 + y1) / 2 - r0) / fh)
        w.append((x1 - x0) / fw)
        h.append((y1 - y0) / fh)
    if not u:
        raise DataFormatError(f"no training boxes for {finding}")
    du = np.abs(np.asarray(u) - 0.5)
    hs = [((x1 - x0) / max(c1 - c0, 1e-9), (y1 - y0) / max(r1 - r0, 1e-9))
          for (x0, y0, x1, y1), (r0, c0, r1, c1) in heart_boxes]
    heart_scale = _pair(round(float(x), 4) for x in np.median(np.asarray(hs), axis=0)) if hs else (1.0, 1.0)
    r = lambda x: float(round(float(x), 4))  # noqa: E731
    return FindingPrior(
        finding=canonical(finding, strict=False) or finding, strategy=strategy,
        width=r(np.median(w)), height=r(np.median(h)), cy=r(np.mean(v)), dx=r(du.mean()), sx=r(du.std()),
        sy=r(np.std(v)), heart_scale=heart_scale, n_boxes=len(u),
    )
