"""Fault injection: ``kill -9`` at random points of ``cxrkit analyze --dicom-out``, then count what was lost,
duplicated, half-written or left behind.

Run as a script for the figure in ``docs/security.md``::

    .venv/bin/python tests/deliver/fault_injection.py --kills 20 [--seed 0] [--workdir DIR]

``tests/deliver/test_fault_injection.py`` runs it with ``CXRKIT_FAULT_KILLS`` kills (5 by default).

Protocol: 7 inputs (the 4 bundled examples and copies of the 3 PNGs, one pixel changed, under other names);
one clean reference run into its own folder: the time ``t0`` its first temp folder appears (models loaded,
writing begins) and its wall time ``T`` are measured; then ``kills`` runs into one output folder, each
killed with SIGKILL at a random point of its work (seeded): once it has written a random number of new results
(from none to all but one of those left) and is writing the next, after a further uniform delay of up to one
image's time ``(T - t0) / 7``; after every kill every result folder present is checked, and
once every input is done the output folder is started afresh (so later kills still meet work); then one last
run to completion. Counts:

* lost: inputs without a complete result folder after the last run;
* duplicated: result folders beyond one per input, plus DICOM SOP instance UIDs found in two folders, plus
  output UIDs that differ from the reference run's (a new object for the same analysis);
* half_written: result folders, after any kill or at the end, missing a file, with an invalid ``result.json``
  or an unreadable DICOM file, and visible folders without cxrkit's marker;
* temp_left: ``.*.tmp-*`` / ``.*.old-*`` entries left after the last run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from kill_helpers import start_and_kill

EXPECTED = ("result.json", "report.md", "overlay.png", "sr.dcm", "sc.dcm", ".cxrkit-result")


def make_inputs(root: Path) -> Path:
    """The 7 inputs under ``root/in``."""
    examples = Path(str(resources.files("cxrkit").joinpath("examples")))
    src = root / "in"
    (src / "more").mkdir(parents=True, exist_ok=True)
    import numpy as np
    from PIL import Image

    for f in sorted(examples.iterdir()):
        if f.suffix in (".png", ".dcm"):
            shutil.copy(f, src / f.name)
            if f.suffix == ".png":  # a distinct image (one pixel changed): its own result and output UIDs
                pixels = np.array(Image.open(f))
                pixels.flat[0] ^= 1
                Image.fromarray(pixels).save(src / "more" / f"copy_{f.name}")
    return src


def command(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "cxrkit.service.cli", "analyze", str(src), "--out", str(out), "--dicom-out",
            "--no-localize"]


def check_folder(folder: Path) -> tuple[bool, dict[str, str]]:
    """(complete, {file: SOPInstanceUID}) for one result folder."""
    import pydicom

    from cxrkit.result import validate_result

    names = {p.name for p in folder.iterdir()}
    if not set(EXPECTED) <= names:
        return False, {}
    try:
        validate_result(json.loads((folder / "result.json").read_text(encoding="utf-8")))
        uids = {n: str(pydicom.dcmread(folder / n).SOPInstanceUID) for n in sorted(names) if n.endswith(".dcm")}
    except Exception:  # noqa: BLE001 - anything unreadable is a half-written result
        return False, {}
    return True, uids


def scan(out: Path) -> tuple[int, dict[str, dict[str, str]]]:
    """(half-written count, {folder name: {file: UID}}) over the visible folders of ``out``."""
    half, folders = 0, {}
    for p in sorted(out.iterdir()) if out.exists() else []:
        if p.name.startswith(".") or not p.is_dir():
            continue
        ok, uids = check_folder(p)
        if not ok:
            half += 1
        folders[p.name] = uids
    return half, folders


def _writing(out: Path, stale: set[str]) -> bool:
    """This run has started writing (a temp folder that a killed run did not leave, or a new result)."""
    return out.exists() and any(".tmp-" in p.name and p.name not in stale for p in out.iterdir())


def _visible_folders(out: Path) -> int:
    return sum(1 for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) if out.exists() else 0


def run(kills: int, seed: int, workdir: Path) -> dict:
    """Run the protocol; returns the counts and timings."""
    from cxrkit.deliver.outdir import output_name

    rng = random.Random(seed)
    src = make_inputs(workdir)
    inputs = sorted(p for p in src.rglob("*") if p.is_file())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t = time.monotonic()
    ref_out = workdir / "reference"
    ref = subprocess.Popen(command(src, ref_out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first_write = None
    while ref.poll() is None:
        if first_write is None and ref_out.exists() and any(".tmp-" in p.name for p in ref_out.iterdir()):
            first_write = time.monotonic() - t
        time.sleep(0.02)
    window = time.monotonic() - t
    if ref.returncode != 0:
        raise RuntimeError(f"reference run failed ({ref.returncode}): {ref.stderr.read()[-2000:]!r}")
    start = first_write if first_write is not None else 0.0
    _, reference = scan(ref_out)

    out = workdir / "out"
    expected_names = {output_name(p) for p in inputs}
    half_after_kills, delays, temp_seen, hit, restarts = 0, [], 0, 0, 0
    per_image = max(0.05, (window - start) / len(inputs))
    for _ in range(kills):
        done = _visible_folders(out)
        new = rng.randint(0, len(inputs) - 1 - done)  # kill while this run makes its (new+1)-th result
        extra = rng.uniform(0.0, per_image)
        delays.append([done + new, round(extra, 2)])
        stale = {p.name for p in out.iterdir() if ".tmp-" in p.name} if out.exists() else set()
        if start_and_kill(command(src, out), env,
                          lambda: _visible_folders(out) >= done + new and _writing(out, stale), extra):
            hit += 1
        half, folders = scan(out)
        half_after_kills += half
        temp_seen += sum(1 for p in out.glob(".*.tmp-*")) if out.exists() else 0
        if expected_names <= {n for n, u in folders.items() if u}:  # all done: start afresh for the next kill
            shutil.rmtree(out)
            restarts += 1
    final = subprocess.run(command(src, out), env=env, capture_output=True, text=True, timeout=900)
    half_end, folders = scan(out)

    lost = len(expected_names - {n for n, u in folders.items() if u})
    seen: dict[str, str] = {}
    dup_uids = 0
    for name, uids in folders.items():
        for uid in uids.values():
            if uid in seen and seen[uid] != name:
                dup_uids += 1
            seen[uid] = name
    changed = sum(1 for name, uids in folders.items() if name in reference and uids != reference[name])
    return {
        "kills": kills, "seed": seed, "inputs": len(inputs),
        "kill_window_s": [round(start, 1), round(window, 1)], "kills_while_running": hit, "fresh_restarts": restarts,
        "kill_points": delays, "final_exit": final.returncode,
        "lost": lost,
        "duplicated": max(0, len(folders) - len(expected_names)) + dup_uids + changed,
        "half_written": half_after_kills + half_end,
        "temp_left": sum(1 for p in out.iterdir() if ".tmp-" in p.name or ".old-" in p.name),
        "temp_seen_after_kills": temp_seen,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="kept afterwards (default: a temp folder, removed)")
    args = ap.parse_args(argv)
    import tempfile

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        res = run(args.kills, args.seed, args.workdir)
    else:
        with tempfile.TemporaryDirectory() as d:
            res = run(args.kills, args.seed, Path(d))
    print(json.dumps(res))
    return 0 if res["lost"] == res["duplicated"] == res["half_written"] == res["temp_left"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
