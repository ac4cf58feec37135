"""DICOM outputs of an analysis: a Comprehensive SR (TID 1500 measurement report) and a Secondary Capture.

Both go into the source study (same StudyInstanceUID and patient module, copied from the source DICOM), each
in a new series, and reference the source SOP instance. For a non-DICOM source (PNG/JPEG) a new study is made:
the secondary capture becomes the image the SR refers to, and both say so in their series description.

SR content (highdicom ``MeasurementReport``, TID 1500):

* observer: the device "cxrkit" with the model name and version;
* a group "Input quality check" with "Usable frontal chest radiograph" = Present / Absent;
* one image-level measurement group per validated finding: the model probability and the operating point
  (UCUM "1"), and a qualitative evaluation "Decision at operating point" = Present / Absent;
  findings use the private coding scheme ``99CXRKIT`` (code = canonical finding name);
* one planar ROI group per box (SCOORD polyline on the source image) with its score;
* the measurements (cardiothoracic ratio...) when present, each with its reliability.

The secondary capture is the RGB overlay (heatmaps, boxes, masks) burnt into pixels, for viewers that cannot
render SR. Masks as DICOM SEG come from :func:`cxrkit.deliver.dicom_seg.write_seg` when available.

Robustness (``docs/security.md``):

* the source header is sanitised before anything is copied from it (:func:`sanitize_reference`): values that are
  not valid for their VR (PatientSex ``MALE``, a birth date ``1962-01-01``, a 40-character accession number...)
  are repaired when the meaning is unambiguous (``MALE`` → ``M``, ``1962-01-01`` → ``19620101``, ``62`` →
  ``062Y``) or written empty, and a PixelSpacing that is not positive is omitted, so a real-world header never
  makes the writers raise or write an invalid object;
* every UID of the outputs is derived from the source (its SOPInstanceUID, or a hash of the pixels for
  PNG/JPEG) and the model (name, version, checksum) with :func:`output_uid`, so analysing the same image with
  the same model again gives the same objects: a PACS retry stores nothing twice.
"""

from __future__ import annotations

import datetime as _dt
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from cxrkit import __version__
from cxrkit.deliver.dicom_out_header import model_key, output_uid, sanitize_reference, source_key, uid_factory
from cxrkit.errors import CxrkitError, DataFormatError, InvalidImageError
from cxrkit.result import DISCLAIMER, AnalysisResult, box_id
from cxrkit.types import Image

__all__ = ["iter_dicom_outputs", "write_dicom_outputs", "build_sr", "build_sc", "load_source_dataset",
           "sanitize_reference", "output_uid", "uid_factory", "source_key", "model_key", "CXRKIT_SCHEME",
           "MANUFACTURER", "SERIES_DESCRIPTION_SR", "SERIES_DESCRIPTION_SC"]

log = logging.getLogger(__name__)

CXRKIT_SCHEME = "99CXRKIT"
MANUFACTURER = "cxrkit"
SERIES_DESCRIPTION_SR = "cxrkit AI findings (not a diagnosis)"
SERIES_DESCRIPTION_SC = "cxrkit AI overlay (not a diagnosis)"
SERIES_NUMBER_SR = 9901
SERIES_NUMBER_SC = 9902
_PROCEDURE = ("399208008", "SCT", "Plain chest X-ray")


def _hd():
    import highdicom as hd

    return hd


def _code(value: str, meaning: str | None = None, scheme: str = CXRKIT_SCHEME):
    return _hd().sr.CodedConcept(value=value[:64], scheme_designator=scheme, meaning=(meaning or value)[:64])


def load_source_dataset(source: str | Path | bytes | Dataset | None) -> Dataset | None:
    """The source DICOM header (no pixels) from a path, bytes or dataset; None for non-DICOM sources."""
    if source is None or isinstance(source, Dataset):
        return source
    try:
        fp = BytesIO(source) if isinstance(source, bytes) else Path(source)
        return pydicom.dcmread(fp, stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError, ValueError, EOFError):
        return None


def _device_context(result: AnalysisResult, uid: Callable[[str], str]):
    hd = _hd()
    model = result.model
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=uid("device"),
        name="cxrkit",
        manufacturer_name=MANUFACTURER,
        model_name=f"{model.name} {model.version}"[:64] if model else f"cxrkit {__version__}",
    )
    return hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(observer_type=codes.DCM.Device,
                                                      observer_identifying_attributes=device)
    )


