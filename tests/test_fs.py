"""cxrkit.fs: the one atomic write (old file or new file, never half of one; no temporary left behind)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from cxrkit.fs import atomic_open, atomic_path, atomic_write_bytes, atomic_write_text


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.txt"
    assert atomic_write_text(target, "one") == target
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and _leftovers(target.parent) == []


@pytest.mark.parametrize("use", ["open", "path"])
def test_failure_keeps_the_old_file_and_no_temporary(tmp_path: Path, use: str) -> None:
    target = tmp_path / "x.npy"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        if use == "open":
            with atomic_open(target, "wb") as fh:
                fh.write(b"half")
                raise RuntimeError("killed")
        else:
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"half")
                raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_writers_that_take_a_file_object_or_a_path(tmp_path: Path) -> None:
    arr = np.arange(6, dtype=np.int16).reshape(2, 3)
    with atomic_open(tmp_path / "a.npy", "wb", fsync=False) as fh:
        np.save(fh, arr)
    with atomic_path(tmp_path / "b.npy", suffix=".npy") as tmp:  # np.save appends .npy to other names
        np.save(tmp, arr)
    for name in ("a.npy", "b.npy"):
        np.testing.assert_array_equal(np.load(tmp_path / name), arr)
    assert _leftovers(tmp_path) == []


def test_files_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644


def test_bad_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected 'w' or 'wb'"), atomic_open(tmp_path / "x", "a"):
        pass
