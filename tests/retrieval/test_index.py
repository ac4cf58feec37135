"""RetrievalIndex on seeded synthetic vectors: exact search, filters, opt-out deletes, persistence, typed errors."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from retrieval_data import DIM, make_data, unit

from cxrkit.errors import DataFormatError, UnknownNameError
from cxrkit.retrieval.errors import CorruptIndexError, EmbeddingMismatchError, EmptyIndexError, OptedOutPatientError
from cxrkit.retrieval.index import RESULT_COLUMNS, RetrievalIndex
from cxrkit.retrieval.metadata import SearchFilter


@pytest.fixture()
def built(spec):
    v, meta, _ = make_data(300)
    idx = RetrievalIndex(spec)
    idx.add(v, meta, spec=spec)
    return idx, v, meta


def brute(v, q, k, allowed=None):
    s = v @ q
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    return np.argsort(-s, kind="stable")[:k]


def test_exact_search_matches_brute_force(built, spec):
    idx, v, meta = built
    q = unit(np.random.default_rng(5).standard_normal((4, DIM)))
    sims, rows = idx.search_arrays(q, 7, spec=spec)
    for i in range(4):
        assert list(rows[i]) == list(brute(v, q[i], 7))
        np.testing.assert_allclose(sims[i], v[rows[i]] @ q[i], rtol=1e-5)
    table = idx.search(q[0], 5, spec=spec)[0]
    assert tuple(table.columns) == RESULT_COLUMNS and list(table["rank"]) == [1, 2, 3, 4, 5]
    assert table["similarity"].is_monotonic_decreasing
    np.testing.assert_allclose(table["distance"], 1 - table["similarity"])


def test_filters_apply_to_results(built, spec):
    idx, v, meta = built
    q = v[10]
    flt = SearchFilter.make(exclude_patients=[meta["patient_id"][10]], views=["PA"], datasets=["siteA"],
                            date_from="2020-01-05", date_to="2020-01-20")
    t = idx.search(q, 10, spec=spec, flt=flt)[0]
    assert len(t) == 10
    assert meta["patient_id"][10] not in set(t["patient_id"])
    assert set(t["view"]) == {"PA"} and set(t["dataset"]) == {"siteA"}
    assert t["study_date"].between("2020-01-05", "2020-01-20").all()
    allowed = ((meta["patient_id"] != meta["patient_id"][10]) & (meta["view"] == "PA") & (meta["dataset"] == "siteA")
               & meta["study_date"].between("2020-01-05", "2020-01-20")).to_numpy()
    assert list(t["image_id"]) == list(meta["image_id"][brute(v, q, 10, allowed)])


def test_fewer_allowed_than_k(built, spec):
    idx, v, meta = built
    t = idx.search(v[0], 10, spec=spec, flt=SearchFilter.make(exclude_images=meta["image_id"][3:]))[0]
    assert list(t["image_id"]) == sorted(meta["image_id"][:3], key=lambda i: -float(v[int(i[3:8])] @ v[0]))


def test_delete_patient_persists_across_reload(built, spec, tmp_path):
    idx, v, meta = built
    pid = meta["patient_id"][42]
    assert idx.delete_patient(pid) == 2
    assert len(idx) == 298 and pid in idx.opted_out
    idx.save(tmp_path / "idx")
    again = RetrievalIndex.load(tmp_path / "idx")
    assert len(again) == 298 and pid in again.opted_out
    assert pid not in set(again.meta["patient_id"])
    # the deleted films are the nearest to themselves; they never come back
    t = again.search(v[42], 5, spec=spec)[0]
    assert pid not in set(t["patient_id"])
    with pytest.raises(OptedOutPatientError, match="opted out"):
        again.add(v[42:44], meta.iloc[42:44], spec=spec)
    with pytest.raises(UnknownNameError, match="not in the index"):
        again.lookup(meta["image_id"][42])
    # the vectors file itself no longer holds them
    raw = np.load(next((tmp_path / "idx").glob("vectors.*.npy")))
    assert raw.shape == (298, DIM) and not np.any(np.all(np.isclose(raw, v[42].astype(np.float16), atol=1e-3), axis=1))


def test_save_load_roundtrip_and_generations(built, spec, tmp_path):
    idx, v, meta = built
    idx.save(tmp_path / "i")
    idx.add(unit(np.ones((1, DIM))), pd.DataFrame({"image_id": ["extra.png"], "patient_id": ["zz"]}), spec=spec)
    idx.save(tmp_path / "i")
    files = sorted(p.name for p in (tmp_path / "i").iterdir())
    assert files == ["manifest.json", "meta.2.parquet", "vectors.2.npy"]
    again = RetrievalIndex.load(tmp_path / "i")
    assert len(again) == 301 and again.spec == spec
    pd.testing.assert_frame_equal(again.meta, idx.meta)
    np.testing.assert_allclose(again.vectors(), idx.vectors(), atol=1e-3)  # stored as float16


def test_crash_during_save_keeps_previous_index(built, spec, tmp_path, monkeypatch):
    idx, v, meta = built
    idx.save(tmp_path / "i")
    idx.delete_patient(meta["patient_id"][0])
    import cxrkit.fs

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(cxrkit.fs, "atomic_write_text", boom)
    with pytest.raises(OSError):
        idx.save(tmp_path / "i")
    assert len(RetrievalIndex.load(tmp_path / "i")) == 300  # the previous generation, whole


def test_other_embedding_is_refused(built, spec):
    idx, v, meta = built
    other = replace(spec, weights_sha256="cd" * 32)
    with pytest.raises(EmbeddingMismatchError, match="weights_sha256"):
        idx.search(v[0], 3, spec=other)
    with pytest.raises(EmbeddingMismatchError, match="preprocessing"):
        idx.add(v[:1], meta.iloc[:1], spec=replace(spec, preprocessing={**spec.preprocessing, "size": 320}))
    with pytest.raises(EmbeddingMismatchError, match="shape"):
        idx.search(np.ones(DIM + 1, np.float32), 3, spec=spec)


def test_empty_index_and_bad_input(spec, built):
    with pytest.raises(EmptyIndexError, match="no films"):
        RetrievalIndex(spec).search(np.ones(DIM, np.float32), 3, spec=spec)
    idx, v, meta = built
    for pid in meta["patient_id"].unique():
        idx.delete_patient(pid)
    with pytest.raises(EmptyIndexError, match="opt-out"):
        idx.search(v[0], 3, spec=spec)
    idx2 = RetrievalIndex(spec)
    with pytest.raises(DataFormatError, match="k must be"):
        idx2.search_arrays(v[0], 0, spec=spec)
    with pytest.raises(DataFormatError, match="metadata rows"):
        idx2.add(v[:3], meta.iloc[:2], spec=spec)
    with pytest.raises(DataFormatError, match="NaN"):
        idx2.add(np.full((1, DIM), np.nan, np.float32), meta.iloc[:1], spec=spec)
    idx2.add(v[:2], meta.iloc[:2], spec=spec)
    with pytest.raises(DataFormatError, match="already in the index"):
        idx2.add(v[:1], meta.iloc[:1], spec=spec)


def _corrupt_cases(folder):
    man = folder / "manifest.json"
    vec = next(folder.glob("vectors.*.npy"))
    meta = next(folder.glob("meta.*.parquet"))
    return {
        "truncated vectors": lambda: vec.write_bytes(vec.read_bytes()[:100]),
        "flipped byte in metadata": lambda: meta.write_bytes(meta.read_bytes()[:50] + b"X" + meta.read_bytes()[51:]),
        "missing part": lambda: vec.unlink(),
        "manifest not JSON": lambda: man.write_text("{not json"),
        "manifest of another format": lambda: man.write_text(json.dumps({"format": "other/9"})),
        "manifest missing fields": lambda: man.write_text(json.dumps({"format": "cxrkit.retrieval-index/1"})),
        "no manifest": lambda: man.unlink(),
    }


@pytest.mark.parametrize("case", ["truncated vectors", "flipped byte in metadata", "missing part", "manifest not JSON",
                                  "manifest of another format", "manifest missing fields", "no manifest"])
def test_corrupt_index_is_a_clear_error(built, tmp_path, case):
    idx, _, _ = built
    folder = idx.save(tmp_path / "i")
    _corrupt_cases(folder)[case]()
    with pytest.raises(CorruptIndexError):
        RetrievalIndex.load(folder)


def test_load_of_a_missing_folder(tmp_path):
    with pytest.raises(CorruptIndexError, match="not an index folder"):
        RetrievalIndex.load(tmp_path / "nope")
