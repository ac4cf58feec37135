"""Run a whole audit: model outputs (cached) → cross-site, subgroups, probes, calibration → one result dict.

>>> from cxrkit.audit.inputs import from_folder          # doctest: +SKIP
>>> from cxrkit.audit.run import run_audit              # doctest: +SKIP
>>> result = run_audit(from_folder("imgs/", "labels.csv"), out_dir="audit/")   # doctest: +SKIP

The probes cost several model passes per image, so they run on at most ``probe_limit`` images per source
(seeded sample); the cross-site, subgroup and calibration sections use every image.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.audit.calibration import site_calibration
from cxrkit.audit.crosssite import cross_site
from cxrkit.audit.inputs import AuditData
from cxrkit.audit.predict import cached_outputs, job_functions, model_key
from cxrkit.audit.probes import occlusion_probe, source_probe
from cxrkit.audit.subgroups import subgroup_audit
from cxrkit.errors import DataFormatError

__all__ = ["AuditOptions", "run_audit", "model_scores"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditOptions:
    """Knobs of an audit.

    Attributes:
        n_boot: bootstrap replicates for every CI.
        seed: seed of every bootstrap and sample.
        probes: run the occlusion and source probes.
        probe_limit: images per source for the probes (seeded sample).
        batch_size: images per model call and per cache shard.
        progress: tqdm bars (None: when stderr is a terminal).
    """

    n_boot: int = 1000
    seed: int = 0
    probes: bool = True
    probe_limit: int = 150
    batch_size: int = 16
    progress: bool | None = None


def model_scores(data: AuditData, clf, cache_dir: Path, *, batch_size: int = 16, progress: bool | None = None,
                 errors: dict[str, str] | None = None) -> tuple[np.ndarray, list[str]]:
    """The model's probabilities ``(N, K)`` for the findings it shares with ``data`` (cached), and those findings."""
    findings = [f for f in data.findings if f in clf.labels]
    if not findings:
        raise DataFormatError(f"the model's outputs ({', '.join(clf.labels)}) and the labels ({', '.join(data.findings)}) "
                              "share no finding")
    fns = job_functions(clf)
    out = cached_outputs(list(data.paths), "full", fns["full"], cache_dir, batch_size=batch_size, errors=errors,
                         progress=progress)
    if not out:
        raise DataFormatError("no image could be read")
    cols = [clf.labels.index(f) for f in findings]
    return out["probs"][:, cols].astype(np.float64), findings


def _probe_rows(data: AuditData, limit: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 101)
    src = data.meta["source"].astype(str).to_numpy()
    rows = []
    for s in sorted(set(src.tolist())):
        r = np.flatnonzero(src == s)
        if len(r) > limit:
            r = np.sort(rng.choice(r, size=limit, replace=False))
        rows.append(r)
    return np.sort(np.concatenate(rows))


