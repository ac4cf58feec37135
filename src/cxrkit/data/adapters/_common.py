"""Helpers shared by the dataset adapters: checks of roots and tables, image listing, label matrices."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cxrkit.errors import DataFormatError, unknown_name
from cxrkit.views import normalize_view

log = logging.getLogger("cxrkit.data.adapters")


def require_root(root: str | os.PathLike | None, name: str, expected: Sequence[str]) -> Path:
    """The dataset root as a Path; a :class:`DataFormatError` naming the expected files if it is missing."""
    if root is None:
        raise DataFormatError(f"{name}: give root=<folder>; it should contain {', '.join(expected)}")
    p = Path(root).expanduser()
    if not p.is_dir():
        what = "is a file, not a folder" if p.exists() else "does not exist"
        raise DataFormatError(f"{name}: root folder {str(p)!r} {what}; expected it to contain "
                              f"{', '.join(expected)}")
    return p


def require_file(root: Path, rel: str, name: str, expected: Sequence[str]) -> Path:
    """``root/rel`` if it exists, else a :class:`DataFormatError` naming what the root should contain."""
    p = root / rel
    if not p.exists():
        have = sorted(x.name for x in root.iterdir())[:12]
        raise DataFormatError(f"{name}: {rel} not found under {root}; expected {', '.join(expected)}; "
                              f"found {', '.join(have) or 'nothing'}")
    return p


def read_table(path: Path, name: str, required: Sequence[str], **kw) -> pd.DataFrame:
    """Read a CSV and check it has the ``required`` columns (error names found and expected columns)."""
    try:
        df = pd.read_csv(path, **kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataFormatError(f"{name}: cannot parse {path}: {exc}") from exc
    check_columns(df, required, f"{name}: {path.name}")
    return df


def check_columns(df: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Raise a :class:`DataFormatError` naming the missing, found and expected columns."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataFormatError(f"{what} lacks columns {missing}; found {list(df.columns)}; "
                              f"expected at least {list(required)}")


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by path: :func:`cxrkit.io.find.find_images` by suffix
    only (dataset folders hold many thousands of files with known names)."""
    from cxrkit.io.find import find_images

    if not folder.is_dir():
        return []
    return sorted(find_images(folder, sniff=False))


def check_options(name: str, option: str, value: object, allowed: Iterable[object]) -> None:
    """Unknown option values raise a did-you-mean :class:`~cxrkit.errors.UnknownNameError`."""
    allowed = list(allowed)
    if value not in allowed:
        raise unknown_name(f"{name} {option}", value, [str(a) for a in allowed])


def check_no_extra(name: str, options: Mapping[str, object]) -> None:
    """Reject options an adapter does not know."""
    if options:
        raise DataFormatError(f"{name}: unknown option(s) {sorted(options)}")


def handle_missing(name: str, paths: pd.Series, images_only: bool, *, warn: bool = True) -> np.ndarray:
    """Rows to keep given which listed images exist (``paths`` None where missing).

    Warns with the count of listed-but-missing images when ``warn``; returns a boolean keep-mask.
    """
    missing = paths.isna().to_numpy()
    n = int(missing.sum())
    if n and warn:
        action = "dropped" if images_only else "kept with path=None"
        warnings.warn(f"{name}: {n} of {len(paths)} listed images are missing on disk ({action}; "
                      f"images_only={images_only})", UserWarning, stacklevel=3)
    return ~missing if images_only else np.ones(len(paths), dtype=bool)


def norm_sex(values: pd.Series) -> pd.Series:
    """Sex as "M", "F" or None."""
    m = {"m": "M", "male": "M", "f": "F", "female": "F"}
    return values.map(lambda v: m.get(str(v).strip().lower()) if isinstance(v, str) else None).astype(object)


def norm_view(values: pd.Series) -> pd.Series:
    """Views on :mod:`cxrkit.views`' vocabulary (:func:`~cxrkit.views.normalize_view`): "PA", "AP",
    "AP SUPINE", "LATERAL" (any lateral), else the upper-case code, or None."""
    return values.map(normalize_view).astype(object)


def as_list(value: str | Sequence[str] | None) -> list[str] | None:
    """A list option given as a list or as a comma-separated string (from the CLI): ``"PA,AP"`` → [PA, AP]."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)
