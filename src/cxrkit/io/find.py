"""Which files are radiographs: the one rule every folder walk uses (``analyze``, ``classify``, ``segment``,
``localize``, dataset adapters, audits).

A file is an input when its name has an image suffix (:data:`IMAGE_SUFFIXES`) or, whatever its name, when its
first bytes are those of a format :func:`cxrkit.io.read_image` reads (:func:`cxrkit.io.read.sniff_format`:
DICOM with or without preamble, PNG, JPEG, TIFF, BMP, GIF, WebP, JPEG 2000). The suffix rule keeps a broken
``x.png`` in the run, so that it gets an error row instead of vanishing; the content rule finds extensionless
DICOMs and images with unusual names. Hidden names (starting with ``.``) are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cxrkit.errors import InvalidImageError
from cxrkit.io.read import sniff_format

__all__ = ["IMAGE_SUFFIXES", "image_format", "is_image_file", "find_images"]

#: Lower-case suffixes of the image files cxrkit reads (a name with one of these is always an input).
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".jp2", ".j2k"}
)
_HEAD = 132


def image_format(path: str | os.PathLike) -> str | None:
    """The format sniffed from the file's first 132 bytes (``"dicom"``, ``"png"``, ...), or None when the
    content is not an image cxrkit reads or the file cannot be opened."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return None
    return sniff_format(head)


def is_image_file(path: str | os.PathLike, *, sniff: bool = True) -> bool:
    """True when ``path`` is an input: an image suffix, or (``sniff``) image content under any name."""
    p = Path(path)
    if p.name.startswith("."):
        return False
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return True
    return sniff and image_format(p) is not None


def find_images(paths: str | os.PathLike | Iterable[str | os.PathLike], *, sniff: bool = True,
                keep_missing: bool = False, keep_broken_links: bool = False) -> list[Path]:
    """Files given, plus the image files (:func:`is_image_file`) found recursively under given folders.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and folders. Files given explicitly are kept whatever their name or content (reading them
        reports what is wrong).
    sniff : bool
        Also look at the first bytes of files without an image suffix (False: suffix only, for dataset
        folders of many thousands of files with known names).
    keep_missing : bool
        Keep a given path that does not exist (the caller reports it); otherwise raise.
    keep_broken_links : bool
        Keep broken symbolic links found in folders that have an image suffix or none (the caller reports
        them) instead of skipping them.

    Returns
    -------
    list of pathlib.Path
        Sorted within each folder, in the order given, without duplicates (same resolved path).

    Raises
    ------
    InvalidImageError
        A given path does not exist (or is a broken symbolic link) and ``keep_missing`` is False.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.name.startswith("."):
                    continue
                if f.is_file():
                    if is_image_file(f, sniff=sniff):
                        found.append(f)
                elif keep_broken_links and f.is_symlink() and not f.exists() and (
                        f.suffix.lower() in IMAGE_SUFFIXES or f.suffix == ""):
                    found.append(f)
        elif p.is_file() or keep_missing:
            found.append(p)
        elif p.is_symlink():
            raise InvalidImageError(f"input path is a broken symbolic link: {p} -> {os.readlink(p)}")
        else:
            raise InvalidImageError(f"input path does not exist: {p}")
    seen: set[Path] = set()
    out = []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            out.append(f)
    return out
