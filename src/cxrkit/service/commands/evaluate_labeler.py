"""``cxrkit evaluate labeler --reports DIR``: the report labeler against Open-i's human MeSH codes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cxrkit.fs import atomic_write_text

PROTOCOL = """Protocol (ChestX-ray8, Wang et al. 2017, Table 2 layout)
  data:      Open-i / Indiana University chest X-ray reports (XML) under {reports}
  truth:     MeSH *major* codes (human indexers), mapped to 8 findings + Normal (docs/labeler.md);
             reports coded 'No Indexing' ({excluded}) and reports without findings/impression text
             ({no_text}) are left out
  labeler:   cxrkit.text.label_report, shipped rules; positive = value 1; uncertain (-1) counts as {uncertain}
  split:     dev / test = halves by MD5 of the report id (rules were developed on dev only); all = both
  metric:    precision, recall, F1 per finding; micro average over the 9 rows, with a 95% bootstrap CI
             (1,000 resamples of reports, seed 0)
  reference: ChestX-ray8's labeler reported P 0.90 / R 0.91 / F1 0.90 on 3,851 Open-i reports (overall row)
Labels describe what reports say; this is not a diagnostic claim."""


def run(args: argparse.Namespace) -> int:
    from cxrkit.evaluate.labeler import errors_markdown, evaluate_openi, to_markdown

    scores = evaluate_openi(args.reports, uncertain=args.uncertain, workers=args.workers)
    allsc = scores["all"]
    protocol = PROTOCOL.format(reports=args.reports, excluded=allsc.n_excluded, no_text=allsc.n_no_text,
                               uncertain=args.uncertain)
    counts = ", ".join(f"{k}: {v.n_reports} reports" for k, v in scores.items())
    table = to_markdown(scores)
    errs = errors_markdown(scores["all"])
    print(protocol)
    print(f"  n:         {counts}\n")
    print(table)
    print("\nMost frequent errors (all):\n" + errs)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            out / "labeler_eval.md",
            f"# Report labeler vs Open-i MeSH\n\n```\n{protocol}\n  n:         {counts}\n```\n\n{table}\n\n"
            f"## Most frequent errors (all)\n\n{errs}\n")
        summary = {
            split: {
                "n_reports": s.n_reports, "uncertain": s.uncertain, "micro_f1_ci95": list(s.micro_f1_ci),
                "rows": {r.finding: {"precision": r.precision, "recall": r.recall, "f1": r.f1, "tp": r.tp,
                                     "fp": r.fp, "fn": r.fn} for r in [*s.rows, s.micro]},
            } for split, s in scores.items()
        }
        atomic_write_text(out / "labeler_eval.json", json.dumps(summary, indent=2))
        print(f"\nwrote {out / 'labeler_eval.md'} and {out / 'labeler_eval.json'}", file=sys.stderr)
    return 0


def register_evaluate(kinds: argparse._SubParsersAction) -> None:
    p = kinds.add_parser("labeler", help="report labeler vs Open-i MeSH codes (ChestX-ray8 protocol)")
    p.add_argument("--reports", required=True, help="folder of Open-i report XML files")
    p.add_argument("--out", default=None, help="folder for labeler_eval.md and labeler_eval.json")
    p.add_argument("--uncertain", choices=("negative", "positive"), default="negative",
                   help="how an uncertain (-1) label counts (default: negative)")
    p.add_argument("--workers", type=int, default=None, help="labeling processes (default: all cores)")
    p.set_defaults(func=run)
