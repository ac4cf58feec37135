"""Shared helpers for ``benchmarks/*_bench.py``: machine description, JSON lines, RESULTS.md sections.

Each benchmark owns one section of ``benchmarks/RESULTS.md`` between ``<!-- section:NAME -->`` and
``<!-- /section:NAME -->`` markers and rewrites only that section, so benchmarks can run in any order::

    from _results import append_jsonl, machine_info, machine_line, write_section
    append_jsonl("preprocess", [{"pipeline": "xrv", "images_per_s": 12.3}])
    write_section("preprocess", "## Decode + preprocess\\n\\n...")

The file's header (machine of the last run, library versions) is the ``machine`` section, refreshed by
:func:`write_section` each time, so it always describes the machine that produced the newest numbers; every
section should still name its own machine with :func:`machine_line`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_MD = BENCH_DIR / "RESULTS.md"
RESULTS_DIR = BENCH_DIR / "results"
TITLE = "# cxrkit benchmark results"
INTRO = (
    "Every number below comes from a script in `benchmarks/` (rerun them all with `bash benchmarks/run_all.sh`);"
    " raw figures are JSON lines in `benchmarks/results/`. Each section names its data, n and machine."
)
DEFAULT_PACKAGES = ("numpy", "pillow", "torch", "torchvision", "torchxrayvision", "scikit-image", "onnxruntime")


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
        if m:
            return m.group(1).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """Short commit of the checkout (with ``+dirty`` when files changed), or None outside git."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, cwd=BENCH_DIR, capture_output=True,
                             text=True, timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], check=False, cwd=BENCH_DIR,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(packages: Sequence[str] = DEFAULT_PACKAGES) -> dict[str, Any]:
    """CPU model, logical cores, RAM, load average, OS, Python and the versions of ``packages``."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "load_avg_1_5_15": load,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "interpreter": sys.executable,
        "packages": {p: v for p in packages if (v := _version(p)) is not None},
        "cxrkit_commit": git_commit(),
    }


def machine_line(info: dict[str, Any] | None = None) -> str:
    """One markdown line naming the machine: ``CPU, N cores, R GiB RAM, Python X, load L``."""
    info = info or machine_info()
    load = info.get("load_avg_1_5_15")
    load_txt = f", load average {load[0]} at start" if load else ""
    return (f"{info['cpu']}, {info['cores']} logical cores, {info['ram_gib']} GiB RAM, Python {info['python']}"
            f"{load_txt}")


def append_jsonl(bench: str, records: Iterable[dict[str, Any]], *, path: Path | None = None) -> Path:
    """Append ``records`` to ``benchmarks/results/<bench>.jsonl`` (one JSON object per line).

    Each record gets ``bench``, ``time`` (UTC ISO) and ``commit`` unless it already has them.
    """
    path = path or RESULTS_DIR / f"{bench}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    commit = git_commit()
    with open(path, "a", encoding="utf-8") as f:
        for rec in records:
            full = {"bench": bench, "time": now, "commit": commit, **rec}
            f.write(json.dumps(full, sort_keys=False, default=str) + "\n")
    return path


def _markers(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[a-z0-9_\-]+", name):
        raise ValueError(f"section name must be lower-case letters, digits, '_' or '-', got {name!r}")
    return f"<!-- section:{name} -->", f"<!-- /section:{name} -->"


def _replace_or_append(text: str, name: str, body: str) -> str:
    start, end = _markers(name)
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _m: block, text, count=1)
    return text.rstrip() + "\n\n" + block + "\n"


def header_markdown(info: dict[str, Any] | None = None) -> str:
    """The ``machine`` section: where the newest numbers in the file were measured."""
    info = info or machine_info()
    pk = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    return (
        "## Machine of the latest run\n\n"
        f"- CPU: {info['cpu']} ({info['cores']} logical cores), RAM {info['ram_gib']} GiB, {info['os']}\n"
        f"- Python {info['python']} ({info['interpreter']}); {pk}\n"
        f"- cxrkit commit: {info['cxrkit_commit']}\n"
        "- Note: the development machine is shared by several jobs; sections give load averages and use "
        "interleaved rounds with medians to limit the effect."
    )


def write_section(name: str, markdown: str, *, path: Path | None = None, info: dict[str, Any] | None = None) -> Path:
    """Replace (or append) section ``name`` of RESULTS.md with ``markdown``; creates the file when needed."""
    path = path or RESULTS_MD
    text = path.read_text(encoding="utf-8") if path.exists() else f"{TITLE}\n\n{INTRO}\n"
    if not text.startswith(TITLE):
        text = f"{TITLE}\n\n{INTRO}\n\n" + text
    text = _replace_or_append(text, "machine", header_markdown(info))
    text = _replace_or_append(text, name, markdown)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
