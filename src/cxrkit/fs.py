"""Atomic file writes: a file appears complete under its final name, or not at all.

The one place cxrkit writes a file atomically (results, caches, checkpoints, model packages, tables, DICOM
outputs). Each helper writes a temporary file in the target's folder (``.<name>.<random><suffix>``), flushes
it to disk and ``os.replace``-s it over the target; on any error the temporary file is removed and the old
target, if any, is left as it was. Files get the usual permissions (``0o666`` less the umask).

* :func:`atomic_write_bytes` / :func:`atomic_write_text` — content in memory.
* :func:`atomic_open` — a file object to write into (streams, ``csv.writer``, ``np.save(fh, ...)``).
* :func:`atomic_path` — a temporary path for writers that only take a path (``torch.save``, Parquet, ONNX).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_open", "atomic_path"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp", fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends without error it replaces ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The final file; parent folders are created.
    suffix : str
        Suffix of the temporary name (``.tmp``; a writer that insists on an extension may need another).
    fsync : bool
        Flush the file to disk before the rename (True). Caches that are checksummed and rebuilt when lost
        pass False: the rename stays atomic, only a power cut may lose the newest entries.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            _fsync(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", *, fsync: bool = True, **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(tmp, mode, **kwargs)`` for a temporary file that replaces ``path`` when the block ends without
    error. ``mode`` is ``"w"`` (text; ``encoding`` defaults to UTF-8) or ``"wb"``; ``fsync`` as in
    :func:`atomic_path`."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode {mode!r}; expected 'w' or 'wb'")
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path, fsync=fsync) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created); returns the path.

    A crash leaves either the old file or the new one, never half of one.
    """
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` for text (``encoding``, UTF-8 by default)."""
    return atomic_write_bytes(path, text.encode(encoding))
