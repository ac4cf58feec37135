#!/usr/bin/env bash
# Anatomy-guided localization for one classifier, end to end: cache CAMs + masks of the NIH box images, fit the
# priors by patient CV within split == train, score split == val, write the verdicts (validated.json).
#   nice -n 10 bash benchmarks/localize_rerun.sh src/cxrkit/models/weights/cxr-adult-v2.card.json
set -euo pipefail
cd "$(dirname "$0")/.."
CARD="${1:-src/cxrkit/models/weights/cxr-default-v1.card.json}"
PY=.venv/bin/python
NAME=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['name'])" "$CARD")
$PY benchmarks/localize_cache.py --model "$CARD"
$PY benchmarks/localize_fit_priors.py --model "$NAME"
$PY -m cxrkit.service.cli evaluate localization --root ../shared/data/nih-cxr14 --images adult_512 --model "$CARD" \
  --split-file configs/splits/nih_v2.csv --part val --classes all --write-validated --out "runs/localize/eval_${NAME}_val"