def _groups(result: AnalysisResult, ref: Dataset, uid: Callable[[str], str]) -> list:
    hd = _hd()
    algo = hd.sr.AlgorithmIdentification(name="cxrkit", version=__version__)
    usable = hd.sr.QualitativeEvaluation(name=_code("usable", "Usable frontal chest radiograph"),
                                         value=codes.SCT.Present if result.quality.usable else codes.SCT.Absent)
    groups = [hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid("tracking:input quality"), identifier="input quality"),
        finding_type=_code("input_quality", "Input quality check"), algorithm_id=algo,
        qualitative_evaluations=[usable],
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ref)],
    )]
    for f in result.findings:
        tracking = hd.sr.TrackingIdentifier(uid=uid(f"tracking:finding {f.name}"), identifier=f"finding {f.name}")
        measurements = [
            hd.sr.Measurement(name=_code("probability", "Model probability"), value=float(f.probability),
                              unit=codes.UCUM.NoUnits, algorithm_id=algo),
            hd.sr.Measurement(name=_code("operating_point", "Operating point"), value=float(f.threshold),
                              unit=codes.UCUM.NoUnits),
        ]
        evaluation = hd.sr.QualitativeEvaluation(name=_code("decision", "Decision at operating point"),
                                                 value=codes.SCT.Present if f.positive else codes.SCT.Absent)
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking, finding_type=_code(f.name), algorithm_id=algo,
            measurements=measurements, qualitative_evaluations=[evaluation],
            source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ref)],
        ))
        for i, b in enumerate(f.boxes):
            corners = np.array([[b.x_min, b.y_min], [b.x_max, b.y_min], [b.x_max, b.y_max], [b.x_min, b.y_max],
                                [b.x_min, b.y_min]], dtype=np.float32)
            region = hd.sr.ImageRegion(
                graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=corners,
                source_image=hd.sr.SourceImageForRegion(ref.SOPClassUID, ref.SOPInstanceUID),
            )
            box_measurements = []
            if b.score is not None:
                box_measurements.append(hd.sr.Measurement(name=_code("box_score", "Localization score"),
                                                          value=float(b.score), unit=codes.UCUM.NoUnits))
            groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=uid(f"tracking:{box_id(f.name, i)}"),
                                                             identifier=box_id(f.name, i)),
                referenced_region=region, finding_type=_code(f.name), algorithm_id=algo,
                measurements=box_measurements or None,
            ))
    numeric = [m for m in result.measurements if m.value is not None]
    if numeric:
        units = {"ratio": codes.UCUM.NoUnits, "mm": codes.UCUM.Millimeter, "mm2": codes.UCUM.SquareMillimeter,
                 "px": _hd().sr.CodedConcept("{pixels}", "UCUM", "pixels"),
                 "px2": _hd().sr.CodedConcept("{pixels2}", "UCUM", "square pixels")}
        ms = [hd.sr.Measurement(name=_code(m.name, m.name.replace("_", " ")), value=float(m.value or 0.0),
                                unit=units.get(m.unit, codes.UCUM.NoUnits), algorithm_id=algo)
              for m in numeric]
        evaluations = [hd.sr.QualitativeEvaluation(name=_code(f"{m.name}_reliable", f"{m.name} reliable"[:64]),
                                                   value=codes.SCT.Present if m.reliable else codes.SCT.Absent)
                       for m in numeric]
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=uid("tracking:anatomy measurements"),
                                                         identifier="anatomy measurements"),
            finding_type=_code("anatomy_measurements", "Anatomy measurements"), algorithm_id=algo,
            measurements=ms, qualitative_evaluations=evaluations,
            source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ref)],
        ))
    return groups


