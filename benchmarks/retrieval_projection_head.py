"""Does a small projection head on the classifier's pooled features retrieve better? (issue 14, optional item)

A linear map 1280 -> ``--dim`` (then L2 norm) trained with a multi-label supervised contrastive loss: for each
film, the other films sharing at least one label (``No Finding`` counted) are its positives (Khosla et al. 2020,
positives weighted equally), temperature ``--tau``, full-batch Adam on CPU.

Selection never sees the held-out queries: the *training* split of ``configs/splits/nih_v2.csv`` is split again
by patient (80 / 20, seeded) into an inner index (the head is trained on it) and inner queries; the number of
epochs is picked on the inner queries' precision@10 (sharing >= 1 label). The head is adopted only if its
inner-query precision@10 beats the raw features with a paired bootstrap CI above zero. The held-out
('val') queries are then scored once, for the record, with both embeddings (index = all training films; the head
refitted on them with the chosen epochs).

Usage: ``nice -n 10 .venv/bin/python benchmarks/retrieval_projection_head.py`` (embeddings from the cache that
``cxrkit evaluate retrieval --cache runs/retrieval/cache`` fills). Prints JSON lines and appends them to
``benchmarks/results/retrieval_projection_head.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def project(x: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    from cxrkit.retrieval.embed import l2_normalize

    return x if w is None else l2_normalize(x @ w)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "nih-cxr14"))
    ap.add_argument("--cache", default=str(REPO / "runs" / "retrieval" / "cache"))
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--tau", type=float, default=0.1)
    ap.add_argument("--epochs", default="25,50,100,200,400", help="candidates, picked on the inner queries")
    ap.add_argument("--save", default=None, help="stem to write the adopted head to (e.g. "
                                                 "src/cxrkit/retrieval/weights/cxr-adult-v2.head)")
    a = ap.parse_args()
    from cxrkit.data import load_dataset
    from cxrkit.retrieval.embed import load_embedder
    from cxrkit.retrieval.evaluate import bootstrap_mean_ci, neighbor_metrics
    from cxrkit.retrieval.files import embed_files
    from cxrkit.retrieval.head import train_head

    ds = load_dataset("nih", root=a.root, images="adult_512")
    meta = ds.meta.reset_index(drop=True)
    split = pd.read_csv(REPO / "configs" / "splits" / "nih_v2.csv", dtype=str)
    which = meta["image_id"].map(dict(zip(split["image_id"], split["split"]))).to_numpy()
    lab = np.nan_to_num(np.asarray(ds.labels, float)) == 1
    nf = list(ds.findings).index("No Finding")
    x = embed_files(load_embedder(threads=1, head=None), list(meta["path"]), cache_dir=a.cache)
    tr, va = np.flatnonzero(which == "train"), np.flatnonzero(which == "val")
    pats = np.array(sorted(meta["patient_id"].iloc[tr].unique()))
    rng = np.random.default_rng(0)
    inner_q_pats = set(rng.choice(pats, size=len(pats) // 5, replace=False))
    in_q = np.array([i for i in tr if meta["patient_id"][i] in inner_q_pats])
    in_i = np.array([i for i in tr if meta["patient_id"][i] not in inner_q_pats])

    def share(idx_rows, q_rows, w):
        xi, xq = project(x[idx_rows], w), project(x[q_rows], w)
        nb = np.argsort(-(xq @ xi.T), axis=1)[:, :10]
        return neighbor_metrics(lab[q_rows], lab[idx_rows][nb], nf)["share"]

    base_inner = share(in_i, in_q, None)
    rows = [{"stage": "inner", "embedding": "raw features", "n_index": len(in_i), "n_query": len(in_q),
             "p_at_10_share": bootstrap_mean_ci(base_inner)}]
    best = None
    for ep in [int(e) for e in a.epochs.split(",")]:
        w = train_head(x[in_i], lab[in_i], dim=a.dim, tau=a.tau, epochs=ep)
        s = share(in_i, in_q, w)
        diff = bootstrap_mean_ci(s - base_inner)
        rows.append({"stage": "inner", "embedding": f"head dim {a.dim} tau {a.tau} epochs {ep}",
                     "p_at_10_share": bootstrap_mean_ci(s), "vs_raw": diff})
        if best is None or s.mean() > best[1]:
            best = (ep, s.mean(), diff)
    adopt = best[2][1] > 0
    w = train_head(x[tr], lab[tr], dim=a.dim, tau=a.tau, epochs=best[0])
    held_raw, held_head = share(tr, va, None), share(tr, va, w)
    if a.save and adopt:
        from cxrkit.models.classifier import load_classifier
        from cxrkit.retrieval.head import HeadCard, ProjectionHead

        card = load_classifier().card
        ProjectionHead(w, HeadCard(
            name=f"{card.name}.head", base_model=card.name, base_weights_sha256=card.weights_sha256,
            in_dim=x.shape[1], out_dim=a.dim, loss="multi-label supervised contrastive (positives share >= 1 label)",
            temperature=a.tau, epochs=best[0],
            training_data=f"NIH adult_512, split 'train' of configs/splits/nih_v2.csv ({len(tr)} films)",
            selection=f"epochs among {a.epochs} by precision@10 on an inner 80/20 patient split of the training "
                      f"films; inner gain {best[2][0]:+.3f} [{best[2][1]:+.3f}, {best[2][2]:+.3f}]",
            weights_sha256="")).save(a.save)
        print(f"wrote {a.save}.npz / .json", file=sys.stderr)
    rows.append({"stage": "held-out (record only)", "chosen_epochs": best[0], "adopted": bool(adopt),
                 "raw": bootstrap_mean_ci(held_raw), "head": bootstrap_mean_ci(held_head),
                 "head_vs_raw": bootstrap_mean_ci(held_head - held_raw), "n_index": len(tr), "n_query": len(va),
                 "load_1min": round(os.getloadavg()[0], 2)})
    for r in rows:
        print(json.dumps(r))
    append_jsonl("retrieval_projection_head", rows)


if __name__ == "__main__":
    main()
