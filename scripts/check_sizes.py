#!/usr/bin/env python3
"""Size limits of issue 12: no module over 400 lines, no function over 80 lines (tests excepted).

Usage: ``python scripts/check_sizes.py [PATH ...]`` (default: ``src``). Lines are physical lines of the file;
a function's length runs from its ``def`` (decorators included) to its last line, nested functions counted
within their parent and on their own. Exit status 1 lists every offender, 0 when all fit.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _functions(tree: ast.AST) -> Iterator[tuple[str, int, int]]:
    """``(qualified name, first line, line count)`` of every function and method."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, int, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                last = child.end_lineno or child.lineno
                name = f"{prefix}{child.name}"
                yield name, first, last - first + 1
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def check_file(path: Path) -> list[str]:
    """Offences of one Python file, as ``path:line: message`` strings."""
    text = path.read_text(encoding="utf-8")
    out = []
    n = len(text.splitlines())
    if n > MAX_MODULE_LINES:
        out.append(f"{path}:1: module has {n} lines (limit {MAX_MODULE_LINES})")
    for name, line, length in _functions(ast.parse(text, filename=str(path))):
        if length > MAX_FUNCTION_LINES:
            out.append(f"{path}:{line}: function {name} has {length} lines (limit {MAX_FUNCTION_LINES})")
    return out


def python_files(paths: list[Path]) -> list[Path]:
    """The ``.py`` files under ``paths``, tests and caches left out."""
    files: list[Path] = []
    for p in paths:
        candidates = [p] if p.is_file() else sorted(p.rglob("*.py"))
        files += [f for f in candidates if "tests" not in f.parts and "__pycache__" not in f.parts]
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("src")])
    args = parser.parse_args(argv)
    offences = [o for f in python_files(args.paths) for o in check_file(f)]
    for o in offences:
        print(o)
    if offences:
        print(f"{len(offences)} size offence(s): split modules by job and long functions into steps", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
