"""Batch analysis behind ``cxrkit analyze`` and ``cxrkit demo``: resumable, atomic, errors per file.

Each image's outputs are written into a temporary folder next to the target and moved into place once complete
(:func:`cxrkit.deliver.outdir.install_folder`), so ``DIR/<name>/`` either holds a full result or does not exist;
``<name>`` is :func:`cxrkit.deliver.outdir.output_name` (safe stem + hash of the resolved path, stable across
runs). A rerun skips images whose ``result.json`` is present and valid. Any failure of one file, from any stage,
goes to ``DIR/errors.jsonl`` (one JSON object per line, one line per input: a rerun replaces the lines of the
inputs it retries) and the run continues. One run per ``DIR`` at a time (a lock file); temp folders of killed
runs are removed at start.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from cxrkit.deliver.outdir import (
    LOCK_NAME,
    OutputBusyError,
    OutputLock,
    clean_leftovers,
    install_folder,
    new_temp_folder,
    output_name,
    safe_stem,
)
from cxrkit.deliver.png import png_bytes
from cxrkit.errors import DataFormatError, InvalidImageError
from cxrkit.fs import atomic_write_text
from cxrkit.io.find import find_images
from cxrkit.pipeline import Analyzer
from cxrkit.report.markdown import result_markdown
from cxrkit.report.overlay import compose_overlay, heatmap_overlay
from cxrkit.result import AnalysisResult, box_id, validate_result
from cxrkit.types import Image

__all__ = ["collect_inputs", "output_names", "output_name", "safe_stem", "BatchItem", "run_batch", "write_outputs",
           "is_done", "OutputBusyError", "LOCK_NAME", "ERRORS_FILE", "analyze_one", "ErrorLog"]

log = logging.getLogger(__name__)

ERRORS_FILE = "errors.jsonl"
MAX_MESSAGE = 1000


def collect_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files given directly plus images found recursively in folders (:func:`cxrkit.io.find.find_images`: an
    image suffix, or image content under any name), sorted and de-duplicated.

    Broken symbolic links in folders (with an image suffix or none) are kept, so that the batch reports them
    in ``errors.jsonl`` instead of skipping them silently.

    Raises:
        InvalidImageError: a given path does not exist (or is a broken symbolic link).
    """
    return find_images(paths, keep_broken_links=True)


def output_names(paths: Sequence[Path]) -> list[str]:
    """A folder name per input (:func:`~cxrkit.deliver.outdir.output_name`: safe stem + hash of the resolved
    path, the same in every run)."""
    return [output_name(p) for p in paths]


def is_done(folder: Path) -> bool:
    """True when ``folder/result.json`` exists and validates against the result schema."""
    f = folder / "result.json"
    if not f.is_file():
        return False
    try:
        validate_result(json.loads(f.read_text(encoding="utf-8")))
    except (ValueError, DataFormatError):
        return False
    return True


def _safe(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in name)


