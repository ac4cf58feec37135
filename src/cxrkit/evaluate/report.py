"""Classification evaluation report: metrics + protocol → markdown and HTML with ROC and reliability plots.

:func:`evaluate_classification` computes everything from labels and probabilities (arrays in, a typed
:class:`ClassificationReport` out); :func:`write_report` is the file edge (``report.md``, ``report.html``,
``metrics.json``, ``roc.png``, ``reliability.png``). Plots use matplotlib's Agg backend (no display).
"""

from __future__ import annotations

import base64
import html
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.evaluate.calibration import expected_calibration_error, fit_temperature, reliability_curve
from cxrkit.evaluate.classification import FindingMetrics, classification_metrics
from cxrkit.evaluate.operating_points import OperatingPointResult, operating_points
from cxrkit.fs import atomic_write_bytes

__all__ = ["Protocol", "ClassificationReport", "evaluate_classification", "write_report"]


@dataclass(frozen=True)
class Protocol:
    """What was evaluated: data, split, model, and how CIs were computed."""

    data: str
    split: str
    model: str = ""
    notes: str = ""
    n_boot: int = 2000
    seed: int = 0


@dataclass
class ClassificationReport:
    """Per-finding metrics, operating points and calibration for one evaluation."""

    protocol: Protocol
    n_images: int
    findings: list[str]
    metrics: list[FindingMetrics]
    points: dict[str, dict[str, OperatingPointResult]]
    ece: dict[str, float]
    temperature: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def fin(v: float) -> float | None:
            return None if v is None or not np.isfinite(v) else float(v)

        return {
            "protocol": self.protocol.__dict__,
            "n_images": self.n_images,
            "metrics": [m.to_dict() for m in self.metrics],
            "mean_auroc": fin(self.mean_auroc),
            "operating_points": {f: {k: v.to_dict() for k, v in d.items()} for f, d in self.points.items()},
            "ece": {k: fin(v) for k, v in self.ece.items()},
            "temperature": {k: fin(v) for k, v in self.temperature.items()},
            "warnings": self.warnings,
        }

    @property
    def mean_auroc(self) -> float:
        vals = [m.auroc for m in self.metrics if np.isfinite(m.auroc)]
        return float(np.mean(vals)) if vals else float("nan")


