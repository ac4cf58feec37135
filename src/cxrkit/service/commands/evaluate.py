"""``cxrkit evaluate KIND ...``: quality on real data with the protocol printed.

Kinds are discovered from the sibling modules named ``evaluate_<kind>.py``; each defines
``register_evaluate(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register(sub: argparse._SubParsersAction) -> None:
    from cxrkit.service import commands

    p = sub.add_parser("evaluate", help="evaluate a model or the labeler on labeled data")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("evaluate_"):
            module = importlib.import_module(f"{commands.__name__}.{info.name}")
            module.register_evaluate(kinds)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
