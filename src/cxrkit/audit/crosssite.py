"""Cross-site matrix: AUROC per finding per source, pooled vs within-source, and the shortcut signature.

When a finding's positives come from one collection and its negatives from another, the pooled AUROC can be
high while the model cannot separate cases *within* any collection: it recognises where a film came from.
:func:`cross_site` flags a finding when the pooled AUROC's 95% CI lies entirely above the CI of every
within-source AUROC that can be estimated (*shortcut*), calls it *site-dependent* when two sources' AUROC CIs do
not overlap (a cross-site drop), and calls a finding *untestable* when no single source has both
classes (then the pooled AUROC compares sources and cannot show disease discrimination at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cxrkit.audit.stats import auroc_stats

__all__ = ["cross_site"]


def _verdict(f: str, pooled: dict[str, Any], within: dict[str, dict[str, Any]]) -> tuple[str, str]:
    est = {s: r for s, r in within.items() if r["auroc"] is not None}
    n_src = sum(1 for r in within.values() if r["n"] > 0)
    if pooled["auroc"] is None:
        return "not_estimable", f"{f}: pooled AUROC not estimable ({pooled['note']})."
    if not est:
        if n_src > 1:
            return ("untestable", f"{f}: no single source has both classes, so the pooled AUROC "
                    f"{pooled['auroc']:.3f} compares sources with each other; it cannot show that the model "
                    "detects the finding rather than the collection.")
        return "no_within", f"{f}: one source only; pooled = within-source."
    if len(est) == 1 and n_src == 1:
        return "single_source", f"{f}: one source only; pooled = within-source AUROC {pooled['auroc']:.3f}."
    best_s, best = max(est.items(), key=lambda kv: kv[1]["auroc"])
    if pooled["lo"] > max(r["hi"] for r in est.values()):
        return ("shortcut", f"{f}: SHORTCUT SIGNATURE. Pooled AUROC {pooled['auroc']:.3f} "
                f"[{pooled['lo']:.3f}, {pooled['hi']:.3f}] exceeds every within-source AUROC (best: {best_s} "
                f"{best['auroc']:.3f} [{best['lo']:.3f}, {best['hi']:.3f}]) with separated 95% CIs: the pooled "
                "figure is carried by differences between collections, not by the finding.")
    worst_s, worst = min(est.items(), key=lambda kv: kv[1]["auroc"])
    if worst["hi"] < best["lo"]:
        return ("site_dependent", f"{f}: SITE-DEPENDENT. Within-source AUROC ranges from {worst['auroc']:.3f} "
                f"[{worst['lo']:.3f}, {worst['hi']:.3f}] ({worst_s}) to {best['auroc']:.3f} [{best['lo']:.3f}, "
                f"{best['hi']:.3f}] ({best_s}), CIs separated; the pooled {pooled['auroc']:.3f} describes neither.")
    return ("consistent", f"{f}: pooled AUROC {pooled['auroc']:.3f} is not separated from the within-source "
            f"AUROCs (best: {best_s} {best['auroc']:.3f}); no shortcut signature.")


def cross_site(labels: np.ndarray, probs: np.ndarray, findings: Sequence[str], sources: np.ndarray, *,
               card_per_source: Mapping[str, Mapping[str, Any]] | None = None, n_boot: int = 1000,
               seed: int = 0) -> list[dict[str, Any]]:
    """One entry per finding: pooled and per-source AUROC with 95% CIs, and the verdict.

    Args:
        labels: ``(N, K)`` 1 / 0 / NaN.
        probs: ``(N, K)`` the model's probabilities for ``findings``.
        findings: K names.
        sources: ``(N,)`` source (site / collection) of each image.
        card_per_source: finding → source → the model card's validation entry (``auroc``), shown beside the
            audit's figure (the drop from the card's in-source validation to this data).

    Returns:
        ``[{finding, pooled: {...}, per_source: {source: {...}}, verdict, message}]``.
    """
    src = np.asarray(sources).astype(str)
    names = sorted(set(src.tolist()))
    out = []
    for j, f in enumerate(findings):
        pooled, _ = auroc_stats(labels[:, j], probs[:, j], n_boot=n_boot, seed=seed)
        per = {}
        for s in names:
            m = src == s
            r, _ = auroc_stats(labels[m, j], probs[m, j], n_boot=n_boot, seed=seed)
            card = (card_per_source or {}).get(f, {}).get(s) or {}
            r["card_auroc"] = card.get("auroc")
            if r["auroc"] is not None and card.get("auroc") is not None:
                r["drop_from_card"] = float(card["auroc"]) - r["auroc"]
            per[s] = r
        verdict, msg = _verdict(f, pooled, per)
        out.append({"finding": f, "pooled": pooled, "per_source": per, "verdict": verdict, "message": msg})
    return out
