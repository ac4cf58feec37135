"""Training configuration: a YAML file → typed, validated dataclasses.

Unknown keys are errors (with a did-you-mean hint), never silently ignored: a typo in a config must not
train a different model than the one written down.

Example (see ``configs/default_classifier.yaml``)::

    data: {roots: {nih: ../shared/data/nih-cxr14}, findings: [Pneumonia, COVID-19]}
    model: {name: efficientnet_lite0, size: 224}
    optim: {epochs: 8, lr: 0.001}
    run: {out_dir: runs/classifier, seed: 0}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cxrkit.errors import DataFormatError, unknown_name

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "RunConfig", "TrainConfig", "load_config", "save_config"]


@dataclass
class DataConfig:
    """Which images and labels train the model.

    Attributes:
        roots: dataset name → folder (names of :func:`cxrkit.data.load_dataset`). Relative paths are
            resolved against the config file's folder.
        findings: canonical finding names the model outputs, in order.
        val_fraction: fraction of each source's patients held out for validation.
        val_fraction_by_source: per-source override of ``val_fraction``.
        max_train_per_source / max_val_per_source: optional caps (random, seeded) on images per source.
        frontal_only: drop lateral views.
        cache_dir: where the uint8 image cache and feature cache go (default ``<out_dir>/cache``).
        aug_views: augmented copies of every training image in the feature cache (frozen-trunk mode).
        options: per-source adapter options, e.g. ``{nih: {images: adult_512}}`` (keyword arguments of
            :func:`cxrkit.data.load_dataset`).
        split_files: per-source fixed split: a CSV with ``image_id`` and ``split`` ("train" / "val") columns
            (relative paths resolve against the config file). Rows it does not list are dropped, so the
            validation set cannot drift when data is added. It replaces ``val_fraction`` for that source.
    """

    roots: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=lambda: ["Pneumonia"])
    val_fraction: float = 0.2
    val_fraction_by_source: dict[str, float] = field(default_factory=dict)
    max_train_per_source: dict[str, int] = field(default_factory=dict)
    max_val_per_source: dict[str, int] = field(default_factory=dict)
    frontal_only: bool = True
    cache_dir: str | None = None
    aug_views: int = 2
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    split_files: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """Architecture and input transform.

    Attributes:
        name: registry name (``cxrkit.models.list_models()``).
        pretrained: start from ImageNet weights where the architecture has them.
        size: input side in pixels (the card's ``TransformSpec.size``).
        geometry / intensity: the card's transform (see :class:`cxrkit.data.transforms.TransformSpec`).
        frozen_blocks: blocks (after the stem) kept frozen at their pretrained values. With
            ``feature_cache: true`` their output is computed once (ONNX Runtime) and cached.
        feature_cache: train only the unfrozen top on cached trunk features (CPU budget mode).
        drop_rate: dropout before the classifier.
        init_from: start from a model package's weights (a ``.card.json`` or ``.safetensors`` path, relative
            to the config file, or a shipped model's name such as ``cxr-default-v1``) instead of ImageNet; head
            rows are matched by finding name, new findings start from zero.
    """

    name: str = "efficientnet_lite0"
    pretrained: bool = True
    size: int = 224
    geometry: str = "resize"
    intensity: str = "symmetric"
    frozen_blocks: int = 0
    feature_cache: bool = False
    drop_rate: float = 0.2
    init_from: str | None = None


@dataclass
class OptimConfig:
    """Optimiser, schedule and stopping rule.

    Attributes:
        epochs: maximum epochs.
        batch_size: images per step (per process under DDP).
        lr / weight_decay: AdamW.
        schedule: "cosine" (linear warm-up then cosine to zero) or "onecycle" (PyTorch OneCycleLR shape).
        warmup_fraction: fraction of all steps spent warming up.
        patience: epochs without a better validation mean AUROC before stopping early.
        class_weighting: "dataset" (ChestX-ray8 positive/negative balancing from training counts),
            "batch" (the paper's per-batch weights) or "none".
        max_steps_per_epoch: optional cap (tests, smoke runs).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_fraction: float = 0.05
    patience: int = 3
    class_weighting: str = "dataset"
    max_steps_per_epoch: int | None = None


@dataclass
class RunConfig:
    """Where results go and how the run behaves.

    Attributes:
        out_dir: checkpoints, metrics log (``metrics.jsonl``) and the resolved config. Relative to the
            current working directory.
        seed: seeds every random generator of the run (split, sampling, augmentation, init).
        threads: torch / ONNX Runtime intra-op threads.
        progress: show tqdm progress bars.
    """

    out_dir: str = "runs/classifier"
    seed: int = 0
    threads: int = 2
    progress: bool = True


@dataclass
class TrainConfig:
    """The whole training configuration (sections ``data``, ``model``, ``optim``, ``run``)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: type, values: Any, where: str) -> Any:
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise DataFormatError(f"config section {where!r} must be a mapping, got {type(values).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            err = unknown_name(f"config key in {where!r}", key, names)
            raise DataFormatError(str(err))
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - defensive
        raise DataFormatError(f"bad config section {where!r}: {exc}") from exc


def _check(cfg: TrainConfig) -> None:
    o, m, d = cfg.optim, cfg.model, cfg.data
    problems = []
    if int(o.epochs) < 1:
        problems.append(f"optim.epochs must be >= 1, got {o.epochs}")
    if int(o.batch_size) < 1:
        problems.append(f"optim.batch_size must be >= 1, got {o.batch_size}")
    if not float(o.lr) > 0:
        problems.append(f"optim.lr must be > 0, got {o.lr}")
    if o.schedule not in ("cosine", "onecycle"):
        problems.append(f"optim.schedule must be 'cosine' or 'onecycle', got {o.schedule!r}")
    if o.class_weighting not in ("dataset", "batch", "none"):
        problems.append(f"optim.class_weighting must be dataset|batch|none, got {o.class_weighting!r}")
    if not 0 < float(d.val_fraction) < 1:
        problems.append(f"data.val_fraction must be in (0, 1), got {d.val_fraction}")
    if not d.findings:
        problems.append("data.findings must list at least one finding")
    if m.feature_cache and int(m.frozen_blocks) < 1:
        problems.append("model.feature_cache needs model.frozen_blocks >= 1")
    if problems:
        raise DataFormatError("invalid training config: " + "; ".join(problems))


def config_from_dict(values: dict[str, Any], base_dir: str | Path | None = None) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from a plain dict (as read from YAML)."""
    if not isinstance(values, dict):
        raise DataFormatError(f"a training config must be a mapping, got {type(values).__name__}")
    sections = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "run": RunConfig}
    for key in values:
        if key not in sections:
            raise DataFormatError(str(unknown_name("config section", key, sections)))
    cfg = TrainConfig(**{k: _build(cls, values.get(k), k) for k, cls in sections.items()})
    from cxrkit.labels import canonical

    cfg.data.findings = [canonical(f) for f in cfg.data.findings]
    if base_dir is not None:
        base = Path(base_dir)
        cfg.data.roots = {k: str((base / v).resolve()) if not Path(v).is_absolute() else v
                          for k, v in cfg.data.roots.items()}
        cfg.data.split_files = {k: str((base / v).resolve()) if not Path(v).is_absolute() else v
                                for k, v in cfg.data.split_files.items()}
        init = cfg.model.init_from
        if init and ("/" in init or init.endswith((".json", ".safetensors"))) and not Path(init).is_absolute():
            cfg.model.init_from = str((base / init).resolve())
    _check(cfg)
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML training config; relative data roots resolve against the file's folder.

    Raises:
        DataFormatError: missing/unreadable file, unknown section or key, invalid value.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"training config not found: {p}")
    try:
        values = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataFormatError(f"training config {p} is not valid YAML: {exc}") from exc
    return config_from_dict(values, base_dir=p.parent)


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(json.loads(json.dumps(cfg.to_dict())), sort_keys=False))
    tmp.replace(p)
