"""The REST API through FastAPI's TestClient (every endpoint, auth, limits, bad uploads) and a live server
(slow uploads, concurrent requests)."""

from __future__ import annotations

import base64
import io
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from cxrkit.pipeline import Analyzer
from cxrkit.result import validate_result
from cxrkit.service.api import create_app
from cxrkit.service.settings import Settings

TOKEN = "correct horse battery staple"


class StubClassifier:
    """Fixed probabilities standing in for the classifier dependency (the API is what is tested)."""

    findings = ("Effusion", "Cardiomegaly")
    thresholds = {"Effusion": 0.4, "Cardiomegaly": 0.5}

    class card:  # noqa: N801
        name, version, checksum = "stub", "0", None

        @staticmethod
        def to_dict():
            return {"name": "stub", "findings": ["Effusion", "Cardiomegaly"]}

    def predict(self, pixels_list):
        return np.array([[0.7, 0.1]], dtype=np.float32)


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(classifier=StubClassifier(), segmenter=None, localize=False)


@pytest.fixture()
def client(analyzer):
    with TestClient(create_app(Settings(api_token=TOKEN, max_upload_mb=1), analyzer=analyzer)) as c:
        c.headers["Authorization"] = f"Bearer {TOKEN}"
        yield c


def _post(client, data: bytes, name="x.png", ctype="image/png", **params):
    return client.post("/v1/analyze", files={"file": (name, data, ctype)}, params=params)


def test_healthz_needs_no_token(analyzer):
    with TestClient(create_app(Settings(api_token=TOKEN), analyzer=analyzer)) as c:
        r = c.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "version": r.json()["version"],
                                                 "classifier": True, "segmenter": False}


def test_models_lists_the_card(client):
    r = client.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["classifier"]["name"] == "stub" and body["classifier_card"]["findings"] == ["Effusion", "Cardiomegaly"]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer ", "Basic " + base64.b64encode(b"a:b").decode(),
                                    f"Bearer {TOKEN}x"])
def test_missing_or_invalid_token_is_401(analyzer, examples, header):
    with TestClient(create_app(Settings(api_token=TOKEN), analyzer=analyzer)) as c:
        headers = {"Authorization": header} if header else {}
        r = c.post("/v1/analyze", files={"file": ("a.png", (examples / "00000002_000.png").read_bytes())},
                   headers=headers)
        assert r.status_code == 401 and "token" in r.json()["detail"]
        assert c.get("/v1/models", headers=headers).status_code == 401


def test_no_token_configured_means_open(analyzer):
    with TestClient(create_app(Settings(), analyzer=analyzer)) as c:
        assert c.get("/v1/models").status_code == 200


def test_analyze_png_returns_the_result_document(client, examples):
    r = _post(client, (examples / "00001437_012.png").read_bytes(), name="00001437_012.png")
    assert r.status_code == 200
    doc = r.json()
    validate_result(doc)
    assert doc["image"]["source"] == "" and doc["image"]["original_size"] == [512, 512]  # name never echoed
    assert [(f["name"], f["positive"]) for f in doc["findings"]] == [("Effusion", True), ("Cardiomegaly", False)]
    assert "overlays" not in doc


def test_analyze_dicom_with_overlays(client, examples):
    r = _post(client, (examples / "siim_pa_chest.dcm").read_bytes(), name="siim.dcm", ctype="application/dicom",
              include="image,overlay,heatmaps,masks")
    assert r.status_code == 200
    doc = r.json()
    validate_result(doc)
    assert doc["image"]["modality"] == "CR"
    png = base64.b64decode(doc["overlays"]["image"].split(",", 1)[1])
    assert PILImage.open(io.BytesIO(png)).size == (1024, 1024)
    assert doc["overlays"]["heatmaps"] == {} and doc["overlays"]["masks"] == {}


def test_unknown_include_is_400(client, examples):
    r = _post(client, (examples / "00000002_000.png").read_bytes(), include="image,xray")
    assert r.status_code == 400 and "xray" in r.json()["detail"]


@pytest.mark.parametrize(
    "data, name, ctype",
    [
        (b"", "empty.png", "image/png"),
        (b"%PDF-1.4 not an image at all", "doc.pdf", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "truncated.png", "image/png"),
        (b"{\"json\": true}", "x.json", "application/json"),
    ],
)
def test_non_images_are_415(client, data, name, ctype):
    r = _post(client, data, name=name, ctype=ctype)
    assert r.status_code == 415, r.text
    assert r.json()["detail"]


def test_other_modality_is_422(client):
    from pydicom.data import get_testdata_file

    with open(get_testdata_file("CT_small.dcm"), "rb") as fh:
        r = _post(client, fh.read(), name="ct.dcm", ctype="application/dicom")
    assert r.status_code == 422 and "CT" in r.json()["detail"]


def test_lateral_view_is_422_with_reasons(client, examples):
    import pydicom

    ds = pydicom.dcmread(examples / "siim_pa_chest.dcm")
    ds.ViewPosition = "LL"
    buf = io.BytesIO()
    ds.save_as(buf)
    r = _post(client, buf.getvalue(), name="lat.dcm", ctype="application/dicom")
    assert r.status_code == 422
    body = r.json()
    assert "lateral" in body["detail"] and body["result"]["findings"] == []
    validate_result(body["result"])


