"""A tiny in-process stand-in for Orthanc's REST + DICOMweb STOW-RS API (the parts the PACS worker uses), which
counts every stored object so tests can prove that nothing is stored twice."""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydicom


class FakeOrthanc:
    """``add(dicom_bytes)`` makes a NewInstance change; ``stow_counts`` counts STOW-RS parts per SOP UID
    (Orthanc itself keeps one copy per SOP UID; the counter shows what the worker sent)."""

    def __init__(self) -> None:
        self.instances: dict[str, bytes] = {}
        self.changes: list[dict] = []
        self.stored: dict[str, bytes] = {}
        self.stow_counts: Counter[str] = Counter()
        self.stow_status = 200
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, doc) -> None:
                body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if isinstance(doc, bytes)
                                 else "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                path = self.path
                if path.startswith("/changes"):
                    since = int(path.split("since=")[1].split("&")[0])
                    page = [c for c in fake.changes if c["Seq"] > since]
                    return self._send(200, {"Changes": page, "Done": True,
                                            "Last": fake.changes[-1]["Seq"] if fake.changes else 0})
                parts = path.strip("/").split("/")
                if len(parts) == 3 and parts[0] == "instances" and parts[1] in fake.instances:
                    data = fake.instances[parts[1]]
                    if parts[2] == "file":
                        return self._send(200, data)
                    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
                    return self._send(200, {k: str(ds.get(k, "")) for k in
                                            ("SOPInstanceUID", "Modality", "Manufacturer")})
                return self._send(404, {"error": "not found"})

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/tools/lookup":
                    uid = body.decode().strip()
                    found = [{"Type": "Instance", "ID": uid}] if uid in fake.stored else []
                    return self._send(200, found)
                if self.path == "/dicom-web/studies":
                    if fake.stow_status != 200:
                        return self._send(fake.stow_status, {"error": "refused"})
                    boundary = self.headers["Content-Type"].split("boundary=")[1].encode()
                    for chunk in body.split(b"--" + boundary)[1:-1]:
                        data = chunk.split(b"\r\n\r\n", 1)[1][:-2]
                        uid = str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)
                        with fake.lock:
                            fake.stow_counts[uid] += 1
                            fake.stored.setdefault(uid, data)
                    return self._send(200, {})
                return self._send(404, {"error": "not found"})

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def add(self, data: bytes) -> str:
        oid = f"inst{len(self.instances) + 1}"
        self.instances[oid] = data
        self.changes.append({"Seq": len(self.changes) + 1, "ChangeType": "NewInstance", "ID": oid})
        return oid

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
