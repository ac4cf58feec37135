"""The output folder of a batch run: safe and stable names, one run at a time, crash leftovers, atomic folders.

Promises (see ``docs/security.md``, "Outputs and batch runs"):

* a result folder's name is :func:`output_name`: the file stem reduced to ``[A-Za-z0-9_-]`` (never ``.`` or
  ``..``, never empty, at most 60 characters) plus ``-`` and 10 hex digits of the SHA-256 of the resolved input
  path, always, so a file keeps its folder whatever else is in the run;
* nothing outside ``--out`` is ever written or removed; a folder is replaced only when it carries cxrkit's
  marker file (:data:`RESULT_MARKER`), so a user's own folder with a colliding name is left alone;
* one run per output folder: :class:`OutputLock` holds an exclusive ``flock`` on ``DIR/.cxrkit.lock`` (released
  by the kernel when the process dies, even on ``kill -9``); a second run is refused with
  :class:`OutputBusyError`;
* temp (``.<name>.tmp-XXXXXXXX``) and replaced (``.<name>.old-XXXXXXXX``) folders left by a killed run are
  removed when the next run starts, under the lock;
* folders are created with ``os.mkdir`` (the user's umask applies, not ``mkdtemp``'s 0700).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
from pathlib import Path

from cxrkit.errors import CxrkitError

__all__ = ["output_name", "safe_stem", "OutputLock", "OutputBusyError", "clean_leftovers", "new_temp_folder",
           "install_folder", "is_result_folder", "stale_folders", "RESULT_MARKER", "LOCK_NAME"]

log = logging.getLogger(__name__)

RESULT_MARKER = ".cxrkit-result"
LOCK_NAME = ".cxrkit.lock"
MAX_STEM = 60
HASH_HEX = 10
_LEFTOVER = re.compile(r"^\.[A-Za-z0-9_-]+\.(tmp|old)-[0-9a-f]{8}$")


class OutputBusyError(CxrkitError):
    """Another cxrkit run holds the lock on this output folder."""


def safe_stem(stem: str) -> str:
    """``stem`` reduced to ASCII letters, digits, ``-`` and ``_`` (other characters become ``_``, runs of them
    collapse), without leading ``-``/``_``, at most :data:`MAX_STEM` characters; ``"image"`` when nothing is
    left. Never ``.``, ``..`` or a path.

    >>> safe_stem("..")
    'image'
    >>> safe_stem("Doe, John 1.2")
    'Doe_John_1_2'
    """
    out = re.sub(r"[^A-Za-z0-9_-]+", "_", stem)
    out = out.strip("_-")[:MAX_STEM].rstrip("_-")
    return out or "image"


def output_name(path: str | os.PathLike) -> str:
    """The result folder name of one input: ``<safe stem>-<10 hex of SHA-256(resolved path)>``.

    The same file (same resolved path) always gets the same name, whatever else is in the run.
    """
    p = Path(path)
    digest = hashlib.sha256(os.fsencode(str(p.resolve()))).hexdigest()[:HASH_HEX]
    return f"{safe_stem(p.stem)}-{digest}"


class OutputLock:
    """Exclusive, non-blocking ``flock`` on ``out_dir/.cxrkit.lock`` for the duration of a ``with`` block.

    Raises:
        OutputBusyError: another process (or another lock in this one) holds it.
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                holder = self.path.read_text(encoding="ascii").strip() or "unknown"
            except (OSError, UnicodeDecodeError):
                holder = "unknown"
            raise OutputBusyError(
                f"another cxrkit run (pid {holder}) is writing to {self.path.parent}; wait for it to finish or "
                "use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def clean_leftovers(out_dir: Path) -> int:
    """Remove temp and replaced folders a killed run left directly in ``out_dir``; returns how many.

    Only real folders (not symlinks) whose names match ``.<name>.tmp-XXXXXXXX`` / ``.<name>.old-XXXXXXXX`` are
    touched. Call it while holding :class:`OutputLock`.
    """
    n = 0
    for entry in os.scandir(out_dir):
        if _LEFTOVER.match(entry.name) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
            n += 1
    if n:
        log.info("removed %d temporary folder(s) left by an interrupted run in %s", n, out_dir)
    return n


def stale_folders(out_dir: Path, names: set[str]) -> list[str]:
    """Result folders in ``out_dir`` that no input of this run maps to: results of inputs left out of this run,
    or of an older cxrkit that named folders by the bare stem (a ``result.json`` without the marker file).
    They are reported, never removed."""
    out = []
    for entry in sorted(os.scandir(out_dir), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name in names or not entry.is_dir(follow_symlinks=False):
            continue
        if os.path.exists(os.path.join(entry.path, RESULT_MARKER)) or os.path.exists(
                os.path.join(entry.path, "result.json")):
            out.append(entry.name)
    return out


def new_temp_folder(folder: Path) -> Path:
    """A new empty folder ``.<name>.tmp-XXXXXXXX`` next to ``folder`` (mode from the umask)."""
    while True:
        tmp = folder.parent / f".{folder.name}.tmp-{secrets.token_hex(4)}"
        try:
            os.mkdir(tmp)
            return tmp
        except FileExistsError:
            continue


def is_result_folder(folder: Path) -> bool:
    """True when ``folder`` is a real folder (not a symlink) holding cxrkit's marker file."""
    return folder.is_dir() and not folder.is_symlink() and (folder / RESULT_MARKER).is_file()


def install_folder(tmp: Path, folder: Path) -> None:
    """Move the complete folder ``tmp`` to ``folder`` (same parent).

    A previous result at ``folder`` is first renamed aside (``.<name>.old-XXXXXXXX``) and removed after the
    move, so at every instant ``folder`` is either the old complete result, absent, or the new complete one.

    Raises:
        FileExistsError: ``folder`` exists and is not a cxrkit result folder (it is never removed).
    """
    if tmp.parent != folder.parent:
        raise ValueError(f"temp folder {tmp} is not next to {folder}")
    (tmp / RESULT_MARKER).write_text("cxrkit result folder: may be replaced by a later cxrkit run\n",
                                     encoding="ascii")
    old = None
    if os.path.lexists(folder):
        if not is_result_folder(folder):
            raise FileExistsError(
                f"{folder} exists and is not a cxrkit result folder (no {RESULT_MARKER}); it was left untouched. "
                "Move it away or use another --out"
            )
        old = folder.parent / f".{folder.name}.old-{secrets.token_hex(4)}"
        os.rename(folder, old)
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
