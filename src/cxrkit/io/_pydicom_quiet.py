"""pydicom's warnings without patient data, while cxrkit reads a DICOM.

pydicom warns (through ``warnings.warn`` and its ``pydicom`` logger at once) when a header value does not fit
its VR, quoting the value: ``Invalid value for VR AS: '45 years'``, ``Invalid value for VR DA: '2020-13-45'``.
Those lines reached the stderr of ``cxrkit analyze``, ``serve`` and ``pacs``. While a read runs:

* pydicom's *reading* validation goes from WARN (its default) to IGNORE: values are read exactly the same,
  only the warning is skipped (a user's RAISE is kept: it then raises, and the reader maps it);
* what pydicom still says (its other warnings and log records) is re-emitted with every quoted value replaced
  by ``<value>`` and file names dropped, by a filter on the ``pydicom`` logger and a ``warnings.showwarning``
  hook that rewrites only warnings raised from pydicom's (or ``cxrkit.io``'s) modules.

Nothing is changed at import. The three are installed when the first read starts and restored when the last
one ends (a counter under a lock), so reads in several threads of a server share them. Should another
library replace ``warnings.showwarning`` meanwhile, the hook may stay installed after the last read; it only
rewrites pydicom's messages and passes everything else to the function it replaced.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydicom import config as _config

__all__ = ["quiet_pydicom", "redact"]

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_IN_FILE = re.compile(r"\s+in file\s+.*$", re.DOTALL)
_SOURCES = ("pydicom", "cxrkit/io", "cxrkit\\io")

_lock = threading.Lock()
_active = 0
_saved_mode: Any = None
_saved_showwarning: Any = None


def redact(message: str) -> str:
    """``message`` with quoted values replaced by ``<value>`` and a trailing "in file NAME" removed.

    >>> redact("Invalid value for VR AS: '45 years'.")
    'Invalid value for VR AS: <value>.'
    """
    return _IN_FILE.sub("", _QUOTED.sub("<value>", message))


class _RedactFilter(logging.Filter):
    """Rewrites each record of the ``pydicom`` logger to its redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):  # a malformed %-format: keep only the template
            text = str(record.msg)
        record.msg, record.args = redact(text), None
        return True


_FILTER = _RedactFilter()
_LOGGER = logging.getLogger("pydicom")


def _showwarning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    if any(part in filename for part in _SOURCES):
        message = redact(str(message))
    _saved_showwarning(message, category, filename, lineno, file, line)


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """While inside: no header value in pydicom's warnings or log records (see the module docstring)."""
    global _active, _saved_mode, _saved_showwarning
    with _lock:
        if _active == 0:
            _saved_mode = _config.settings._reading_validation_mode
            if _config.settings.reading_validation_mode == _config.WARN:
                _config.settings.reading_validation_mode = _config.IGNORE
            _LOGGER.addFilter(_FILTER)
            if warnings.showwarning is not _showwarning:
                _saved_showwarning = warnings.showwarning
                warnings.showwarning = _showwarning
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _config.settings._reading_validation_mode = _saved_mode
                _LOGGER.removeFilter(_FILTER)
                if warnings.showwarning is _showwarning:
                    warnings.showwarning = _saved_showwarning
