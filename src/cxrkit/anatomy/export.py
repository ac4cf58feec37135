"""Export a trained anatomy checkpoint to the shipped files: ``.safetensors``, ``.onnx`` and ``.card.json``.

    .venv/bin/python -m cxrkit.anatomy.export --checkpoint runs/anatomy/best.pt \\
        --out src/cxrkit/anatomy/weights [--metrics runs/anatomy/eval_test.json]

``--metrics`` (the JSON written by ``cxrkit evaluate segmentation --json``) fills the card's validation section;
rerunning with only ``--metrics`` and ``--card-only`` updates the card without touching the weights.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch

from cxrkit.anatomy.preprocess import transform_spec
from cxrkit.anatomy.unet import STRUCTURES, CompactUNet, count_parameters
from cxrkit.models.card import ModelCard, OperatingPoint, sha256_file
from cxrkit.models.onnx import export_onnx

__all__ = ["export", "main", "BASE_NAME"]

log = logging.getLogger(__name__)

BASE_NAME = "anatomy_unet"


def _card(model: CompactUNet, size: int, files: dict[str, str], training: dict[str, Any],
          metrics: dict[str, Any]) -> ModelCard:
    weights = next(f for f in files if f.endswith(".safetensors"))
    onnx = next(f for f in files if f.endswith(".onnx"))
    return ModelCard(
        kind="segmenter",
        name="cxrkit-anatomy-unet-256",
        version="0.1.0",
        architecture="CompactUNet",
        architecture_params={"widths": list(model.widths), "parameters": count_parameters(model),
                             "module": "cxrkit.anatomy.unet"},
        transform=transform_spec(size).to_dict(),
        labels=list(STRUCTURES),
        reported_findings=list(STRUCTURES),
        weights_file=weights, weights_sha256=files[weights], onnx_file=onnx, onnx_sha256=files[onnx],
        operating_points={k: OperatingPoint(0.5, "fixed mask threshold on the sigmoid probability")
                          for k in STRUCTURES},
        reproduce=str(training.get("command", "")),
        side_convention="names use the PATIENT's side: on a frontal film the patient's right lung is on the image left",
        training=training,
        metrics=metrics,
        intended_use="outline lungs, heart and clavicles on adult frontal (PA/AP) chest radiographs for measurement "
                     "(cardiothoracic ratio) and display; research and quality assurance, not a diagnosis",
        limits=[
            "trained on 142 JSRT film scans (Japan, 1990s, adult PA, mostly normal hearts): digital, AP, "
            "supine, pediatric and pathological chests (effusion, collapse, devices) are out of distribution",
            "masks are predicted at 256x256 and upsampled: boundaries are accurate to ~1/256 of the image size",
            "SCR lung masks exclude the part of the lungs behind the heart and below the diaphragm dome",
            "lateral views are not supported (the CTR is withheld and flagged)",
            "on COVID-19 films (427 frontal images, V7 Labs lung masks) both-lung Dice is only 0.83: consolidated "
            "lung is often left out of the lung masks, which can narrow the thorax width and inflate the CTR; "
            "only 41 % of those with Dice < 0.8 raise a flag (cxrkit evaluate segmentation --covid-lungs)",
        ],
    )


def export(checkpoint: str | Path, out: str | Path, *, size: int = 256, metrics_path: str | Path | None = None,
           card_only: bool = False) -> ModelCard:
    """Write ``anatomy_unet.{safetensors,onnx,card.json}`` into ``out`` from a training checkpoint."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = CompactUNet()
    model.load_state_dict(ck["model"])
    model.eval()
    st, ox = out / f"{BASE_NAME}.safetensors", out / f"{BASE_NAME}.onnx"
    if not card_only:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(st))
        export_onnx(model, ox, input_shape=(1, 1, size, size))
    run_dir = Path(checkpoint).parent
    training: dict[str, Any] = {
        "data": "JSRT (Shiraishi et al. 2000) radiographs with SCR expert masks (van Ginneken et al. 2006), "
                "shared/data/jsrt-scr, 1024x1024",
        "split": "seeded stratified image-level split = patient-level (one image per patient); "
                 "cxrkit.data.adapters.jsrt.anatomy_split(seed=20261128): train 142, val 14, test 41 of the 197 "
                 "present",
        "checkpoint_epoch": ck["epoch"] + 1,  # cxrkit.train.loop.fit numbers epochs from 0
        "val_dice_at_256": ck.get("val_dice"),
        "loss": "BCE + soft Dice per structure (multi-label sigmoid)",
        "augmentation": "rotation +-10 deg, scale 0.85-1.15 per axis, shift +-8 %, gamma, blur, noise; no flips",
        "command": "python -m cxrkit.anatomy.train --root ../shared/data/jsrt-scr --out runs/anatomy "
                   "--epochs 50 --full-size-from 30 --threads 1",
        "schedule_note": "the shipped run was resumed three times with a changed --epochs (40, 60, 40, then 50 "
                         "from epoch 33) as the shared CPU's load changed, so its cosine learning-rate curve "
                         "differs slightly from one uninterrupted run of the command above; epochs 1-30 at 128 px, "
                         "31-50 at 256 px; checkpoint = best validation mean Dice",
        "machine": "shared 2-core CPU VM (8 engineers), torch CPU, 1 thread, nice 5",
    }
    hist_path = run_dir / "last.pt"
    if hist_path.is_file():
        last = torch.load(hist_path, map_location="cpu", weights_only=False)
        hist = last["history"]
        training["epochs_run"] = len(hist)
        training["train_seconds"] = round(sum(h["seconds"] for h in hist))
    metrics: dict[str, Any] = {}
    if metrics_path is not None:
        full = json.loads(Path(metrics_path).read_text())
        metrics = {k: full[k] for k in ("protocol", "summary", "published") if k in full}
        metrics["command"] = ("cxrkit evaluate segmentation --root ../shared/data/jsrt-scr --fold test "
                              "--out runs/anatomy/eval")
    files = {st.name: sha256_file(st), ox.name: sha256_file(ox)}
    card = _card(model, size, files, training, metrics)
    card.save(out / f"{BASE_NAME}.card.json")
    return card


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="export an anatomy checkpoint to safetensors + ONNX + card")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "weights"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--metrics", default=None)
    ap.add_argument("--card-only", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    card = export(args.checkpoint, args.out, size=args.size, metrics_path=args.metrics, card_only=args.card_only)
    log.info("wrote %s (%d parameters)", card.name, card.architecture_params["parameters"])
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
