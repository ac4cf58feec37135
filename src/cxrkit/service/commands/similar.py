"""``cxrkit similar IMAGE --index IDX -k 10``: the indexed prior films most like one radiograph.

Prints a table (rank, similarity, image, view, date, labels) or, with ``--json``, the JSON document that
``POST /v1/similar`` returns. The query's own patient (``--patient`` or its DICOM PatientID) is excluded unless
``--include-same-patient``. Similar appearance is not a diagnosis; labels are the archive's.
"""

from __future__ import annotations

import argparse
import json


def _run(args: argparse.Namespace) -> int:
    from cxrkit.io import read_image
    from cxrkit.retrieval.embed import load_embedder
    from cxrkit.retrieval.index import RetrievalIndex
    from cxrkit.retrieval.query import neighbors_document, query_filter, similar_images

    idx = RetrievalIndex.load(args.index)
    image = read_image(args.image)
    emb = load_embedder(args.model, threads=args.threads)
    flt = query_filter(idx, image, patient_id=args.patient, include_same_patient=args.include_same_patient,
                       views=args.view, date_from=args.date_from, date_to=args.date_to, datasets=args.dataset)
    table = similar_images(idx, emb, image, k=args.k, flt=flt, qc=not args.no_qc)
    doc = neighbors_document(table, idx, k=args.k, flt=flt)
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{len(table)} nearest of {len(idx)} indexed films ({idx.spec.label}); similarity = cosine, 1 = identical")
    cols = ["rank", "similarity", "image_id", "view", "study_date", "labels", "dataset"]
    if len(table):
        show = table[cols].copy()
        show["similarity"] = show["similarity"].map(lambda v: f"{v:.3f}")
        print(show.to_string(index=False))
    if len(table) < args.k:
        print(f"(only {len(table)} film(s) pass the filters)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similar", help="nearest indexed prior films of one radiograph (table or JSON)")
    p.add_argument("image", help="DICOM / PNG / JPEG radiograph")
    p.add_argument("--index", required=True, help="index folder (cxrkit index build)")
    p.add_argument("-k", type=int, default=10, help="neighbours (default 10)")
    p.add_argument("--json", action="store_true", help="print the JSON document instead of a table")
    p.add_argument("--patient", default=None, help="the query's patient id (default: DICOM PatientID)")
    p.add_argument("--include-same-patient", action="store_true", help="also return the query patient's films")
    p.add_argument("--view", action="append", default=None, help="only these views (repeatable: PA, AP, ...)")
    p.add_argument("--date-from", default=None, help="only films on or after YYYY-MM-DD")
    p.add_argument("--date-to", default=None, help="only films on or before YYYY-MM-DD")
    p.add_argument("--dataset", action="append", default=None, help="only films of these datasets (repeatable)")
    p.add_argument("--model", default=None, help="classifier package of the embedding (default: shipped)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.add_argument("--no-qc", action="store_true", help="search even when the quality check refuses the image "
                   "(lateral, not a chest film...)")
    p.set_defaults(func=_run)
