"""Report labeler speed and quality: cxrkit vs negspacy (NegEx on spaCy), same reports, same run, one core.

Data: every Open-i report XML in ``../shared/data/openi-reports/reports`` (2,633 files); quality is scored
against the human MeSH major codes with ``cxrkit.evaluate.labeler`` (ChestX-ray8 protocol, all reports).
Speed: reports/s of the labeling call only (XML already parsed), process pinned to one core, median over
rounds, wall-clock and CPU time. The peer runs in its own process and venv and is timed the same way
(spaCy pipeline call per report; model loading excluded).

Peer install (kept out of cxrkit's dependencies)::

    python -m venv ../labelervenv          # or anywhere: point CXRKIT_LABELER_PEER_PY at its python
    ../labelervenv/bin/pip install 'negspacy==1.1.0' 'spacy>=3.7,<4'

The peer uses ``spacy.blank("en")`` + sentencizer (no model download), an EntityRuler with a literal
phrase list equivalent to cxrkit's rules (``benchmarks/_negspacy_peer.py``) and negspacy's ``en_clinical``
termset.

Run: ``.venv/bin/python benchmarks/labeler_bench.py [--rounds 5] [--peer-python PATH]``; writes the
"labeler" section of benchmarks/RESULTS.md and benchmarks/results/labeler.jsonl.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _method import Probe, Round, fmt_ratio, load_note, ratio  # noqa: E402
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

from cxrkit.evaluate.labeler import score_labeler  # noqa: E402
from cxrkit.labels import FINDINGS  # noqa: E402
from cxrkit.text import ReportLabels, label_report  # noqa: E402
from cxrkit.text.readers import ReportRecord, iter_reports  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CXRKIT_SHARED_DATA", REPO.parent / "shared" / "data"))
DEFAULT_REPORTS = SHARED / "openi-reports" / "reports"
PEER = Path(__file__).resolve().parent / "_negspacy_peer.py"


def pin_one_core() -> int:
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})
    return cores[0]


def cxrkit_round(contents: list) -> tuple[float, float, list[ReportLabels]]:
    t0, c0 = time.perf_counter(), time.process_time()
    labels = [label_report(c) for c in contents]
    return time.perf_counter() - t0, time.process_time() - c0, labels


class Peer:
    """The negspacy process (its own venv), driven one round at a time."""

    def __init__(self, python: str, items_path: Path) -> None:
        self.proc = subprocess.Popen([python, str(PEER), str(items_path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        json.loads(self._line())  # {"ready": n}: model built, items loaded

    def _line(self) -> str:
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise RuntimeError(f"peer process ended (exit code {self.proc.poll()})")
        return line

    def _send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def round(self) -> tuple[float, float]:
        self._send("round")
        t = json.loads(self._line())
        return t["wall_s"], t["cpu_s"]

    def labels(self) -> dict[str, list[str]]:
        self._send("labels")
        out = {}
        while "done" not in (obj := json.loads(self._line())):
            out[obj["id"]] = obj["positive"]
        return out

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._send("quit")
        self.proc.wait(timeout=60)


def peer_labels(positive: list[str], text: str) -> ReportLabels:
    vals: dict[str, int | None] = {f: None for f in FINDINGS}
    if not text.strip():  # same rule as cxrkit: an empty report gets no labels and is not scored
        return ReportLabels(vals, [], ["empty report"])
    for p in positive:
        if p in vals:
            vals[p] = 1
    abnormal = [p for p in positive if p != "Support Devices"]
    vals["No Finding"] = None if abnormal else 1
    return ReportLabels(vals, [], [])


def peer_inputs(records: list[ReportRecord], path: Path) -> list[str]:
    """Write the peer's input (the same findings + impression text cxrkit labels); returns the texts."""
    texts = []
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            secs = r.sections or {}
            text = " ".join(secs.get(k, "") for k in ("findings", "impression") if secs.get(k, "").lower() != "none")
            texts.append(text)
            f.write(json.dumps({"id": r.report_id, "text": text}) + "\n")
    return texts


