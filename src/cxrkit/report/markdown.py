"""``report.md``: a result rendered as a short markdown page for people."""

from __future__ import annotations

from cxrkit.result import AnalysisResult

__all__ = ["result_markdown"]


def result_markdown(result: AnalysisResult, *, overlay_name: str | None = None) -> str:
    """Markdown text of ``result``: quality, findings table, measurements, draft report, disclaimer."""
    doc = result.to_dict()
    src = doc["image"]["source"] or "(in-memory image)"
    lines = [f"# cxrkit draft report: {src.rsplit('/', 1)[-1]}", "", f"> {doc['disclaimer']}", ""]
    q = doc["quality"]
    lines += ["## Input quality", "", f"Usable: **{'yes' if q['usable'] else 'no'}**", ""]
    lines += [f"- reason: {r}" for r in q["reasons"]] + [f"- warning: {w}" for w in q["warnings"]]
    if q["reasons"] or q["warnings"]:
        lines.append("")
    if doc["findings"]:
        model = doc["model"] or {}
        lines += [f"## Findings (model {model.get('name', '?')} {model.get('version', '')})", "",
                  "| finding | probability | operating point | decision | boxes |", "|---|---:|---:|---|---|"]
        for f in doc["findings"]:
            ids = ", ".join(b["id"] for b in f["boxes"]) or "-"
            lines.append(f"| {f['name']} | {f['probability']:.3f} | {f['threshold']:.3f} | "
                         f"{'positive' if f['positive'] else 'negative'} | {ids} |")
        lines.append("")
    if doc["measurements"]:
        lines += ["## Measurements", "", "| measurement | value | unit | reliable |", "|---|---:|---|---|"]
        for m in doc["measurements"]:
            if m["value"] is None:
                continue  # e.g. millimetres without pixel spacing
            v = str(int(m["value"])) if float(m["value"]).is_integer() else f"{m['value']:.3f}"
            lines.append(f"| {m['name']} | {v} | {m['unit']} | {'yes' if m['reliable'] else 'no: ' + ', '.join(m['flags'])} |")
        lines.append("")
    if overlay_name:
        lines += [f"![overlay]({overlay_name})", ""]
    if doc["report"]:
        lines += ["## Draft report", ""] + [f"- {s['text']}" for s in doc["report"]["sentences"]]
        lines += ["", f"*{doc['report']['disclaimer']}*", ""]
    skipped = [c for c in doc["components"] if c["status"] != "ran"]
    if skipped:
        lines += ["## Components not run", ""] + [f"- {c['name']}: {c['status']} ({c['detail']})" for c in skipped] + [""]
    return "\n".join(lines)
