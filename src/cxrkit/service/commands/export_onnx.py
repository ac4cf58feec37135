"""``cxrkit export-onnx --run RUN_DIR --out DIR --name NAME``: package a training run for inference.

Writes ``NAME.safetensors`` + ``NAME.onnx`` + ``NAME.card.json`` (+ ``NAME.holdout.csv``) from the run's best
checkpoint; the card's validation numbers come from running the written ONNX model on the run's validation
images (see :mod:`cxrkit.train.ship`). Load the result with ``cxrkit classify --model DIR``.
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from cxrkit.train.ship import ship

    path = ship(args.run, args.out, args.name, config_path=args.config, n_boot=args.n_boot, threads=args.threads,
                checkpoint=args.checkpoint)
    print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-onnx", help="package a training run: safetensors + ONNX + validated model card",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="training output folder (with best.pt, data.csv)")
    p.add_argument("--out", required=True, help="destination folder")
    p.add_argument("--name", required=True, help="model name / file stem")
    p.add_argument("--config", help="config path to quote in the card's reproduce command")
    p.add_argument("--checkpoint", default="best.pt")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=_run)
