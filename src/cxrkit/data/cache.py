"""On-disk cache of preprocessed images, so training epochs after the first do not decode files again.

What is stored: the image after the card's *geometry* (resize / crop / pad to ``(S, S)``), still in the
[0, 1] display scale, as fixed-point ``uint16`` (default) or ``uint8``. The *intensity* convention and the
channel count are applied when an entry is loaded (a multiply-add on ``S * S`` values), so one cache serves
every card with the same size and geometry.

Why fixed-point and not float16: both ``uint16`` and ``float16`` take 2 bytes per pixel, half of float32,
but float16's step near 1.0 is ``2**-11`` (4.9e-4) while ``uint16``'s is ``1/65535`` (1.5e-5) everywhere in
[0, 1], so ``uint16`` is the better 2-byte choice: the round-trip error is at most ``0.5/65535`` (0.016
in TorchXRayVision's [-1024, 1024] units), far below the 8-bit quantization of the source PNGs. ``uint8``
halves the size again at a cost of at most ``0.5/255`` (2e-3; 4 xrv units): resized pixels are averages of
several source pixels and no longer fall on the 1/255 grid, so uint8 is *not* exact even for 8-bit sources.

Layout: ``ROOT/s{size}-{geometry}-{dtype}-v{format}/ab/<sha256>.npy``, one file per image. Each file is a
valid, memory-mappable ``.npy`` (``np.load(path, mmap_mode="r")`` works) followed by a 16-byte footer (magic,
CRC-32 of the array bytes) that numpy ignores. The key hashes the file's real path, size and mtime, the
geometry, the storage dtype, the reader's version and this format's version: editing or replacing a file,
or upgrading the reader, misses the cache instead of returning stale pixels.

Concurrency: entries are written to a unique temporary file in the same folder and renamed into place with
:func:`os.replace` (atomic on POSIX), so readers in other DataLoader workers or processes see either no entry
or a complete one; two workers building the same entry write identical bytes. A truncated, mis-shaped or
bit-flipped entry fails the size / header / CRC checks, is logged and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.data.transforms import TransformSpec, apply_intensity, resize_geometry
from cxrkit.errors import DataFormatError, InvalidImageError
from cxrkit.fs import atomic_open

__all__ = ["PreprocessCache", "WarmReport", "read_pixels_default", "CACHE_FORMAT_VERSION"]

log = logging.getLogger(__name__)

#: Bump when the stored bytes' meaning changes; old entries then miss instead of being misread.
CACHE_FORMAT_VERSION = 1
_FOOTER_MAGIC = b"CXRKCRC1"
_FOOTER_LEN = 16  # magic (8) + CRC-32 (4, little endian) + reserved (4)
_SCALES = {"uint8": 255.0, "uint16": 65535.0}

Reader = Callable[[str], np.ndarray]


def read_pixels_default(path: str) -> np.ndarray:
    """The default reader: :func:`cxrkit.io.read_image` pixels, float32 ``(H, W)`` in [0, 1]."""
    from cxrkit.io import read_image

    return read_image(path).pixels


def _reader_version() -> str:
    import cxrkit

    return f"cxrkit-{cxrkit.__version__}/io-"  # the reader is versioned with the package ("io-" kept: same keys)


@dataclass
class WarmReport:
    """What :meth:`PreprocessCache.warm` did.

    Attributes:
        total: paths asked for.
        cached: already in the cache (valid entry).
        built: newly decoded, preprocessed and stored.
        failed: path → ``"ErrorType: message"`` for every path that could not be read; the run went on.
        seconds: wall time of the whole call.
    """

    total: int = 0
    cached: int = 0
    built: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"total": self.total, "cached": self.cached, "built": self.built, "failed": dict(self.failed),
                "seconds": self.seconds}


class PreprocessCache:
    """A folder of preprocessed images for one :class:`~cxrkit.data.transforms.TransformSpec`.

    Args:
        root: cache folder (created on first write). Several specs and dtypes can share one root.
        spec: the model card's transform; entries depend on its ``size`` and ``geometry`` only.
        dtype: storage type, "uint16" (default; 2 bytes per pixel, error ≤ 7.6e-6) or "uint8" (1 byte,
            error ≤ 2e-3 in [0, 1] units).
        reader: ``path -> float32 (H, W) in [0, 1]``; default :func:`read_pixels_default`. Must be a
            module-level function (picklable) to be used by :meth:`warm` with workers.
        reader_version: a string that changes whenever ``reader``'s output would; part of the key. Default:
            cxrkit's and its io module's versions.

    Example:
        >>> cache = PreprocessCache("cache/", TransformSpec(224, "center_crop", "xrv"))  # doctest: +SKIP
        >>> x = cache.get("00000001_000.png")   # float32 (1, 224, 224) in [-1024, 1024]   # doctest: +SKIP
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        spec: TransformSpec,
        *,
        dtype: str = "uint16",
        reader: Reader | None = None,
        reader_version: str | None = None,
    ) -> None:
        if not isinstance(spec, TransformSpec):
            raise DataFormatError(f"spec must be a TransformSpec, got {type(spec).__name__}")
        if dtype not in _SCALES:
            raise DataFormatError(f"cache dtype must be one of {sorted(_SCALES)}, got {dtype!r}")
        self.root = Path(root)
        self.spec = spec
        self.dtype = dtype
        self.reader: Reader = reader or read_pixels_default
        self.reader_version = reader_version if reader_version is not None else _reader_version()
        self._np_dtype = np.dtype(dtype)
        self._scale = _SCALES[dtype]
        self.folder = self.root / f"s{spec.size}-{spec.geometry}-{dtype}-v{CACHE_FORMAT_VERSION}"
        self._nbytes = spec.size * spec.size * self._np_dtype.itemsize
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, self._header_dict())
        self._file_size = header.tell() + self._nbytes + _FOOTER_LEN

    def __repr__(self) -> str:
        return f"PreprocessCache({str(self.folder)!r}, dtype={self.dtype!r})"

    # -- keys ---------------------------------------------------------------------------------------------
    def key(self, path: str | os.PathLike[str]) -> str:
        """The hex SHA-256 key of ``path`` as it is on disk now.

        Raises:
            InvalidImageError: the file does not exist or cannot be stat'ed.
        """
        real = os.path.realpath(os.fspath(path))
        try:
            st = os.stat(real)
        except OSError as exc:
            raise InvalidImageError(f"image file not found or unreadable: {path} ({exc.strerror})") from exc
        ident = {
            "path": real,
            "bytes": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "size": self.spec.size,
            "geometry": self.spec.geometry,
            "dtype": self.dtype,
            "reader": self.reader_version,
            "format": CACHE_FORMAT_VERSION,
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()

    def entry_path(self, path: str | os.PathLike[str]) -> Path:
        """Where the entry of ``path`` lives (whether or not it exists yet)."""
        k = self.key(path)
        return self.folder / k[:2] / f"{k}.npy"

    def __contains__(self, path: object) -> bool:
        """True when ``path`` has a complete entry (size checked; the CRC is checked on load)."""
        try:
            entry = self.entry_path(path)  # type: ignore[arg-type]
            return entry.stat().st_size == self._file_size
        except (OSError, InvalidImageError):
            return False

    # -- read / write -------------------------------------------------------------------------------------
    def get(self, path: str | os.PathLike[str]) -> np.ndarray:
        """The model input for ``path``: float32 ``(C, S, S)`` in the spec's intensity convention.

        Decodes and stores the image on a miss; later calls only read ``S * S`` stored values.

        Raises:
            InvalidImageError, UnsupportedImageError: the file cannot be read (from the reader).
        """
        return apply_intensity(self.get_unit(path), self.spec)

    def get_unit(self, path: str | os.PathLike[str]) -> np.ndarray:
        """The stored image: float32 ``(S, S)`` in [0, 1] (geometry applied, no intensity convention)."""
        entry = self.entry_path(path)
        stored = self._load(entry)
        if stored is None:
            stored = self._build(path, entry)
        return stored.astype(np.float32) * np.float32(1.0 / self._scale)

    def _header_dict(self) -> dict[str, Any]:
        return {"descr": np.lib.format.dtype_to_descr(self._np_dtype), "fortran_order": False,
                "shape": (self.spec.size, self.spec.size)}

    def _load(self, entry: Path) -> np.ndarray | None:
        """The stored array, or None when missing; corrupt entries are logged and treated as missing."""
        try:
            data = entry.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cache entry %s unreadable (%s); rebuilding", entry, exc)
            return None
        problem = self._check(data)
        if problem is not None:
            log.warning("cache entry %s is corrupt (%s); rebuilding", entry, problem)
            return None
        start = len(data) - _FOOTER_LEN - self._nbytes
        return np.frombuffer(data, dtype=self._np_dtype, count=self.spec.size**2, offset=start).reshape(
            self.spec.size, self.spec.size
        )

    def _check(self, data: bytes) -> str | None:
        if len(data) != self._file_size:
            return f"{len(data)} bytes, expected {self._file_size}"
        buf = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(buf)
            if version != (1, 0):
                return f"npy format version {version}"
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(buf)
        except (ValueError, SyntaxError, TypeError) as exc:  # what numpy raises on a garbled header
            return f"bad npy header: {exc}"
        if shape != (self.spec.size, self.spec.size) or fortran or dtype != self._np_dtype:
            return f"header says shape {shape} dtype {dtype}"
        footer = data[-_FOOTER_LEN:]
        if footer[:8] != _FOOTER_MAGIC:
            return "no checksum footer"
        crc = int.from_bytes(footer[8:12], "little")
        if zlib.crc32(memoryview(data)[buf.tell() : len(data) - _FOOTER_LEN]) != crc:
            return "checksum mismatch"
        return None

    def _build(self, path: str | os.PathLike[str], entry: Path) -> np.ndarray:
        pixels = self.reader(os.fspath(path))
        square = resize_geometry(pixels, self.spec)
        stored = np.rint(np.clip(square, 0.0, 1.0) * self._scale).astype(self._np_dtype)
        try:
            self._write(entry, stored)
        except OSError as exc:  # read-only or full disk: training goes on, uncached
            log.warning("cannot write cache entry %s (%s); continuing without caching it", entry, exc)
        return stored

    def _write(self, entry: Path, stored: np.ndarray) -> None:
        with atomic_open(entry, "wb", fsync=False) as f:  # checksummed, rebuilt when lost
            np.lib.format.write_array(f, np.ascontiguousarray(stored), version=(1, 0))
            f.write(_FOOTER_MAGIC + zlib.crc32(stored.tobytes()).to_bytes(4, "little") + b"\0" * 4)

    # -- bulk ---------------------------------------------------------------------------------------------
    def warm(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        workers: int | None = None,
        progress: bool = True,
        chunksize: int = 4,
        mp_context: str = "spawn",
    ) -> WarmReport:
        """Fill the cache for ``paths`` with a process pool; unreadable files are recorded, not raised.

        Args:
            paths: image files.
            workers: processes (default: ``os.cpu_count()``); ``0`` or ``1`` works in this process.
            progress: show a tqdm progress bar (on stderr).
            chunksize: paths handed to a worker at a time.
            mp_context: multiprocessing start method; "spawn" (default) is safe next to PyTorch threads.

        Returns:
            A :class:`WarmReport`; ``failed`` maps each unreadable path to its error.
        """
        from tqdm.auto import tqdm

        t0 = time.perf_counter()
        paths = [os.fspath(p) for p in paths]
        report = WarmReport(total=len(paths))
        todo = []
        for p in paths:
            try:
                valid = self._load(self.entry_path(p)) is not None  # full check: size, header, CRC
            except InvalidImageError:
                valid = False  # missing source: the worker records the error
            if valid:
                report.cached += 1
            else:
                todo.append(p)
        workers = (os.cpu_count() or 1) if workers is None else int(workers)
        bar = tqdm(total=len(todo), desc=f"caching {self.folder.name}", unit="img", disable=not progress)
        try:
            if workers <= 1 or len(todo) <= 1:
                results: Iterable[tuple[str, str | None]] = (_warm_one(self, os.fspath(p)) for p in todo)
                self._collect(results, report, bar)
            else:
                import multiprocessing

                config = (str(self.root), self.spec.to_dict(), self.dtype, self.reader, self.reader_version)
                with ProcessPoolExecutor(
                    max_workers=min(workers, len(todo)),
                    mp_context=multiprocessing.get_context(mp_context),
                    initializer=_init_worker,
                    initargs=(config,),
                ) as pool:
                    self._collect(pool.map(_warm_in_worker, todo, chunksize=max(1, chunksize)), report, bar)
        finally:
            bar.close()
        report.seconds = time.perf_counter() - t0
        if report.failed:
            log.warning("cache warm: %d of %d files could not be read (see WarmReport.failed)", len(report.failed),
                        report.total)
        return report

    @staticmethod
    def _collect(results: Iterable[tuple[str, str | None]], report: WarmReport, bar: Any) -> None:
        for path, error in results:
            if error is None:
                report.built += 1
            else:
                report.failed[path] = error
            bar.update(1)

    def stats(self) -> dict[str, int]:
        """``{"entries": n, "bytes": total}`` of this spec's folder."""
        n = size = 0
        if self.folder.is_dir():
            for f in self.folder.glob("*/*.npy"):
                n += 1
                size += f.stat().st_size
        return {"entries": n, "bytes": size}


_WORKER_CACHE: PreprocessCache | None = None  # set only inside warm()'s worker processes


def _init_worker(config: tuple[str, dict, str, Reader, str]) -> None:
    global _WORKER_CACHE
    root, spec, dtype, reader, version = config
    _WORKER_CACHE = PreprocessCache(root, TransformSpec.from_dict(spec), dtype=dtype, reader=reader,
                                    reader_version=version)


def _warm_in_worker(path: str) -> tuple[str, str | None]:
    if _WORKER_CACHE is None:  # pragma: no cover - the pool's initializer always runs first
        raise RuntimeError("cache warm worker was not initialised")
    return _warm_one(_WORKER_CACHE, path)


def _warm_one(cache: PreprocessCache, path: str) -> tuple[str, str | None]:
    try:
        entry = cache.entry_path(path)
        if cache._load(entry) is None:
            cache._build(path, entry)
        return path, None
    except Exception as exc:  # one bad file must not stop a warm run over thousands
        return path, f"{type(exc).__name__}: {exc}"
