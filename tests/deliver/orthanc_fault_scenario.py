"""Fault injection for the PACS worker against a real Orthanc, run INSIDE a private network namespace by
tests/deliver/test_pacs_orthanc_faults.py (see orthanc_scenario.py for why and how Orthanc is isolated).

``sources`` CR radiographs (the SIIM example under as many SOP instance UIDs) are uploaded; ``cxrkit pacs watch --once``
is started up to ``kills`` times and killed with SIGKILL at a random point of its work (seeded: after its
start-up time, measured once, and once 0 to 2 new sources have results, after a further uniform
delay of up to 0.5 s); kills stop early when every source has its results; after every kill and after a last run to
completion, the result objects in Orthanc are attributed to their source (SR evidence, SC source image) and
counted: lost (a source without SR or SC at the end), duplicated (more than one SR or SC per source, or more
SEG objects than sources), half-written (a source with an SR but no SC or the reverse, at the end) and retry
entries left in the state file.

Usage: ``unshare --net -- python tests/deliver/orthanc_fault_scenario.py SIIM.dcm KILLS SEED [SOURCES]``
(default ``4 * KILLS`` sources); prints one JSON
object on its last line.
"""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import pydicom
from kill_helpers import start_and_kill
from orthanc_scenario import PLUGIN, free_port, start_orthanc, wait_up
from pydicom.uid import generate_uid


def results(url: str) -> tuple[Counter, Counter, int]:
    """(SR count per source SOP, SC count per source SOP, SEG count) in Orthanc."""
    sr, sc, seg = Counter(), Counter(), 0
    for oid in httpx.get(url + "/instances").json():
        tags = httpx.get(f"{url}/instances/{oid}/simplified-tags").json()
        modality = tags.get("Modality")
        if modality == "SR":
            ev = tags["CurrentRequestedProcedureEvidenceSequence"][0]["ReferencedSeriesSequence"][0]
            sr[ev["ReferencedSOPSequence"][0]["ReferencedSOPInstanceUID"]] += 1
        elif modality == "OT" and tags.get("Manufacturer") == "cxrkit":
            sc[tags["SourceImageSequence"][0]["ReferencedSOPInstanceUID"]] += 1
        elif modality == "SEG":
            seg += 1
    return sr, sc, seg


def sr_count(url: str) -> int:
    """SR objects in Orthanc, in one request (each source's SR is in its own derived series)."""
    return len(httpx.post(url + "/tools/find", json={"Level": "Series", "Query": {"Modality": "SR"}}).json())


def main() -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    siim, kills, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    n_sources = int(sys.argv[4]) if len(sys.argv) > 4 else 4 * kills
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        http_port = free_port()
        cfg = tmp / "orthanc.json"
        cfg.write_text(json.dumps({
            "Name": "cxrkit-faults", "StorageDirectory": str(tmp / "db"), "IndexDirectory": str(tmp / "db"),
            "HttpPort": http_port, "DicomPort": free_port(), "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "Plugins": [PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }))
        url = f"http://127.0.0.1:{http_port}"
        orthanc = start_orthanc(cfg, tmp / "orthanc.log")
        try:
            wait_up(url)
            sources = []
            for _ in range(n_sources):
                ds = pydicom.dcmread(siim)
                ds.SOPInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                buf = io.BytesIO()
                ds.save_as(buf)
                assert httpx.post(url + "/instances", content=buf.getvalue()).status_code == 200
                sources.append(str(ds.SOPInstanceUID))
            state = tmp / "state.sqlite"
            cmd = [sys.executable, "-m", "cxrkit.service.cli", "pacs", "watch", "--url", url, "--state", str(state),
                   "--once", "--no-localize"]
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            t = time.monotonic()  # how long a worker takes to start and load its models
            subprocess.run([sys.executable, "-c", "from cxrkit.pipeline import Analyzer; Analyzer(localize=False)"],
                           env=env, check=True, capture_output=True)
            startup = time.monotonic() - t
            hit, points, dup_seen = 0, [], 0
            for _ in range(kills):
                done = sr_count(url)
                if done == n_sources:
                    break  # all stored: nothing left for a kill to interrupt
                new = rng.randint(0, min(2, n_sources - 1 - done))  # kill while this run handles its (new+1)-th source
                extra = rng.uniform(0.0, 0.5)
                points.append([done + new, round(extra, 2)])
                t = time.monotonic()
                if start_and_kill(cmd, env, lambda: time.monotonic() - t >= startup and sr_count(url) >= done + new,
                                  extra, poll=0.05):
                    hit += 1
                sr, sc, _ = results(url)
                dup_seen += sum(n - 1 for n in sr.values() if n > 1) + sum(n - 1 for n in sc.values() if n > 1)
            final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            sr, sc, seg = results(url)
            with sqlite3.connect(state) as db:
                pending = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
                statuses = dict(db.execute("SELECT status, COUNT(*) FROM processed GROUP BY status").fetchall())
            obs = {
                "kills": kills, "seed": seed, "sources": n_sources, "startup_s": round(startup, 1),
                "kills_while_running": hit, "kill_points": points,
                "final_exit": final.returncode, "final_output": final.stdout[-500:],
                "lost": sum(1 for s in sources if not sr[s] or not sc[s]),
                "duplicated": dup_seen + sum(n - 1 for n in sr.values() if n > 1)
                + sum(n - 1 for n in sc.values() if n > 1) + max(0, seg - n_sources),
                "half_written": sum(1 for s in sources if bool(sr[s]) != bool(sc[s])),
                "seg_objects": seg, "retry_entries_left": pending, "state": statuses,
            }
        finally:
            orthanc.terminate()
            orthanc.wait(timeout=30)
    print(json.dumps(obs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
