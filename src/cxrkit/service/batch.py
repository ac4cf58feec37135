"""Batch analysis behind ``cxrkit analyze`` and ``cxrkit demo``: resumable, atomic, errors per file.

Each image's outputs are written into a temporary folder next to the target and moved into place with one
``os.replace`` once complete, so ``DIR/<stem>/`` either holds a full result or does not exist. A rerun skips
images whose ``result.json`` is present and valid. Per-file failures go to ``DIR/errors.jsonl`` (one JSON object
per line) and the run continues.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from cxrkit.errors import CxrkitError, DataFormatError, InvalidImageError
from cxrkit.pipeline import Analyzer
from cxrkit.report.markdown import result_markdown
from cxrkit.report.overlay import compose_overlay, heatmap_overlay
from cxrkit.result import AnalysisResult, box_id, validate_result
from cxrkit.types import Image

__all__ = ["collect_inputs", "output_names", "BatchItem", "run_batch", "write_outputs", "png_bytes", "is_done"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg"}


def _is_dicom_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def collect_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files given directly plus images found recursively in folders (DICOM/PNG/JPEG; extensionless files
    with a DICOM preamble), sorted and de-duplicated.

    Raises:
        InvalidImageError: a given path does not exist.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not f.name.startswith(".") and (
                    f.suffix.lower() in IMAGE_SUFFIXES or (f.suffix == "" and _is_dicom_file(f))
                ):
                    found.append(f)
        elif p.is_file():
            found.append(p)
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


def output_names(paths: Sequence[Path]) -> list[str]:
    """A folder name per input: the file stem, plus a short hash of the path when stems collide."""
    stems = [p.stem for p in paths]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    return [
        s if counts[s] == 1 else f"{s}-{hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]}"
        for s, p in zip(stems, paths)
    ]


def png_bytes(array: np.ndarray) -> bytes:
    """Encode uint8 ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` as PNG bytes."""
    buf = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


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
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def write_outputs(
    result: AnalysisResult,
    image: Image | None,
    folder: Path,
    *,
    source: Path | None = None,
    dicom_out: bool = False,
) -> list[str]:
    """Write one image's outputs into ``folder`` atomically; returns the file names written.

    Files: ``overlay.png`` (boxes, masks, combined heatmap), ``anatomy.png`` (masks with the drawn CTR width
    lines) when a segmenter ran, ``heatmap_<finding>.png`` per positive finding,
    ``report.md``, ``result.json`` and, with ``dicom_out``, ``sr.dcm``, ``sc.dcm`` (and ``seg.dcm`` when masks
    exist).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        names = []
        if image is None:  # not a supported radiograph: result and report only
            (tmp / "report.md").write_text(result_markdown(result), encoding="utf-8")
            (tmp / "result.json").write_text(result.to_json(), encoding="utf-8")
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
            return ["report.md", "result.json"]
        boxes = [(box_id(f.name, i), b) for f in result.findings for i, b in enumerate(f.boxes)]
        overlay = compose_overlay(image.pixels, heatmaps=result.heatmaps, boxes=boxes, masks=result.masks)
        (tmp / "overlay.png").write_bytes(png_bytes(overlay))
        names.append("overlay.png")
        if result.masks:
            from cxrkit.anatomy.overlay import draw_overlay

            drawn = draw_overlay(image.pixels, result.masks, result.anatomy)
            (tmp / "anatomy.png").write_bytes(png_bytes(drawn))
            names.append("anatomy.png")
        for name, hm in result.heatmaps.items():
            fn = f"heatmap_{_safe(name)}.png"
            (tmp / fn).write_bytes(png_bytes(heatmap_overlay(image.pixels, hm)))
            names.append(fn)
        if dicom_out:
            from cxrkit.io.dicom_out import write_dicom_outputs

            for fn, ds in write_dicom_outputs(result, image, source=source, overlay=overlay).items():
                ds.save_as(tmp / fn, enforce_file_format=True)
                names.append(fn)
        (tmp / "report.md").write_text(result_markdown(result, overlay_name="overlay.png"), encoding="utf-8")
        names.append("report.md")
        (tmp / "result.json").write_text(result.to_json(), encoding="utf-8")  # last: marks completeness
        names.append("result.json")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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


def _append_error(errors_file: Path, path: Path, exc: BaseException) -> None:
    line = json.dumps({"path": str(path), "error": type(exc).__name__, "message": str(exc),
                       "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    with errors_file.open("a", encoding="utf-8") as fh:  # one write per line: O_APPEND keeps lines whole
        fh.write(line + "\n")


def run_batch(
    analyzer: Analyzer,
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    dicom_out: bool = False,
    workers: int = 1,
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
    progress:
        called once per finished item (e.g. to advance a progress bar).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    errors_file = out_dir / "errors.jsonl"
    names = output_names(list(inputs))

    def one(path: Path, name: str) -> BatchItem:
        folder = out_dir / name
        if is_done(folder):
            item = BatchItem(path, name, "skipped")
        else:
            t = time.perf_counter()
            try:
                result, image = analyzer.analyze_with_image(path)
                files = write_outputs(result, image, folder, source=path, dicom_out=dicom_out)
                item = BatchItem(path, name, "done", result, files=files, seconds=time.perf_counter() - t)
            except (CxrkitError, OSError) as exc:
                log.warning("%s: %s: %s", name, type(exc).__name__, exc)
                _append_error(errors_file, path, exc)
                item = BatchItem(path, name, "error", error=f"{type(exc).__name__}: {exc}",
                                 seconds=time.perf_counter() - t)
        if progress:
            progress(item)
        return item

    if workers <= 1:
        return [one(p, n) for p, n in zip(inputs, names)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, inputs, names))
