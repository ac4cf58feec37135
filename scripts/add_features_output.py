"""Add the ``features`` output to a shipped classifier's ONNX graph and update the card's checksum.

    .venv/bin/python scripts/add_features_output.py src/cxrkit/models/weights/cxr-adult-v2.card.json

Used once (2026-12) so that CAM runs in ONNX Runtime without PyTorch. The logits part of the graph is untouched
(the script refuses to write unless the logits are bit-identical on seeded random inputs).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cxrkit.models.card import ModelCard, sha256_file
from cxrkit.models.onnx import add_features_output, ort_session


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("card")
    card = ModelCard.load(ap.parse_args().card)
    old = card.onnx_path()
    assert old is not None and card.path is not None
    spec = card.transform_spec
    x = np.random.default_rng(0).random((4, spec.channels, spec.size, spec.size), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        new = Path(tmp) / old.name
        shutil.copyfile(old, new)
        add_features_output(new)
        before = ort_session(old, threads=1).run(["logits"], {"image": x})[0]
        after = ort_session(new, threads=1).run(["logits"], {"image": x})[0]
        if not np.array_equal(before, after):
            print(f"logits changed (max {np.abs(before - after).max():.2e}); refusing")
            return 1
        shutil.copyfile(new, old)
    dataclasses.replace(card, onnx_sha256=sha256_file(old)).save(card.path)
    ModelCard.load(card.path).verify()
    print(f"rewrote {old} ({old.stat().st_size} bytes) and its card checksum; logits bit-identical")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
