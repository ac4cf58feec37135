"""``cxrkit analyze --engine ray``: the batch of :mod:`cxrkit.deliver.batch` spread over a Ray cluster.

Same promises as the local engine, same files: each worker (a Ray actor holding one
:class:`cxrkit.pipeline.Analyzer`, models loaded once) writes an image's folder with
:func:`cxrkit.deliver.batch.analyze_one` (the local engine's own function: the same files, written atomically),
under the same stable name (:func:`cxrkit.deliver.outdir.output_name`); an image whose ``result.json`` is
already complete is not recomputed. The driver alone writes ``DIR/errors.jsonl`` (one line per failed input, as
the local engine) and ``DIR/results.parquet`` (:mod:`cxrkit.engine.results`: one row per input, in input
order, replaced atomically at the end), and holds ``DIR``'s lock for the whole job.

Images are decoded by the worker that analyzes them (the decoded float32 image is 4x the PNG: shipping it
between processes would cost more than decoding it where it is used). Paths are made absolute on the driver: on a
cluster, inputs and ``DIR`` must be on storage every node sees under the same path.

Faults (:mod:`cxrkit.engine.ray_pool`): a worker that dies is replaced and its images are retried; an image
that kills its worker three times is recorded as an error (``WorkerLostError``) and the job goes on. If the
driver itself dies, every finished image is already in ``DIR``: the same command resumes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxrkit.engine.ray_pool import PoolStats, run_actor_pool
from cxrkit.engine.results import (
    RESULTS_FILE,
    ResultsTableWriter,
    clean_table_leftovers,
    error_row,
    read_result_doc,
    result_row,
)

__all__ = ["AnalyzeWorker", "RayBatchSummary", "run_ray_batch", "WORKER_LOST"]

log = logging.getLogger(__name__)

#: ``error`` of an image given up because its worker died ``max_attempts`` times while analyzing it.
WORKER_LOST = "WorkerLostError"
MAX_MESSAGE = 1000


def process_memory_mb() -> dict[str, float]:
    """Resident (``VmRSS``) and peak resident (``VmHWM``) memory of this process in MiB (Linux; {} elsewhere)."""
    out = {}
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, kb = line.split()[:2]
                    out["rss_mb" if key == "VmRSS:" else "peak_rss_mb"] = int(kb) / 1024
    except OSError:
        pass
    return out


class AnalyzeWorker:
    """One worker: an :class:`~cxrkit.pipeline.Analyzer` built once, analyzing units of images into ``out_dir``.

    Wrapped with ``ray.remote`` by :func:`run_ray_batch` (this module does not import Ray).

    Parameters
    ----------
    out_dir:
        absolute output folder (shared by every node).
    analyzer_options:
        keyword arguments of :class:`~cxrkit.pipeline.Analyzer`.
    dicom_out:
        also write DICOM SR / SC / SEG.
    threads:
        ONNX Runtime threads of this worker (``CXRKIT_THREADS``), normally its CPUs.
    """

    def __init__(self, out_dir: str, analyzer_options: dict[str, Any], dicom_out: bool, threads: int) -> None:
        os.environ["CXRKIT_THREADS"] = str(threads)
        from cxrkit.pipeline import Analyzer

        self.analyzer = Analyzer(**analyzer_options)
        self.out_dir = Path(out_dir)
        self.dicom_out = dicom_out
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def ready(self) -> dict[str, Any]:
        """Who and where this worker is, its memory (MiB) now and at its peak, and its CPU seconds so far."""
        t = os.times()
        return {"worker": self.worker, "pid": os.getpid(), "cpu_s": t.user + t.system, **process_memory_mb()}

    def run(self, items: Sequence[tuple[int, str, str, str | None]]) -> list[dict[str, Any]]:
        """Analyze ``(index, path, name, view)`` items; one results row each (errors included, never raised)."""
        return [self._one(*item) for item in items]

    def _one(self, index: int, path: str, name: str, view: str | None) -> dict[str, Any]:
        from cxrkit.deliver.batch import analyze_one, is_done

        t = time.perf_counter()
        folder = self.out_dir / name
        try:
            reused = is_done(folder)
            if not reused:
                analyze_one(self.analyzer, Path(path), folder, dicom_out=self.dicom_out, view=view)
            doc = read_result_doc(folder)
        except Exception as exc:  # noqa: BLE001 - per-file isolation, as the local engine
            if not reused and is_done(folder):  # a worker of an interrupted run finished it meanwhile
                return result_row(index, path, name, read_result_doc(folder), reused=True,
                                  seconds=time.perf_counter() - t, worker=self.worker)
            log.warning("%s: %s: %s", name, type(exc).__name__, str(exc)[:MAX_MESSAGE])
            return error_row(index, path, name, type(exc).__name__, str(exc)[:MAX_MESSAGE],
                             seconds=time.perf_counter() - t, worker=self.worker)
        return result_row(index, path, name, doc, reused=reused, seconds=time.perf_counter() - t,
                          worker=self.worker)


@dataclass
class RayBatchSummary:
    """Outcome of :func:`run_ray_batch`.

    Attributes:
        counts: "done" (analyzed now), "reused" (already complete in ``DIR``), "error".
        results: the Parquet results table.
        pool: workers started and lost, images retried and given up, per-worker memory.
        seconds: wall time of the job (Ray start-up included).
    """

    counts: dict[str, int]
    results: Path
    pool: PoolStats
    seconds: float


def _actor_factory(ray: Any, out_dir: Path, options: dict[str, Any], dicom_out: bool, threads: int
                   ) -> Callable[[], Any]:
    """A function starting one :class:`AnalyzeWorker` actor (no restarts: the pool replaces dead actors)."""
    remote_worker = ray.remote(AnalyzeWorker)

    def make_actor() -> Any:
        return remote_worker.options(num_cpus=threads, max_restarts=0, max_task_retries=0,
                                     scheduling_strategy="SPREAD").remote(str(out_dir), options, dicom_out, threads)

    return make_actor


def _recorders(table: Any, errors: Any, counts: Counter[str], paths: list[Path], names: list[str],
               progress: Callable[[dict[str, Any]], None] | None
               ) -> tuple[Callable[[int, dict[str, Any]], None], Callable[[int, str], None]]:
    """``on_result`` (a row into the table, errors into ``errors.jsonl``, counts) and ``on_lost`` (an image
    whose workers kept dying, recorded as an error)."""

    def on_result(i: int, row: dict[str, Any]) -> None:
        table.add(row)
        if row["status"] == "error":
            errors.append_entry(paths[i], names[i], row["error_type"], row["error"])
            counts["error"] += 1
        else:
            counts["reused" if row["reused"] else "done"] += 1
        if progress:
            progress(row)

    def on_lost(i: int, reason: str) -> None:
        on_result(i, error_row(i, str(paths[i]), names[i], WORKER_LOST, reason[:MAX_MESSAGE]))

    return on_result, on_lost


def run_ray_batch(
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    analyzer_options: dict[str, Any] | None = None,
    dicom_out: bool = False,
    view: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    batch_size: int = 4,
    max_attempts: int = 3,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> RayBatchSummary:
    """Analyze ``inputs`` into ``out_dir`` on Ray; resumable and atomic (see the module docstring).

    Parameters
    ----------
    inputs:
        image files (e.g. from :func:`cxrkit.deliver.batch.collect_inputs` or a catalog's ``path`` column).
    out_dir:
        output folder: ``<name>/`` per image, ``errors.jsonl``, ``results.parquet``.
    analyzer_options:
        keyword arguments of :class:`~cxrkit.pipeline.Analyzer` built by every worker (default: shipped models).
    view:
        view position for inputs whose file has none (PNG/JPEG), as ``cxrkit analyze --view``.
    address:
        None starts a local Ray with ``workers`` x ``threads_per_worker`` CPUs; ``"auto"`` / ``ray://HOST:PORT``
        / ``HOST:PORT`` joins a running cluster (:func:`cxrkit.engine.ray_cluster.ray_session`).
    workers:
        actors (default: the cluster's CPUs / ``threads_per_worker``; on a local Ray, the usable CPUs).
    threads_per_worker:
        CPUs (and ONNX Runtime threads) per actor.
    batch_size:
        images per call to an actor (two calls in flight per actor).
    max_attempts:
        an image whose worker died this many times while analyzing it is recorded as an error.
    progress:
        called with each image's results row.

    Raises
    ------
    OutputBusyError
        another run holds ``out_dir``'s lock.
    EngineError
        Ray is missing or unreachable, or no worker could start.
    """
    from cxrkit.deliver.batch import ERRORS_FILE, ErrorLog
    from cxrkit.deliver.outdir import OutputLock, clean_leftovers, output_name
    from cxrkit.engine.ray_cluster import ray_session

    t0 = time.perf_counter()
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p).absolute() for p in inputs]
    names = [output_name(p) for p in paths]
    options = dict(analyzer_options or {})
    threads = max(1, int(threads_per_worker))
    counts: Counter[str] = Counter()
    with OutputLock(out_dir):
        clean_leftovers(out_dir)
        clean_table_leftovers(out_dir)
        errors = ErrorLog(out_dir / ERRORS_FILE, set(names))
        local_cpus = workers * threads if workers else None
        with ray_session(address, num_cpus=local_cpus) as ray:
            n_actors = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
            make_actor = _actor_factory(ray, out_dir, options, dicom_out, threads)
            with ResultsTableWriter(out_dir / RESULTS_FILE, len(paths)) as table:
                on_result, on_lost = _recorders(table, errors, counts, paths, names, progress)
                stats = run_actor_pool(
                    ray, make_actor, n_actors, len(paths),
                    payload=lambda unit: [(i, str(paths[i]), names[i], view) for i in unit],
                    on_result=on_result, on_lost=on_lost, batch_size=batch_size, max_attempts=max_attempts)
        clean_leftovers(out_dir)  # temp folders of workers that died mid-write
    return RayBatchSummary(counts={k: counts[k] for k in ("done", "reused", "error")}, results=out_dir / RESULTS_FILE,
                           pool=stats, seconds=time.perf_counter() - t0)
