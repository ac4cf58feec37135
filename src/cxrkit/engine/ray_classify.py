"""``cxrkit classify --engine ray``: the classify job spread over Ray actors, each loading the classifier once.

Each actor runs the command's own per-file function (``classify``, passed in by the caller: this package does
not import the command layer) on units of ``batch_size`` consecutive files, so decoding, the quality check and
batched inference are those of the local engine; the driver keeps the results in input order. An actor that dies
is replaced and its files retried (:mod:`cxrkit.engine.ray_pool`); a file that kills its worker three times gets
an error (``WorkerLostError``) and the job goes on.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxrkit.engine.ray_analyze import WORKER_LOST, process_memory_mb
from cxrkit.engine.ray_pool import PoolStats, run_actor_pool
from cxrkit.errors import EngineError

__all__ = ["ClassifyWorker", "RayClassifyResult", "run_ray_classify"]


class ClassifyWorker:
    """One worker: a classifier loaded once, classifying units of files with ``classify``.

    ``classify(clf, paths, *, batch_size, workers, qc)`` yields ``(path, probabilities or None, error)`` in input
    order (``cxrkit.service.commands.classify.classify_paths``).
    """

    def __init__(self, classify: Callable[..., Any], model: str | None, threads: int, batch_size: int,
                 qc: bool) -> None:
        os.environ["CXRKIT_THREADS"] = str(threads)
        from cxrkit.models.classifier import load_classifier

        self.clf = load_classifier(model, threads=threads)
        self.classify = classify
        self.batch_size = batch_size
        self.qc = qc

    def ready(self) -> dict[str, Any]:
        """Who this worker is, the model's name and findings, memory (MiB) and CPU seconds."""
        t = os.times()
        return {"worker": f"{socket.gethostname()}:{os.getpid()}", "pid": os.getpid(), "cpu_s": t.user + t.system,
                "model": self.clf.card.name, "findings": [str(f) for f in self.clf.findings], **process_memory_mb()}

    def run(self, paths: Sequence[str]) -> list[tuple[list[float] | None, str]]:
        """``(probabilities of the findings, "")`` or ``(None, error)`` per file, in order."""
        out = self.classify(self.clf, [Path(p) for p in paths], batch_size=self.batch_size, workers=1, qc=self.qc)
        return [(None if probs is None else [float(v) for v in probs], err) for _, probs, err in out]


@dataclass
class RayClassifyResult:
    """What :func:`run_ray_classify` returns.

    Attributes:
        model: the classifier's name; findings: its reported findings (the probability columns).
        rows: ``(path, probabilities or None, error)`` per input, in input order.
        pool: workers started and lost, files retried and given up.
    """

    model: str
    findings: list[str]
    rows: list[tuple[Path, list[float] | None, str]]
    pool: PoolStats


def run_ray_classify(
    paths: Sequence[Path],
    classify: Callable[..., Any],
    *,
    model: str | None = None,
    batch_size: int = 4,
    qc: bool = True,
    address: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    max_attempts: int = 3,
) -> RayClassifyResult:
    """Classify ``paths`` on Ray (a local Ray when ``address`` is None; see
    :func:`cxrkit.engine.ray_cluster.ray_session`); ``classify`` is the per-file function the workers run.

    Raises:
        EngineError: Ray missing or unreachable, or no worker could start.
    """
    from cxrkit.engine.ray_cluster import ray_session

    given = [Path(p) for p in paths]
    paths = [p.absolute() for p in given]  # what the workers open; the rows keep the paths as given
    model = None if model is None else str(Path(model).absolute())
    threads = max(1, int(threads_per_worker))
    results: list[tuple[list[float] | None, str] | None] = [None] * len(paths)
    with ray_session(address, num_cpus=workers * threads if workers else None) as ray:
        n_actors = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
        remote_worker = ray.remote(ClassifyWorker)

        def make_actor() -> Any:
            return remote_worker.options(num_cpus=threads, max_restarts=0, max_task_retries=0,
                                         scheduling_strategy="SPREAD").remote(classify, model, threads, batch_size, qc)

        def on_result(i: int, r: Any) -> None:
            results[i] = (r[0], r[1])

        def on_lost(i: int, reason: str) -> None:
            results[i] = (None, f"{WORKER_LOST}: {reason}")

        stats = run_actor_pool(ray, make_actor, n_actors, len(paths), payload=lambda u: [str(paths[i]) for i in u],
                               on_result=on_result, on_lost=on_lost, batch_size=batch_size,
                               max_attempts=max_attempts)
    if not stats.workers:
        raise EngineError("no classify worker came up")
    rows = []
    for p, r in zip(given, results):
        if r is None:
            raise EngineError(f"{p} got no result from the workers")
        rows.append((p, r[0], r[1]))
    info = stats.workers[0]
    return RayClassifyResult(model=info["model"], findings=list(info["findings"]), rows=rows, pool=stats)
