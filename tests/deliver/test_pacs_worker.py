"""PACS worker against real local HTTP servers that misbehave (down, 5xx, garbage), and its state file."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cxrkit.deliver.pacs import OrthancError, PacsWorker, ProcessedState, stow_body
from cxrkit.pipeline import Analyzer


def _serve(handler_body):
    class Handler(BaseHTTPRequestHandler):
        hits = []

        def do_GET(self):  # noqa: N802
            Handler.hits.append(self.path)
            status, ctype, body = handler_body(self.path)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Handler.hits


@pytest.fixture()
def analyzer():
    return Analyzer(classifier=None, segmenter=None)


def test_garbage_answer_is_a_clear_error(tmp_path, analyzer):
    server, hits = _serve(lambda path: (200, "text/html", b"<html>not orthanc</html>"))
    try:
        w = PacsWorker(f"http://127.0.0.1:{server.server_port}", tmp_path / "s.sqlite", analyzer, retries=2,
                       sleep=lambda s: None)
        with pytest.raises(OrthancError, match="not JSON"):
            w.run_once()
        w.close()
    finally:
        server.shutdown()


def test_wrong_json_shape_is_a_clear_error(tmp_path, analyzer):
    server, _ = _serve(lambda path: (200, "application/json", json.dumps({"hello": 1}).encode()))
    try:
        w = PacsWorker(f"http://127.0.0.1:{server.server_port}", tmp_path / "s.sqlite", analyzer, retries=1)
        with pytest.raises(OrthancError, match="not an Orthanc server"):
            w.run_once()
        w.close()
    finally:
        server.shutdown()


def test_server_errors_are_retried_with_exponential_backoff(tmp_path, analyzer):
    server, hits = _serve(lambda path: (503, "text/plain", b"busy"))
    sleeps = []
    try:
        w = PacsWorker(f"http://127.0.0.1:{server.server_port}", tmp_path / "s.sqlite", analyzer, retries=4,
                       backoff_s=0.5, max_backoff_s=1.5, sleep=sleeps.append)
        with pytest.raises(OrthancError, match="after 4 attempts: HTTP 503"):
            w.run_once()
        w.close()
    finally:
        server.shutdown()
    assert len(hits) == 4 and sleeps == [0.5, 1.0, 1.5]


def test_unreachable_orthanc_cli_exit_code(tmp_path, capsys):
    from cxrkit.service.cli import main

    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    code = main(["pacs", "watch", "--url", f"http://127.0.0.1:{port}", "--state", str(tmp_path / "s.sqlite"),
                 "--once", "--retries", "2", "--backoff", "0.01"])
    assert code == 1 and "failed after 2 attempts" in capsys.readouterr().err


def test_state_survives_reopen(tmp_path):
    st = ProcessedState(tmp_path / "s.sqlite")
    st.mark("1.2.3", "done", "sr.dcm,sc.dcm")
    st.set_last_seq(42)
    st.close()
    st = ProcessedState(tmp_path / "s.sqlite")
    assert st.is_done("1.2.3") and not st.is_done("1.2.4") and st.last_seq() == 42
    assert st.counts() == {"done": 1}


def test_stow_body_is_multipart_related():
    body, ctype = stow_body([b"DICM-one", b"DICM-two"])
    boundary = ctype.split("boundary=")[1]
    assert ctype.startswith('multipart/related; type="application/dicom"')
    assert body.count(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()) == 2
    assert body.endswith(f"--{boundary}--\r\n".encode())