def run_audit(data: AuditData, out_dir: str | Path, *, model: str | Path | None = None, clf=None,
              options: AuditOptions = AuditOptions()) -> dict[str, Any]:
    """Every audit section for ``data`` and a classifier (default: the shipped model).

    Predictions are cached under ``out_dir/cache/<model key>/`` (see :mod:`cxrkit.audit.predict`).

    Returns:
        The audit as a JSON-ready dict (``audit.json``); arrays needed by the plots under ``"_arrays"``.
    """
    from cxrkit.models.classifier import load_classifier

    t0 = time.perf_counter()
    if clf is None:
        clf = load_classifier(model)
    card = clf.card
    out = Path(out_dir)
    cache = out / "cache" / model_key(card)
    errors: dict[str, str] = {}
    notes = list(data.notes)
    probs, findings = model_scores(data, clf, cache, batch_size=options.batch_size, progress=options.progress,
                                   errors=errors)
    skipped = [f for f in data.findings if f not in findings]
    if skipped:
        notes.append(f"labels without a model output (not audited): {', '.join(skipped)}")
    if errors:
        notes.append(f"{len(errors)} images could not be read (left out); first: {next(iter(errors.items()))}")
    ok = np.all(np.isfinite(probs), axis=1)
    cols = [data.findings.index(f) for f in findings]
    y = data.labels[:, cols]
    y = np.where(ok[:, None], y, np.nan)
    sources = data.meta["source"].astype(str).to_numpy()
    thresholds = {f: float(card.operating_points[f].threshold) for f in findings if f in card.operating_points}
    card_ps = {f: dict(v.per_source) for f, v in card.validation.items()}

    result: dict[str, Any] = {
        "schema": "cxrkit.audit/1",
        "model": {"name": card.name, "architecture": card.architecture, "weights_sha256": card.weights_sha256,
                  "reported_findings": list(card.reported_findings), "card": str(card.path) if card.path else None},
        "data": {"n_images": int(ok.sum()), "sources": {s: int(np.sum((sources == s) & ok)) for s in sorted(set(sources))},
                 "findings": findings,
                 "label_counts": {f: {"positives": int(np.nansum(y[:, j] == 1)), "negatives": int(np.nansum(y[:, j] == 0))}
                                  for j, f in enumerate(findings)}},
        "protocol": {"n_boot": options.n_boot, "seed": options.seed, "ci": "95% percentile bootstrap (stratified for "
                     "AUROC, binomial for rates, paired for probe drops)", "thresholds": thresholds,
                     "min_class_for_auroc": 5},
        "notes": notes,
    }
    result["cross_site"] = cross_site(y, probs, findings, sources, card_per_source=card_ps, n_boot=options.n_boot,
                                      seed=options.seed)
    sub = subgroup_audit(y, probs, findings, data.meta, extra=data.extra, thresholds=thresholds,
                         n_boot=options.n_boot, seed=options.seed)
    result["subgroups"] = sub
    result["calibration"] = site_calibration(y, probs, findings, sources, thresholds=thresholds)
    arrays: dict[str, Any] = {"labels": y, "probs": probs, "sources": sources, "meta": data.meta,
                              "extra": list(data.extra)}
    if options.probes:
        probe, scores, rows = _probes(data, clf, probs, y, findings, sources, cache, options)
        result["probes"] = probe
        arrays["probe_scores"] = scores
        arrays["probe_rows"] = rows
    result["summary"] = summarize(result)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["_arrays"] = arrays
    return result


def _probes(data: AuditData, clf: Any, probs: np.ndarray, y: np.ndarray, findings: list[str], sources: np.ndarray,
            cache: Path, options: AuditOptions) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray]:
    """Occlusion (lungs only / lungs out / border) and source-identification probes on a seeded subset."""
    from cxrkit.anatomy.segment import load_segmenter

    rows = _probe_rows(data, options.probe_limit, options.seed)
    paths = list(data.paths[rows])
    fns = job_functions(clf, segmenter=load_segmenter())
    scores = {"full": probs[rows]}
    pcols = [clf.labels.index(f) for f in findings]
    lungs = cached_outputs(paths, "lungs", fns["lungs"], cache, batch_size=options.batch_size,
                           progress=options.progress)
    border = cached_outputs(paths, "border", fns["border"], cache, batch_size=options.batch_size,
                            progress=options.progress)
    if lungs:
        scores["lungs_only"] = lungs["lungs_only"][:, pcols].astype(np.float64)
        scores["lungs_out"] = lungs["lungs_out"][:, pcols].astype(np.float64)
    if border:
        scores["border"] = border["probs"][:, pcols].astype(np.float64)
    probe: dict[str, Any] = {"n_images": len(rows), "per_source_limit": options.probe_limit,
                             "fill": "0 (black)", "border_fraction": 0.12}
    if lungs:
        lf = lungs["lung_fraction"]
        probe["lung_fraction_median"] = float(np.nanmedian(lf))
        tiny = int(np.sum(lf < 0.05))
        if tiny:
            probe["note"] = f"{tiny} probe images have lung masks under 5% of the image (segmenter failed there)"
    probe["occlusion"] = occlusion_probe(y[rows], scores, findings, sources[rows], n_boot=min(options.n_boot, 500),
                                         seed=options.seed)
    probe.update(_source_probes(probs, sources, rows, paths, pcols, fns, data, cache, options))
    return probe, scores, rows


