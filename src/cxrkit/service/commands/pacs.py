"""``cxrkit pacs watch --url http://127.0.0.1:8042 [--state FILE] [--once]``: the Orthanc worker."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pacs", help="PACS integration (Orthanc worker)")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    w = actions.add_parser("watch", help="analyze new CR/DX instances in Orthanc and store SR/SC back (DICOMweb)")
    w.add_argument("--url", default="http://127.0.0.1:8042", help="Orthanc HTTP root")
    w.add_argument("--state", type=Path, default=Path("cxrkit-pacs-state.sqlite"),
                   help="state file (processed SOP instances, last change); keep it to stay idempotent")
    w.add_argument("--once", action="store_true", help="process what is new, then exit")
    w.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5)")
    w.add_argument("--retries", type=int, default=6, help="attempts per Orthanc call before giving up the pass")
    w.add_argument("--backoff", type=float, default=0.5, help="first retry delay in seconds (doubles each time)")
    w.add_argument("--max-attempts", type=int, default=3,
                   help="an instance that fails this many times is given up and recorded as failed (default 3)")
    w.add_argument("--no-localize", action="store_true", help="skip heatmaps and boxes")
    w.set_defaults(func=run_watch)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_watch(args: argparse.Namespace) -> int:
    from cxrkit.deliver.pacs import PacsWorker
    from cxrkit.pipeline import Analyzer

    user, password = os.environ.get("CXRKIT_ORTHANC_USER"), os.environ.get("CXRKIT_ORTHANC_PASSWORD")
    worker = PacsWorker(args.url, args.state, lambda: Analyzer(localize=not args.no_localize), retries=args.retries,
                        backoff_s=args.backoff, max_attempts=args.max_attempts,
                        auth=(user, password) if user and password else None)
    try:
        if args.once:
            s = worker.run_once()
            print(f"pacs watch: {s.analyzed} analyzed, {s.stored_instances} result instances stored, "
                  f"{s.skipped} skipped ({s.already_stored} already stored), {s.failed} failed "
                  f"({s.given_up} given up); state {args.state}")
            gone = worker.state.failed()
            if gone:
                print(f"{len(gone)} instance(s) given up so far (status 'failed' in {args.state}), e.g. SOP "
                      f"{gone[0][0]}: {gone[0][1]}")
            return 1 if s.failed else 0
        print(f"pacs watch: polling {args.url} every {args.interval:g} s (Ctrl-C to stop)")
        worker.watch(args.interval)
        return 0
    finally:
        worker.close()
