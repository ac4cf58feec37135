"""Training configuration: a YAML file → typed, validated pydantic models.

Unknown keys are errors (with a did-you-mean hint), never silently ignored: a typo in a config must not
train a different model than the one written down. Every bad key or value raises
:class:`~cxrkit.errors.ConfigError` naming it (``optim.epochs=0: Input should be greater than or equal to 1``)
and, for choices, the options. Assignments to a loaded config are validated too.

Example (see ``configs/default_classifier.yaml``)::

    data: {roots: {nih: ../shared/data/nih-cxr14}, findings: [Pneumonia, COVID-19]}
    model: {name: efficientnet_lite0, size: 224}
    optim: {epochs: 8, lr: 0.001}
    run: {out_dir: runs/classifier, seed: 0}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cxrkit.config_errors import config_error
from cxrkit.errors import ConfigError, DataFormatError, UnknownNameError

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "RunConfig", "TrainConfig", "config_from_dict", "load_config",
           "save_config"]


class _Section(BaseModel):
    """A config section: unknown keys refused, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
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

    roots: dict[str, str] = Field(default_factory=dict)
    findings: list[str] = Field(default_factory=lambda: ["Pneumonia"], min_length=1)
    val_fraction: float = Field(default=0.2, gt=0, lt=1)
    val_fraction_by_source: dict[str, float] = Field(default_factory=dict)
    max_train_per_source: dict[str, int] = Field(default_factory=dict)
    max_val_per_source: dict[str, int] = Field(default_factory=dict)
    frontal_only: bool = True
    cache_dir: str | None = None
    aug_views: int = Field(default=2, ge=0)
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    split_files: dict[str, str] = Field(default_factory=dict)

    @field_validator("findings")
    @classmethod
    def _canonical_findings(cls, findings: list[str]) -> list[str]:
        from cxrkit.labels import canonical

        try:
            return [str(canonical(f)) for f in findings]  # strict: an unknown name raises
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None


class ModelConfig(_Section):
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
    geometry: str = "resize"
    intensity: str = "symmetric"
    size: int = Field(default=224, ge=1)
    frozen_blocks: int = Field(default=0, ge=0)
    feature_cache: bool = False
    drop_rate: float = Field(default=0.2, ge=0, lt=1)
    init_from: str | None = None

    @model_validator(mode="after")
    def _feature_cache_needs_frozen_blocks(self) -> ModelConfig:
        if self.feature_cache and self.frozen_blocks < 1:
            raise ValueError("model.feature_cache needs model.frozen_blocks >= 1")
        return self


class OptimConfig(_Section):
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

    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    schedule: Literal["cosine", "onecycle"] = "cosine"
    warmup_fraction: float = Field(default=0.05, ge=0, lt=1)
    patience: int = Field(default=3, ge=0)
    class_weighting: Literal["dataset", "batch", "none"] = "dataset"
    max_steps_per_epoch: int | None = Field(default=None, ge=1)


class RunConfig(_Section):
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
    threads: int = Field(default=2, ge=1)
    progress: bool = True


class TrainConfig(_Section):
    """The whole training configuration (sections ``data``, ``model``, ``optim``, ``run``)."""

    data: DataConfig = Field(default_factory=lambda: DataConfig())
    model: ModelConfig = Field(default_factory=lambda: ModelConfig())
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig())
    run: RunConfig = Field(default_factory=lambda: RunConfig())

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every section (as written by :func:`save_config`)."""
        return self.model_dump()


def _resolve(path: str, base: Path) -> str:
    return path if Path(path).is_absolute() else str((base / path).resolve())


def config_from_dict(values: dict[str, Any], base_dir: str | Path | None = None) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from a plain dict (as read from YAML).

    Raises:
        ConfigError: not a mapping, unknown section or key, a value of the wrong type or range.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"a training config must be a mapping, got {type(values).__name__}")
    for key, section in values.items():
        if section is not None and not isinstance(section, dict) and key in TrainConfig.model_fields:
            raise ConfigError(f"config section {key!r} must be a mapping, got {type(section).__name__}")
    try:
        cfg = TrainConfig.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise config_error(exc, TrainConfig, what="training config") from None
    if base_dir is not None:
        base = Path(base_dir)
        cfg.data.roots = {k: _resolve(v, base) for k, v in cfg.data.roots.items()}
        cfg.data.split_files = {k: _resolve(v, base) for k, v in cfg.data.split_files.items()}
        init = cfg.model.init_from
        if init and ("/" in init or init.endswith((".json", ".safetensors"))):
            cfg.model.init_from = _resolve(init, base)
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML training config; relative data roots resolve against the file's folder.

    Raises:
        DataFormatError: missing or unreadable file; :class:`~cxrkit.errors.ConfigError` (a
            DataFormatError): unknown section or key, invalid value.
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
    from cxrkit.fs import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(json.loads(json.dumps(cfg.to_dict())), sort_keys=False))
