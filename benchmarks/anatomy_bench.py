"""Anatomy segmentation speed on CPU: the shipped segmenter, ONNX Runtime vs PyTorch, and the whole path.

    .venv/bin/python benchmarks/anatomy_bench.py            # ~1-2 minutes on 2 busy cores

Data: the 12 untouched 1024x1024 NIH PNGs in ``../shared/data/nih-cxr14/images_1024_original``.
Model: the shipped default segmenter (``load_segmenter()``), input 256x256.

Timed (single process, 1 thread, interleaved rounds, medians):

* ``network, ONNX Runtime, batch 1`` / ``batch 8``: preprocessed 256x256 inputs through the ONNX session.
* ``network, PyTorch, batch 1``: the same weights (``Segmenter.torch_model()``), ``torch.no_grad``.
* ``whole path``: ``read_image`` → ``segment`` (preprocess, network, upsampling to 1024x1024, post-processing)
  → ``measure`` per image: what ``cxrkit segment`` does before writing files.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

from cxrkit.anatomy.measure import measure  # noqa: E402
from cxrkit.anatomy.preprocess import to_model_input  # noqa: E402
from cxrkit.anatomy.segment import load_segmenter  # noqa: E402
from cxrkit.io import read_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nih-cxr14" / "images_1024_original"
ROUNDS = 5


def main() -> int:
    torch.set_num_threads(1)
    info = machine_info()
    files = sorted(DATA.glob("*.png"))
    if not files:
        print(f"no images in {DATA}", file=sys.stderr)
        return 1
    seg = load_segmenter(threads=1)
    tm = seg.torch_model()
    inputs = np.stack([to_model_input(read_image(f).pixels, seg.input_size) for f in files])
    times: dict[str, list[float]] = {k: [] for k in ("onnx_b1", "onnx_b8", "torch_b1", "whole")}
    for _ in range(ROUNDS):
        t = time.perf_counter()
        for x in inputs:
            seg.probabilities(x[None])
        times["onnx_b1"].append((time.perf_counter() - t) / len(inputs))
        t = time.perf_counter()
        for i in range(0, len(inputs), 8):
            seg.probabilities(inputs[i : i + 8])
        times["onnx_b8"].append((time.perf_counter() - t) / len(inputs))
        t = time.perf_counter()
        with torch.no_grad():
            for x in inputs:
                tm(torch.from_numpy(x)[None, None])
        times["torch_b1"].append((time.perf_counter() - t) / len(inputs))
        t = time.perf_counter()
        for f in files:
            img = read_image(f)
            r = seg.segment(img.pixels)
            measure(r.masks, img.meta.pixel_spacing_mm, img.meta.view, confidence=r.confidence)
        times["whole"].append((time.perf_counter() - t) / len(files))
    med = {k: statistics.median(v) for k, v in times.items()}
    labels = {
        "onnx_b1": "network, ONNX Runtime, batch 1 (256x256)",
        "onnx_b8": "network, ONNX Runtime, batch 8 (256x256)",
        "torch_b1": "network, PyTorch eager, batch 1 (256x256)",
        "whole": "whole path: read 1024x1024 PNG, segment, upsample, post-process, measure",
    }
    rows = [f"| {labels[k]} | {1000 * med[k]:.1f} | {1 / med[k]:.1f} | "
            f"{1000 * min(times[k]):.1f}-{1000 * max(times[k]):.1f} |" for k in labels]
    md = (
        "## Anatomy segmentation speed\n\n"
        f"Data: the {len(files)} NIH ChestX-ray14 PNGs at 1024x1024 in `../shared/data/nih-cxr14/"
        f"images_1024_original`. Model: shipped `{seg.card.name}` ({seg.card.architecture_params['parameters']:,} "
        f"parameters). Single process, 1 thread, {ROUNDS} interleaved rounds, median ms per image.\n"
        f"Machine: {machine_line(info)}.\n"
        "Command: `.venv/bin/python benchmarks/anatomy_bench.py`.\n\n"
        "| pipeline | ms/image (median) | images/s | rounds' range (ms) |\n| --- | ---: | ---: | --- |\n"
        + "\n".join(rows)
    )
    write_section("anatomy", md, info=info)
    append_jsonl("anatomy", [{"pipeline": k, "ms_per_image": 1000 * med[k], "n_images": len(files),
                              "rounds": ROUNDS} for k in labels])
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
