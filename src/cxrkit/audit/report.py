"""The audit report: one self-contained HTML page (plots embedded as base64 PNG) and ``audit.json``.

Plots (matplotlib, Agg): the cross-site AUROC matrix as a heatmap, ROC curves per subgroup level, reliability
diagrams per source, and the occlusion probe's AUROCs. The page needs no tool to read.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.fs import atomic_write_text

__all__ = ["write_audit", "to_json"]


def _f(v: Any, nd: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{float(v):.{nd}f}"


def _ci(r: dict | None) -> str:
    if not r or r.get("auroc") is None:
        return "n/a" + (f" ({html.escape(r['note'])})" if r and r.get("note") else "")
    return f"{r['auroc']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"


def _rate(r: dict | None) -> str:
    if not r or r.get("value") is None:
        return "n/a"
    return f"{r['value']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}] ({r['k']}/{r['n']})"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _figure(w: float, h: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def _heatmap(result: dict) -> str | None:
    cs = result["cross_site"]
    if not cs:
        return None
    sources = sorted({s for e in cs for s in e["per_source"]})
    cols = sources + ["pooled"]
    mat = np.full((len(cs), len(cols)), np.nan)
    for i, e in enumerate(cs):
        for k, s in enumerate(cols):
            r = e["pooled"] if s == "pooled" else e["per_source"].get(s, {})
            if r.get("auroc") is not None:
                mat[i, k] = r["auroc"]
    fig = _figure(1.6 + 1.3 * len(cols), 0.9 + 0.45 * len(cs))
    ax = fig.add_subplot(111)
    im = ax.imshow(mat, vmin=0.4, vmax=1.0, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(cs)), [e["finding"] + (" *" if e["verdict"] in ("shortcut", "untestable", "site_dependent")
                                                               else "")
                                   for e in cs], fontsize=8)
    for i in range(len(cs)):
        for k in range(len(cols)):
            ax.text(k, i, "—" if np.isnan(mat[i, k]) else f"{mat[i, k]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title("AUROC per finding and source (* = shortcut / site-dependent / untestable)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _png(fig)


def _roc_subgroups(result: dict, arrays: dict, max_findings: int = 6) -> list[tuple[str, str]]:
    from sklearn.metrics import roc_curve

    from cxrkit.audit.subgroups import subgroup_columns

    y, p, src = arrays["labels"], arrays["probs"], arrays["sources"]
    findings = result["data"]["findings"]
    rows = result["subgroups"]["rows"]
    cols = subgroup_columns(arrays["meta"], arrays.get("extra", ()))
    out = []
    keys = sorted({(r["source"], r["column"]) for r in rows if r["auroc"]["auroc"] is not None})
    for s, col in keys:
        fs = sorted({r["finding"] for r in rows if r["source"] == s and r["column"] == col
                     and r["auroc"]["auroc"] is not None}, key=findings.index)[:max_findings]
        if not fs:
            continue
        levels = sorted({r["level"] for r in rows if r["source"] == s and r["column"] == col})
        fig = _figure(3.0 * len(fs), 3.0)
        g = np.array([x if isinstance(x, str) else None for x in cols[col]], dtype=object)
        for i, f in enumerate(fs):
            ax = fig.add_subplot(1, len(fs), i + 1)
            ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
            j = findings.index(f)
            for lv in levels:
                m = (src == s) & (g == lv) & np.isfinite(y[:, j]) & np.isfinite(p[:, j])
                yy = y[m, j]
                if yy.sum() < 5 or (1 - yy).sum() < 5:
                    continue
                fpr, tpr, _ = roc_curve(yy, p[m, j])
                r = next((r for r in rows if r["source"] == s and r["column"] == col and r["level"] == lv
                          and r["finding"] == f), None)
                auc = r["auroc"]["auroc"] if r else None
                ax.plot(fpr, tpr, lw=1.2, label=f"{lv} {_f(auc, 2)} (n={int(m.sum())})")
            ax.set_title(f, fontsize=9)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.tick_params(labelsize=7)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6, loc="lower right")
        fig.tight_layout()
        out.append((f"ROC by {col} within {s}", _png(fig)))
    return out


def _reliability(result: dict) -> list[tuple[str, str]]:
    by_src: dict[str, list[dict]] = {}
    for e in result["calibration"]:
        if e["positives"] and e["positives"] < e["n"]:
            by_src.setdefault(e["source"], []).append(e)
    out = []
    for s, entries in sorted(by_src.items()):
        fig = _figure(4.2, 3.8)
        ax = fig.add_subplot(111)
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
        for e in entries:
            c = e["curve"]
            pts = [(a, b) for a, b, n in zip(c["mean_predicted"], c["observed"], c["counts"]) if n > 0]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o", ms=3, lw=1.1, label=f"{e['finding']} ECE {_f(e['ece'], 3)}")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability", ylabel="observed frequency",
               title=f"Reliability: {s}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper left")
        out.append((f"Reliability: {s}", _png(fig)))
    return out


def _probe_plot(result: dict) -> str | None:
    occ = (result.get("probes") or {}).get("occlusion")
    if not occ:
        return None
    names = [("full", "full image"), ("lungs_only", "lungs only"), ("lungs_out", "lungs blacked out"),
             ("border", "border blanked")]
    fs = [e for e in occ if e["pooled"].get("full", {}).get("auroc") is not None]
    if not fs:
        return None
    fig = _figure(1.0 + 1.1 * len(fs), 3.4)
    ax = fig.add_subplot(111)
    w = 0.2
    for k, (key, label) in enumerate(names):
        vals = [e["pooled"].get(key, {}).get("auroc") or np.nan for e in fs]
        ax.bar(np.arange(len(fs)) + (k - 1.5) * w, vals, w, label=label)
    ax.axhline(0.5, color="0.5", lw=0.8, ls="--")
    ax.set_xticks(range(len(fs)), [e["finding"] for e in fs], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0.3, 1.0)
    ax.set_ylabel("AUROC (pooled probe images)")
    ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def _table(head: list[str], rows: list[list[str]], flags: list[bool] | None = None) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    body = []
    for i, r in enumerate(rows):
        cls = ' class="flag"' if flags and flags[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>")
    return f"<table><tr>{h}</tr>{''.join(body)}</table>"


def _html(result: dict, arrays: dict) -> str:
    e = html.escape
    parts = [f"<h1>cxrkit audit: {e(result['model']['name'])}</h1>",
             "<p class='warn'>Research audit of a research model; not a diagnosis, not a regulatory evaluation.</p>",
             "<h2>Summary</h2><ul>" + "".join(f"<li>{e(s)}</li>" for s in result["summary"]) + "</ul>"]
    d = result["data"]
    parts.append("<h2>Data and protocol</h2><ul>"
                 f"<li>Model: {e(result['model']['name'])} ({e(result['model']['architecture'])}), weights SHA-256 "
                 f"{e(result['model']['weights_sha256'][:16])}…; reported findings: "
                 f"{e(', '.join(result['model']['reported_findings']))}</li>"
                 f"<li>Images: {d['n_images']} ({e(', '.join(f'{s} {n}' for s, n in d['sources'].items()))})</li>"
                 f"<li>CIs: {e(result['protocol']['ci'])}, {result['protocol']['n_boot']} replicates, seed "
                 f"{result['protocol']['seed']}; AUROC needs ≥ 5 positives and ≥ 5 negatives.</li>"
                 f"<li>Operating points: the model card's thresholds "
                 f"{e(', '.join(f'{k} {v:.3f}' for k, v in result['protocol']['thresholds'].items()))}</li>"
                 "</ul>")
    if result["notes"]:
        parts.append("<h3>Input notes</h3><ul>" + "".join(f"<li>{e(n)}</li>" for n in result["notes"]) + "</ul>")
    parts += _html_cross_site(result)
    parts += _html_subgroups(result, arrays)
    parts += _html_probes(result)
    parts += _html_calibration(result)
    parts.append(f"<p><small>Audit took {result['seconds']} s. Schema {e(result['schema'])}.</small></p>")
    style = ("body{font-family:sans-serif;max-width:75em;margin:2em auto;color:#222}table{border-collapse:collapse;"
             "margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:.85em;vertical-align:top}"
             "tr.flag{background:#fde2e2}.warn{color:#8a1c1c}img{max-width:100%;margin:.4em 0}")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>cxrkit audit</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _html_cross_site(result: dict) -> list[str]:
    """Cross-site matrix: pooled vs within-source AUROC, heatmap, messages."""
    e = html.escape
    parts: list[str] = []
    cs = result["cross_site"]
    sources = sorted({s for x in cs for s in x["per_source"]})
    rows, flags = [], []
    for x in cs:
        cells = [e(x["finding"]), str(x["pooled"]["n"]), str(x["pooled"]["positives"]), _ci(x["pooled"])]
        for s in sources:
            r = x["per_source"].get(s)
            txt = (_ci(r) if r.get("auroc") is not None else "n/a") if r and r["n"] else "—"
            if r and r.get("card_auroc") is not None:
                txt += f"<br><small>card {r['card_auroc']:.3f}</small>"
            if r and r["n"]:
                txt += f"<br><small>n={r['n']}, pos={r['positives']}</small>"
            cells.append(txt)
        cells.append(e(x["verdict"]))
        rows.append(cells)
        flags.append(x["verdict"] in ("shortcut", "untestable", "site_dependent"))
    parts.append("<h2>Cross-site matrix: pooled vs within-source AUROC</h2>"
                 "<p>A finding is flagged (shortcut signature) when the pooled AUROC's 95% CI lies above the CI of "
                 "every within-source AUROC; <em>site_dependent</em> when two sources' AUROC CIs do not overlap; "
                 "<em>untestable</em> when no source has both classes. “card” is the AUROC "
                 "the model card reports for that source (its own validation).</p>")
    parts.append(_table(["finding", "n", "pos", "pooled AUROC [95% CI]"] + sources + ["verdict"], rows, flags))
    hm = _heatmap(result)
    if hm:
        parts.append(f"<img alt='cross-site heatmap' src='{hm}'>")
    parts.append("<ul>" + "".join(f"<li>{e(x['message'])}</li>" for x in cs) + "</ul>")
    return parts


def _html_subgroups(result: dict, arrays: dict) -> list[str]:
    """Subgroup gaps, per-level rows and ROC curves."""
    e = html.escape
    parts: list[str] = []
    sub = result["subgroups"]
    parts.append("<h2>Subgroups</h2><p>Within each source; sensitivity and specificity at the card's operating "
                 "point. Gaps: level A − level B (two levels) or level − rest; flagged when the 95% CI excludes 0 "
                 "(no multiple-comparison correction).</p>")
    gaps = sub["gaps"]
    if gaps:
        g_rows = [[e(g["source"]), e(g["column"]), e(f"{g['a']} − {g['b']}"), e(g["finding"]), e(g["metric"]),
                   f"{g['diff']:+.3f} [{g['lo']:+.3f}, {g['hi']:+.3f}]", f"{g['n_a']} / {g['n_b']}",
                   "yes" if g["significant"] else ""] for g in gaps]
        parts.append("<h3>Gaps</h3>" + _table(["source", "column", "comparison", "finding", "metric", "gap [95% CI]",
                                                "n", "flag"], g_rows, [g["significant"] for g in gaps]))
    shown = set(result["model"]["reported_findings"]) | {g["finding"] for g in gaps if g["significant"]}
    s_rows = [[e(r["source"]), e(r["column"]), e(str(r["level"])), e(r["finding"]), str(r["n"]), str(r["positives"]),
               _ci(r["auroc"]), _rate(r.get("sensitivity")), _rate(r.get("specificity"))] for r in sub["rows"]
              if r["finding"] in shown]
    if s_rows:
        parts.append("<h3>Per level</h3><p>Reported findings and findings with a flagged gap (every row is in "
                     "audit.json).</p>" + _table(["source", "column", "level", "finding", "n", "pos",
                                                     "AUROC [95% CI]", "sensitivity", "specificity"], s_rows))
    if sub["notes"]:
        parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in sub["notes"]) + "</ul>")
    for title, png in _roc_subgroups(result, arrays):
        parts.append(f"<h3>{e(title)}</h3><img alt='{e(title)}' src='{png}'>")
    return parts


def _html_probes(result: dict) -> list[str]:
    """Shortcut probes: source identification and occlusion."""
    e = html.escape
    parts: list[str] = []
    pr = result.get("probes")
    if pr:
        parts.append(f"<h2>Shortcut probes</h2><p>{pr['n_images']} images (at most {pr['per_source_limit']} per "
                     f"source, seeded). Occlusions fill with {e(pr['fill'])}; the border band is "
                     f"{pr['border_fraction']:.0%} of each side. {e(pr.get('note', ''))}</p>")
        sid = pr.get("source_id", {})
        parts.append(f"<h3>Source identification</h3><p>{e(sid.get('verdict', ''))}</p>")
        if sid.get("confusion"):
            names = sid["sources"]
            parts.append(f"<p><small>{e(sid['method'])}; {e(sid.get('embedding_model_check', ''))}</small></p>")
            parts.append(_table(["true \\ predicted"] + names,
                                [[e(n)] + [str(v) for v in row] for n, row in zip(names, sid["confusion"])]))
        ctrl = pr.get("source_id_pixels")
        if ctrl:
            parts.append(f"<p>Control (raw pixels, {e(ctrl['method'])}): balanced accuracy "
                         f"{_f(ctrl['balanced_accuracy'])}, per-source recall "
                         f"{e(', '.join(f'{k} {v:.2f}' for k, v in ctrl['recall'].items()))}.</p>")
        occ = pr.get("occlusion", [])
        o_rows = []
        for x in occ:
            p = x["pooled"]
            o_rows.append([e(x["finding"]), _ci(p.get("full")), _ci(p.get("lungs_only")), _ci(p.get("lungs_out")),
                           _ci(p.get("border"))])
        if o_rows:
            parts.append("<h3>Occlusion (pooled probe images)</h3>" +
                         _table(["finding", "full image", "lungs only", "lungs blacked out", "border blanked"], o_rows))
        pp = _probe_plot(result)
        if pp:
            parts.append(f"<img alt='occlusion probe' src='{pp}'>")
        ps_rows = []
        for x in occ:
            for s, p in (x.get("per_source") or {}).items():
                ps_rows.append([e(x["finding"]), e(s), _ci(p.get("full")), _ci(p.get("lungs_only")),
                                _ci(p.get("lungs_out")), _ci(p.get("border"))])
        if ps_rows:
            parts.append("<h3>Occlusion within each source</h3>" +
                         _table(["finding", "source", "full image", "lungs only", "lungs blacked out", "border blanked"],
                                ps_rows))
        parts.append("<h3>Verdicts</h3><ul>" + "".join(f"<li>{e(v)}</li>" for x in occ for v in x.get("verdicts", []))
                     + "</ul>")
        within = [v for x in occ for v in x.get("verdicts_within", [])]
        if within:
            parts.append("<h3>Verdicts within each source</h3><p>Pooled probe AUROCs mix collections; within one "
                         "source the probe isolates what the model reads in those films.</p><ul>"
                         + "".join(f"<li>{e(v)}</li>" for v in within) + "</ul>")
    return parts


def _html_calibration(result: dict) -> list[str]:
    """Calibration per site and reliability diagrams."""
    e = html.escape
    parts: list[str] = []
    cal = result["calibration"]
    c_rows = [[e(c["source"]), e(c["finding"]), str(c["n"]), str(c["positives"]), _f(c["ece"]), _f(c["temperature"], 2),
               _f(c["mean_predicted"]), _f(c["observed_rate"]), _f(c.get("sensitivity"), 2), _f(c.get("specificity"), 2)]
              for c in cal]
    parts.append("<h2>Calibration per site</h2><p>ECE with 10 equal-width bins; temperature T fitted by maximum "
                 "likelihood (T &gt; 1: over-confident). Sensitivity / specificity at the card's threshold. "
                 "<code>cxrkit recalibrate</code> fits per-site thresholds and writes a new card.</p>")
    parts.append(_table(["source", "finding", "n", "pos", "ECE", "T", "mean p", "observed", "sens", "spec"], c_rows))
    for title, png in _reliability(result):
        parts.append(f"<img alt='{e(title)}' src='{png}'>")
    return parts


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items() if not str(k).startswith("_")}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    if o is None or isinstance(o, str):
        return o
    return str(o)


def to_json(result: dict) -> str:
    """``audit.json`` text (private ``_`` keys dropped, NaN → null)."""
    return json.dumps(_jsonable(result), indent=1, allow_nan=False) + "\n"


def write_audit(result: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write ``audit.json`` and ``audit.html`` atomically; returns name → path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = result.get("_arrays", {})
    files = {"audit.json": to_json(result), "audit.html": _html(result, arrays)}
    written = {}
    for name, text in files.items():
        written[name] = atomic_write_text(out / name, text)
    return written