def version(python: str, pkg: str) -> str:
    try:
        return subprocess.run([python, "-c", f"from importlib.metadata import version; print(version('{pkg}'))"],
                              capture_output=True, text=True, timeout=60).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def _report(rows: list[dict], args: argparse.Namespace, n: int, info: dict, load0: float, core, peer_desc: str,
            speedup: str) -> str:
    """Append the raw rows to results/labeler.jsonl and return the RESULTS.md section."""
    load_end = os.getloadavg()[0]
    stamp = time.strftime("%Y-%m-%d %H:%M")
    append_jsonl("labeler", [{**r, "n_reports": n, "rounds": args.rounds, "core": core, "when": stamp,
                              "load_avg": [load0, load_end]} for r in rows])
    table = ["| labeler | reports/s (wall, median) | reports/s (CPU time) | precision | recall | F1 | n scored |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        table.append(f"| {r['labeler']} | {r['reports_per_s_wall']:.0f} | {r['reports_per_s_cpu']:.0f} | "
                     f"{r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['n_scored']} |")
    table.append("| ChestX-ray8's labeler (paper; 3,851 Open-i reports; speed not reported) | - | - | 0.90 | 0.91 | "
                 "0.90 | 3,851 |")
    md = (
        "## Report labeler\n\n"
        f"Data: all {n} Open-i report XMLs in `../shared/data/openi-reports/reports`; quality = micro P/R/F1 over "
        "ChestX-ray8's 8 findings + Normal against the human MeSH major codes (protocol and per-finding table: "
        "`cxrkit evaluate labeler`, docs/labeler.md). Speed: the labeling call only (XML parsed beforehand), "
        f"process pinned to one core (the peer's process too), {args.rounds} rounds interleaved with the peer's "
        "after one warm-up round each (`benchmarks/_method.py`: load before/after each round, ratios refused when "
        "the load exceeds the cores), medians; CPU time is less sensitive to other jobs.\n"
        f"Machine: {machine_line(info)}, {load_end:.2f} at end.\n"
        f"Peer: {peer_desc}; NegEx has no uncertainty class, so hedged mentions count as present.\n"
        "Command: `.venv/bin/python benchmarks/labeler_bench.py` (peer install steps in its docstring).\n\n"
        + "\n".join(table) + "\n\n" + speedup
    )
    return md


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=Path, default=DEFAULT_REPORTS)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--peer-python", default=os.environ.get("CXRKIT_LABELER_PEER_PY",
                                                           str(REPO.parent / "labelervenv" / "bin" / "python")))
    ap.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    args = ap.parse_args()
    core = pin_one_core()
    records = [r for r in iter_reports([args.reports]) if isinstance(r, ReportRecord)]
    contents = [r.content for r in records]
    n = len(records)
    info = machine_info(("numpy",))
    load0 = os.getloadavg()[0]

    peer = None
    if Path(args.peer_python).exists():
        items_path = Path(tempfile.mkdtemp(prefix="labeler_bench_")) / "items.jsonl"
        texts = peer_inputs(records, items_path)
        peer = Peer(args.peer_python, items_path)
    else:
        print(f"peer interpreter {args.peer_python} not found; see this script's docstring", file=sys.stderr)
    label_report("warm up: no pneumothorax.")
    for c in contents:  # warm-up round: the rule scanner compiles its per-prefix patterns on first use
        label_report(c)
    if peer is not None:
        peer.round()  # the peer's warm-up round
    wall, cpu, pwall, pcpu = [], [], [], []
    ours_rounds: list[Round] = []
    peer_rounds: list[Round] = []
    labels: list[ReportLabels] = []
    for r in range(args.rounds):  # interleaved (order alternating), so both see the same machine load
        for side in ("cxrkit", "peer") if r % 2 == 0 else ("peer", "cxrkit"):
            probe = Probe()
            if side == "cxrkit":
                w, c, labels = cxrkit_round(contents)
                wall.append(w)
                cpu.append(c)
                ours_rounds.append(probe.round(n, w, c))
            elif peer is not None:
                pw, pc = peer.round()
                pwall.append(pw)
                pcpu.append(pc)
                peer_rounds.append(probe.round(n, pw, pc))
    items = [(r.report_id, r.mesh_major, lab) for r, lab in zip(records, labels)]
    s_neg = score_labeler(items, uncertain="negative")
    s_pos = score_labeler(items, uncertain="positive")
    rows = [{
        "labeler": "cxrkit (uncertain = negative)", "reports_per_s_wall": n / statistics.median(wall),
        "reports_per_s_cpu": n / statistics.median(cpu), "precision": s_neg.micro.precision,
        "recall": s_neg.micro.recall, "f1": s_neg.micro.f1, "n_scored": s_neg.n_reports,
    }, {
        "labeler": "cxrkit (uncertain = positive)", "reports_per_s_wall": n / statistics.median(wall),
        "reports_per_s_cpu": n / statistics.median(cpu), "precision": s_pos.micro.precision,
        "recall": s_pos.micro.recall, "f1": s_pos.micro.f1, "n_scored": s_pos.n_reports,
    }]
    peer_desc = "negspacy not installed"
    speedup = ""
    if peer is not None:
        by_id = peer.labels()
        peer.close()
        plabels = [peer_labels(by_id.get(r.report_id, []), t) for r, t in zip(records, texts)]
        sp = score_labeler([(r.report_id, r.mesh_major, lab) for r, lab in zip(records, plabels)])
        rows.append({
            "labeler": "negspacy NegEx + spaCy blank('en') + EntityRuler (same phrases)",
            "reports_per_s_wall": n / statistics.median(pwall), "reports_per_s_cpu": n / statistics.median(pcpu),
            "precision": sp.micro.precision, "recall": sp.micro.recall, "f1": sp.micro.f1, "n_scored": sp.n_reports,
        })
        peer_desc = (f"negspacy {version(args.peer_python, 'negspacy')}, spaCy {version(args.peer_python, 'spacy')} "
                     f"({args.peer_python})")
        rc, rw = ratio(ours_rounds, peer_rounds, cpu=True), ratio(ours_rounds, peer_rounds)
        speedup = (f"cxrkit / negspacy speed per CPU-second, median of per-round ratios from rounds with load <= "
                   f"cores: {fmt_ratio(rc)} (rounds: {', '.join(f'{x:.2f}' for x in rc['rounds'])}); wall: "
                   f"{fmt_ratio(rw)}. {load_note({'cxrkit': ours_rounds, 'peer': peer_rounds})}.\n")
    md = _report(rows, args, n, info, load0, core, peer_desc, speedup)
    print(md)
    if not args.no_write:
        write_section("labeler", md, info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
