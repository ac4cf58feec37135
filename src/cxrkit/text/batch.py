"""Label many reports: stream records, label them in worker processes in chunks, keep input order.

Used by ``cxrkit label-reports`` and ``cxrkit data from-reports``; usable from Python too.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cxrkit.errors import DataFormatError
from cxrkit.text.labeler import ReportLabels, label_report
from cxrkit.text.readers import BadRecord, ReportRecord, expand_paths, iter_reports

__all__ = ["Labeled", "label_records", "label_paths", "default_workers"]

_READ_IN_WORKER = (".xml", ".txt")

log = logging.getLogger(__name__)


@dataclass
class Labeled:
    """One labeled report: the record (without its text, to keep pipes small) and its labels."""

    record: ReportRecord
    labels: ReportLabels


def default_workers() -> int:
    """Usable CPU cores of this process (its affinity mask when the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def _label_chunk(chunk: list[ReportRecord | BadRecord | Path]) -> list[Labeled | BadRecord]:
    out: list[Labeled | BadRecord] = []
    for rec in chunk:
        if isinstance(rec, Path):  # one-report file: read here, in the worker
            rec = next(iter_reports([rec]))
        if isinstance(rec, BadRecord):
            out.append(rec)
            continue
        try:
            labels = label_report(rec.content)
        except DataFormatError as exc:
            out.append(BadRecord(rec.source, rec.report_id, str(exc)))
            continue
        light = ReportRecord(rec.report_id, None, None, rec.image_ids, rec.mesh_major, rec.mesh_automatic, rec.source)
        out.append(Labeled(light, labels))
    return out


def _chunks(items: Iterable[ReportRecord | BadRecord | Path], size: int
            ) -> Iterator[list[ReportRecord | BadRecord | Path]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def label_records(
    records: Iterable[ReportRecord | BadRecord | Path], *, workers: int | None = None, chunk_size: int = 256
) -> Iterator[Labeled | BadRecord]:
    """Label a stream of records, in input order.

    Parameters
    ----------
    records : from :func:`cxrkit.text.readers.iter_reports` (BadRecords pass through untouched), or paths of
        one-report files (.xml, .txt) that the workers read themselves.
    workers : processes (None: every usable core; 1: in this process, no pool).
    chunk_size : records sent to a worker at a time.

    Yields
    ------
    Labeled or BadRecord
        One per input record; a record whose labeling fails becomes a BadRecord.
    """
    if chunk_size < 1:
        raise DataFormatError(f"chunk_size must be >= 1; got {chunk_size}")
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise DataFormatError(f"workers must be >= 1; got {workers}")
    if workers == 1:
        for chunk in _chunks(records, chunk_size):
            yield from _label_chunk(chunk)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers) as pool:
        # imap keeps order and pulls the input lazily (bounded by the pool's task queue)
        for result in pool.imap(_label_chunk, _chunks(records, chunk_size)):
            yield from result


def label_paths(
    paths: Iterable[str | Path],
    *,
    id_col: str | None = None,
    text_col: str | None = None,
    workers: int | None = None,
    chunk_size: int = 256,
) -> Iterator[Labeled | BadRecord]:
    """Label every report under ``paths`` (files or folders), in order; XML / text files are read by workers.

    Raises
    ------
    DataFormatError
        A path does not exist, or a table lacks the id / text column.
    """

    def items() -> Iterator[ReportRecord | BadRecord | Path]:
        for p in expand_paths(paths):
            if p.suffix.lower() in _READ_IN_WORKER:
                yield p
            else:
                yield from iter_reports([p], id_col=id_col, text_col=text_col)

    return label_records(items(), workers=workers, chunk_size=chunk_size)
