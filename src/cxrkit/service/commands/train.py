"""``cxrkit train --config FILE.yaml [--resume]``: train a classifier from a YAML config."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from cxrkit.train.api import train_classifier
    from cxrkit.train.config import load_config

    cfg = load_config(args.config)
    if args.out_dir:
        cfg.run.out_dir = args.out_dir
    if args.no_progress:
        cfg.run.progress = False
    result = train_classifier(cfg, resume=args.resume)
    print(f"best validation mean AUROC {result.best_metric:.4f} at epoch {result.best_epoch}; "
          f"checkpoint {result.best_path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a classifier from a YAML config (checkpoints, resume, early stopping)")
    p.add_argument("--config", required=True, help="YAML training config (see configs/default_classifier.yaml)")
    p.add_argument("--resume", action="store_true", help="continue from <out_dir>/last.pt after a kill")
    p.add_argument("--out-dir", help="override run.out_dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)