def build_sr(result: AnalysisResult, ref: Dataset, *, new_study_note: bool = False,
             uid: Callable[[str], str] | None = None) -> Dataset:
    """Comprehensive SR (TID 1500) of ``result`` about the image ``ref`` (a dataset with patient, study and
    SOP attributes; pixels not needed). ``uid`` maps an output kind to a UID (default: random UIDs)."""
    hd = _hd()
    uid = uid or (lambda kind: generate_uid())
    report = hd.sr.MeasurementReport(
        observation_context=_device_context(result, uid),
        procedure_reported=_code(*_PROCEDURE[:1], _PROCEDURE[2], scheme=_PROCEDURE[1]),
        imaging_measurements=_groups(result, ref, uid),
    )
    with warnings.catch_warnings():  # the source's own PatientName style is not ours to judge
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        sr = _comprehensive_sr(hd, ref, report, uid)
    sr.ContentDate = _dt.date.today().strftime("%Y%m%d")
    sr.SoftwareVersions = __version__
    text = DISCLAIMER + (" Source was not DICOM: a new study was created." if new_study_note else "")
    sr.ImageComments = text[:10240]
    return sr


def _comprehensive_sr(hd, ref: Dataset, report, uid: Callable[[str], str]) -> Dataset:
    return hd.sr.ComprehensiveSR(
        evidence=[ref], content=report, series_instance_uid=uid("sr-series"), series_number=SERIES_NUMBER_SR,
        sop_instance_uid=uid("sr"), instance_number=1, manufacturer=MANUFACTURER,
        is_complete=True, is_final=False, is_verified=False,
        series_description=SERIES_DESCRIPTION_SR[:64],
    )


def build_sc(overlay: np.ndarray, ref: Dataset | None, image: Image, *,
             uid: Callable[[str], str] | None = None) -> Dataset:
    """RGB secondary capture of the overlay; in ``ref``'s study when given, else in a new study. ``uid`` maps an
    output kind to a UID (default: random UIDs)."""
    hd = _hd()
    uid = uid or (lambda kind: generate_uid())
    overlay = np.ascontiguousarray(overlay, dtype=np.uint8)
    if overlay.ndim != 3 or overlay.shape[2] != 3:
        raise InvalidImageError(f"overlay must be uint8 (H, W, 3), got shape {overlay.shape}")
    common = dict(
        pixel_array=overlay, photometric_interpretation="RGB", bits_allocated=8, coordinate_system="PATIENT",
        series_instance_uid=uid("sc-series"), series_number=SERIES_NUMBER_SC, sop_instance_uid=uid("sc"),
        instance_number=1, manufacturer=MANUFACTURER, patient_orientation=("L", "F"),
        series_description=SERIES_DESCRIPTION_SC[:64],
    )
    if ref is not None:
        with warnings.catch_warnings():  # the source's own PatientName style is not ours to judge
            warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
            sc = hd.sc.SCImage.from_ref_dataset(ref_dataset=ref, **common)
        src = Dataset()
        src.ReferencedSOPClassUID = ref.SOPClassUID
        src.ReferencedSOPInstanceUID = ref.SOPInstanceUID
        sc.SourceImageSequence = [src]
    else:
        now = _dt.datetime.now()
        sc = hd.sc.SCImage(
            study_instance_uid=uid("study"), patient_id=f"CXRKIT-{uid('patient')[-12:]}",
            patient_name="cxrkit^upload", study_date=now.date(), study_time=now.time().replace(microsecond=0),
            study_id="cxrkit", accession_number=None, **common,
        )
        sc.ImageComments = f"New study made by cxrkit for a non-DICOM input ({image.meta.format or 'array'})."
    sc.BurnedInAnnotation = "YES"
    if "Laterality" not in sc:
        sc.Laterality = ""  # type 2C in General Series; a chest is not a paired body part
    sc.DerivationDescription = f"cxrkit {__version__} overlay; {DISCLAIMER}"[:1024]
    return sc


def write_dicom_outputs(
    result: AnalysisResult,
    image: Image,
    *,
    source: str | Path | bytes | Dataset | None = None,
    overlay: np.ndarray,
) -> dict[str, Dataset]:
    """Build the DICOM outputs of one analysis: ``{"sc.dcm", "sr.dcm"}`` and ``"seg.dcm"`` when masks exist.

    All three objects at once; :func:`iter_dicom_outputs` builds them one at a time (what the batch writer uses
    to bound memory on large films). See it for the arguments.
    """
    return dict(iter_dicom_outputs(result, image, source=source, overlay=overlay))


