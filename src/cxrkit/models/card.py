"""Model cards: the one typed JSON document stored beside every model's weights (classifiers and segmenters)
and checked when it is loaded.

A card says what the model is (kind, architecture, input transform, outputs), what it was trained on,
how well it did on held-out data (AUROC with 95% CIs per finding), which findings it is validated for
(``reported_findings``), the operating points and how they were chosen, its intended use and limits, and
the SHA-256 of its weights. :meth:`ModelCard.verify` refuses weights that do not match the card.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cxrkit.data.transforms import TransformSpec
from cxrkit.errors import ModelError
from cxrkit.fs import atomic_write_text

__all__ = ["ModelCard", "OperatingPoint", "FindingValidation", "sha256_file", "CARD_SCHEMA_VERSION", "KINDS"]

CARD_SCHEMA_VERSION = 1
KINDS = ("classifier", "segmenter")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class OperatingPoint:
    """A decision threshold on a finding's probability and what it gave on the validation set.

    Attributes:
        threshold: probability at or above which the finding is called positive.
        method: how it was chosen ("youden", "sensitivity>=0.90", "ppv>=0.80", "user").
        sensitivity / specificity / ppv: on the validation set at this threshold (None if unknown).
    """

    threshold: float
    method: str
    sensitivity: float | None = None
    specificity: float | None = None
    ppv: float | None = None


@dataclass(frozen=True)
class FindingValidation:
    """Validation metrics of one output: pooled over sources, and per source where both classes exist."""

    n: int
    positives: int
    auroc: float | None
    auroc_ci: tuple[float | None, float | None]
    auprc: float | None = None
    per_source: dict[str, dict[str, Any]] = field(default_factory=dict)
    reported: bool = False
    reason: str = ""


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


@dataclass
class ModelCard:
    """Everything needed to run and to judge a model.

    Attributes:
        name: model name ("cxr-default-v1").
        architecture: registry name (``cxrkit.models.list_models()``) or module class ("CompactUNet").
        labels: every output, in order: a classifier's head outputs (``len(labels)`` = head size) or a
            segmenter's structures (output channels, patient sides).
        reported_findings: the labels validated for use (subset of ``labels``); others are never shown.
        transform: input transform (:class:`~cxrkit.data.transforms.TransformSpec` as a dict).
        weights_file / weights_sha256: safetensors file name (relative to the card) and its SHA-256.
        onnx_file / onnx_sha256: the ONNX export used at inference.
        operating_points: finding → :class:`OperatingPoint`.
        operating_point_method: how the default thresholds were chosen.
        validation: finding → :class:`FindingValidation` (every finding tried, reported or not).
        validation_protocol: data, split, n, metric and CI method in words.
        training_data: per-source counts (images, positives per finding) for train and val.
        training: training summary (epochs, best epoch, config path, seconds...).
        intended_use / limits: plain-language statements.
        reproduce: the exact command that reproduces the weights.
        created / cxrkit_version: provenance.
        schema_version: card format version.
        fusion: finding → a validated score that fuses the classifier with an anatomy measurement
            (:class:`cxrkit.models.fusion.CtrFusion` as a dict); used instead of the classifier's own
            probability when the measurement is available.
        kind: "classifier" (multi-label probabilities) or "segmenter" (per-structure masks; one operating point
            per structure is its mask threshold).
        version: model version string.
        architecture_params: constructor parameters of ``architecture`` (e.g. a U-Net's widths).
        side_convention: how output names map to image sides (segmenters).
        metrics: held-out results that are not per-finding AUROCs (a segmenter's Dice/Jaccard with CIs).
        embedding: the image embedding derived from this model for similar-case retrieval (pooled features,
            projection head and its checksum, dimension; :mod:`cxrkit.retrieval`).
    """

    name: str
    architecture: str
    labels: list[str]
    reported_findings: list[str]
    transform: dict[str, Any]
    weights_file: str
    weights_sha256: str
    onnx_file: str | None = None
    onnx_sha256: str | None = None
    operating_points: dict[str, OperatingPoint] = field(default_factory=dict)
    operating_point_method: str = ""
    validation: dict[str, FindingValidation] = field(default_factory=dict)
    validation_protocol: str = ""
    training_data: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    intended_use: str = "Research and education only. Not a medical device; outputs are not a diagnosis."
    limits: list[str] = field(default_factory=list)
    reproduce: str = ""
    created: str = ""
    cxrkit_version: str = ""
    schema_version: int = CARD_SCHEMA_VERSION
    fusion: dict[str, dict[str, Any]] = field(default_factory=dict)
    kind: str = "classifier"
    version: str = ""
    architecture_params: dict[str, Any] = field(default_factory=dict)
    side_convention: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    embedding: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, repr=False, compare=False)

    # ---------------------------------------------------------------- construction / serialisation
    def __post_init__(self) -> None:
        self.validate()

    @property
    def transform_spec(self) -> TransformSpec:
        """The input transform as a :class:`TransformSpec`."""
        return TransformSpec.from_dict(self.transform)

    def validate(self) -> None:
        """Internal consistency (no files read).

        Raises:
            ModelError: naming the first inconsistency found.
        """
        if self.kind not in KINDS:
            raise ModelError(f"model card {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise ModelError(f"model card {self.name!r}: labels must be a non-empty list without duplicates")
        extra = [f for f in self.reported_findings if f not in self.labels]
        if extra:
            raise ModelError(f"model card {self.name!r}: reported findings {extra} are not among its labels")
        bad_op = [f for f in self.operating_points if f not in self.labels]
        if bad_op:
            raise ModelError(f"model card {self.name!r}: operating points for unknown labels {bad_op}")
        for f, op in self.operating_points.items():
            if not 0.0 <= float(op.threshold) <= 1.0:
                raise ModelError(f"model card {self.name!r}: threshold of {f} is {op.threshold}, not in [0, 1]")
        missing_op = [f for f in self.reported_findings if f not in self.operating_points]
        if missing_op:
            raise ModelError(f"model card {self.name!r}: reported findings without an operating point: {missing_op}")
        try:
            TransformSpec.from_dict(self.transform)
        except Exception as exc:  # TransformSpec raises ValueError / UnknownNameError
            raise ModelError(f"model card {self.name!r}: invalid transform {self.transform}: {exc}") from exc
        if self.schema_version > CARD_SCHEMA_VERSION:
            raise ModelError(f"model card {self.name!r} has schema version {self.schema_version}; this cxrkit "
                             f"reads up to {CARD_SCHEMA_VERSION} (upgrade cxrkit)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path", None)
        for k, default in (("kind", "classifier"), ("version", ""), ("architecture_params", {}),
                           ("side_convention", ""), ("metrics", {}), ("embedding", {})):
            if d[k] == default:  # classifier cards written before these fields existed stay byte-identical
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path | None = None) -> ModelCard:
        """Build from a JSON dict; unknown keys are errors."""
        if not isinstance(d, dict):
            raise ModelError(f"model card must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in fields(cls)} - {"path"}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ModelError(f"model card has unknown keys {unknown}")
        missing = sorted(k for k in ("name", "architecture", "labels", "reported_findings", "transform",
                                     "weights_file", "weights_sha256") if k not in d)
        if missing:
            raise ModelError(f"model card is missing {missing}")
        d = dict(d)
        d["operating_points"] = {k: v if isinstance(v, OperatingPoint) else OperatingPoint(**v)
                                 for k, v in (d.get("operating_points") or {}).items()}
        vals = {}
        for k, v in (d.get("validation") or {}).items():
            v = asdict(v) if isinstance(v, FindingValidation) else dict(v)
            v["auroc_ci"] = tuple(_opt_float(x) for x in v.get("auroc_ci", (None, None)))
            vals[k] = FindingValidation(**v)
        d["validation"] = vals
        try:
            return cls(**d, path=path)
        except TypeError as exc:
            raise ModelError(f"model card has wrong field types: {exc}") from exc

    def save(self, path: str | Path) -> Path:
        """Write the card as indented JSON (atomically)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, json.dumps(self.to_dict(), indent=2, allow_nan=False, default=_json_default) + "\n")
        self.path = p
        return p

    @classmethod
    def load(cls, path: str | Path, *, verify: bool = True) -> ModelCard:
        """Read a card; with ``verify`` also check its weights file (see :meth:`verify`).

        Raises:
            ModelError: missing / unreadable card, bad fields, or weights that do not match.
        """
        p = Path(path)
        if not p.is_file():
            raise ModelError(f"model card not found: {p}")
        try:
            d = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"model card {p} is not valid JSON: {exc}") from exc
        card = cls.from_dict(d, path=p)
        if verify:
            card.verify()
        return card

    # ---------------------------------------------------------------- checks against the files
    def weights_path(self) -> Path:
        base = self.path.parent if self.path else Path(".")
        return base / self.weights_file

    def onnx_path(self) -> Path | None:
        if not self.onnx_file:
            return None
        base = self.path.parent if self.path else Path(".")
        return base / self.onnx_file

    def verify(self) -> None:
        """Check the weights (and ONNX) files against the card: present, SHA-256, head size = labels.

        Raises:
            ModelError: naming the mismatch (file, expected and actual values).
        """
        w = self.weights_path()
        if not w.is_file():
            raise ModelError(f"model card {self.name!r}: weights file {w} not found")
        digest = sha256_file(w)
        if digest != self.weights_sha256:
            raise ModelError(f"model card {self.name!r}: checksum mismatch for {w.name}: card says "
                             f"{self.weights_sha256[:12]}..., file is {digest[:12]}...")
        head = head_size(w) if self.kind == "classifier" else None
        if head is not None and head != len(self.labels):
            raise ModelError(f"model card {self.name!r}: the weights' head has {head} outputs but the card lists "
                             f"{len(self.labels)} labels")
        o = self.onnx_path()
        if o is not None:
            if not o.is_file():
                raise ModelError(f"model card {self.name!r}: ONNX file {o} not found")
            if self.onnx_sha256 and sha256_file(o) != self.onnx_sha256:
                raise ModelError(f"model card {self.name!r}: checksum mismatch for {o.name}")

    def to_markdown(self) -> str:
        """A human-readable summary: validation table (every finding tried), operating points, data, limits."""

        def f3(v: Any) -> str:
            return "n/a" if v is None else f"{float(v):.3f}"

        lines = [f"### Model card: {self.name}", "", f"- Architecture: `{self.architecture}`; input: {self.transform}",
                 f"- Reported findings: {', '.join(self.reported_findings) or 'none'}",
                 f"- Intended use: {self.intended_use}", f"- Reproduce: `{self.reproduce}`", "",
                 f"Validation protocol: {self.validation_protocol}", "",
                 "| finding | n | positives | AUROC | 95% CI | AUPRC | per-source AUROC | reported | "
                 "threshold (Youden) | sens / spec |",
                 "| --- | ---: | ---: | ---: | --- | ---: | --- | --- | ---: | --- |"]
        for name in self.labels:
            v = self.validation.get(name)
            if v is None:
                continue
            per = ", ".join(f"{s} {f3(e.get('auroc'))} (n={e.get('n')}, pos={e.get('positives')})"
                            for s, e in v.per_source.items() if not s.startswith("_") and e.get("auroc") is not None)
            op = self.operating_points.get(name)
            ops = (f"{op.threshold:.3f}", f"{f3(op.sensitivity)} / {f3(op.specificity)}") if op else ("n/a", "n/a")
            lines.append(f"| {name} | {v.n} | {v.positives} | {f3(v.auroc)} | {f3(v.auroc_ci[0])}-{f3(v.auroc_ci[1])} | "
                         f"{f3(v.auprc)} | {per} | {'yes' if v.reported else 'no'} | {ops[0]} | {ops[1]} |")
        lines += ["", "Limits:", ""] + [f"- {x}" for x in self.limits]
        return "\n".join(lines) + "\n"

    def threshold(self, finding: str) -> float:
        """The default operating point of a reported finding."""
        if finding not in self.operating_points:
            raise ModelError(f"no operating point for {finding!r} in model card {self.name!r}")
        return float(self.operating_points[finding].threshold)


def head_size(weights: Path) -> int | None:
    """Outputs of the classifier head stored in a safetensors file (``classifier.weight`` rows)."""
    if weights.suffix != ".safetensors":
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="numpy") as fh:  # header only; no torch needed
            keys = [k for k in fh.keys() if k.endswith("classifier.weight")]  # noqa: SIM118 - not a dict
            if not keys:
                return None
            return int(fh.get_slice(keys[0]).get_shape()[0])
    except Exception as exc:  # safetensors raises untyped errors for corrupt headers
        raise ModelError(f"cannot read weights file {weights}: {exc}") from exc


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
