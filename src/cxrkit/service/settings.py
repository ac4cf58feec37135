"""Service settings from the environment (``CXRKIT_`` prefix); a plain dataclass.

| variable | default | meaning |
| --- | --- | --- |
| ``CXRKIT_API_TOKEN`` | unset | bearer token required on ``/v1/*`` when set |
| ``CXRKIT_MAX_UPLOAD_MB`` | 32 | largest accepted request body (413 above) |
| ``CXRKIT_READ_TIMEOUT_S`` | 15 | longest pause between two body chunks of an upload (408 after) |
| ``CXRKIT_BODY_TIMEOUT_S`` | 60 | longest time to receive a whole request body (408 after) |
| ``CXRKIT_HEADER_TIMEOUT_S`` | 10 | longest time to receive a request's header block (connection closed after) |
| ``CXRKIT_INFERENCE_THREADS`` | 2 | images analyzed at the same time (further requests wait) |
| ``CXRKIT_MAX_QUEUED`` | 16 | analyses in progress or waiting; more get 503 (bounds memory held by uploads) |
| ``CXRKIT_MAX_CONNECTIONS`` | 1000 | open connections (503 beyond); keep under the process's file limit |
| ``CXRKIT_MAX_PENDING_HEADERS`` | 64 | connections still sending their header block; the oldest is closed beyond |
| ``CXRKIT_LOCALIZE`` | 1 | heatmaps and boxes for positive findings |
| ``CXRKIT_SEGMENT`` | 1 | lung / heart segmentation and CTR when a segmenter is shipped |
| ``CXRKIT_MAX_PIXELS`` | 50000000 | largest image (rows x columns) accepted |
| ``CXRKIT_CLASSIFIER`` | shipped | path of a classifier package (model card + weights) to serve instead |
| ``CXRKIT_SEGMENTER`` | shipped | path of a segmenter package to serve instead |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cxrkit.errors import DataFormatError

__all__ = ["Settings", "VIEW_OPTIONS"]

VIEW_OPTIONS = ("PA", "AP", "AP SUPINE", "LATERAL")  # --view / ?view= for files without a view tag (PNG/JPEG)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise DataFormatError(f"{name}={value!r}: expected 1/0, true/false, yes/no or on/off")


def _number(name: str, value: str, kind: type, lo: float) -> float | int:
    try:
        out = kind(value)
    except ValueError:
        raise DataFormatError(f"{name}={value!r}: expected a {kind.__name__}") from None
    if out < lo:
        raise DataFormatError(f"{name}={value!r}: must be at least {lo}")
    return out


@dataclass(frozen=True)
class Settings:
    """Settings of the REST API (see the module docstring for the environment variables)."""

    api_token: str | None = None
    max_upload_mb: float = 32.0
    read_timeout_s: float = 15.0
    body_timeout_s: float = 60.0
    header_timeout_s: float = 10.0
    inference_threads: int = 2
    max_queued: int = 16
    max_connections: int = 1000
    max_pending_headers: int = 64
    localize: bool = True
    segment: bool = True
    max_pixels: int = 50_000_000
    classifier: str | None = None
    segmenter: str | None = None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read ``CXRKIT_*`` variables; unset ones keep their defaults.

        Raises:
            DataFormatError: a variable holds a value of the wrong type or range.
        """
        env = os.environ if environ is None else environ
        kw: dict = {}
        token = env.get("CXRKIT_API_TOKEN")
        if token:
            kw["api_token"] = token
        for key, field, kind, lo in (
            ("CXRKIT_MAX_UPLOAD_MB", "max_upload_mb", float, 0.001),
            ("CXRKIT_READ_TIMEOUT_S", "read_timeout_s", float, 0.1),
            ("CXRKIT_BODY_TIMEOUT_S", "body_timeout_s", float, 0.1),
            ("CXRKIT_HEADER_TIMEOUT_S", "header_timeout_s", float, 0.1),
            ("CXRKIT_INFERENCE_THREADS", "inference_threads", int, 1),
            ("CXRKIT_MAX_QUEUED", "max_queued", int, 1),
            ("CXRKIT_MAX_CONNECTIONS", "max_connections", int, 2),
            ("CXRKIT_MAX_PENDING_HEADERS", "max_pending_headers", int, 1),
            ("CXRKIT_MAX_PIXELS", "max_pixels", int, 1),
        ):
            if env.get(key):
                kw[field] = _number(key, env[key], kind, lo)
        for key, field in (("CXRKIT_CLASSIFIER", "classifier"), ("CXRKIT_SEGMENTER", "segmenter")):
            if env.get(key):
                kw[field] = env[key]
        for key, field in (("CXRKIT_LOCALIZE", "localize"), ("CXRKIT_SEGMENT", "segment")):
            if key in env:
                kw[field] = _bool(key, env[key])
        return cls(**kw)