def _source_probes(probs: np.ndarray, sources: np.ndarray, rows: np.ndarray, paths: list[Any], pcols: list[int],
                   fns: dict[str, Any], data: AuditData, cache: Path, options: AuditOptions) -> dict[str, Any]:
    """Can the model's embedding (and, as a control, raw thumbnails) tell the sources apart?"""
    probe: dict[str, Any] = {}
    if len(set(sources.tolist())) > 1:
        emb = cached_outputs(paths, "embed", fns["embed"], cache, batch_size=options.batch_size,
                             progress=options.progress)
        pid = (data.meta["source"].astype(str) + ":" + data.meta["patient_id"].astype(str)).to_numpy()[rows]
        if emb:
            probe["source_id"] = source_probe(emb["embedding"], sources[rows], pid, seed=options.seed)
            agree = np.nanmax(np.abs(emb["probs"][:, pcols] - probs[rows]))
            probe["source_id"]["embedding_model_check"] = (
                f"max |probability difference| between the embedding export and the shipped ONNX model: {agree:.2e}")
        th = cached_outputs(paths, "thumb", fns["thumb"], cache, batch_size=options.batch_size,
                            progress=options.progress)
        if th:
            ctrl = source_probe(th["thumb"], sources[rows], pid, seed=options.seed)
            probe["source_id_pixels"] = {k: ctrl[k] for k in ("balanced_accuracy", "chance", "recall", "method")
                                         if k in ctrl}
            if "balanced_accuracy" in ctrl and "balanced_accuracy" in probe.get("source_id", {}):
                raw = ctrl["balanced_accuracy"]
                why = ("the collections already differ in their raw pixels (exposure, cropping, patients), "
                       "before any model sees them" if raw >= ctrl["chance"] + 0.2 else
                       "the raw pixels barely tell the collections apart, so the signature is the model's own")
                probe["source_id"]["verdict"] += (f" Control: the same probe on 16 x 16 thumbnails of the raw "
                                                  f"pixels reaches {raw:.3f}: {why}.")
    else:
        probe["source_id"] = {"verdict": "not applicable: one source only"}
    return probe


FLAGS = ("shortcut", "untestable", "site_dependent")


def summarize(result: dict[str, Any]) -> list[str]:
    """The audit's headline statements in plain language (flags first).

    Subgroup gaps are listed for the card's reported findings; gaps of other outputs are counted.
    """
    lines = [e["message"] for e in result["cross_site"] if e["verdict"] in FLAGS]
    reported = set(result["model"]["reported_findings"])
    flagged = [g for g in result["subgroups"]["gaps"] if g["significant"]]
    shown = [g for g in flagged if g["finding"] in reported]
    for g in shown:
        lines.append(f"Subgroup gap ({g['source']}): {g['finding']} {g['metric']} {g['column']}={g['a']} vs {g['b']}: "
                     f"{g['diff']:+.3f} [{g['lo']:+.3f}, {g['hi']:+.3f}] (n {g['n_a']} vs {g['n_b']}).")
    n_tests = len(result["subgroups"]["gaps"])
    lines.append(f"Subgroups: {len(flagged)} of {n_tests} gap tests have a 95% CI excluding zero "
                 f"({len(shown)} for reported findings, listed; about {0.05 * n_tests:.0f} are expected by chance alone).")
    pr = result.get("probes")
    if pr:
        sid = pr.get("source_id", {})
        if sid.get("verdict"):
            lines.append("Source probe: " + sid["verdict"])
        for e in pr.get("occlusion", []):
            lines.extend(v for v in e.get("verdicts", []) if "shortcut risk" in v or "uses the image border" in v)
    lines.extend(e["message"] for e in result["cross_site"] if e["verdict"] not in FLAGS)
    return lines