def test_non_chest_photo_is_422(client):
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        r = _post(client, fh.read(), name="portrait.jpg", ctype="image/jpeg")
    assert r.status_code == 422 and not r.json()["result"]["quality"]["usable"]


def test_upload_over_the_limit_is_413(client):
    r = _post(client, b"\x00" * (1024 * 1024 + 10), name="big.png")
    assert r.status_code == 413 and "1 MB" in r.json()["detail"]


def test_missing_file_field_is_422(client):
    assert client.post("/v1/analyze").status_code == 422


def test_openapi_docs(client):
    schema = client.get("/openapi.json").json()
    assert {"/healthz", "/v1/models", "/v1/analyze"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_viewer_is_served(client):
    r = client.get("/")
    assert r.status_code == 200 and "cxrkit" in r.text
    assert client.get("/static/app.js").status_code == 200


def test_settings_from_env():
    s = Settings.from_env({"CXRKIT_API_TOKEN": "t", "CXRKIT_MAX_UPLOAD_MB": "2.5", "CXRKIT_LOCALIZE": "no"})
    assert s.api_token == "t" and s.max_upload_bytes == int(2.5 * 2**20) and s.localize is False
    from cxrkit.errors import DataFormatError

    with pytest.raises(DataFormatError, match="CXRKIT_MAX_UPLOAD_MB"):
        Settings.from_env({"CXRKIT_MAX_UPLOAD_MB": "lots"})
    with pytest.raises(DataFormatError, match="CXRKIT_SEGMENT"):
        Settings.from_env({"CXRKIT_SEGMENT": "maybe"})


def test_slow_upload_gets_408_on_a_live_server(live_server, analyzer):
    base = live_server(create_app(Settings(read_timeout_s=0.5, body_timeout_s=2), analyzer=analyzer))
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: 100000\r\n\r\n--b\r\n")
        t = time.time()
        reply = s.recv(4096)
        waited = time.time() - t
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert 0.3 < waited < 5


def test_concurrent_requests_on_a_live_server(live_server, analyzer, examples):
    import httpx

    base = live_server(create_app(Settings(inference_threads=2), analyzer=analyzer))
    data = [(examples / n).read_bytes() for n in ("00000002_000.png", "00000377_004.png", "00001437_012.png")]

    def one(i):
        with httpx.Client(timeout=60) as c:
            return c.post(f"{base}/v1/analyze", files={"file": (f"{i}.png", data[i % 3])})

    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(one, range(12)))
    assert [r.status_code for r in replies] == [200] * 12
    assert len({r.headers["X-Request-ID"] for r in replies}) == 12
    assert {tuple(r.json()["image"]["original_size"]) for r in replies} == {
        tuple(reversed(PILImage.open(io.BytesIO(d)).size)) for d in data}


def test_slow_headers_are_cut_off_on_a_live_server(live_server, analyzer):
    from cxrkit.service.http import header_timeout_protocol

    app = create_app(Settings(), analyzer=analyzer)
    base = live_server(app, http=header_timeout_protocol(0.5))
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # header block never finished
        t = time.time()
        assert s.recv(100) == b""  # closed by the server
        assert 0.3 < time.time() - t < 5
    import httpx

    with httpx.Client() as c:  # normal keep-alive requests are unaffected
        for _ in range(2):
            assert c.get(base + "/healthz").status_code == 200
            time.sleep(0.7)
        assert c.get(base + "/healthz").status_code == 200


def _encode(arr, fmt):
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


_RNG = np.random.default_rng(7)
_NOISE8 = (_RNG.random((300, 300)) * 255).astype(np.uint8)


@pytest.mark.parametrize(
    "name, make, status",
    [
        ("random.bin", lambda: _RNG.bytes(5000), 415),
        ("tiny.png", lambda: _encode(np.zeros((1, 1), np.uint8), "PNG"), 415),
        ("black.png", lambda: _encode(np.zeros((400, 400), np.uint8), "PNG"), 415),
        ("noise16.png", lambda: _encode((_RNG.random((300, 300)) * 65535).astype(np.uint16), "PNG"), 422),
        ("noise.gif", lambda: _encode(_NOISE8, "GIF"), 422),
        ("noise.bmp", lambda: _encode(_NOISE8, "BMP"), 422),
        ("noise.tiff", lambda: _encode(_NOISE8, "TIFF"), 422),
        ("rgba.png", lambda: _encode((_RNG.random((300, 300, 4)) * 255).astype(np.uint8), "PNG"), 422),
    ],
)
def test_odd_uploads_never_give_500(client, name, make, status):
    r = _post(client, make(), name=name, ctype="application/octet-stream")
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]


@pytest.mark.parametrize("test_file", ["rtplan.dcm", "MR_small.dcm", "ExplVR_BigEnd.dcm"])
def test_non_radiograph_dicoms_are_422(client, test_file):
    from pydicom.data import get_testdata_file

    with open(get_testdata_file(test_file), "rb") as fh:
        r = _post(client, fh.read(), name=test_file, ctype="application/dicom")
    assert r.status_code == 422 and "modality" in r.json()["detail"]


def test_truncated_dicom_is_415(client, examples):
    data = (examples / "siim_pa_chest.dcm").read_bytes()[:2000]
    r = _post(client, data, name="trunc.dcm", ctype="application/dicom")
    assert r.status_code == 415


def test_decompression_bomb_png_is_refused(client):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    r = _post(client, bomb, name="bomb.png")
    assert r.status_code in (413, 415, 422) and r.status_code != 500
