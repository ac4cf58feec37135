"""Install size and cold start of the lean profile (``pip install cxrkit``) against the full one (issue 12).

* size: the ``site-packages`` of a fresh venv with ``pip install .`` (lean), and of the project's own ``.venv``
  (full: ``torch==2.13.0`` CPU wheel + ``.[test,train,ray]``; on a user's machine plain PyPI gives the CUDA
  torch build, several GB more);
* cold start: ``cxrkit analyze`` of one bundled film (a new process each time: imports, model loading,
  inference, outputs), wall and CPU time, in interleaved rounds (benchmarks/_method.py) for: the lean venv, the
  full venv, and the full venv running the code as it was before the lean work (``--before`` commit; its
  heatmaps imported PyTorch).

    .venv/bin/python benchmarks/install_profile_bench.py [--rounds 5] [--before c006945]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _method import Side, cores, interleave, load_note, run_child, summarize, thread_env  # noqa: E402
from _results import append_jsonl, machine_line, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FILM = REPO / "src" / "cxrkit" / "examples" / "00000377_004.png"


def site_packages_mib(env: Path) -> float:
    sp = next((env / "lib").glob("python3*/site-packages"))
    return sum(f.stat().st_size for f in sp.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def make_lean(where: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(where)
    subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(REPO)], check=True)
    return where


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--before", default="c006945", help="commit of the code before the lean profile")
    ap.add_argument("--threads", type=int, default=cores())
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cxrkit-profiles-"))
    try:
        lean = make_lean(tmp / "lean")
        old = tmp / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), a.before], check=True,
                       capture_output=True)
        full_py = REPO / ".venv" / "bin" / "python"
        run_old = ("import sys; sys.path.insert(0, sys.argv[1]); import cxrkit; assert cxrkit.__file__.startswith("
                   "sys.argv[1]); from cxrkit.service.cli import main; sys.exit(main(sys.argv[2:]))")
        env = thread_env(a.threads)

        def side(cmd: list[str]) -> Side:
            def run() -> tuple[int, float]:
                out = Path(tempfile.mkdtemp(dir=tmp))
                _, cpu = run_child([*cmd, "analyze", str(FILM), "--out", str(out)], env=env)
                shutil.rmtree(out)
                return 1, cpu
            return Side(run)

        sides = {
            "lean (pip install cxrkit)": side([str(lean / "bin" / "cxrkit")]),
            "full (.venv, this commit)": side([str(REPO / ".venv" / "bin" / "cxrkit")]),
            f"full (.venv, {a.before})": side([str(full_py), "-c", run_old, str(old / "src")]),
        }
        res = interleave(sides, a.rounds)
        sizes = {"lean (pip install cxrkit)": site_packages_mib(lean),
                 "full (.venv, this commit)": site_packages_mib(REPO / ".venv")}
        sizes[f"full (.venv, {a.before})"] = sizes["full (.venv, this commit)"]
        rows, records = [], []
        for name, rounds in res.items():
            s = summarize(rounds)
            rows.append(f"| {name} | {sizes[name]:,.0f} | {s['ms_per_item_wall'] / 1000:.2f} | "
                        f"{s['ms_per_item_cpu'] / 1000:.2f} |")
            records.append({"profile": name, "site_packages_mib": round(sizes[name], 1), **s})
        md = "\n".join([
            f"`cxrkit analyze` of one bundled 512 px NIH film in a new process (imports, model loading, inference, "
            f"outputs), median of {a.rounds} interleaved rounds, {a.threads} thread(s); {load_note(res)}.", "",
            "| profile | site-packages MiB | cold start wall s | cold start CPU s |", "| --- | ---: | ---: | ---: |",
            *rows, "",
            "The full profile's size is this machine's CPU torch wheel; PyPI's default torch (CUDA) adds several GB.",
            machine_line()])
        print(md)
        write_section("install_profiles", md)
        append_jsonl("install_profile_bench", records)
        print(json.dumps(records, indent=1))
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "before")],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