def iter_dicom_outputs(
    result: AnalysisResult,
    image: Image,
    *,
    source: str | Path | bytes | Dataset | None = None,
    overlay: np.ndarray,
) -> Iterator[tuple[str, Dataset]]:
    """Build the DICOM outputs of one analysis, one at a time: ``("sc.dcm", ...)``, ``("sr.dcm", ...)`` and
    ``("seg.dcm", ...)`` when masks exist and the SEG writer is available.

    Parameters
    ----------
    result:
        the analysis result.
    image:
        the analyzed image (its metadata says whether the source was DICOM).
    source:
        the source DICOM (path, bytes or dataset); ignored for non-DICOM images.
    overlay:
        uint8 RGB ``(H, W, 3)`` overlay (see :func:`cxrkit.report.overlay.compose_overlay`).

    The UIDs of the outputs are derived from the source and the model (:func:`uid_factory`): the same analysis
    written twice gives the same SOP instances. A consumer that drops each object before taking the next holds
    one in memory at a time (a non-DICOM input's SR and SEG reference the secondary capture's header only).

    Raises
    ------
    DataFormatError
        the source is DICOM but its header cannot be read again.
    """
    ref = None
    if image.meta.format == "dicom":
        ref = load_source_dataset(source)
        if ref is None or "SOPInstanceUID" not in ref:
            raise DataFormatError("cannot re-read the source DICOM header (no SOPInstanceUID) for SR/SC output")
        ref, _ = sanitize_reference(ref)
    uid = uid_factory(result, image, ref)
    sc = build_sc(overlay, ref, image, uid=uid)
    base = ref if ref is not None else _header_only(sc)
    yield "sc.dcm", sc
    del sc
    on_source = to_source_grid(result, image, ref) if ref is not None else result
    yield "sr.dcm", build_sr(on_source, base, new_study_note=ref is None, uid=uid)
    if result.masks:
        seg = _seg(on_source, image, base, uid)
        if seg is not None:
            yield "seg.dcm", seg


def _header_only(ds: Dataset) -> Dataset:
    """A copy of ``ds`` without its pixel data (what a reference to it needs)."""
    out = Dataset()
    for elem in ds:
        if elem.tag != 0x7FE00010:  # PixelData
            out.add(elem)
    if hasattr(ds, "file_meta"):
        out.file_meta = ds.file_meta
    return out


def to_source_grid(result: AnalysisResult, image: Image, ref: Dataset) -> AnalysisResult:
    """The result in the source DICOM's pixel grid.

    An image reduced while decoding (``cxrkit.io``'s memory bound: ``image.pixels`` smaller than the source's
    Rows x Columns) has its boxes and masks in the reduced grid; SR coordinates and SEG frames must be in the
    source's. Boxes are scaled, masks repeated (nearest neighbour). An image at full size is returned as is.
    """
    h, w = image.pixels.shape
    rows, cols = int(ref.get("Rows", h) or h), int(ref.get("Columns", w) or w)
    if (rows, cols) == (h, w):
        return result
    sy, sx = rows / h, cols / w
    findings = [replace(f, boxes=tuple(replace(b, x_min=b.x_min * sx, x_max=b.x_max * sx, y_min=b.y_min * sy,
                                               y_max=b.y_max * sy) for b in f.boxes)) for f in result.findings]
    ri = np.minimum((np.arange(rows) / sy).astype(np.int64), h - 1)
    ci = np.minimum((np.arange(cols) / sx).astype(np.int64), w - 1)
    masks = {k: np.asarray(m, dtype=bool)[ri][:, ci] for k, m in result.masks.items()}
    return replace(result, findings=findings, masks=masks)


def _seg(result: AnalysisResult, image: Image, ref: Dataset, uid: Callable[[str], str]) -> Dataset | None:
    """DICOM SEG of the masks (:func:`cxrkit.deliver.dicom_seg.write_seg`; None when it fails)."""
    from cxrkit.deliver.dicom_seg import write_seg

    try:
        with warnings.catch_warnings():  # the source's own PatientName style is not ours to judge
            warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
            seg = write_seg(ref, result.masks, series_instance_uid=uid("seg-series"), sop_instance_uid=uid("seg"))
    except CxrkitError as exc:
        log.warning("DICOM SEG not written: %s", exc)
        return None
    if "PatientOrientation" not in seg:  # type 2C in General Image; same orientation as the source image
        seg.PatientOrientation = ref.get("PatientOrientation", "") or ""
    return seg
