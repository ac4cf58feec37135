"""Peer labeler for ``labeler_bench.py``: spaCy (blank English + sentencizer) + EntityRuler + negspacy NegEx.

Runs in its own venv (see labeler_bench.py's docstring); does not import cxrkit. Reads JSON lines
``{"id", "text"}`` from a file, then runs timed rounds on command (see :func:`main`).
The phrase list is the literal equivalent of cxrkit's ``findings.yaml`` for the evaluated findings and for the
words that make a report abnormal (NegEx has no uncertainty: hedged mentions count as present).
"""

from __future__ import annotations

import json
import os
import sys
import time

TERMS: dict[str, list[str]] = {
    "Atelectasis": ["atelectasis", "atelectatic", "atelectases", "atelectatic changes", "lobar collapse",
                    "segmental collapse", "subsegmental atelectasis", "collapse"],
    "Cardiomegaly": ["cardiomegaly", "enlarged heart", "enlarged cardiac silhouette", "cardiac enlargement",
                     "heart is enlarged", "heart size is enlarged", "cardiac silhouette is enlarged",
                     "heart size is mildly enlarged", "heart is mildly enlarged", "borderline cardiomegaly",
                     "mild cardiomegaly", "heart size is borderline", "borderline heart size"],
    "Effusion": ["effusion", "effusions", "pleural effusion", "pleural effusions", "pleural fluid", "hydrothorax"],
    "Infiltration": ["infiltrate", "infiltrates", "infiltration", "infiltrative"],
    "Mass": ["mass", "masses", "tumor", "neoplasm"],
    "Nodule": ["nodule", "nodules", "nodularity"],
    "Pneumonia": ["pneumonia", "pneumonitis", "bronchopneumonia", "infection", "infectious process"],
    "Pneumothorax": ["pneumothorax", "pneumothoraces", "hydropneumothorax"],
    "Other": ["opacity", "opacities", "consolidation", "airspace disease", "air space disease", "edema",
              "emphysema", "copd", "fibrosis", "hernia", "hiatal hernia", "fracture", "fractures", "granuloma",
              "granulomas", "calcified granuloma", "calcification", "calcifications", "scarring", "scar",
              "degenerative changes", "degenerative", "spondylosis", "osteophytes", "scoliosis", "kyphosis",
              "deformity", "low lung volumes", "hyperinflation", "hyperinflated", "hyperexpanded",
              "elevated hemidiaphragm", "eventration", "tortuous aorta", "atherosclerotic", "atherosclerosis",
              "osteopenia", "adenopathy", "lymphadenopathy", "congestion", "interstitial markings",
              "thickening", "pleural thickening", "lesion", "density", "densities", "bronchiectasis"],
    "Support Devices": ["catheter", "pacemaker", "picc line", "central line", "tube", "stent", "clips",
                        "surgical clips", "sternotomy wires", "prosthesis", "leads", "port"],
}


def build():
    import spacy
    from negspacy.negation import Negex  # noqa: F401  (registers the "negex" factory)
    from negspacy.termsets import termset

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns([{"label": k, "pattern": t} for k, terms in TERMS.items() for t in terms])
    nlp.add_pipe("negex", config={"neg_termset": termset("en_clinical").get_patterns()})
    return nlp


def main() -> None:
    """``_negspacy_peer.py ITEMS.jsonl``: load the items, then obey stdin commands, one per line:
    ``round`` (label every item, print ``{"wall_s", "cpu_s"}``), ``labels`` (print the last labels, then
    ``{"done": true}``), ``quit``. Rounds driven one at a time let the caller interleave them with its own."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as for cxrkit
    with open(sys.argv[1], encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]
    nlp = build()
    nlp("warm up: no pneumothorax.")
    out: list[dict] = []
    print(json.dumps({"ready": len(items)}), flush=True)
    for command in sys.stdin:
        command = command.strip()
        if command == "round":
            t0, c0 = time.perf_counter(), time.process_time()
            out = []
            for it in items:
                doc = nlp(it["text"])
                out.append({"id": it["id"], "positive": sorted({e.label_ for e in doc.ents if not e._.negex})})
            print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}), flush=True)
        elif command == "labels":
            for o in out:
                sys.stdout.write(json.dumps(o) + "\n")
            print(json.dumps({"done": True}), flush=True)
        elif command == "quit":
            break


if __name__ == "__main__":
    main()
