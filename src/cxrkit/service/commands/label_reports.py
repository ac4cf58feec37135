"""``cxrkit label-reports PATH... --out FILE.csv``: label radiology reports (findings from free text).

Reads Open-i XML, plain text files, or CSV / TSV / JSONL tables (``--id-col``, ``--text-col``); writes one
CSV row per report: ``report_id`` then one column per canonical finding (1 positive, 0 negative, -1
uncertain, blank not mentioned). ``--explain`` writes the evidence of every label as JSON lines. Bad
records are reported on stderr and skipped. Output files appear only when complete (atomic rename).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from contextlib import ExitStack
from pathlib import Path

from cxrkit.errors import DataFormatError
from cxrkit.fs import atomic_open

log = logging.getLogger(__name__)


def _cell(v: int | None) -> str:
    return "" if v is None else str(int(v))


def _count_inputs(paths: list[str]) -> int | None:
    from cxrkit.text.readers import REPORT_SUFFIXES

    n = 0
    for p in map(Path, paths):
        if p.is_dir():
            files = [q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in REPORT_SUFFIXES]
            if any(q.suffix.lower() in (".csv", ".tsv", ".jsonl") for q in files):
                return None
            n += len(files)
        elif p.suffix.lower() in (".csv", ".tsv", ".jsonl"):
            return None
        else:
            n += 1
    return n


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cxrkit.labels import FINDINGS as COLUMNS  # CSV columns after report_id; lazy (numpy) for start-up
    from cxrkit.text.batch import Labeled, label_paths

    out = Path(args.out)
    if out.suffix.lower() != ".csv":
        raise DataFormatError(f"--out must be a .csv file; got {out}")
    n_ok = n_bad = 0
    seen: set[str] = set()
    with ExitStack() as stack:  # both files appear only when the whole run succeeded
        fh = stack.enter_context(atomic_open(out, "w", newline=""))
        explain = stack.enter_context(atomic_open(args.explain, "w")) if args.explain else None
        table = csv.writer(fh)
        table.writerow(["report_id", *COLUMNS])
        bar = tqdm(total=_count_inputs(args.paths), unit="report", disable=args.quiet or None, file=sys.stderr)
        items = label_paths(args.paths, id_col=args.id_col, text_col=args.text_col, workers=args.workers,
                            chunk_size=args.chunk_size)
        for item in items:
            bar.update(1)
            if not isinstance(item, Labeled):
                n_bad += 1
                msg = f"skipped {item.report_id or '?'} ({item.source}): {item.error}"
                log.warning(msg)
                bar.write(f"cxrkit label-reports: {msg}", file=sys.stderr)
                continue
            rid = item.record.report_id
            if rid in seen:
                log.warning("duplicate report id %r (%s); both rows are written", rid, item.record.source)
            seen.add(rid)
            n_ok += 1
            table.writerow([rid, *(_cell(item.labels.values.get(f)) for f in COLUMNS)])
            if explain is not None:
                explain.write(json.dumps({
                    "report_id": rid, "source": item.record.source, "warnings": item.labels.warnings,
                    "labels": {k: v for k, v in item.labels.values.items() if v is not None},
                    "evidence": [e.to_dict() for e in item.labels.evidence],
                }) + "\n")
        bar.close()
        if not n_ok and not n_bad:
            raise DataFormatError(
                f"no reports found in {', '.join(args.paths)} (report files: .xml .txt .csv .tsv .jsonl)"
            )
    print(f"labeled {n_ok} report(s) -> {out}" + (f"; skipped {n_bad} bad record(s)" if n_bad else ""),
          file=sys.stderr)
    return 0 if n_ok or not n_bad else 1


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared with ``cxrkit data from-reports``."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="report files or folders (.xml .txt .csv .tsv .jsonl)")
    p.add_argument("--id-col", default=None, help="id column of CSV/TSV/JSONL input (default: report_id or id)")
    p.add_argument("--text-col", default=None, help="text column of CSV/TSV/JSONL input (default: text or report)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all usable cores)")
    p.add_argument("--chunk-size", type=int, default=256, help="reports per worker task (default 256)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "label-reports",
        help="label radiology reports (1/0/-1/blank per finding) with evidence",
        description=__doc__.split("\n\n")[0] + " Labels describe what reports say; not a diagnosis.",
    )
    add_input_arguments(p)
    p.add_argument("--out", required=True, help="output CSV file")
    p.add_argument("--explain", default=None, help="also write evidence per report as JSON lines to this file")
    p.set_defaults(func=run)
