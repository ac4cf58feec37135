"""View positions: the one vocabulary for projections (like :mod:`cxrkit.labels` for findings).

Canonical names are :data:`PA`, :data:`AP`, :data:`AP_SUPINE` (``"AP SUPINE"``) and :data:`LATERAL`.
:func:`normalize_view` maps the spellings found in DICOM headers and dataset tables onto them; codes that
say more than the vocabulary (a DICOM ``LL``: left lateral) are kept by readers and recognised here by
:func:`is_lateral` / :func:`is_frontal`.

>>> normalize_view(" ap_supine "), normalize_view("LL"), normalize_view(""), is_ap("AP SUPINE")
('AP SUPINE', 'LATERAL', None, True)
"""

from __future__ import annotations

__all__ = ["PA", "AP", "AP_SUPINE", "LATERAL", "VIEW_OPTIONS", "FRONTAL_CODES", "LATERAL_CODES", "normalize_view",
           "view_code", "is_lateral", "is_frontal", "is_ap"]

PA = "PA"
AP = "AP"
AP_SUPINE = "AP SUPINE"
LATERAL = "LATERAL"

#: What a user may give for files that carry no view (``cxrkit analyze --view``, ``?view=``).
VIEW_OPTIONS: tuple[str, ...] = (PA, AP, AP_SUPINE, LATERAL)

#: Upper-case codes (after :func:`view_code`) that mean a frontal film.
FRONTAL_CODES: frozenset[str] = frozenset({PA, AP, AP_SUPINE, "APS", "AP HORIZONTAL", "FRONTAL"})
#: Upper-case codes that mean a lateral film (DICOM ``ViewPosition`` LL / RL, decubitus, cross-table, ...).
LATERAL_CODES: frozenset[str] = frozenset({LATERAL, "LAT", "LL", "RL", "L", "LLD", "RLD", "XTABLE"})


def view_code(value: object) -> str | None:
    """The raw view as an upper-case code (``_`` and ``-`` read as spaces), or None when empty / not text."""
    if not isinstance(value, str):
        return None
    code = " ".join(value.upper().replace("_", " ").replace("-", " ").split())
    return code or None


def normalize_view(value: object) -> str | None:
    """A view on the canonical vocabulary: ``PA``, ``AP``, ``AP SUPINE``, ``LATERAL`` (any lateral), else the
    upper-case code as given, or None when empty."""
    code = view_code(value)
    if code is None:
        return None
    if code in LATERAL_CODES or LATERAL in code:
        return LATERAL
    if code in ("APS", AP_SUPINE, "AP HORIZONTAL"):
        return AP_SUPINE
    return code


def is_lateral(value: object) -> bool:
    """True for any lateral code (``LATERAL``, ``LL``, ``RL``, ``XTABLE``, ...)."""
    return normalize_view(value) == LATERAL


def is_frontal(value: object) -> bool:
    """True for a known frontal code (``PA``, ``AP``, ``AP SUPINE``, ...); unknown or empty views are not."""
    code = view_code(value)
    return code is not None and code in FRONTAL_CODES


def is_ap(value: object) -> bool:
    """True for an anterior-posterior film (``AP``, ``AP SUPINE``, ``APS``), which magnifies the heart."""
    code = view_code(value)
    return code is not None and code.startswith("AP")
