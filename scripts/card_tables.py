"""Print a model card's adult (NIH) validation table as Markdown, for docs/classifier.md and the README.

    python scripts/card_tables.py src/cxrkit/models/weights/cxr-adult-v2.card.json
"""

from __future__ import annotations

import sys

from cxrkit.models.card import ModelCard


def f3(v) -> str:
    return "n/a" if v is None else f"{float(v):.3f}"


def main(path: str) -> None:
    c = ModelCard.load(path, verify=False)
    print("| finding | NIH n / pos | within-NIH AUROC [95% CI] | PA AUROC (pos) | AP AUROC (pos) | other sources "
          "| reported | threshold | sens / spec (NIH) |")
    print("| --- | --- | --- | --- | --- | --- | --- | ---: | --- |")
    aucs = []
    for f in c.labels:
        v = c.validation.get(f)
        if v is None:
            continue
        e = v.per_source.get("nih", {})
        pv = v.per_source.get("_per_view", {})
        other = ", ".join(f"{s} {f3(x.get('auroc'))} (pos {x.get('positives')}/{x.get('n')})" for s, x in v.per_source.items()
                          if not s.startswith("_") and s != "nih" and x.get("auroc") is not None)
        op = c.operating_points.get(f)
        ci = e.get("auroc_ci") or [None, None]
        if v.reported and f != "No Finding":
            aucs.append(e.get("auroc"))
        print(f"| {f} | {e.get('n', 0)} / {e.get('positives', 0)} | {f3(e.get('auroc'))} [{f3(ci[0])}, {f3(ci[1])}] | "
              f"{f3(pv.get('PA', {}).get('auroc'))} ({pv.get('PA', {}).get('positives', 0)}) | "
              f"{f3(pv.get('AP', {}).get('auroc'))} ({pv.get('AP', {}).get('positives', 0)}) | {other or '-'} | "
              f"{'**yes**' if v.reported else 'no'} | {f3(op.threshold) if op else 'n/a'} | "
              f"{(f3(op.sensitivity) + ' / ' + f3(op.specificity)) if op else 'n/a'} |")
    rep = [f for f in c.reported_findings]
    nih = [c.validation[f].per_source.get("nih", {}).get("auroc") for f in rep]
    nih = [x for x in nih if x is not None]
    print()
    print(f"reported: {rep}; mean within-NIH AUROC over the reported findings: "
          f"{sum(nih) / len(nih):.3f} (n = {len(nih)})" if nih else "none reported")
    print(c.operating_point_method)
    fz = c.fusion
    if fz:
        print("fusion:", {k: v.get("validation") for k, v in fz.items()})


if __name__ == "__main__":
    main(sys.argv[1])