def write_outputs(
    result: AnalysisResult,
    image: Image | None,
    folder: Path,
    *,
    source: Path | None = None,
    dicom_out: bool = False,
    release_arrays: bool = False,
) -> list[str]:
    """Write one image's outputs into ``folder`` atomically; returns the file names written.

    With ``release_arrays`` the result's heatmaps and masks are emptied as soon as the files that need them are
    encoded (the caller keeps only the document): a 4096-pixel film with four positive findings then never holds
    its 256 MB of heatmaps while the DICOM objects are built.

    Files: ``overlay.png`` (boxes, masks, combined heatmap), ``anatomy.png`` (masks with the drawn CTR width
    lines) when a segmenter ran, ``heatmap_<finding>.png`` per positive finding,
    ``report.md``, ``result.json`` and, with ``dicom_out``, ``sr.dcm``, ``sc.dcm`` (and ``seg.dcm`` when masks
    exist). Everything is written into a temp folder next to ``folder`` first; ``folder`` is replaced only when
    it is a cxrkit result folder (see :func:`cxrkit.deliver.outdir.install_folder`).

    Raises:
        FileExistsError: ``folder`` exists and is not a cxrkit result folder (left untouched).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temp_folder(folder)
    try:
        names = _write_files(result, image, tmp, source=source, dicom_out=dicom_out, release=release_arrays)
        install_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return names


def _write_files(result: AnalysisResult, image: Image | None, tmp: Path, *, source: Path | None,
                 dicom_out: bool, release: bool = False) -> list[str]:
    if image is None:  # not a supported radiograph: result and report only
        (tmp / "report.md").write_text(result_markdown(result), encoding="utf-8")
        (tmp / "result.json").write_text(result.to_json(), encoding="utf-8")
        return ["report.md", "result.json"]
    names = []
    boxes = [(box_id(f.name, i), b) for f in result.findings for i, b in enumerate(f.boxes)]
    overlay = compose_overlay(image.pixels, heatmaps=result.heatmaps, boxes=boxes, masks=result.masks)
    (tmp / "overlay.png").write_bytes(png_bytes(overlay))
    names.append("overlay.png")
    if result.masks:
        from cxrkit.anatomy.overlay import draw_overlay

        drawn = draw_overlay(image.pixels, result.masks, result.anatomy)
        (tmp / "anatomy.png").write_bytes(png_bytes(drawn))
        names.append("anatomy.png")
    for name in list(result.heatmaps):  # no loop variable left holding a map (they share one base array)
        fn = f"heatmap_{_safe(name)}.png"
        (tmp / fn).write_bytes(png_bytes(heatmap_overlay(image.pixels, result.heatmaps[name])))
        names.append(fn)
    if release:
        result.heatmaps.clear()
    if dicom_out:
        from cxrkit.deliver.dicom_out import iter_dicom_outputs

        for fn, ds in iter_dicom_outputs(result, image, source=source, overlay=overlay):
            ds.save_as(tmp / fn, enforce_file_format=True)  # one object in memory at a time
            names.append(fn)
            del ds
    (tmp / "report.md").write_text(result_markdown(result, overlay_name="overlay.png"), encoding="utf-8")
    names.append("report.md")
    (tmp / "result.json").write_text(result.to_json(), encoding="utf-8")  # last: marks completeness
    names.append("result.json")
    return names


@dataclass
class BatchItem:
    """Outcome of one input: ``status`` is "done", "skipped" (already done) or "error"."""

    path: Path
    name: str
    status: str
    result: AnalysisResult | None = None
    error: str = ""
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)


class ErrorLog:
    """``DIR/errors.jsonl``: one line per failed input of the latest attempt.

    At the start of a run the lines of the inputs this run will retry (or skip as done) are dropped (the file is
    rewritten atomically); each failure of the run then appends one line, so reruns never pile up duplicates.
    Lines of inputs outside this run are kept.
    """

    def __init__(self, path: Path, names_in_run: set[str]) -> None:
        self.path = path
        self._lock = threading.Lock()
        if not path.exists():
            path.touch()
            return
        kept, dropped = [], 0
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                name = entry.get("name") or output_name(Path(entry["path"]))
            except (ValueError, KeyError, TypeError, AttributeError):
                dropped += 1  # a torn or foreign line
                continue
            if name in names_in_run:
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            atomic_write_text(path, "".join(k + "\n" for k in kept))

    def append(self, path: Path, name: str, exc: BaseException) -> None:
        self.append_entry(path, name, type(exc).__name__, str(exc))

    def append_entry(self, path: Path, name: str, error: str, message: str) -> None:
        """One line: the input, its result folder name, the error's type name and message."""
        line = json.dumps({"path": str(path), "name": name, "error": error,
                           "message": message[:MAX_MESSAGE], "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        with self._lock, self.path.open("a", encoding="utf-8") as fh:  # one write per line: O_APPEND
            fh.write(line + "\n")


def analyze_one(analyzer: Analyzer, path: Path, folder: Path, *, dicom_out: bool = False, view: str | None = None
                ) -> tuple[AnalysisResult, list[str]]:
    """Analyze one input and write its folder (:func:`write_outputs`); the per-image step of every engine (the
    local threads here, the Ray workers of :mod:`cxrkit.engine.ray_analyze`), so their files are the same.
    Returns the result document without its arrays (heatmaps, masks) and the names of the files written.

    Raises:
        InvalidImageError: a broken symbolic link; any error of reading, analysis or writing.
    """
    if path.is_symlink() and not path.exists():
        raise InvalidImageError(f"broken symbolic link: {path} -> {os.readlink(path)}")
    kwargs = {"view": view} if view else {}
    result, image = analyzer.analyze_with_image(path, **kwargs)
    files = write_outputs(result, image, folder, source=path, dicom_out=dicom_out, release_arrays=True)
    # the arrays are in the written files: keep only the document, or a long batch grows by every image's
    # masks and heatmaps (~13 MB a 1024-pixel film)
    return replace(result, heatmaps={}, masks={}), files


def run_batch(
    analyzer: Analyzer,
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    dicom_out: bool = False,
    workers: int = 1,
    view: str | None = None,
    progress: Callable[[BatchItem], None] | None = None,
) -> list[BatchItem]:
    """Analyze ``inputs`` into ``out_dir``; resumable and atomic (see module docstring).

    Parameters
    ----------
    analyzer:
        the loaded pipeline, shared by all workers (thread-safe).
    inputs:
        image files (see :func:`collect_inputs`).
    out_dir:
        output folder; ``out_dir/<name>/`` per image and ``out_dir/errors.jsonl``.
    workers:
        number of threads (ONNX Runtime sessions are thread-safe).
    view:
        view position ("PA", "AP", ...) for inputs whose file does not carry one (PNG/JPEG).
    progress:
        called once per finished item (e.g. to advance a progress bar).

    Raises
    ------
    OutputBusyError
        another run holds ``out_dir``'s lock.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = output_names(list(inputs))
    with OutputLock(out_dir):
        clean_leftovers(out_dir)
        errors = ErrorLog(out_dir / ERRORS_FILE, set(names))

        def one(path: Path, name: str) -> BatchItem:
            folder = out_dir / name
            t = time.perf_counter()
            try:
                if is_done(folder):
                    item = BatchItem(path, name, "skipped")
                else:
                    result, files = analyze_one(analyzer, path, folder, dicom_out=dicom_out, view=view)
                    item = BatchItem(path, name, "done", result, files=files, seconds=time.perf_counter() - t)
            except Exception as exc:  # noqa: BLE001 - per-file isolation: any failure is recorded, the run goes on
                log.warning("%s: %s: %s", name, type(exc).__name__, str(exc)[:MAX_MESSAGE])
                log.debug("%s failed", name, exc_info=True)
                errors.append(path, name, exc)
                item = BatchItem(path, name, "error", error=f"{type(exc).__name__}: {exc}",
                                 seconds=time.perf_counter() - t)
            if progress:
                progress(item)
            return item

        if workers <= 1:
            return [one(p, n) for p, n in zip(inputs, names)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, inputs, names))
