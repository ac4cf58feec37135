"""``analyze()``: the one flow from a radiograph to findings, boxes, measurements and a draft report.

read → segment (lungs, heart) → quality check → measure (cardiothoracic ratio) → classify (validated findings at
the card's operating points, Cardiomegaly fused with the CTR) → localize (CAMs from the same ONNX run, boxes
where validated) → draft report. Each stage's timing and status are recorded by :class:`~cxrkit.stages.StageRunner`.

Components are loaded once and reused: build an :class:`Analyzer` and call it on many images, or call
:func:`analyze`, which keeps one default :class:`Analyzer` per settings. Missing components are "absent" in the
result's ``components``; an optional stage that fails on one image is "failed" and the rest of the result stands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from cxrkit.components import (
    card_info,
    load_default_classifier,
    load_default_segmenter,
    load_from_path,
    operating_points,
)
from cxrkit.errors import CxrkitError, ModelError, UnsupportedImageError
from cxrkit.localize.stage import (
    MAX_BOXES_PER_FINDING,
    NOT_LOCALIZED,
    box_method_for,
    boxes_for_findings,
    location_notes,
)
from cxrkit.models.classifier import Classifier as PackageClassifier
from cxrkit.models.fusion import fuse_findings
from cxrkit.models.protocols import Classifier as ClassifierProtocol
from cxrkit.models.protocols import MaskPredictor, Segmenter
from cxrkit.qc import age_in_years, check_quality, waive_refusal
from cxrkit.report.draft import draft_report
from cxrkit.result import AnalysisResult, Quality
from cxrkit.stages import StageRunner
from cxrkit.types import Finding, Image, ImageMeta, Measurement

__all__ = ["Analyzer", "analyze", "default_analyzer", "read_input", "DEFAULT", "MAX_BOXES_PER_FINDING"]

log = logging.getLogger(__name__)

DEFAULT = "default"


def read_input(source: str | Path | bytes | Image | np.ndarray, *, max_pixels: int | None = None) -> Image:
    """A path or the bytes of a DICOM/PNG/JPEG file, an :class:`Image` or a float array ``(H, W)`` in [0, 1]
    → :class:`Image`."""
    if isinstance(source, Image):
        return source
    from cxrkit.io import image_from_array, read_image

    if isinstance(source, np.ndarray):
        return image_from_array(source)

    kwargs = {"max_pixels": max_pixels} if max_pixels else {}
    return read_image(source if isinstance(source, bytes) else Path(source), **kwargs)


class Analyzer:
    """The analysis pipeline with its components loaded once.

    Parameters
    ----------
    classifier:
        a runtime classifier (``cxrkit.models.classifier.Classifier``), the path of a classifier package
        (card + weights), ``"default"`` for the shipped one, or None to run without findings.
    segmenter:
        a segmenter (``.predict(pixels) -> {structure: bool (H, W)}``), a segmenter package path,
        ``"default"`` or None.
    localize:
        compute heatmaps and boxes for positive findings.
    explain_method, box_method:
        heatmap method (:func:`cxrkit.explain.heatmaps`) and box method (:func:`cxrkit.localize.boxes_from_heatmap`).
    thresholds:
        finding → operating point overriding the card's.
    max_pixels:
        largest image accepted by the reader.
    qc:
        False to analyze images the quality check would refuse (``--no-qc``); its reasons become warnings
        and the result records that the check was skipped.

    Thread safety: :meth:`analyze` may be called from several threads at once (ONNX Runtime sessions are
    thread-safe; the PyTorch heatmap pass is serialized by a lock).
    """

    def __init__(
        self,
        classifier: ClassifierProtocol | str | Path | None = DEFAULT,
        segmenter: Segmenter | MaskPredictor | str | Path | None = DEFAULT,
        *,
        localize: bool = True,
        explain_method: str = "cam",
        box_method: str = "default",
        thresholds: Mapping[str, float] | None = None,
        max_pixels: int | None = None,
        qc: bool = True,
    ) -> None:
        self.notes: dict[str, str] = {}
        self.classifier: ClassifierProtocol | None
        self.segmenter: Segmenter | MaskPredictor | None
        if isinstance(classifier, str) and classifier == DEFAULT:
            self.classifier, self.notes["classifier"] = load_default_classifier()
        elif isinstance(classifier, (str, Path)):
            self.classifier = load_from_path("classifier", classifier)
        else:
            self.classifier = classifier
            if classifier is None:
                self.notes["classifier"] = "no classifier given"
        if isinstance(segmenter, str) and segmenter == DEFAULT:
            self.segmenter, self.notes["segmenter"] = load_default_segmenter()
        elif isinstance(segmenter, (str, Path)):
            self.segmenter = load_from_path("segmenter", segmenter)
        else:
            self.segmenter = segmenter
            if segmenter is None:
                self.notes["segmenter"] = "no segmenter given"
        self.localize = localize
        self.explain_method = explain_method
        self.box_method = box_method
        self.thresholds = dict(thresholds or {})
        self.max_pixels = max_pixels
        self.qc = qc
        self.model_info = card_info(self.classifier) if self.classifier is not None else None
        self._torch_lock = threading.Lock()
        if self.classifier is None:
            log.warning("%s: analysis will run the quality check only", self.notes["classifier"])

    def describe(self) -> dict[str, Any]:
        """What is loaded: the classifier's card info and the segmenter's presence (for ``/v1/models``)."""
        return {
            "classifier": self.model_info.to_dict() if self.model_info else None,
            "segmenter": None if self.segmenter is None else type(self.segmenter).__name__,
            "notes": dict(self.notes),
        }

    def warm_up(self) -> float:
        """Run every loaded component once on a bundled example radiograph (first-call costs such as ONNX
        Runtime and PyTorch initialisation are paid here, not by the first user); returns seconds taken.
        Failures are logged, never raised."""
        from importlib import resources

        t = time.perf_counter()
        try:
            image = read_input(Path(str(resources.files("cxrkit").joinpath("examples/00000002_000.png"))))
            forced = None
            if self.classifier is not None and self.localize:
                targets = [f for f in self.classifier.findings if f not in NOT_LOCALIZED][:1]
                forced = {f: (0.0 if f in targets else 1.0) for f in self.classifier.findings}
            Analyzer(self.classifier, self.segmenter, localize=self.localize, explain_method=self.explain_method,
                     box_method=self.box_method, thresholds=forced).analyze(image)
        except (CxrkitError, OSError) as exc:
            log.warning("warm-up failed: %s", exc)
        return time.perf_counter() - t

    def __call__(self, source: str | Path | Image | np.ndarray) -> AnalysisResult:
        return self.analyze(source)

    def analyze(self, source: str | Path | bytes | Image | np.ndarray) -> AnalysisResult:
        """Analyze one radiograph.

        Parameters
        ----------
        source:
            a DICOM/PNG/JPEG path, an :class:`Image`, or float32 pixels ``(H, W)`` in [0, 1].

        Returns
        -------
        AnalysisResult
            findings only when the quality check passed and a classifier is present.

        Raises
        ------
        InvalidImageError, UnsupportedImageError
            the input cannot be read (from :func:`cxrkit.io.read_image`).
        """
        return self.analyze_with_image(source)[0]

    def analyze_with_image(self, source: str | Path | bytes | Image | np.ndarray, *, view: str | None = None
                           ) -> tuple[AnalysisResult, Image | None]:
        """Like :meth:`analyze`, also returning the decoded :class:`Image` (for overlays and DICOM output);
        the image is None when the file is readable but not a supported radiograph (CT, SR, multi-frame...).
        ``view`` ("PA", "AP", ...) is used when the file carries no view position (PNG/JPEG)."""
        stages = StageRunner()
        t0 = time.perf_counter()
        try:
            with stages.timed("read"):
                image = read_input(source, max_pixels=self.max_pixels)
        except UnsupportedImageError as exc:
            # a readable file that is not a radiograph (CT slice, SR object, multi-frame...): say so, no findings
            log.info("not analyzed: %s", exc)
            return self._unsupported(source, exc, stages), None
        if view and not image.meta.view:
            image = Image(image.pixels, replace(image.meta, view=view.strip().upper()))

        masks, seg_confidence = self._segment(image, stages)
        with stages.timed("qc"):
            quality = check_quality(image, masks or None, seg_confidence)
            if not self.qc:
                quality = waive_refusal(quality)
                stages.record("qc", "skipped", "refusals not applied (--no-qc)")

        findings: list[Finding] = []
        measurements: list[Measurement] = []
        heatmaps: dict[str, np.ndarray] = {}
        anatomy: dict | None = None
        if not quality.usable:
            stages.record("classifier", "skipped", "image failed the quality check")
            masks = {}
        elif self.classifier is None:
            stages.record("classifier", "absent", self.notes.get("classifier", ""))
        if quality.usable and masks:  # before classification: the CTR feeds a fused Cardiomegaly score
            measurements, anatomy = self._measure(image, masks, seg_confidence, stages)
        if quality.usable and self.classifier is not None:
            with stages.timed("classify"):
                raw, run = self._classify(image)
                findings = fuse_findings(getattr(self.classifier, "card", None), raw, anatomy, self.thresholds)
            stages.record("classifier", "ran")
            findings, heatmaps = self._localize(image, findings, stages, masks, run)

        report = draft_report(findings, measurements, quality, view=image.meta.view,
                              classifier_available=self.classifier is not None,
                              location_notes=location_notes(findings, masks, self._model_name, self.localize))
        stages.timings["total"] = (time.perf_counter() - t0) * 1e3
        return AnalysisResult(
            image=image.meta, quality=quality, findings=findings, measurements=measurements, report=report,
            model=self.model_info if quality.usable else None, components=stages.components,
            heatmaps=heatmaps, masks=masks, anatomy=anatomy, timings_ms=stages.timings,
        ), image

    def _unsupported(self, source: Any, exc: UnsupportedImageError, stages: StageRunner) -> AnalysisResult:
        meta = ImageMeta(source=str(source) if isinstance(source, (str, Path)) else "")
        quality = Quality(False, (str(exc),), (), {"readable": {"passed": False, "value": None, "detail": str(exc)}})
        stages.record("classifier", "skipped", "image is not a supported radiograph")
        report = draft_report([], [], quality)
        return AnalysisResult(image=meta, quality=quality, report=report, components=stages.components)

    def _segment(self, image: Image, stages: StageRunner) -> tuple[dict[str, np.ndarray], dict[str, float] | None]:
        """Anatomy masks (bool, image size) and per-structure confidence; empty when absent or failed."""
        segmenter = self.segmenter
        if segmenter is None:
            stages.record("segmenter", "absent", self.notes.get("segmenter", ""))
            return {}, None
        if not isinstance(segmenter, Segmenter):  # a bare ``predict(pixels) -> masks`` segmenter: no confidence
            ok, masks = stages.run("segmenter", lambda: segmenter.predict(image.pixels), timing="segment")
            return ({k: np.asarray(v, dtype=bool) for k, v in masks.items()} if ok and masks else {}), None
        ok, seg = stages.run("segmenter", lambda: segmenter.segment(image.pixels), timing="segment")
        if not ok or seg is None:
            return {}, None
        return {k: np.asarray(v, dtype=bool) for k, v in seg.masks.items()}, dict(seg.confidence)

    def _classify(self, image: Image) -> tuple[list[Finding], _Run | None]:
        """Findings at the operating points; with a package whose graph returns features (and CAM asked for),
        the same ONNX run is kept for the heatmaps."""
        clf = self.classifier
        assert clf is not None  # the caller checked
        names = [str(f) for f in clf.findings]
        run = None
        if (self.localize and self.explain_method == "cam" and isinstance(clf, PackageClassifier)
                and clf.has_features):
            logits, feats = clf.run(clf.preprocess([image.pixels]), features=True)
            assert feats is not None
            run = _Run(logits, feats)
            cols = [clf.labels.index(n) for n in names]
            probs = expit(logits.astype(np.float64)).astype(np.float32)[:, cols]
        else:
            probs = clf.predict([image.pixels])
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (1, len(names)):
            raise ModelError(f"classifier returned shape {probs.shape}, expected (1, {len(names)})")
        ths = operating_points(clf, names, self.thresholds)
        return [Finding(n, float(p), float(th), bool(p >= th)) for n, p, th in zip(names, probs[0], ths)], run

    def _heatmaps(self, image: Image, positives: list[str], run: _Run | None) -> dict[str, np.ndarray]:
        from cxrkit.explain.heatmaps import cams_from_run
        from cxrkit.explain.heatmaps import heatmaps as compute_heatmaps

        if run is not None:  # the classify stage's ONNX run: no second inference, no PyTorch
            return cams_from_run(self.classifier, run.logits, run.features, positives, [image.shape])[0].maps
        with self._torch_lock:
            return compute_heatmaps(self.classifier, image, positives, method=self.explain_method)

    def _localize(self, image: Image, findings: list[Finding], stages: StageRunner,
                  masks: dict[str, np.ndarray], run: _Run | None) -> tuple[list[Finding], dict[str, np.ndarray]]:
        positives = [f.name for f in findings if f.positive and f.name not in NOT_LOCALIZED]
        if not self.localize:
            stages.record("localize", "skipped", "disabled (--no-localize)")
            return findings, {}
        if not positives:
            stages.record("localize", "skipped", "no positive finding to localize")
            return findings, {}
        box_method = box_method_for(self._model_name, self.box_method)  # the one the verdicts were measured with
        maps: dict[str, np.ndarray] = {}

        def work() -> list[Finding]:
            maps.update(self._heatmaps(image, positives, run))
            return boxes_for_findings(findings, maps, masks, self._model_name, box_method)

        ok, out = stages.run("localize", work, detail=f"{self.explain_method} heatmaps, {box_method} boxes for "
                                                      "findings with validated localization")
        if not ok or out is None:
            return findings, {}
        return out, {k: np.asarray(v, dtype=np.float32) for k, v in maps.items()}

    @property
    def _model_name(self) -> str | None:
        return self.model_info.name if self.model_info is not None else None

    def _measure(self, image: Image, masks: dict[str, np.ndarray], confidence: dict[str, float] | None,
                 stages: StageRunner) -> tuple[list[Measurement], dict | None]:
        from cxrkit.anatomy.measure import measure
        from cxrkit.anatomy.measurements import to_measurements

        kwargs: dict[str, Any] = {}
        if confidence:
            kwargs["confidence"] = confidence
        age = age_in_years(image.meta.dicom.get("PatientAge") if image.meta.dicom else None)
        if age is not None:
            kwargs["age_years"] = age
        ok, raw = stages.run("measure", lambda: measure(masks, image.meta.pixel_spacing_mm, image.meta.view,
                                                        **kwargs))
        if not ok or raw is None:
            return [], None
        return to_measurements(raw), raw


@dataclass(frozen=True)
class _Run:
    """One ONNX Runtime run of the classifier on one image: logits ``(1, K)`` and features ``(1, D, h, w)``."""

    logits: np.ndarray
    features: np.ndarray


@lru_cache(maxsize=4)
def default_analyzer(localize: bool = True, use_classifier: bool = True, use_segmenter: bool = True,
                     qc: bool = True) -> Analyzer:
    """A cached :class:`Analyzer` with the shipped components (loaded on first use, then reused)."""
    return Analyzer(DEFAULT if use_classifier else None, DEFAULT if use_segmenter else None, localize=localize,
                    qc=qc)


def analyze(
    path_or_image: str | Path | Image | np.ndarray,
    *,
    classifier: ClassifierProtocol | None = None,
    segmenter: Segmenter | MaskPredictor | None = None,
    localize: bool = True,
    use_classifier: bool = True,
    use_segmenter: bool = True,
    qc: bool = True,
) -> AnalysisResult:
    """Analyze one radiograph with the shipped models (or the ones given).

    Parameters
    ----------
    path_or_image:
        DICOM/PNG/JPEG path, :class:`Image` or float32 pixels ``(H, W)`` in [0, 1].
    classifier, segmenter:
        components to use instead of the shipped defaults (None = the default, loaded once per process).
    localize:
        heatmaps and boxes for positive findings.
    use_classifier, use_segmenter:
        False to run without that component.
    qc:
        False to skip the quality check's refusals (``--no-qc``): the image is analyzed, its reasons become
        warnings, and ``components`` records ``qc: skipped``.

    Returns
    -------
    AnalysisResult

    Examples
    --------
    >>> from cxrkit.pipeline import analyze  # doctest: +SKIP
    >>> result = analyze("chest.dcm")  # doctest: +SKIP
    >>> print(result.to_json())  # doctest: +SKIP
    """
    if classifier is None and segmenter is None:
        return default_analyzer(localize, use_classifier, use_segmenter, qc).analyze(path_or_image)
    base = default_analyzer(localize, use_classifier and classifier is None, use_segmenter and segmenter is None)
    analyzer = Analyzer(
        classifier if classifier is not None else base.classifier,
        segmenter if segmenter is not None else base.segmenter,
        localize=localize,
        qc=qc,
    )
    return analyzer.analyze(path_or_image)
