"""Source headers and output identities for cxrkit's DICOM outputs (used by :mod:`cxrkit.deliver.dicom_out`).

* :func:`sanitize_reference`: a copy of the source header that is safe to copy into new objects (values invalid
  for their VR repaired or emptied, non-positive pixel spacings removed, missing type-2 attributes added);
* :func:`output_uid` / :func:`uid_factory`: UIDs derived from the source image and the model, so the same
  analysis written twice gives the same SOP instances (idempotent PACS retries).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import re
from collections.abc import Callable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import generate_uid
from pydicom.valuerep import VALIDATORS

from cxrkit.result import AnalysisResult
from cxrkit.types import Image

__all__ = ["sanitize_reference", "output_uid", "uid_factory", "source_key", "model_key", "UID_SCHEME"]

log = logging.getLogger(__name__)

UID_SCHEME = "cxrkit-output-uid/1"  # change only when the same analysis must give new objects
_SEX = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F", "O": "O", "OTHER": "O"}
_NOT_CHECKED_VRS = {"SQ", "UI", "OB", "OW", "OF", "OD", "OL", "OV", "UN", "AT", "US", "SS", "UL", "SL", "FL", "FD",
                    "UV", "SV", "US or SS", "US or OW", "OB or OW"}
_SPACING_KEYWORDS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")
# type-2 attributes highdicom reads from the source without a default: added empty when the source lacks them
_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                 "StudyDate", "StudyTime", "ReferringPhysicianName")


def output_uid(source: str, model: str, kind: str) -> str:
    """A UID derived from the source image's key, the model's key and the output kind ("sr", "sc-series"...):
    the same inputs always give the same UID (pydicom's root, SHA-512 of the parts)."""
    return generate_uid(entropy_srcs=[UID_SCHEME, source, model, kind])


def source_key(image: Image, ref: Dataset | None) -> str:
    """What identifies the analysed image: the source SOPInstanceUID, or a SHA-256 of the pixels for PNG/JPEG."""
    if ref is not None and ref.get("SOPInstanceUID"):
        return f"sop:{ref.SOPInstanceUID}"
    return "pixels:" + hashlib.sha256(np.ascontiguousarray(image.pixels).tobytes()).hexdigest()


def model_key(model) -> str:
    """What identifies the model in output UIDs: ``name|version|checksum`` of its card info, or "no-model"."""
    return "no-model" if model is None else f"{model.name}|{model.version}|{model.checksum}"


def uid_factory(result: AnalysisResult, image: Image, ref: Dataset | None) -> Callable[[str], str]:
    """``kind -> UID`` for the outputs of one analysis (see :func:`output_uid`)."""
    src, model = source_key(image, ref), model_key(result.model)
    return lambda kind: output_uid(src, model, kind)


def _valid(vr: str, value: object) -> bool:
    validator = VALIDATORS.get(vr)
    if validator is not None and not validator(vr, value)[0]:
        return False
    if vr in ("DA", "TM", "DT") and value not in (None, ""):
        from pydicom import valuerep

        try:
            getattr(valuerep, vr)(value)  # the regex accepts month 13; the conversion does not
        except (ValueError, TypeError, OverflowError):
            return False
    return True


def _repair(keyword: str, vr: str, value: str) -> str | None:
    """A valid value meaning the same as ``value``, or None when there is none."""
    text = str(value).strip()
    if keyword == "PatientSex":
        return _SEX.get(text.upper())
    if vr == "AS":
        if re.fullmatch(r"\d{1,3}", text):
            return f"{int(text):03d}Y"
        m = re.fullmatch(r"(\d{1,3})\s*([DWMY])[A-Z]*", text.upper())
        return f"{int(m.group(1)):03d}{m.group(2)}" if m else None
    if vr == "DA":
        digits = re.sub(r"[-./ ]", "", text)
        return digits if re.fullmatch(r"\d{8}", digits) and _valid("DA", digits) else None
    return None


def sanitize_reference(ref: Dataset) -> tuple[Dataset, list[str]]:
    """A copy of the source header that is safe to copy into new objects, and the keywords changed.

    Each top-level string value is checked against its VR (length, characters, date/time syntax); invalid values
    are repaired when the meaning is unambiguous (see the module docstring) or emptied (every copied attribute
    is type 2 or 3, so empty is valid); missing type-2 patient/study attributes are added empty. Pixel spacings
    that are not positive and finite are removed. UIDs are kept as they are (they must reference the source).
    Values are never logged.
    """
    ds = copy.deepcopy(ref)
    changed: list[str] = []
    for elem in list(ds):
        keyword = elem.keyword or str(elem.tag)
        if elem.tag.is_private:
            del ds[elem.tag]
            continue
        if keyword in _SPACING_KEYWORDS:
            try:
                ok = len(elem.value) == 2 and all(math.isfinite(float(v)) and float(v) > 0 for v in elem.value)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                del ds[elem.tag]
                changed.append(keyword)
            continue
        if elem.VR in _NOT_CHECKED_VRS or elem.tag.group in (0x7FE0, 0x0002):
            continue
        try:
            values = list(elem.value) if isinstance(elem.value, MultiValue) else [elem.value]
            ok = all(v in (None, "") or _valid(elem.VR, v) for v in values)
        except (ValueError, TypeError, OverflowError):
            ok, values = False, []
        if ok:
            continue
        fixed = _repair(keyword, elem.VR, values[0]) if len(values) == 1 else None
        try:
            elem.value = fixed if fixed is not None else None
        except (ValueError, TypeError):
            del ds[elem.tag]
        changed.append(keyword)
    if "PatientSex" in ds and ds.PatientSex not in (None, "") and str(ds.PatientSex) not in ("M", "F", "O"):
        ds.PatientSex = _SEX.get(str(ds.PatientSex).strip().upper())
        changed.append("PatientSex")
    for keyword in _TYPE2_COPIED:
        if keyword not in ds:
            setattr(ds, keyword, None)
            changed.append(keyword)
    if changed:
        log.info("source header: repaired or emptied %s for DICOM output", ", ".join(sorted(set(changed))))
    return ds, sorted(set(changed))
