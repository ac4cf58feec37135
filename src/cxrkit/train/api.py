"""``train_classifier(config)``: the whole recipe from dataset roots to checkpoints.

1. assemble the sources and split them by patient (:mod:`cxrkit.train.assemble`), written to
   ``<out_dir>/data.csv``;
2. decode every image once into a uint8 cache (:func:`cxrkit.train.cache.build_image_cache`);
3. build the model from the registry; with ``model.feature_cache`` the frozen trunk's outputs are
   computed once with ONNX Runtime (clean view + ``data.aug_views`` augmented views per training image) and
   only the top trains; otherwise the whole (unfrozen part of the) model trains on augmented images;
4. :func:`cxrkit.train.loop.fit` with early stopping; ``best.pt`` holds the best validation mean AUROC.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import torch

from cxrkit.data.transforms import TransformSpec
from cxrkit.train.assemble import TrainingTable, assemble, read_table, write_table
from cxrkit.train.cache import build_feature_cache, build_image_cache
from cxrkit.train.config import TrainConfig, save_config
from cxrkit.train.loop import FeatureSource, FitResult, ImageSource, fit

__all__ = ["train_classifier", "transform_of", "assemble_from_config"]

log = logging.getLogger(__name__)


def transform_of(cfg: TrainConfig) -> TransformSpec:
    """The model card's input transform for a config."""
    m = cfg.model
    return TransformSpec(size=int(m.size), geometry=m.geometry, intensity=m.intensity, channels=1)


def assemble_from_config(cfg: TrainConfig) -> TrainingTable:
    """The training table a config describes (same seed → same split)."""
    d = cfg.data
    return assemble(d.roots, d.findings, val_fraction=d.val_fraction, val_fraction_by_source=d.val_fraction_by_source,
                    max_train_per_source=d.max_train_per_source, max_val_per_source=d.max_val_per_source,
                    frontal_only=d.frontal_only, seed=int(cfg.run.seed), options=d.options,
                    split_files=d.split_files)


def train_classifier(cfg: TrainConfig, *, resume: bool = False) -> FitResult:
    """Train a classifier as ``cfg`` says; returns the :class:`~cxrkit.train.loop.FitResult`."""

    from cxrkit.train.distributed import cleanup, setup, wrap

    dist_info = setup()
    # _train seeds torch's and Python's global generators (model init and dropout draw from them, so the
    # seed fixes the run); fork/restore them so that calling the library leaves the caller's RNG untouched.
    py_state = random.getstate()
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            return _train(cfg, resume, dist_info, wrap)
    finally:
        random.setstate(py_state)
        cleanup()


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _train(cfg: TrainConfig, resume: bool, dist_info, wrap) -> FitResult:
    from cxrkit.models import create_model
    from cxrkit.models.onnx import OnnxRunner, export_onnx

    seed = int(cfg.run.seed)
    torch.manual_seed(seed)
    random.seed(seed)
    torch.set_num_threads(max(1, int(cfg.run.threads)))
    out = Path(cfg.run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    main = dist_info.rank == 0
    if resume and (out / "data.csv").is_file():
        table = read_table(out / "data.csv", cfg.data.findings)  # the split this run started with
    else:
        table = assemble_from_config(cfg)
        if main:
            save_config(cfg, out / "config.yaml")
            write_table(table, out / "data.csv")
    spec = transform_of(cfg)
    cache_dir = Path(cfg.data.cache_dir) if cfg.data.cache_dir else out / "cache"
    if not main:
        _barrier()  # rank 0 builds the caches first
    images = build_image_cache(table.meta["path"].tolist(), spec, cache_dir, progress=cfg.run.progress and main)
    tr, va = table.part("train"), table.part("val")
    log.info("training on %d images, validating on %d", len(tr), len(va))
    m = cfg.model
    model = create_model(m.name, "imagenet" if m.pretrained else None, num_classes=len(table.findings),
                         in_chans=1, drop_rate=float(m.drop_rate))
    if m.init_from:
        from cxrkit.train.init import init_from_package

        init_from_package(model, table.findings, m.init_from)
    extra = {"config": cfg.to_dict(), "transform": spec.to_dict(), "findings": table.findings}
    if m.feature_cache:
        if not hasattr(model, "split"):
            from cxrkit.errors import ModelError

            raise ModelError(f"model {m.name!r} does not support feature_cache (no split())")
        trunk, top = model.split(int(m.frozen_blocks))
        trunk.eval()
        onnx_path = export_onnx(trunk, cache_dir / f"trunk_{m.name}_{m.frozen_blocks}_{m.size}.onnx",
                                input_shape=(1, 1, spec.size, spec.size))
        runner = OnnxRunner(onnx_path, threads=int(cfg.run.threads))
        rows_views = [(int(i), 0) for i in range(len(table.labels))]
        views: list[list[int]] = [[i] for i in range(len(table.labels))]
        for i in tr:
            for v in range(1, int(cfg.data.aug_views) + 1):
                views[int(i)].append(len(rows_views))
                rows_views.append((int(i), v))
        feats = build_feature_cache(images, rows_views, runner, spec, cache_dir,
                                    key_parts=[m.name, m.pretrained, m.frozen_blocks, m.size, "imagenet-lite0"],
                                    seed=seed, progress=cfg.run.progress and main)
        if main:
            _barrier()
        source = FeatureSource(feats, views, table.labels, seed=seed)
        return fit(wrap(top, dist_info), source, source, rank=dist_info.rank, world_size=dist_info.world_size,
                   findings=table.findings, optim_cfg=cfg.optim, out_dir=out, seed=seed, save_model=model,
                   frozen=[trunk], resume=resume, progress=cfg.run.progress, extra=extra, train_rows=tr, val_rows=va)
    if main:
        _barrier()
    frozen = model.freeze_early(int(m.frozen_blocks)) if int(m.frozen_blocks) > 0 else []
    images_source = ImageSource(images, table.labels, spec, seed=seed)
    return fit(wrap(model, dist_info), images_source, images_source, rank=dist_info.rank,
               world_size=dist_info.world_size, findings=table.findings, optim_cfg=cfg.optim, out_dir=out, seed=seed,
               save_model=model, frozen=frozen, resume=resume, progress=cfg.run.progress, extra=extra,
               train_rows=tr, val_rows=va)
