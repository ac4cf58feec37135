"""The ``cxrkit`` command line.

Each subcommand lives in its own module under :mod:`cxrkit.service.commands` and exposes
``register(subparsers) -> None``; the module adds one parser and sets ``func`` (a callable taking the parsed
``argparse.Namespace`` and returning an exit code). Modules are discovered, so adding a command never edits this
file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from cxrkit import __version__
from cxrkit.errors import CxrkitError

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every discovered subcommand."""
    from cxrkit.service import commands

    parser = argparse.ArgumentParser(prog="cxrkit", description="Chest X-ray AI toolkit (not a diagnostic device).")
    parser.add_argument("--version", action="version", version=f"cxrkit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cxrkit`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CxrkitError as exc:
        print(f"cxrkit {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:  # the lean install lacks an optional extra: name it
        from cxrkit.extras import missing_extra

        err = missing_extra(exc, f"cxrkit {args.command}")
        if err is None:
            raise
        print(f"cxrkit {args.command}: error: {err}", file=sys.stderr)
        return 1
    except OSError as exc:  # file-system problems (permissions, a file where a folder is expected, disk full)
        logging.getLogger(__name__).debug("file-system error", exc_info=True)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"cxrkit {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
