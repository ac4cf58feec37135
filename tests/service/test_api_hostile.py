"""REST API under hostile clients (issue 11, items 3, 8, 9): any failure of one upload is a 4xx JSON answer,
never a 500; the bearer token is checked before the body is read; sockets trickling header blocks do not starve
authorised clients; the uploaded file name is never echoed; ``serve`` fails fast on a busy port."""

from __future__ import annotations

import socket
import time
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cxrkit.pipeline import Analyzer
from cxrkit.service.api import create_app
from cxrkit.service.settings import Settings

TOKEN = "s3cret-token"


class StubClassifier:
    findings = ("Effusion",)
    thresholds = {"Effusion": 0.5}

    def predict(self, pixels_list):
        return np.array([[0.7]], dtype=np.float32)


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(classifier=StubClassifier(), segmenter=None, localize=False)


@pytest.mark.parametrize("exc", [ValueError("bad VR"), TypeError("NoneType"), zlib.error("corrupt deflate"),
                                 KeyError("x"), MemoryError(), RecursionError()])
def test_any_exception_of_one_upload_is_a_json_4xx(analyzer, examples, monkeypatch, exc):
    """Was: a 500 (with the server's default text) for exceptions outside the typed errors."""
    bad = Analyzer(classifier=StubClassifier(), segmenter=None, localize=False)

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(bad, "analyze_with_image", boom)
    with TestClient(create_app(Settings(), analyzer=bad), raise_server_exceptions=False) as c:
        r = c.post("/v1/analyze", files={"file": ("x.png", (examples / "00000002_000.png").read_bytes())})
    assert r.status_code == 422, r.text
    body = r.json()
    assert type(exc).__name__ in body["detail"] and body["request_id"]
    assert "bad VR" not in body["detail"]  # messages may quote header values: the type only


def test_the_upload_name_is_not_echoed(analyzer, examples, caplog):
    """Was: image.source held the uploaded file name, which often carries the patient's name."""
    name = "DOE_JOHN_1962-01-01.png"
    with caplog.at_level("DEBUG"), TestClient(create_app(Settings(), analyzer=analyzer)) as c:
        r = c.post("/v1/analyze", files={"file": (name, (examples / "00000002_000.png").read_bytes())})
    assert r.status_code == 200
    assert "DOE" not in r.text and r.json()["image"]["source"] == ""
    assert "DOE" not in caplog.text


def _raw(port: int, data: bytes, wait: float = 3.0) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        t = time.time()
        s.sendall(data)
        s.settimeout(wait)
        try:
            reply = s.recv(4096)
        except TimeoutError:
            reply = b""
        return reply, time.time() - t


def test_token_is_checked_before_the_body_is_read(live_server, analyzer):
    """Was: the 401 came only after the whole multipart body (up to the upload limit) was read and parsed."""
    from cxrkit.service.http import uvicorn_options

    base = live_server(create_app(Settings(api_token=TOKEN, read_timeout_s=30), analyzer=analyzer),
                       **uvicorn_options(Settings()))
    port = int(base.rsplit(":", 1)[1])
    head = (b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 30000000\r\n")
    for auth in (b"", b"Authorization: Bearer wrong\r\n"):
        reply, waited = _raw(port, head + auth + b"\r\n")  # no body sent at all
        assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
        assert waited < 2
    reply, _ = _raw(port, head + f"Authorization: Bearer {TOKEN}\r\n".encode() + b"\r\n", wait=1.0)
    assert reply == b""  # with the right token the server waits for the body


def test_slow_header_sockets_do_not_starve_authorised_clients(live_server, analyzer, examples):
    """Was: 70 sockets trickling header blocks made authorised clients get 503 for ~10 s."""
    import httpx

    from cxrkit.service.http import uvicorn_options

    settings = Settings(api_token=TOKEN, header_timeout_s=20)
    base = live_server(create_app(settings, analyzer=analyzer), **uvicorn_options(settings))
    port = int(base.rsplit(":", 1)[1])
    slow = []
    try:
        for _ in range(150):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\n")  # header block never finished
            slow.append(s)
        time.sleep(0.3)
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            codes = [c.post(base + "/v1/analyze",
                            files={"file": ("x.png", (examples / "00000002_000.png").read_bytes())}).status_code
                     for _ in range(3)]
        assert codes == [200, 200, 200]
    finally:
        for s in slow:
            s.close()


def test_serve_fails_fast_when_the_port_is_taken(capsys):
    from cxrkit.service.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t = time.time()
        code = main(["serve", "--port", str(port)])
        took = time.time() - t
    assert code == 1 and took < 3
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


def test_a_result_that_cannot_be_rendered_is_a_422_not_a_500(examples):
    """A NaN probability (JSON has no NaN) used to fail while rendering the response, outside the error mapping."""

    class NaNClassifier(StubClassifier):
        def predict(self, pixels_list):
            return np.array([[np.nan]], dtype=np.float32)

    bad = Analyzer(classifier=NaNClassifier(), segmenter=None, localize=False)
    with TestClient(create_app(Settings(), analyzer=bad), raise_server_exceptions=False) as c:
        r = c.post("/v1/analyze", files={"file": ("x.png", (examples / "00000002_000.png").read_bytes())})
    assert r.status_code == 422 and r.json()["request_id"], r.text
