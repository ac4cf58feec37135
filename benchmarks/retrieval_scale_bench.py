"""Retrieval at archive scale: ANN libraries on synthetic vectors of the real embedding + the real NIH vectors.

Data: the 1,451 adult NIH films (``load_dataset("nih", images="adult_512")``) embedded with the shipped classifier
(``cxrkit.retrieval.embed``, 1280-d, unit norm) plus N synthetic vectors drawn around them: a real vector picked
at random + Gaussian noise with the real vectors' principal directions and spectrum (all 1280 of them; scale
``--jitter``), re-normalised. Generated in seeded chunks of 50,000, never held whole (1M x 1280 float32
would be 5.1 GB). Queries: the 1,451 real vectors are in the index; queries are ``--queries`` fresh synthetic
vectors and up to 100 real films re-embedded from a horizontally flipped copy (not in the index as such).

Exact ground truth: cosine top-10 in the full 1280-d space, brute force over every chunk as it is generated.
Index: vectors projected on their first ``--pca`` principal directions (uncentred SVD of 20,000 vectors of the
first chunk; inner products in that space approximate the full-space cosine), then one of:

* ``usearch-f16`` / ``usearch-i8``: HNSW storing float16 / int8 (``dtype``), connectivity 16;
* ``faiss``: ``IndexHNSWSQ`` (8-bit scalar quantizer), M 16;
* ``hnswlib``: HNSW on float32 (its only storage type), M 16.

The library returns ``--rerank`` candidates (reduced-space inner product), re-ranked two ways: exact cosine on the
full vectors stored float16 in a memory-mapped file on disk (what ``RetrievalIndex`` does; only the candidates'
rows are read), or on an int8 copy of the reduced vectors held in RAM (no full vectors touched). Index memory =
the library's graph + codes + the int8 reduced store.
Measured: build time (wall, ``--threads`` threads), index memory (the library's serialized size, which is what it
holds in RAM), recall@10 vs exact full-space search, query latency p50 / p99 one query at a time on one thread
(PCA projection included), the process's peak RSS, and the 1-minute load average.

Usage: ``nice -n 10 .venv/bin/python benchmarks/retrieval_scale_bench.py --n 1000000 --libs usearch-i8``
(``--n 100000 --libs usearch-f16,usearch-i8,faiss,hnswlib`` for the library comparison). Appends to
``benchmarks/results/retrieval_scale.jsonl`` and rewrites the "Retrieval at scale" section of RESULTS.md from
every line there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS_DIR, append_jsonl, machine_line, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHUNK = 50_000
K = 10


def real_vectors(root: str, cache: str, head: str | None) -> tuple[np.ndarray, list[str]]:
    from cxrkit.data import load_dataset
    from cxrkit.retrieval.embed import load_embedder
    from cxrkit.retrieval.files import embed_files

    ds = load_dataset("nih", root=root, images="adult_512")
    paths = list(ds.meta["path"])
    sub = "raw" if head is None else "shipped"  # one cache per embedding
    return embed_files(load_embedder(threads=1, head=head), paths, cache_dir=str(Path(cache) / sub)), paths


def flipped_queries(paths: list[str], n: int, head: str | None) -> np.ndarray:
    from cxrkit.io import read_image
    from cxrkit.retrieval.embed import load_embedder

    rng = np.random.default_rng(1)
    pick = rng.choice(len(paths), size=min(n, len(paths)), replace=False)
    ims = [read_image(paths[i]).pixels[:, ::-1].copy() for i in pick]
    return load_embedder(threads=1, head=head).embed(ims)


class Synth:
    """Seeded synthetic vectors around the real ones (see the module docstring)."""

    def __init__(self, real: np.ndarray, jitter: float, seed: int = 0) -> None:
        self.real = real
        mu = real.mean(axis=0)
        _, s, vt = np.linalg.svd(real - mu, full_matrices=False)
        self.scale = (s / np.sqrt(len(real))).astype(np.float32)
        self.vt = vt.astype(np.float32)
        self.jitter = jitter
        self.seed = seed

    def chunk(self, i: int, n: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, i])
        base = self.real[rng.integers(0, len(self.real), n)]
        z = rng.standard_normal((n, len(self.scale)), dtype=np.float32) * self.scale
        x = base + self.jitter * (z @ self.vt)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


class TopK:
    """Running exact top-k (cosine) of fixed queries over streamed chunks."""

    def __init__(self, q: np.ndarray, k: int) -> None:
        self.q, self.k = q, k
        self.sims = np.full((len(q), k), -np.inf, np.float32)
        self.ids = np.full((len(q), k), -1, np.int64)

    def update(self, x: np.ndarray, offset: int) -> None:
        s = self.q @ x.T
        part = np.argpartition(-s, self.k - 1, axis=1)[:, : self.k]
        cs = np.take_along_axis(s, part, 1)
        allsims = np.concatenate([self.sims, cs], 1)
        allids = np.concatenate([self.ids, part + offset], 1)
        order = np.argsort(-allsims, axis=1)[:, : self.k]
        self.sims = np.take_along_axis(allsims, order, 1)
        self.ids = np.take_along_axis(allids, order, 1)


def make_lib(name: str, dim: int, n: int, threads: int):
    if name.startswith("usearch"):
        from usearch.index import Index

        dtype = name.split("-")[1] if "-" in name else "f16"
        return Index(ndim=dim, metric="ip", dtype=dtype, connectivity=16, expansion_add=128, expansion_search=64)
    if name == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
        idx = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, 16, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 128
        return idx
    if name == "hnswlib":
        import hnswlib

        idx = hnswlib.Index(space="ip", dim=dim)
        idx.init_index(max_elements=n, ef_construction=128, M=16)
        return idx
    raise SystemExit(f"unknown library {name!r}; options: usearch-f16, usearch-i8, faiss, hnswlib")


def lib_add(name: str, idx, x: np.ndarray, offset: int, threads: int, trained: list[bool]) -> None:
    keys = np.arange(offset, offset + len(x), dtype=np.int64)
    if name.startswith("usearch"):
        idx.add(keys, x, threads=threads)
    elif name == "faiss":
        if not trained[0]:
            idx.train(x)
            trained[0] = True
        idx.add(x)
    else:
        idx.add_items(x, keys, num_threads=threads)


def lib_search(name: str, idx, q: np.ndarray, k: int, ef: int) -> np.ndarray:
    if name.startswith("usearch"):
        m = idx.search(q, k, threads=1)
        return np.asarray(m.keys, dtype=np.int64).reshape(1, -1)
    if name == "faiss":
        import faiss

        _, ids = idx.search(q, k, params=faiss.SearchParametersHNSW(efSearch=ef))
        return ids
    labels, _ = idx.knn_query(q, k=k, num_threads=1)
    return labels.astype(np.int64)


def lib_set_ef(name: str, idx, ef: int) -> None:
    if name.startswith("usearch"):
        idx.expansion_search = ef
    elif name == "hnswlib":
        idx.set_ef(ef)


def lib_size(name: str, idx) -> int:
    with tempfile.TemporaryDirectory(dir=REPO / "runs") as d:
        p = os.path.join(d, "idx")
        if name.startswith("usearch"):
            idx.save(p)
        elif name == "faiss":
            import faiss

            faiss.write_index(idx, p)
        else:
            idx.save_index(p)
        return os.path.getsize(p)


def through_index(real: np.ndarray, synth: Synth, n: int, qs: np.ndarray, truth_ids: np.ndarray) -> dict:
    """The product path: ``RetrievalIndex`` (usearch graph built on first search, exact re-rank) on the same vectors,
    queries one at a time, without and with a filter (one view of two). Holds every vector in RAM (n <= 200,000)."""
    import pandas as pd

    from cxrkit.retrieval.embed import EmbeddingSpec
    from cxrkit.retrieval.index import RetrievalIndex

    x = np.concatenate([real] + [synth.chunk(i, min(CHUNK, n - i * CHUNK)) for i in range((n + CHUNK - 1) // CHUNK)])
    spec = EmbeddingSpec("bench", "0" * 64, {"size": 320}, x.shape[1])
    idx = RetrievalIndex(spec)
    views = np.where(np.arange(len(x)) % 2 == 0, "PA", "AP")
    idx.add(x, pd.DataFrame({"image_id": [f"v{i}" for i in range(len(x))], "view": views}), spec=spec)
    t = time.perf_counter()
    idx.search_arrays(qs[0], 10, spec=spec)
    build = time.perf_counter() - t
    lat, lat_f, hits, hits_f = [], [], 0, 0
    pa = views == "PA"
    for j, q in enumerate(qs):
        t = time.perf_counter()
        _, rows = idx.search_arrays(q, 10, spec=spec)
        lat.append((time.perf_counter() - t) * 1000)
        hits += len(set(rows[0].tolist()) & set(truth_ids[j].tolist()))
        t = time.perf_counter()
        _, rows_f = idx.search_arrays(q, 10, spec=spec, mask=pa)
        lat_f.append((time.perf_counter() - t) * 1000)
        exact = np.flatnonzero(pa)[np.argsort(-(x[pa] @ q))[:10]]
        hits_f += len(set(rows_f[0].tolist()) & set(exact.tolist()))
    return {"library": "RetrievalIndex (usearch-i8)", "n": len(x), "build_s": round(build, 1),
            "recall_at_10": round(hits / (10 * len(qs)), 4), "recall_at_10_filtered": round(hits_f / (10 * len(qs)), 4),
            "p50_ms": round(float(np.percentile(lat[5:], 50)), 3), "p99_ms": round(float(np.percentile(lat[5:], 99)), 3),
            "p50_ms_filtered": round(float(np.percentile(lat_f[5:], 50)), 3),
            "p99_ms_filtered": round(float(np.percentile(lat_f[5:], 99)), 3), "load_1min": round(os.getloadavg()[0], 2)}


def _measure(lib, idx, qs, reduce, store, qscale, full, truth, a, n_total: int, dim: int, build_s: float) -> dict:
    """Recall@10 and latency of one library's index over the queries (ANN, then exact re-rank on the int8
    reduced store and on the full float16 vectors)."""
    hits, hits_red, lat, lat_red = 0, 0, [], []
    for j in range(len(qs)):
        t = time.perf_counter()
        qr = reduce(qs[j:j + 1])
        cand = lib_search(lib, idx, qr, max(a.rerank, K), a.ef)[0]
        cand = cand[cand >= 0]
        t_ann = time.perf_counter()
        s = store[cand].astype(np.float32) @ (qr[0] / qscale)  # re-rank on the int8 reduced store (RAM)
        red = cand[np.argsort(-s)[:K]]
        t_red = time.perf_counter()
        srt = np.sort(cand)  # re-rank on the full float16 vectors (memory-mapped file), rows in file order
        s = full[srt].astype(np.float32) @ qs[j]
        top = srt[np.argsort(-s)[:K]]
        t_full = time.perf_counter()
        lat_red.append((t_red - t) * 1000)
        lat.append((t_ann - t + t_full - t_red) * 1000)
        hits_red += len(set(red.tolist()) & set(truth.ids[j].tolist()))
        hits += len(set(top.tolist()) & set(truth.ids[j].tolist()))
    lat_arr = np.array(lat[5:])
    lat_red_arr = np.array(lat_red[5:])
    row = {
        "library": lib, "n": n_total, "dim": dim, "pca": a.pca, "rerank": a.rerank, "ef": a.ef,
        "recall_at_10": round(hits / (K * len(qs)), 4), "queries": len(qs),
        "recall_at_10_reduced_rerank": round(hits_red / (K * len(qs)), 4),
        "p50_ms_reduced_rerank": round(float(np.percentile(lat_red_arr, 50)), 3),
        "p99_ms_reduced_rerank": round(float(np.percentile(lat_red_arr, 99)), 3),
        "full_vectors_on_disk_mb": round(full.nbytes / 2**20, 0),
        "p50_ms": round(float(np.percentile(lat_arr, 50)), 3), "p99_ms": round(float(np.percentile(lat_arr, 99)), 3),
        "build_s": round(build_s, 1), "build_threads": a.threads,
        "index_mb": round(lib_size(lib, idx) / 2**20, 1), "rerank_store_mb": round(store.nbytes / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "load_1min": round(os.getloadavg()[0], 2), "jitter": a.jitter,
    }
    return row


def _write_results(rows: list[dict], a: argparse.Namespace) -> None:
    append_jsonl("retrieval_scale", rows)
    allrows = [json.loads(line) for line in (RESULTS_DIR / "retrieval_scale.jsonl").read_text().splitlines() if line]
    table = ["| library | vectors | reduced dim | recall@10, full re-rank | p50 / p99 ms | recall@10, reduced re-rank "
             "| p50 / p99 ms | build s (threads) | index MB in RAM | full vectors on disk MB | peak RSS MB | load 1 min |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in allrows:
        if "recall_at_10_reduced_rerank" not in r:
            continue
        table.append(f"| {r['library']} | {r['n']:,} | {r['pca']} | {r['recall_at_10']:.3f} | {r['p50_ms']:.2f} / "
                     f"{r['p99_ms']:.2f} | {r['recall_at_10_reduced_rerank']:.3f} | {r['p50_ms_reduced_rerank']:.2f} / "
                     f"{r['p99_ms_reduced_rerank']:.2f} | {r['build_s']:.0f} ({r['build_threads']}) | "
                     f"{r['index_mb'] + r['rerank_store_mb']:.0f} | {r['full_vectors_on_disk_mb']:.0f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['load_1min']} |")
    write_section("retrieval_scale", "## Retrieval at scale\n\n"
                  "`nice -n 10 .venv/bin/python benchmarks/retrieval_scale_bench.py --n N --libs LIBS` (see its docstring: "
                  "synthetic 1280-d vectors around the 1,451 real NIH embeddings + those real vectors; queries: "
                  f"{a.queries} synthetic + 100 flipped real films; HNSW M/connectivity 16, efSearch {a.ef}, top-{a.rerank} "
                  "re-ranked; latency one query at a time, one thread, PCA included). "
                  f"{machine_line()}\n\n" + "\n".join(table) + "\n")



def _through_index_run(a: argparse.Namespace, real: np.ndarray, synth, qs: np.ndarray, truth) -> None:
    if a.n > 200_000:
        raise SystemExit("--through-index holds every vector in RAM: use --n 200000 or less")
    for i in range(0, a.n, CHUNK):
        truth.update(synth.chunk(i // CHUNK, min(CHUNK, a.n - i)), len(real) + i)
    row = through_index(real, synth, a.n, qs, truth.ids)
    print(json.dumps(row), flush=True)
    append_jsonl("retrieval_index", [row])


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="synthetic vectors (default 1,000,000)")
    ap.add_argument("--libs", default="usearch-i8", help="comma-separated: usearch-f16, usearch-i8, faiss, hnswlib")
    ap.add_argument("--pca", type=int, default=256, help="reduced dimension (default 256)")
    ap.add_argument("--queries", type=int, default=300, help="synthetic queries (default 300)")
    ap.add_argument("--rerank", type=int, default=40, help="ANN candidates re-ranked exactly in the reduced space")
    ap.add_argument("--ef", type=int, default=96, help="search expansion (efSearch)")
    ap.add_argument("--jitter", type=float, default=0.5, help="scale of the principal-direction noise")
    ap.add_argument("--threads", type=int, default=2, help="build threads (default 2)")
    ap.add_argument("--embedding", choices=("raw", "shipped"), default="raw",
                    help="raw: the 1280-d pooled features (the harder case, as documented); shipped: with the "
                         "projection head (128-d)")
    ap.add_argument("--nih", default=str(REPO.parent / "shared" / "data" / "nih-cxr14"))
    ap.add_argument("--cache", default=str(REPO / "runs" / "retrieval" / "cache"))
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    ap.add_argument("--through-index", action="store_true",
                    help="measure RetrievalIndex itself instead of the libraries (n <= 200,000; JSON line only)")
    return ap


def main() -> None:
    a = _parser().parse_args()
    libs = [s.strip() for s in a.libs.split(",") if s.strip()]
    (REPO / "runs").mkdir(exist_ok=True)

    head = None if a.embedding == "raw" else "shipped"
    real, paths = real_vectors(a.nih, a.cache, head)
    a.pca = min(a.pca, real.shape[1])
    synth = Synth(real, a.jitter)
    qs = np.concatenate([synth.chunk(10**6, a.queries), flipped_queries(paths, 100, head)])
    n_total = a.n + len(real)
    truth = TopK(qs, K)
    truth.update(real, 0)

    if a.through_index:
        _through_index_run(a, real, synth, qs, truth)
        return
    first = synth.chunk(0, min(CHUNK, a.n))
    _, _, vt = np.linalg.svd(first[:20000], full_matrices=False)  # uncentred: keeps inner products
    proj = np.ascontiguousarray(vt[: a.pca].T)  # (1280, pca)

    def reduce(x: np.ndarray) -> np.ndarray:
        return (x @ proj).astype(np.float32)  # inner product in the reduced space ~ cosine in the full one

    idxs = {lib: make_lib(lib, a.pca, n_total, a.threads) for lib in libs}
    trained = {lib: [False] for lib in libs}
    store = np.empty((n_total, a.pca), np.int8)  # reduced vectors for re-ranking, int8 (pca bytes per film)
    full_path = REPO / "runs" / "retrieval" / "bench_full_vectors.f16"
    full_path.parent.mkdir(parents=True, exist_ok=True)
    full = np.memmap(full_path, dtype=np.float16, mode="w+", shape=(n_total, real.shape[1]))  # on disk
    qscale = (127.0 / (1.2 * np.abs(reduce(first)).max(axis=0))).astype(np.float32)  # per-dimension int8 scale
    build_s = {lib: 0.0 for lib in libs}
    off = 0
    for i, start in enumerate([0] + list(range(0, a.n, CHUNK))):
        x = real if i == 0 else (first if start == 0 else synth.chunk(start // CHUNK, min(CHUNK, a.n - start)))
        if i > 0:
            truth.update(x, off)
        r = reduce(x)
        store[off:off + len(x)] = np.clip(np.round(r * qscale), -127, 127)
        full[off:off + len(x)] = x
        for lib in libs:
            t = time.perf_counter()
            lib_add(lib, idxs[lib], r, off, a.threads, trained[lib])
            build_s[lib] += time.perf_counter() - t
        off += len(x)
        print(f"  {off:,} / {n_total:,} vectors", file=sys.stderr, flush=True)
    del first
    full.flush()
    full = np.memmap(full_path, dtype=np.float16, mode="r", shape=(n_total, real.shape[1]))

    rows = []
    for lib in libs:
        idx = idxs[lib]
        lib_set_ef(lib, idx, a.ef)
        if lib == "faiss":
            import faiss

            faiss.omp_set_num_threads(1)
        row = _measure(lib, idx, qs, reduce, store, qscale, full, truth, a, n_total, real.shape[1], build_s[lib])
        print(json.dumps(row), flush=True)
        rows.append(row)
    del full
    full_path.unlink()
    if a.no_write:
        return
    _write_results(rows, a)

if __name__ == "__main__":
    main()
