"""The package's exception hierarchy.

Every error names the bad value and what was expected. Catch :class:`CxrkitError` to catch them all.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "CxrkitError",
    "DataFormatError",
    "EngineError",
    "InvalidImageError",
    "ModelError",
    "NotAChestXrayError",
    "UnknownNameError",
    "UnsupportedImageError",
    "unknown_name",
]


class CxrkitError(Exception):
    """Base class of every error raised by cxrkit on purpose."""


class InvalidImageError(CxrkitError, ValueError):
    """The file or array is not a readable image (missing, empty, truncated, corrupt, degenerate)."""


class UnsupportedImageError(CxrkitError, ValueError):
    """A readable image that cxrkit does not handle (CT/MR, multi-frame, unknown photometric, too large)."""


class NotAChestXrayError(CxrkitError, ValueError):
    """The image is readable but is not a frontal chest radiograph usable by the model."""


class DataFormatError(CxrkitError, ValueError):
    """A label table, report file, config or dataset folder does not have the expected layout."""


class ConfigError(DataFormatError):
    """A configuration (training YAML, ``CXRKIT_*`` environment variable) holds an unknown key or a bad value.

    The message names the key, the bad value and the accepted options or range.
    """


class UnknownNameError(CxrkitError, KeyError):
    """A name (finding, dataset, model, option) that is not one of the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelError(CxrkitError, RuntimeError):
    """Weights or model card missing, corrupt or inconsistent with each other."""


class EngineError(CxrkitError, RuntimeError):
    """A batch engine cannot run: Ray missing or unreachable, no worker could start, no progress on the cluster."""


def unknown_name(kind: str, name: object, options: Iterable[str]) -> UnknownNameError:
    """Build an :class:`UnknownNameError` that lists the options and suggests the closest one.

    >>> str(unknown_name("dataset", "nhi", ["nih", "chexpert"]))
    "unknown dataset 'nhi'; did you mean 'nih'? Options: chexpert, nih"
    """
    opts = sorted(str(o) for o in options)
    close = difflib.get_close_matches(str(name), opts, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return UnknownNameError(f"unknown {kind} {name!r}{hint} Options: {', '.join(opts)}")