def evaluate_classification(labels: np.ndarray, probs: np.ndarray, findings: Sequence[str], protocol: Protocol, *,
                            sensitivity_target: float = 0.9, ppv_target: float = 0.8) -> ClassificationReport:
    """All classification metrics for ``(N, K)`` labels (1 / 0 / NaN) and probabilities.

    Findings with one class only get NaN metrics and a recorded warning (never an exception).
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = classification_metrics(y, p, list(findings), n_boot=protocol.n_boot, seed=protocol.seed)
        points = operating_points(y, p, list(findings), sensitivity_target=sensitivity_target, ppv_target=ppv_target)
        ece = {f: expected_calibration_error(y[:, j], p[:, j]) for j, f in enumerate(findings)}
        temp = {f: fit_temperature(y[:, j], p[:, j]) for j, f in enumerate(findings)}
    msgs = sorted({str(w.message) for w in caught})
    for m in msgs:
        warnings.warn(m, UserWarning, stacklevel=2)
    return ClassificationReport(protocol, int(y.shape[0]), list(findings), metrics, points, ece, temp, msgs)


def _fmt(v: float | None, nd: int = 3) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"


def _plots(report: ClassificationReport, labels: np.ndarray, probs: np.ndarray) -> tuple[bytes, bytes]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    figs = []
    for kind in ("roc", "reliability"):
        fig = Figure(figsize=(6.5, 5.5), dpi=100)
        ax = fig.add_subplot(111)
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
        for j, (f, m) in enumerate(zip(report.findings, report.metrics)):
            yj, pj = labels[:, j], probs[:, j]
            ok = np.isfinite(yj) & np.isfinite(pj)
            if not np.isfinite(m.auroc):
                continue
            if kind == "roc":
                fpr, tpr, _ = roc_curve(yj[ok], pj[ok])
                ax.plot(fpr, tpr, lw=1.3, label=f"{f} {m.auroc:.3f}")
            else:
                c = reliability_curve(yj[ok], pj[ok])
                keep = c.counts > 0
                ax.plot(c.mean_predicted[keep], c.observed[keep], marker="o", ms=3, lw=1.2,
                        label=f"{f} ECE {report.ece[f]:.3f}")
        if kind == "roc":
            ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC (AUROC)")
        else:
            ax.set(xlabel="mean predicted probability", ylabel="observed frequency", title="Reliability")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        if ax.get_legend_handles_labels()[0]:  # no curve at all when every finding has one class only
            ax.legend(fontsize=7, loc="lower right")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        figs.append(buf.getvalue())
    return figs[0], figs[1]


def _markdown(r: ClassificationReport) -> str:
    pr = r.protocol
    lines = [
        "# Classification evaluation",
        "",
        "Probabilities from a research model; not a diagnosis.",
        "",
        "## Protocol",
        "",
        f"- Data: {pr.data}",
        f"- Split: {pr.split}",
        f"- Model: {pr.model or 'predictions file'}",
        f"- Images: {r.n_images}",
        f"- Metric: AUROC with a stratified bootstrap 95% CI ({pr.n_boot} resamples, seed {pr.seed}); AUPRC; "
        "operating points chosen on these same data (Youden, sensitivity >= 0.90, PPV >= 0.80); "
        "ECE with 10 equal-width bins; temperature by maximum likelihood.",
    ]
    if pr.notes:
        lines.append(f"- Notes: {pr.notes}")
    lines += ["", "## Discrimination", "", "| finding | n | positives | AUROC | 95% CI | AUPRC | ECE | temperature |",
              "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for m in r.metrics:
        lines.append(f"| {m.finding} | {m.n} | {m.positives} | {_fmt(m.auroc)} | {_fmt(m.auroc_lo)}-{_fmt(m.auroc_hi)} | "
                     f"{_fmt(m.auprc)} | {_fmt(r.ece[m.finding])} | {_fmt(r.temperature[m.finding], 2)} |")
    lines += ["", f"Mean AUROC over findings with both classes: {_fmt(r.mean_auroc)}", "", "## Operating points", "",
              "| finding | method | threshold | sensitivity | specificity | PPV | NPV |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for f, pts in r.points.items():
        for name, op in pts.items():
            lines.append(f"| {f} | {name} | {_fmt(op.threshold, 4)} | {_fmt(op.sensitivity)} | {_fmt(op.specificity)} | "
                         f"{_fmt(op.ppv)} | {_fmt(op.npv)} |")
    if r.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in r.warnings]
    lines += ["", "![ROC](roc.png)", "", "![Reliability](reliability.png)", ""]
    return "\n".join(lines)


def _html(md: str, roc_png: bytes, rel_png: bytes) -> str:
    body = []
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.startswith("!["):
            png = roc_png if "roc" in line else rel_png
            body.append(f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:48%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>cxrkit classification evaluation</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(report: ClassificationReport, labels: np.ndarray, probs: np.ndarray, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` (plots embedded), ``metrics.json``, ``roc.png``, ``reliability.png``.

    Returns:
        name → written path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    roc_png, rel_png = _plots(report, np.asarray(labels, np.float64), np.asarray(probs, np.float64))
    md = _markdown(report)
    files = {"report.md": md.encode(), "report.html": _html(md, roc_png, rel_png).encode(),
             "metrics.json": (json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n").encode(),
             "roc.png": roc_png, "reliability.png": rel_png}
    written = {}
    for name, data in files.items():
        written[name] = atomic_write_bytes(out / name, data)
    return written
