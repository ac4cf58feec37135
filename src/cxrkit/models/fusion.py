"""Fuse a classifier probability with the cardiothoracic ratio into one validated Cardiomegaly score.

The fused score is a logistic model on two inputs, fitted on adult validation films and validated by
patient-grouped cross-validation (``scripts/fit_ctr_fusion.py``)::

    p_fused = sigmoid(w_logit * logit(p_classifier) + w_ctr * (clip(CTR, lo, hi) - 0.5) + b)

When the CTR is missing (no segmenter, an implausible measurement) the classifier's own probability and
operating point are used, and the result says which score was used. Arrays in, floats out; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from scipy.special import expit, logit

from cxrkit.errors import ModelError
from cxrkit.types import Finding

__all__ = ["CtrFusion", "fusion_from_card", "usable_ctr", "fuse_findings"]

_EPS = 1e-6


@dataclass(frozen=True)
class CtrFusion:
    """A fitted classifier + CTR fusion for one finding.

    Attributes:
        finding: the fused finding ("Cardiomegaly").
        w_logit / w_ctr / bias: logistic coefficients (see the module docstring).
        ctr_range: the CTR is clipped to this range before use (outliers from failed masks).
        threshold: operating point on the fused probability.
        validation: how it was validated (AUROCs with CIs, n, method) — JSON-ready.
    """

    finding: str
    w_logit: float
    w_ctr: float
    bias: float
    threshold: float
    ctr_range: tuple[float, float] = (0.30, 0.80)
    validation: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        vals = (self.w_logit, self.w_ctr, self.bias, self.threshold, *self.ctr_range)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            raise ModelError(f"fusion for {self.finding!r}: coefficients must be finite numbers, got {vals}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ModelError(f"fusion for {self.finding!r}: threshold {self.threshold} is not a probability")

    def score(self, probability: float, ctr: float) -> float:
        """The fused probability for one film.

        Args:
            probability: the classifier's probability of :attr:`finding`, in [0, 1].
            ctr: the cardiothoracic ratio (heart width / thorax width), dimensionless.
        """
        p = min(max(float(probability), _EPS), 1.0 - _EPS)
        lo, hi = self.ctr_range
        c = min(max(float(ctr), lo), hi)
        z = self.w_logit * float(logit(p)) + self.w_ctr * (c - 0.5) + self.bias
        return float(expit(z))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ctr_range"] = list(self.ctr_range)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CtrFusion:
        """Build from a card entry.

        Raises:
            ModelError: missing or extra keys, non-finite values.
        """
        try:
            d = dict(d)
            d["ctr_range"] = tuple(float(x) for x in d.get("ctr_range", (0.30, 0.80)))
            return cls(**d)
        except TypeError as exc:
            raise ModelError(f"bad fusion entry in the model card: {exc}") from exc


def usable_ctr(measurements: Any) -> float | None:
    """The CTR a fusion may use from :func:`cxrkit.anatomy.measure.measure`'s dict, or None when it is missing or
    flagged ``implausible_anatomy`` (the same rule for the pipeline, fitting and evaluation)."""
    m = measurements or {}
    ctr = m.get("cardiothoracic_ratio")
    if ctr is None or "implausible_anatomy" in m.get("flags", ()):
        return None
    return float(ctr)


def fusion_from_card(card: Any, finding: str) -> CtrFusion | None:
    """The card's fusion for ``finding``, or None when it has none."""
    entry = (getattr(card, "fusion", None) or {}).get(finding)
    return None if entry is None else CtrFusion.from_dict(entry)


def fuse_findings(card: Any, findings: list[Finding], anatomy: Mapping[str, Any] | None,
                  user_thresholds: Mapping[str, float] | None = None) -> list[Finding]:
    """Replace a finding's probability by the card's validated CTR fusion when the CTR was measured.

    A finding with a user threshold keeps the classifier's own probability: the threshold was set on that
    scale. Findings without a fusion, or all of them when the CTR is missing, come back unchanged.
    """
    ctr = usable_ctr(dict(anatomy) if anatomy is not None else None)
    if card is None or ctr is None:
        return findings
    out = []
    for f in findings:
        fusion = fusion_from_card(card, f.name) if f.name not in (user_thresholds or {}) else None
        if fusion is not None:
            p = fusion.score(f.probability, ctr)
            f = replace(f, probability=p, threshold=fusion.threshold, positive=p >= fusion.threshold,
                        basis="classifier+ctr")
        out.append(f)
    return out
