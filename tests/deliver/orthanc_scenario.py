"""Orthanc round trip, run INSIDE a private network namespace by tests/deliver/test_pacs_orthanc.py.

Why a namespace: Debian's Orthanc 1.10 listens on all interfaces (no bind-address option), so the test runs
it under ``unshare --net`` where only a loopback interface exists; nothing outside can reach it and it can
reach nothing. This script brings ``lo`` up, writes a temporary Orthanc configuration (HTTP and DICOM ports
on free loopback ports, DICOMweb plugin on, storage in a temp folder, authentication off, remote access off),
starts Orthanc and runs the scenario with the real ``cxrkit pacs watch`` command:

1. upload the SIIM radiograph, run ``pacs watch --once`` → SR + SC stored into the same study;
2. run it again → nothing stored twice;
3. upload a second radiograph, stop Orthanc, start the worker (it retries with backoff), restart Orthanc
   on the same storage → the worker succeeds, and the first instance is still not processed again.

It prints one JSON object of observations on its last stdout line; the pytest side asserts on it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pydicom
from pydicom.uid import generate_uid

PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_orthanc(cfg: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(["Orthanc", "--logfile=" + str(log), str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url + "/system", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("Orthanc did not come up")


class _Lines(logging.Handler):
    """Collects the worker's log lines; sets ``retrying`` once a second retry is scheduled."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.retrying = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        self.lines.append(msg)
        if "retry 2/" in msg:
            self.retrying.set()


def worker(url: str, state: Path, *extra: str) -> tuple[int, str]:
    """``cxrkit pacs watch --once`` through the real CLI entry point, in this process (one import of the
    models for the whole scenario keeps the test fast); returns (exit code, printed text + log lines)."""
    from cxrkit.service.cli import main as cli

    handler = _Lines()
    logging.getLogger("cxrkit.deliver.pacs").addHandler(handler)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = cli(["pacs", "watch", "--url", url, "--state", str(state), "--once", "--no-localize", *extra])
    finally:
        logging.getLogger("cxrkit.deliver.pacs").removeHandler(handler)
    return code, "\n".join(handler.lines) + "\n" + out.getvalue()


def study_series(url: str, study_uid: str) -> list[dict]:
    found = httpx.post(url + "/tools/find", json={"Level": "Study", "Query": {"StudyInstanceUID": study_uid}}).json()
    out = []
    for sid in httpx.get(f"{url}/studies/{found[0]}").json()["Series"]:
        s = httpx.get(f"{url}/series/{sid}").json()
        out.append({"modality": s["MainDicomTags"].get("Modality"), "instances": len(s["Instances"]),
                    "description": s["MainDicomTags"].get("SeriesDescription", "")})
    return out


def main() -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    siim = Path(sys.argv[1])
    obs: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        http_port, dicom_port = free_port(), free_port()
        cfg = tmp / "orthanc.json"
        cfg.write_text(json.dumps({
            "Name": "cxrkit-test", "StorageDirectory": str(tmp / "db"), "IndexDirectory": str(tmp / "db"),
            "HttpPort": http_port, "DicomPort": dicom_port, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "Plugins": [PLUGIN], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "StableAge": 1,
        }))
        url = f"http://127.0.0.1:{http_port}"
        orthanc = start_orthanc(cfg, tmp / "orthanc.log")
        try:
            wait_up(url)
            obs["dicomweb_plugin"] = "dicom-web" in json.dumps(httpx.get(url + "/plugins").json())
            data = siim.read_bytes()
            ds = pydicom.dcmread(io.BytesIO(data))
            study = str(ds.StudyInstanceUID)
            assert httpx.post(url + "/instances", content=data).status_code == 200
            state = tmp / "state.sqlite"
            obs["run1_code"], obs["run1_output"] = worker(url, state)
            obs["after_run1"] = study_series(url, study)
            obs["run2_code"], obs["run2_output"] = worker(url, state)
            obs["after_run2"] = study_series(url, study)

            # a second radiograph in the same study arrives, then Orthanc goes down
            ds.SOPInstanceUID = generate_uid()
            ds.SeriesInstanceUID = generate_uid()
            buf = io.BytesIO()
            ds.save_as(buf)
            assert httpx.post(url + "/instances", content=buf.getvalue()).status_code == 200
            orthanc.terminate()
            orthanc.wait(timeout=30)
            t0 = time.time()
            box: dict = {}
            handler = _Lines()
            logging.getLogger("cxrkit.deliver.pacs").addHandler(handler)
            thread = threading.Thread(target=lambda: box.update(
                zip(("code", "text"), worker(url, state, "--retries", "10", "--backoff", "0.5")))
            )
            thread.start()
            # keep Orthanc down until the worker has failed twice and scheduled another retry
            obs["retry_seen_while_down"] = handler.retrying.wait(timeout=120)
            obs["worker_alive_while_down"] = thread.is_alive()
            orthanc = start_orthanc(cfg, tmp / "orthanc2.log")
            thread.join(timeout=180)
            logging.getLogger("cxrkit.deliver.pacs").removeHandler(handler)
            obs["run3_code"], obs["run3_output"] = box.get("code"), box.get("text", "")
            obs["run3_seconds"] = round(time.time() - t0, 1)
            wait_up(url)
            obs["after_run3"] = study_series(url, study)
        finally:
            orthanc.terminate()
            orthanc.wait(timeout=30)
    print(json.dumps(obs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
