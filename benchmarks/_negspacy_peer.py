"""Peer labeler for ``labeler_bench.py``: spaCy (blank English + sentencizer) + EntityRuler + negspacy NegEx.

Runs in its own venv (see labeler_bench.py's docstring); does not import cxrkit. Reads JSON lines
``{"id", "text"}`` on stdin, writes ``{"id", "positive": [labels]}`` lines and a final ``{"timing": ...}`` line.
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
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as for cxrkit
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    items = [json.loads(line) for line in sys.stdin if line.strip()]
    nlp = build()
    nlp("warm up: no pneumothorax.")
    times, cpu = [], []
    out = None
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        out = []
        for it in items:
            doc = nlp(it["text"])
            out.append({"id": it["id"], "positive": sorted({e.label_ for e in doc.ents if not e._.negex})})
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    for o in out or []:
        sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.write(json.dumps({"timing": {"wall_s": times, "cpu_s": cpu, "n": len(items)}}) + "\n")


if __name__ == "__main__":
    main()
