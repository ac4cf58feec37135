"""Markdown tables (ours next to ChestX-ray8's Table 4) and an HTML page of example overlays."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from cxrkit.fs import atomic_write_bytes, atomic_write_text
from cxrkit.localize.evaluate import BOX_FINDINGS, PAPER_TABLE4, LocalizationEvaluation

__all__ = ["markdown_report", "write_examples_page", "paper_mean"]


def _f(x: float, nd: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def paper_mean(threshold: float, findings: list[str], what: str = "acc") -> float:
    """Mean of ChestX-ray8 Table 4 over ``findings`` at T(IoBB) = ``threshold``."""
    vals = PAPER_TABLE4[threshold][what]
    return float(np.mean([vals[BOX_FINDINGS.index(f)] for f in findings])) if findings else math.nan


def _table(ev: LocalizationEvaluation, source: str, measure: str, what: str, with_paper: bool) -> list[str]:
    s = ev.scores[(ev.scores["source"] == source) & (ev.scores["measure"] == measure)]
    ts = sorted(s["threshold"].unique())
    findings = ev.protocol["evaluable_findings"]
    head = "| finding | n | " + " | ".join(f"T={t:g}" for t in ts) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(ts)]
    for f in findings + ["all"]:
        cells = []
        n = 0
        for t in ts:
            r = s[(s["finding"] == f) & (s["threshold"] == t)].iloc[0]
            n = int(r["n_cases"])
            cell = _f(r[what])
            if what == "accuracy" and f != "all":
                cell += f" [{_f(r['ci_low'], 2)}, {_f(r['ci_high'], 2)}]"
            if with_paper and t in PAPER_TABLE4 and f != "all":
                key = "acc" if what == "accuracy" else "afp"
                cell += f" ({_f(PAPER_TABLE4[t][key][BOX_FINDINGS.index(f)], 3)})"
            cells.append(cell)
        name = "**pooled cases**" if f == "all" else f + (" †" if f in ev.protocol.get("unvalidated_findings_scored", []) else "")
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    # unweighted class mean, as the paper's "mean accuracy"
    cells = []
    for t in ts:
        vals = [float(s[(s["finding"] == f) & (s["threshold"] == t)][what].iloc[0]) for f in findings]
        cell = _f(float(np.nanmean(vals)) if vals else math.nan)
        if with_paper and t in PAPER_TABLE4:
            cell += f" ({_f(paper_mean(t, findings, 'acc' if what == 'accuracy' else 'afp'))})"
        cells.append(cell)
    lines.append("| **class mean** | | " + " | ".join(cells) + " |")
    return lines


def markdown_report(ev: LocalizationEvaluation, *, title: str = "Localization on NIH ChestX-ray8 boxes") -> str:
    """The full markdown report: protocol, accuracy/AFP tables (with the paper's values), pointing game."""
    p = ev.protocol
    out = [f"# {title}", "", "## Protocol", ""]
    for k, v in p.items():
        if k != "localization_verdicts":
            out.append(f"- **{k}**: {v}")
    out += [
        "",
        "Definitions (ChestX-ray8, Wang et al. CVPR 2017, sec. 4): a case is one (image, finding) with ground-truth "
        "boxes; it is correctly localized at T when at least one predicted box has IoBB > T (intersection over the "
        "predicted box's area) or, in the IoU tables, IoU > T with a ground-truth box of that finding. AFP = predicted "
        "boxes matching no ground-truth box, per case. Boxes are made for every case whatever the probability. "
        "Accuracy cells give a 95% Wilson interval in brackets; values in parentheses are ChestX-ray8 Table 4 "
        "(ResNet-50, their own test images, T(IoBB) only); the paper's mean in the class-mean row is over the same "
        "findings as ours. `control` is a data-free centred Gaussian heatmap. † = a head output the classifier does "
        "not report to users (not validated for classification); scored for research only.",
        "",
    ]
    for bm in p["box_methods"]:
        out += [f"## Boxes: `{bm}`", "", "### Accuracy, T(IoBB)", ""]
        out += _table(ev, bm, "iobb", "accuracy", True)
        out += ["", "### Average false positives per case, T(IoBB)", ""]
        out += _table(ev, bm, "iobb", "afp", True)
        out += ["", "### Accuracy, T(IoU)", ""]
        out += _table(ev, bm, "iou", "accuracy", False)
        out += ["", f"### Control (centred Gaussian map, `{bm}` boxes): accuracy, T(IoBB)", ""]
        out += _table(ev, f"control:{bm}", "iobb", "accuracy", False)
        out.append("")
    if p.get("localization_verdicts"):
        out += ["## Localization verdicts (`anatomy` boxes vs the centred-Gaussian control, paired)", "",
                "| finding | n | acc T(IoBB)=0.5 [95% CI] | control | p (one-sided McNemar) | acc T(IoU)=0.25 | control "
                "| reported by card | validated |", "|---|---:|---:|---:|---:|---:|---:|---|---|"]
        for f, v in p["localization_verdicts"].items():
            a, g = v["iobb@0.5"], v["iou@0.25"]
            out.append(f"| {f} | {v['n_cases']} | {_f(a['accuracy'])} [{_f(a['ci'][0], 2)}, {_f(a['ci'][1], 2)}] | "
                       f"{_f(a['control_accuracy'])} | {a['p_one_sided']:.2g} | {_f(g['accuracy'])} | "
                       f"{_f(g['control_accuracy'])} | {'yes' if v['reported_by_card'] else 'no'} | "
                       f"{'**yes**' if v['validated'] else 'no'} |")
        out.append("")
    out += ["## Pointing game (heatmap maximum inside a ground-truth box)", "",
            "| finding | n | hits | accuracy [95% CI] | control |", "|---|---:|---:|---:|---:|"]
    for r in ev.pointing.itertuples(index=False):
        out.append(f"| {r.finding} | {r.n_cases} | {r.hits} | {_f(r.accuracy)} [{_f(r.ci_low, 2)}, {_f(r.ci_high, 2)}] "
                   f"| {_f(r.control_accuracy)} |")
    return "\n".join(out) + "\n"


def write_examples_page(ev: LocalizationEvaluation, out_dir: Path, *, dpi: int = 80) -> Path:
    """Overlay PNGs (truth dashed, prediction solid) for the kept examples and an ``examples.html`` linking them."""
    from cxrkit.explain.overlay import overlay_png

    img_dir = out_dir / "examples"
    img_dir.mkdir(parents=True, exist_ok=True)
    bm = ev.protocol["box_methods"][0]
    items = []
    for i, ex in enumerate(ev.examples):
        name = f"{i:02d}_{ex['finding']}_{Path(ex['image_id']).stem}.png"
        png = overlay_png(ex["pixels"], {ex["finding"]: ex["map"]}, probabilities={ex["finding"]: ex["probability"]},
                          boxes={ex["finding"]: ex["boxes"][bm]}, truth={ex["finding"]: ex["truth"]},
                          title=ex["image_id"], dpi=dpi)
        atomic_write_bytes(img_dir / name, png)
        items.append((name, ex))
    rows = "\n".join(
        f'<figure><img src="examples/{html.escape(n)}" width="420"><figcaption>{html.escape(ex["image_id"])} — '
        f'{html.escape(ex["finding"])}, probability {ex["probability"]:.2f}</figcaption></figure>'
        for n, ex in items
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>cxrkit localization examples</title>"
        "<style>body{font-family:sans-serif;max-width:1400px;margin:auto}figure{display:inline-block;margin:6px}"
        "figcaption{font-size:12px}</style></head><body>"
        "<h1>Localization examples: ground truth (dashed cyan) vs prediction (solid yellow)</h1>"
        f"<p>Heatmap method <code>{html.escape(str(ev.protocol['method']))}</code>, boxes <code>{html.escape(bm)}</code>. "
        "The first cases of each finding by image id (not picked for looks). Model evidence maps, not a diagnosis.</p>"
        f"{rows}</body></html>"
    )
    path = out_dir / "examples.html"
    atomic_write_text(path, page)
    return path
