"""The approximate path of RetrievalIndex (usearch HNSW on reduced vectors + exact re-rank), small and seeded."""

import numpy as np
import pytest

pytest.importorskip("usearch")

from retrieval_data import DIM, make_data, unit  # noqa: E402

from cxrkit.retrieval.errors import CorruptIndexError  # noqa: E402
from cxrkit.retrieval.index import RetrievalIndex  # noqa: E402
from cxrkit.retrieval.metadata import SearchFilter  # noqa: E402


@pytest.fixture()
def pair(spec):
    v, meta, _ = make_data(3000, seed=3)
    approx = RetrievalIndex(spec, ann_threshold=500)
    exact = RetrievalIndex(spec, ann_threshold=10**9)
    for idx in (approx, exact):
        idx.add(v, meta, spec=spec)
    return approx, exact, v, meta


def recall(a, b):
    return np.mean([len(set(x) & set(y)) / len(y) for x, y in zip(a, b)])


def test_approximate_search_agrees_with_exact(pair, spec):
    approx, exact, v, meta = pair
    q = unit(np.random.default_rng(9).standard_normal((50, DIM)))
    _, ra = approx.search_arrays(q, 10, spec=spec)
    _, re = exact.search_arrays(q, 10, spec=spec)
    assert approx._ann is not None and exact._ann is None  # the two paths really differ
    assert recall(ra, re) >= 0.95


def test_filters_and_deletes_on_the_approximate_path(pair, spec, tmp_path):
    approx, exact, v, meta = pair
    flt = SearchFilter.make(views=["AP"], exclude_patients=[meta["patient_id"][7]])
    t = approx.search(v[7], 10, spec=spec, flt=flt)[0]
    assert len(t) == 10 and set(t["view"]) == {"AP"} and meta["patient_id"][7] not in set(t["patient_id"])
    pid = meta["patient_id"][100]
    approx.search_arrays(v[0], 1, spec=spec)  # builds the graph
    assert approx.delete_patient(pid) == 2
    assert pid not in set(approx.search(v[100], 10, spec=spec)[0]["patient_id"])
    approx.save(tmp_path / "a")
    assert {p.suffix for p in (tmp_path / "a").iterdir()} >= {".usearch", ".npz"}
    again = RetrievalIndex.load(tmp_path / "a")
    assert again._ann is not None and len(again) == 2998
    t2 = again.search(v[100], 10, spec=spec)[0]
    assert pid not in set(t2["patient_id"])
    q = unit(np.random.default_rng(4).standard_normal((20, DIM)))
    exact.delete_patient(pid)
    assert recall(again.search_arrays(q, 10, spec=spec)[1], exact.search_arrays(q, 10, spec=spec)[1]) >= 0.95


def test_corrupt_graph_file(pair, spec, tmp_path):
    approx, _, v, _ = pair
    approx.search_arrays(v[0], 1, spec=spec)
    folder = approx.save(tmp_path / "a")
    g = next(folder.glob("*.usearch"))
    g.write_bytes(g.read_bytes()[: len(g.read_bytes()) // 2])
    with pytest.raises(CorruptIndexError, match="checksum"):
        RetrievalIndex.load(folder)
