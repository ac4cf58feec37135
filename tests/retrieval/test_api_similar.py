"""POST /v1/similar through FastAPI's TestClient, with a real index of NIH fixture films."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cxrkit.io import read_image
from cxrkit.pipeline import Analyzer
from cxrkit.retrieval.embed import load_embedder
from cxrkit.retrieval.index import RetrievalIndex
from cxrkit.service.api import create_app
from cxrkit.service.settings import Settings
from cxrkit.service.similar_api import Retrieval, load_retrieval

FIX = Path(__file__).resolve().parents[1] / "fixtures"
FILMS = [FIX / "anatomy" / "00000001_000.png", FIX / "anatomy" / "00003659_015.png",
         FIX / "classifier" / "00000002_000.png", FIX / "io" / "00011322_006.png"]
LABELS = ["Cardiomegaly", "No Finding", "No Finding", "Cardiomegaly|Edema"]


class _NoModel:
    findings, thresholds = (), {}

    class card:  # noqa: N801
        name, version, checksum = "none", "0", None

        @staticmethod
        def to_dict():
            return {"name": "none"}


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(classifier=_NoModel(), segmenter=None, localize=False)


@pytest.fixture(scope="module")
def retrieval():
    emb = load_embedder(threads=1)
    idx = RetrievalIndex(emb.spec)
    meta = pd.DataFrame({"image_id": [p.name for p in FILMS], "patient_id": ["p1", "p2", "p3", "p4"],
                         "labels": LABELS, "view": ["PA", "PA", "PA", "AP"], "source_path": [str(p) for p in FILMS]})
    idx.add(emb.embed([read_image(p) for p in FILMS]), meta, spec=emb.spec)
    return Retrieval(idx, emb)


def _post(c, path, **params):
    return c.post("/v1/similar", files={"file": (path.name, path.read_bytes(), "image/png")}, params=params)


def test_similar_returns_neighbours_with_thumbnails(analyzer, retrieval):
    with TestClient(create_app(Settings(), analyzer=analyzer, retrieval=retrieval)) as c:
        r = _post(c, FILMS[3], k=3, thumbnails="true", patient_id="p4")
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["returned"] == 3 and doc["index_size"] == 4
        assert "00011322_006.png" not in [n["image_id"] for n in doc["neighbors"]]
        assert all(n["thumbnail"].startswith("data:image/png;base64,") for n in doc["neighbors"])
        r = _post(c, FILMS[3], k=1, include_same_patient="true")
        top = r.json()["neighbors"][0]
        assert top["image_id"] == "00011322_006.png" and top["labels"] == ["Cardiomegaly", "Edema"]
        assert np.isclose(top["distance"], 0.0, atol=1e-3) and top["thumbnail"] is None
        assert top["patient_id"] is None and top["source_path"] is None  # patient data only when asked for
        top = _post(c, FILMS[3], k=1, include_same_patient="true", identifiers="true").json()["neighbors"][0]
        assert top["patient_id"] == "p4" and top["source_path"].endswith("00011322_006.png")
        assert _post(c, FILMS[0], view="AP", k=5).json()["returned"] == 1
        assert _post(c, FILMS[0], date_from="2020-13-01").status_code == 400
        assert _post(c, FILMS[0], k=0).status_code == 422
        bad = c.post("/v1/similar", files={"file": ("x.png", b"not an image", "image/png")})
        assert bad.status_code == 415 and "not a readable image" in bad.json()["detail"]


def test_no_index_is_409_with_a_message(analyzer):
    with TestClient(create_app(Settings(), analyzer=analyzer)) as c:
        r = _post(c, FILMS[0])
        assert r.status_code == 409 and "no similar-case index is loaded" in r.json()["detail"]


def test_empty_index_is_409(analyzer, retrieval):
    empty = Retrieval(RetrievalIndex(retrieval.embedder.spec), retrieval.embedder)
    with TestClient(create_app(Settings(), analyzer=analyzer, retrieval=empty)) as c:
        r = _post(c, FILMS[0])
        assert r.status_code == 409 and "no films" in r.json()["detail"]


def test_index_from_settings_and_mismatch_at_startup(analyzer, retrieval, tmp_path):
    retrieval.index.save(tmp_path / "idx")
    with TestClient(create_app(Settings(index=str(tmp_path / "idx")), analyzer=analyzer)) as c:
        assert _post(c, FILMS[0], k=2).json()["returned"] == 2
    from dataclasses import replace

    from cxrkit.retrieval.errors import EmbeddingMismatchError

    other = RetrievalIndex(replace(retrieval.embedder.spec, weights_sha256="0" * 64))
    other.save(tmp_path / "other")
    with pytest.raises(EmbeddingMismatchError, match="served model"):
        load_retrieval(str(tmp_path / "other"), None)


def test_a_non_chest_upload_is_422(analyzer, retrieval, tmp_path):
    from PIL import Image as PILImage

    noise = tmp_path / "noise.png"
    PILImage.fromarray(np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8)).save(noise)
    with TestClient(create_app(Settings(), analyzer=analyzer, retrieval=retrieval)) as c:
        r = _post(c, noise)
        assert r.status_code == 422 and "not searched" in r.json()["detail"]
