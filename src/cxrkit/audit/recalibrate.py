"""Per-site recalibration: new operating points (and the site's temperature) written as a new model card.

:func:`fit_site` keeps each finding's validated sensitivity (from the card's operating point) and finds the
threshold that reproduces it on the site's labelled sample (:func:`cxrkit.evaluate.operating_points.
recalibrate_thresholds`); it also fits the site's temperature and reports ECE before and after scaling.
:func:`write_site_card` writes ``<name>-<site>-r<k>`` beside copies of the weights (checksums verified): the
thresholds apply to the model's raw probabilities, exactly what ``cxrkit classify`` outputs, so the new card
works without code changes; the temperature and the whole fit are stored as evidence in the card's
``training["site_recalibration"]``.
"""

from __future__ import annotations

import datetime as _dt
import re
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.errors import DataFormatError, ModelError
from cxrkit.evaluate.calibration import apply_temperature, expected_calibration_error, fit_temperature
from cxrkit.evaluate.operating_points import recalibrate_thresholds
from cxrkit.fs import atomic_path

__all__ = ["fit_site", "write_site_card", "site_slug"]


def site_slug(site: str) -> str:
    """A file-name-safe lower-case site name."""
    s = re.sub(r"[^a-z0-9]+", "-", str(site).lower()).strip("-")
    return s or "site"


def fit_site(labels: np.ndarray, probs: np.ndarray, findings: Sequence[str], card, *,
             keep: str = "sensitivity", min_class: int = 5) -> dict[str, Any]:
    """Fit thresholds and temperatures for one site.

    Args:
        labels / probs: ``(N, K)`` the site's labels (1 / 0 / NaN) and the model's raw probabilities.
        findings: K names (outputs of the model).
        card: the model's :class:`~cxrkit.models.card.ModelCard` (reference operating points).
        keep: "sensitivity" (default) or "specificity" to keep from the card's operating point.

    Returns:
        ``{"findings": {finding: {...}}, "skipped": {finding: reason}}``.
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    ref, skipped = {}, {}
    for j, f in enumerate(findings):
        op = card.operating_points.get(f)
        yj = y[:, j][np.isfinite(y[:, j])]
        npos, nneg = int(np.sum(yj == 1)), int(np.sum(yj == 0))
        if op is None or getattr(op, keep) is None:
            skipped[f] = f"the card has no {keep} for its operating point"
        elif npos < min_class or nneg < min_class:
            skipped[f] = f"{npos} positives and {nneg} negatives at this site (needs >= {min_class} of each)"
        else:
            ref[f] = {keep: float(getattr(op, keep))}
    fitted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        new = recalibrate_thresholds(y, p, list(findings), ref, keep=keep)
        for j, f in enumerate(findings):
            if f not in new:
                continue
            ok = np.isfinite(y[:, j]) & np.isfinite(p[:, j])
            yj, pj = y[ok, j], np.clip(p[ok, j], 0, 1)
            t = fit_temperature(yj, pj)
            r = new[f]
            old = card.operating_points[f]
            fitted[f] = {
                "n": int(len(yj)), "positives": int(np.sum(yj == 1)), "keep": keep, "target": ref[f][keep],
                "threshold_before": float(old.threshold), "threshold": r.threshold, "sensitivity": r.sensitivity,
                "specificity": r.specificity, "ppv": r.ppv,
                "sensitivity_at_old_threshold": float(np.mean(pj[yj == 1] >= old.threshold)),
                "specificity_at_old_threshold": float(np.mean(pj[yj == 0] < old.threshold)),
                "temperature": t, "ece_before": expected_calibration_error(yj, pj),
                "ece_after_temperature": expected_calibration_error(yj, apply_temperature(pj, t)),
            }
    return {"findings": fitted, "skipped": skipped}


def write_site_card(card, fit: dict[str, Any], out_dir: str | Path, *, site: str, data: str):
    """Write ``<card.name>-<site>-r<k>.{card.json,safetensors,onnx}`` in ``out_dir`` and return the new card.

    ``k`` is the first free revision number in ``out_dir``. The weight files are byte copies whose SHA-256 is
    checked against the original card before the new card is saved and verified.

    Raises:
        ModelError: the original weights do not match their card, or the copy does not verify.
        DataFormatError: nothing was recalibrated.
    """
    from cxrkit.models.card import ModelCard, OperatingPoint, sha256_file

    if not fit["findings"]:
        raise DataFormatError(f"nothing to recalibrate for site {site!r}: " +
                              "; ".join(f"{f}: {r}" for f, r in fit["skipped"].items()))
    card.verify()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = f"{card.name}-{site_slug(site)}"
    k = 1
    while (out / f"{base}-r{k}.card.json").exists():
        k += 1
    name = f"{base}-r{k}"
    d = card.to_dict()
    d["name"] = name
    copies = [(card.weights_path(), f"{name}.safetensors", card.weights_sha256)]
    if card.onnx_path() is not None:
        copies.append((card.onnx_path(), f"{name}.onnx", card.onnx_sha256))
    for src, dst_name, sha in copies:
        with atomic_path(out / dst_name) as tmp:
            shutil.copyfile(src, tmp)
            if sha and sha256_file(tmp) != sha:
                raise ModelError(f"copy of {src.name} does not match the card's checksum")
    d["weights_file"] = f"{name}.safetensors"
    if card.onnx_path() is not None:
        d["onnx_file"] = f"{name}.onnx"
    ops = {f: (op if isinstance(op, dict) else dict(op.__dict__)) for f, op in d["operating_points"].items()}
    for f, r in fit["findings"].items():
        ops[f] = {"threshold": float(np.clip(r["threshold"], 0.0, 1.0)),
                  "method": f"recalibrated at {site}: {r['keep']} {r['target']:.3f} kept",
                  "sensitivity": r["sensitivity"], "specificity": r["specificity"],
                  "ppv": None if r["ppv"] is None or not np.isfinite(r["ppv"]) else r["ppv"]}
    d["operating_points"] = {f: OperatingPoint(**v) for f, v in ops.items()}
    d["operating_point_method"] = (f"{card.operating_point_method} Recalibrated for site {site!r} on {data}: each "
                                   f"finding's threshold moved to keep the card's validated {r['keep']}.")
    d["limits"] = list(d.get("limits", [])) + [
        f"Site recalibration ({site}): thresholds fitted on {max(r['n'] for r in fit['findings'].values())} labelled "
        "images of this site; they were chosen and checked on the same images, so the rates are optimistic. "
        "Probabilities are unchanged (the fitted temperature is stored as evidence, not applied)."]
    training = dict(d.get("training") or {})
    training["site_recalibration"] = {
        "base_model": card.name, "base_weights_sha256": card.weights_sha256, "site": site, "data": data,
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "findings": fit["findings"], "skipped": fit["skipped"],
        "how": "cxrkit recalibrate: thresholds by cxrkit.evaluate.operating_points.recalibrate_thresholds; "
               "temperature by maximum likelihood (cxrkit.evaluate.calibration.fit_temperature)",
    }
    d["training"] = training
    d["created"] = training["site_recalibration"]["created"]
    new = ModelCard.from_dict(_clean(d))
    new.save(out / f"{name}.card.json")
    new.verify()
    return new


def _clean(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return type(o)(_clean(v) for v in o) if isinstance(o, list) else tuple(_clean(v) for v in o)
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.integer):
        return int(o)
    return o
