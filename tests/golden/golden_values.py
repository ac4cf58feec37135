"""What the golden tests compare: the shipped models' outputs on the bundled example radiographs.

Shared by ``scripts/make_golden.py`` (records) and ``test_golden.py`` (compares), so both compute the same way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "cxrkit" / "examples"
VOLATILE = frozenset({"timings_ms", "source", "version"})  # wall times; input path; model build time


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix.lower() in {".png", ".dcm", ".jpg", ".jpeg"})


def mask_digest(mask: np.ndarray) -> str:
    m = np.asarray(mask, dtype=bool)
    return hashlib.sha256(np.packbits(m).tobytes() + repr(m.shape).encode()).hexdigest()


def block_summary(a: np.ndarray, blocks: int = 8) -> list[list[float]]:
    """Mean of each cell of a ``blocks x blocks`` grid over a 2-D map."""
    h, w = a.shape
    ys = np.linspace(0, h, blocks + 1).astype(int)
    xs = np.linspace(0, w, blocks + 1).astype(int)
    return [[float(a[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].mean()) for j in range(blocks)] for i in range(blocks)]


def _strip(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in VOLATILE}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def compute() -> dict[str, Any]:
    """Golden values of every bundled example: all classifier outputs, masks, CAMs, the analysis result."""
    from cxrkit.anatomy.segment import load_segmenter
    from cxrkit.explain import heatmaps
    from cxrkit.io import read_image
    from cxrkit.models.classifier import load_classifier
    from cxrkit.pipeline import Analyzer

    clf = load_classifier(None)
    seg = load_segmenter(None)
    analyzer = Analyzer()
    out: dict[str, Any] = {"classifier_outputs": list(clf.card.labels), "images": {}}
    for path in example_files():
        image = read_image(path)
        probs = clf.predict_all([image.pixels])[0]
        masks = seg.predict(image.pixels)
        maps = heatmaps(clf, image, list(clf.findings))
        result = json.loads(analyzer.analyze(path).to_json())
        out["images"][path.name] = {
            "probabilities": [float(p) for p in probs],
            "masks": {k: mask_digest(v) for k, v in sorted(masks.items())},
            "cam_blocks": {k: block_summary(v) for k, v in sorted(maps.items())},
            "result": _strip(result),
        }
    return out
