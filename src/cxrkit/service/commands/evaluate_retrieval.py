"""``cxrkit evaluate retrieval --root NIH``: similar-case retrieval on held-out NIH films, protocol printed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

PROTOCOL = """Protocol (similar-case retrieval, docs/retrieval.md)
  data:      NIH ChestX-ray14 adult films under {root} (load_dataset("nih", images="{images}"))
  split:     {split_file}: index = '{index_split}' films ({n_index}, {p_index} patients), queries = '{query_split}'
             films ({n_query}, {p_query} patients); no patient in both
  embedding: {embedding}
  baselines: {baseline}; exact cosine search, k = {k}
  labels:    NIH text-mined labels (noisy), 'No Finding' counted as a label; findings with no positive query
             or no positive index film are left out of the per-finding tables
  random:    k index films drawn uniformly, {n_random} seeded draws per query
  CIs:       95% percentile bootstrap over queries ({n_boot} resamples, seed 0); 'vs random' is the paired difference
  kNN vote:  similarity-weighted fraction of the k neighbours positive per finding, AUROC with a stratified
             bootstrap CI, next to the classifier ({model}) on the same queries"""


def _fmt(t) -> str:
    return f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from cxrkit.data import load_dataset
    from cxrkit.evaluate.classification import bootstrap_auroc
    from cxrkit.io import read_image
    from cxrkit.models.classifier import load_classifier
    from cxrkit.retrieval.embed import imagenet_embedder, load_embedder
    from cxrkit.retrieval.evaluate import score_retrieval
    from cxrkit.retrieval.files import embed_files

    ds = load_dataset("nih", root=args.root, images=args.images)
    meta = ds.meta.reset_index(drop=True)
    ii, qi = _index_and_queries(meta, args.split_file, args.index_split, args.query_split)
    findings = list(ds.findings)
    lab = np.nan_to_num(np.asarray(ds.labels, float), nan=0.0) == 1
    paths = list(meta["path"])
    threads = args.threads
    default = load_embedder(args.model, threads=threads)
    base = default.spec.model
    embedders = [(f"{base} features + projection head" if default.head is not None else f"{base} features", default)]
    if default.head is not None:
        embedders.append((f"{base} features (no head)", load_embedder(args.model, threads=threads, head=None)))
    if not args.no_baseline:
        embedders.append(("ImageNet EfficientNet-Lite0 features", imagenet_embedder(threads=threads)))
    results = []
    for name, emb in embedders:
        print(f"embedding {len(paths)} films with {emb.spec.label}", file=sys.stderr)
        v = embed_files(emb, paths, cache_dir=args.cache)
        results.append(score_retrieval(v[ii], lab[ii], v[qi], lab[qi], findings, name=name, k=args.k,
                                       n_boot=args.n_boot, n_random=args.n_random))
    clf = load_classifier(args.model, threads=threads)
    print(f"classifier probabilities for {len(qi)} queries", file=sys.stderr)
    probs = clf.predict_all([read_image(paths[i]).pixels for i in qi])

    protocol = PROTOCOL.format(
        root=args.root, images=args.images, split_file=args.split_file, index_split=args.index_split,
        query_split=args.query_split, n_index=len(ii), n_query=len(qi),
        p_index=meta["patient_id"].iloc[ii].nunique(), p_query=meta["patient_id"].iloc[qi].nunique(),
        embedding=embedders[0][1].spec.label + (f" ({embedders[0][1].spec.kind}, head {embedders[0][1].spec.head_sha256[:12]})"
                                                 if embedders[0][1].head is not None else ""),
        baseline="; ".join(e.spec.label for _, e in embedders[1:]) or "none",
        k=args.k, n_random=args.n_random, n_boot=args.n_boot, model=clf.card.name)
    k = args.k
    lines = _precision_and_map_lines(results, findings, lab, ii, qi, k)
    voters = [r for r in results if "ImageNet" not in r.name]
    lines += ["", f"### kNN label vote (k = {k}) vs the classifier, AUROC on the same {len(qi)} queries (95% CI)", "",
              "| finding | positives | " + " | ".join(f"kNN vote ({r.name})" for r in voters) + " | classifier "
              + clf.card.name + " | reported by the classifier |", "| --- | ---: | " + "--- | " * len(voters) + "--- | --- |"]
    summary: dict[str, Any] = {"protocol": protocol, "results": [], "auroc": {}}
    for j, f in enumerate(findings):
        y = lab[qi, j].astype(float)
        if y.sum() < 5 or y.sum() > len(y) - 5:
            continue
        kvs = [bootstrap_auroc(y, r.knn_scores[:, j], n_boot=args.n_boot, warn=False) for r in voters]
        if f in clf.labels:
            cv = bootstrap_auroc(y, probs[:, clf.labels.index(f)], n_boot=args.n_boot, warn=False)
            ctxt = _fmt(cv)
        else:
            cv, ctxt = None, "not an output"
        lines.append(f"| {f} | {int(y.sum())} | " + " | ".join(_fmt(kv) for kv in kvs)
                     + f" | {ctxt} | {'yes' if f in clf.findings else 'no'} |")
        summary["auroc"][f] = {"positives": int(y.sum()), "knn_vote": {r.name: list(kv) for r, kv in zip(voters, kvs)},
                               "classifier": list(cv) if cv else None}
    for r in results:
        summary["results"].append({"name": r.name, "k": r.k, "n_index": r.n_index, "n_query": r.n_query,
                                   "precision": r.precision, "random": r.random, "vs_random": r.vs_random,
                                   "map_at_k": r.map_at_k})
    table = "\n".join(lines)
    print(protocol + "\n")
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        from cxrkit.fs import atomic_write_text

        atomic_write_text(out / "retrieval_eval.md", f"```\n{protocol}\n```\n\n{table}\n")
        atomic_write_text(out / "retrieval_eval.json", json.dumps(summary, indent=1, default=float))
        print(f"\nwrote {out / 'retrieval_eval.md'} and {out / 'retrieval_eval.json'}", file=sys.stderr)
    return 0


def _index_and_queries(meta: Any, split_file: Any, index_split: str, query_split: str) -> tuple[Any, Any]:
    """Rows of the index and of the queries (by the split file); no patient may be in both."""
    import numpy as np
    import pandas as pd

    from cxrkit.errors import DataFormatError

    split = pd.read_csv(split_file, dtype=str)
    if not {"image_id", "split"} <= set(split.columns):
        raise DataFormatError(f"{split_file}: needs columns image_id, split")
    which = meta["image_id"].map(dict(zip(split["image_id"], split["split"])))
    ii = np.flatnonzero((which == index_split).to_numpy())
    qi = np.flatnonzero((which == query_split).to_numpy())
    if not len(ii) or not len(qi):
        raise DataFormatError(f"no films in split {index_split!r} or {query_split!r} of {split_file}")
    shared = set(meta["patient_id"].iloc[ii]) & set(meta["patient_id"].iloc[qi])
    if shared:
        raise DataFormatError(f"{len(shared)} patient(s) are in both the index and the queries")
    return ii, qi


def _precision_and_map_lines(results: list[Any], findings: list[str], lab: Any, ii: Any, qi: Any, k: int
                             ) -> list[str]:
    """Markdown tables: precision@k against random, and mAP@k per finding."""
    lines = [f"### Precision@{k} (mean over {len(qi)} held-out queries, 95% CI)", "",
             "| embedding | share ≥1 label | vs random | share ≥1 finding (abnormal queries) | vs random "
             "| exact label set | vs random |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    r0 = results[0]
    lines.append(f"| random (k films drawn uniformly) | {_fmt(r0.random['share'])} | - | {_fmt(r0.random['share_abn'])} | - "
                 f"| {_fmt(r0.random['exact'])} | - |")
    for r in results:
        lines.append(f"| {r.name} | {_fmt(r.precision['share'])} | {_fmt(r.vs_random['share'])} | "
                     f"{_fmt(r.precision['share_abn'])} | {_fmt(r.vs_random['share_abn'])} | {_fmt(r.precision['exact'])} "
                     f"| {_fmt(r.vs_random['exact'])} |")
    lines += ["", f"### mAP@{k} per finding (queries positive for the finding)", "",
              "| finding | positive queries | positive index films | " + " | ".join(r.name for r in results) + " | random |",
              "| --- | ---: | ---: | " + " | ".join("---:" for _ in results) + " | ---: |"]
    for j, f in enumerate(findings):
        if f not in r0.map_at_k:
            continue
        n_q, _, rnd = r0.map_at_k[f]
        lines.append(f"| {f} | {n_q} | {int(lab[ii, j].sum())} | " + " | ".join(f"{r.map_at_k[f][1]:.3f}" for r in results)
                     + f" | {rnd:.3f} |")
    return lines


def register_evaluate(kinds: argparse._SubParsersAction) -> None:
    p = kinds.add_parser("retrieval", help="similar-case retrieval on held-out NIH films (precision@k, mAP, kNN vote)")
    p.add_argument("--root", required=True, help="NIH ChestX-ray14 folder (../shared/data/nih-cxr14)")
    p.add_argument("--images", default="adult_512", help="NIH image set (default adult_512: 1,451 adult films)")
    p.add_argument("--split-file", default="configs/splits/nih_v2.csv", help="CSV image_id, split (patient-level)")
    p.add_argument("--index-split", default="train", help="split whose films form the index (default train)")
    p.add_argument("--query-split", default="val", help="split whose films are the queries (default val)")
    p.add_argument("-k", type=int, default=10, help="neighbours (default 10)")
    p.add_argument("--model", default=None, help="classifier package of the embedding (default: shipped)")
    p.add_argument("--no-baseline", action="store_true", help="skip the ImageNet-feature baseline")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--n-random", type=int, default=50, help="random-baseline draws per query (default 50)")
    p.add_argument("--cache", default=None, help="folder caching the embeddings between runs")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.add_argument("--out", default=None, help="folder for retrieval_eval.md and retrieval_eval.json")
    p.set_defaults(func=run)
