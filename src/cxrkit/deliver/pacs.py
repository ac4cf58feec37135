"""Orthanc PACS worker: new CR/DX chest instances in, SR + secondary capture (+ SEG) back via DICOMweb STOW-RS.

Loop: read Orthanc's ``/changes?since=SEQ`` → for each ``NewInstance`` check the instance's tags (CR/DX/DR,
not one of cxrkit's own outputs) → download ``/instances/{id}/file`` → :class:`~cxrkit.pipeline.Analyzer`
→ :func:`~cxrkit.deliver.dicom_out.write_dicom_outputs` → ``POST /dicom-web/studies`` (multipart/related;
type="application/dicom").

State (SQLite, one transaction per instance): the SOPInstanceUIDs already processed, the last change
sequence number, and a retry queue of instances whose processing failed. An instance is marked done only after
its outputs were stored, and the sequence number only moves past instances that are done, skipped or queued, so
a crash or an Orthanc outage loses no work.

Nothing is stored twice: the outputs' UIDs are derived from the source SOPInstanceUID and the model
(:func:`cxrkit.deliver.dicom_out.output_uid`), and before analysing an instance the worker asks Orthanc whether its SR
already exists (``POST /tools/lookup``), so a worker killed between STOW-RS and recording finds its results on
restart and only records them.

One bad instance never stops the worker: any failure while analysing it, building its DICOM outputs or having
them refused by the PACS (4xx, FailedSOPSequence) puts it in the retry queue; it is retried at the start of the
next passes and given up after ``max_attempts`` (state ``failed``, logged as an error, counted in
:class:`PassStats`). Network failures and 5xx answers are retried with exponential backoff; a pass that cannot
reach Orthanc ends with :class:`OrthancError`. Log lines carry Orthanc ids, SOP instance UIDs and exception type
names, never patient names, ids or other header values.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import httpx

from cxrkit.deliver.dicom_out import MANUFACTURER, model_key, output_uid, write_dicom_outputs
from cxrkit.errors import CxrkitError
from cxrkit.pipeline import Analyzer
from cxrkit.report.overlay import compose_overlay
from cxrkit.result import box_id

__all__ = ["PacsWorker", "ProcessedState", "OrthancError", "StoreRefusedError", "PassStats", "stow_body"]

log = logging.getLogger(__name__)

CHEST_MODALITIES = {"CR", "DX", "DR"}


class OrthancError(CxrkitError):
    """Orthanc stayed unreachable or kept answering errors/garbage after all retries."""


class StoreRefusedError(CxrkitError):
    """The PACS answered a STOW-RS of one instance's results with a 4xx or listed them as failed."""


class ProcessedState:
    """SQLite state file: processed SOPInstanceUIDs and the last change sequence number."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS processed (sop_uid TEXT PRIMARY KEY, status TEXT, "
                        "detail TEXT, at REAL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS attempts (sop_uid TEXT PRIMARY KEY, orthanc_id TEXT, "
                        "tries INTEGER, last_error TEXT, at REAL)")

    def last_seq(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        return int(row[0]) if row else 0

    def set_last_seq(self, seq: int) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES('last_seq', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(seq),))

    def is_done(self, sop_uid: str) -> bool:
        return self.db.execute("SELECT 1 FROM processed WHERE sop_uid=?", (sop_uid,)).fetchone() is not None

    def mark(self, sop_uid: str, status: str, detail: str = "") -> None:
        """Record a final outcome ("done", "unreadable", "not_usable", "failed"); clears its retry entry."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("INSERT OR REPLACE INTO processed VALUES (?, ?, ?, ?)",
                            (sop_uid, status, detail, time.time()))
            self.db.execute("DELETE FROM attempts WHERE sop_uid=?", (sop_uid,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def add_attempt(self, sop_uid: str, orthanc_id: str, error: str) -> int:
        """Count one failed attempt at ``sop_uid`` (queued for retry); returns the number of attempts so far."""
        self.db.execute(
            "INSERT INTO attempts VALUES (?, ?, 1, ?, ?) ON CONFLICT(sop_uid) DO UPDATE SET tries=tries+1, "
            "orthanc_id=excluded.orthanc_id, last_error=excluded.last_error, at=excluded.at",
            (sop_uid, orthanc_id, error, time.time()))
        return int(self.db.execute("SELECT tries FROM attempts WHERE sop_uid=?", (sop_uid,)).fetchone()[0])

    def pending(self) -> list[tuple[str, str, int]]:
        """Instances queued for retry: ``(sop_uid, orthanc_id, tries)``, oldest first."""
        return [tuple(r) for r in self.db.execute("SELECT sop_uid, orthanc_id, tries FROM attempts ORDER BY at")]

    def drop_attempts(self, sop_uid: str) -> None:
        self.db.execute("DELETE FROM attempts WHERE sop_uid=?", (sop_uid,))

    def failed(self) -> list[tuple[str, str]]:
        """Instances given up: ``(sop_uid, detail)``."""
        return [tuple(r) for r in self.db.execute("SELECT sop_uid, detail FROM processed WHERE status='failed'")]

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM processed GROUP BY status").fetchall())

    def close(self) -> None:
        self.db.close()


def stow_body(parts: list[bytes]) -> tuple[bytes, str]:
    """multipart/related body of DICOM parts for STOW-RS; returns ``(body, content_type)``."""
    boundary = uuid.uuid4().hex
    chunks = []
    for p in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/related; type="application/dicom"; boundary={boundary}'


@dataclass
class PassStats:
    """What one polling pass did: ``failed`` counts unreadable instances, failed attempts queued for a retry
    and instances given up; ``given_up`` the latter alone."""

    analyzed: int = 0
    skipped: int = 0
    failed: int = 0
    stored_instances: int = 0
    given_up: int = 0
    already_stored: int = 0


class PacsWorker:
    """Polls one Orthanc server and stores analysis results back into each study.

    Parameters
    ----------
    url:
        Orthanc's HTTP root, e.g. ``http://127.0.0.1:8042``.
    state:
        SQLite state file path.
    analyzer:
        the pipeline, or a function building it (called once, on the first instance to analyze, so a pass
        with nothing new never loads models).
    retries, backoff_s, max_backoff_s:
        attempts per HTTP call and the exponential backoff between them (doubling, capped).
    auth:
        optional ``(user, password)`` for Orthanc.
    max_attempts:
        an instance whose processing fails this many times (passes) is given up and recorded as "failed".
    sleep:
        injectable sleep (tests pass a fast one).
    """

    def __init__(self, url: str, state: str | Path, analyzer: Analyzer | Callable[[], Analyzer], *, retries: int = 6,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0, auth: tuple[str, str] | None = None,
                 timeout_s: float = 30.0, max_attempts: int = 3, sleep: Callable[[float], None] = time.sleep) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.max_attempts = max_attempts
        self.url = url.rstrip("/")
        self.state = ProcessedState(state)
        self._analyzer = analyzer
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.sleep = sleep
        self.client = httpx.Client(base_url=self.url, auth=auth, timeout=timeout_s)

    @property
    def analyzer(self) -> Analyzer:
        """The pipeline (built on first use when a factory was given)."""
        if not isinstance(self._analyzer, Analyzer):
            self._analyzer = self._analyzer()
        return self._analyzer

    def close(self) -> None:
        self.client.close()
        self.state.close()

    # ------------------------------------------------------------------ HTTP with retries
    def _request(self, method: str, path: str, **kw) -> httpx.Response:
        delay = self.backoff_s
        last = ""
        for attempt in range(1, self.retries + 1):
            try:
                r = self.client.request(method, path, **kw)
                if r.status_code < 500:
                    return r
                last = f"HTTP {r.status_code}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.retries:
                log.warning("Orthanc %s %s failed (%s); retry %d/%d in %.1f s", method, path, last, attempt,
                            self.retries - 1, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
        raise OrthancError(f"Orthanc {method} {path} failed after {self.retries} attempts: {last}")

    def _json(self, path: str) -> dict | list:
        r = self._request("GET", path)
        if r.status_code != 200:
            raise OrthancError(f"Orthanc GET {path}: HTTP {r.status_code}")
        return _as_json(r, path)

    # ------------------------------------------------------------------ the loop
    def run_once(self) -> PassStats:
        """Retry the queued instances, then process every change since the saved sequence number; returns what
        was done."""
        stats = PassStats()
        for sop, orthanc_id, _ in self.state.pending():
            if self.state.is_done(sop):
                self.state.drop_attempts(sop)
                continue
            self._handle_instance(orthanc_id, stats, queued_sop=sop)
        while True:
            since = self.state.last_seq()
            page = self._json(f"/changes?since={since}&limit=100")
            if not isinstance(page, dict) or "Changes" not in page or "Last" not in page:
                raise OrthancError("Orthanc /changes answer has no 'Changes'/'Last': not an Orthanc server?")
            for change in page["Changes"]:
                if change.get("ChangeType") == "NewInstance":
                    self._handle_instance(str(change.get("ID")), stats)
                self.state.set_last_seq(int(change["Seq"]))  # only after the instance is done or skipped
            self.state.set_last_seq(max(int(page["Last"]), since))
            if page.get("Done", True):
                return stats

    def watch(self, interval_s: float = 5.0, *, stop: Callable[[], bool] = lambda: False) -> None:
        """Poll forever (until ``stop()``); Orthanc outages are waited out with backoff."""
        while not stop():
            try:
                s = self.run_once()
                if s.analyzed or s.failed:
                    log.info("pass: %d analyzed, %d skipped, %d failed (%d given up)", s.analyzed, s.skipped,
                             s.failed, s.given_up)
            except OrthancError as exc:
                log.warning("%s; will retry", exc)
            self.sleep(interval_s)

    def _handle_instance(self, orthanc_id: str, stats: PassStats, *, queued_sop: str | None = None) -> None:
        path = f"/instances/{orthanc_id}/simplified-tags"
        r = self._request("GET", path)
        if r.status_code == 404:  # deleted from the PACS before we got to it: nothing to do, never a blocker
            if queued_sop is not None:
                log.warning("instance %s (SOP %s) is gone from Orthanc; dropped from the retry queue", orthanc_id,
                            queued_sop)
                self.state.mark(queued_sop, "gone", "deleted from the PACS before a retry")
            else:
                log.info("instance %s is gone from Orthanc; skipped", orthanc_id)
                stats.skipped += 1
            return
        if r.status_code != 200:
            raise OrthancError(f"Orthanc GET {path}: HTTP {r.status_code}")
        tags = _as_json(r, path)
        if not isinstance(tags, dict):
            raise OrthancError(f"instance {orthanc_id}: tags are not a JSON object")
        sop = str(tags.get("SOPInstanceUID", ""))
        modality = str(tags.get("Modality", "")).upper()
        if not sop:
            log.warning("instance %s has no SOPInstanceUID; skipped", orthanc_id)
            stats.skipped += 1
            return
        if self.state.is_done(sop):
            stats.skipped += 1
            return
        if str(tags.get("Manufacturer", "")) == MANUFACTURER or modality not in CHEST_MODALITIES:
            stats.skipped += 1  # our own SR/SC/SEG, or not a radiograph: nothing to do (not recorded)
            return
        if self._already_stored(sop):
            log.info("instance %s (SOP %s): its results are already in the PACS; recorded", orthanc_id, sop)
            self.state.mark(sop, "done", "already stored")
            stats.skipped += 1
            stats.already_stored += 1
            return
        r = self._request("GET", f"/instances/{orthanc_id}/file")
        if r.status_code == 404:
            log.info("instance %s (SOP %s) was deleted from Orthanc before its download; skipped", orthanc_id, sop)
            self.state.mark(sop, "gone", "deleted from the PACS before its download")
            stats.skipped += 1
            return
        if r.status_code != 200:
            raise OrthancError(f"instance {orthanc_id}: download failed with HTTP {r.status_code}")
        try:
            self._analyze_and_store(orthanc_id, sop, r.content, stats)
        except OrthancError as exc:  # Orthanc failed while storing (after retries): count it, end the pass
            if not self._failed_attempt(orthanc_id, sop, "store", exc, stats):
                raise
        except Exception as exc:  # noqa: BLE001 - one instance's failure never stops the worker
            self._failed_attempt(orthanc_id, sop, _stage(exc), exc, stats)

    def _already_stored(self, sop: str) -> bool:
        """True when Orthanc already holds the SR this model derives for ``sop`` (one lookup, no retries)."""
        sr_uid = output_uid(f"sop:{sop}", model_key(self.analyzer.model_info), "sr")
        try:
            r = self.client.post("/tools/lookup", content=sr_uid)
            found = r.json() if r.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            return False
        return isinstance(found, list) and any(isinstance(x, dict) and x.get("Type") == "Instance" for x in found)

    def _failed_attempt(self, orthanc_id: str, sop: str, stage: str, exc: BaseException, stats: PassStats) -> bool:
        """Count a failed attempt; gives the instance up after ``max_attempts``. Returns True when given up."""
        error = f"{stage}: {type(exc).__name__}"  # the type only: messages may quote header values
        tries = self.state.add_attempt(sop, orthanc_id, error)
        stats.failed += 1
        if tries >= self.max_attempts:
            self.state.mark(sop, "failed", f"{error} (given up after {tries} attempts)")
            stats.given_up += 1
            log.error("instance %s (SOP %s): %s; given up after %d attempts", orthanc_id, sop, error, tries)
            return True
        log.warning("instance %s (SOP %s): %s; attempt %d of %d, will retry on the next pass", orthanc_id, sop,
                    error, tries, self.max_attempts)
        log.debug("instance %s failed", orthanc_id, exc_info=True)
        return False

    def _analyze_and_store(self, orthanc_id: str, sop: str, data: bytes, stats: PassStats) -> None:
        try:
            result, image = self.analyzer.analyze_with_image(data)
        except CxrkitError as exc:
            log.warning("instance %s (SOP %s): not analyzable: %s", orthanc_id, sop, type(exc).__name__)
            self.state.mark(sop, "unreadable", type(exc).__name__)
            stats.failed += 1
            return
        if image is None or not result.quality.usable:
            log.info("instance %s (SOP %s): not a usable frontal chest radiograph", orthanc_id, sop)
            self.state.mark(sop, "not_usable", "; ".join(result.quality.reasons)[:500])
            stats.skipped += 1
            return
        boxes = [(box_id(f.name, i), b) for f in result.findings for i, b in enumerate(f.boxes)]
        overlay = compose_overlay(image.pixels, heatmaps=result.heatmaps, boxes=boxes, masks=result.masks)
        try:
            outputs = write_dicom_outputs(result, image, source=data, overlay=overlay)
            parts = []
            for ds in outputs.values():
                buf = BytesIO()
                ds.save_as(buf, enforce_file_format=True)
                parts.append(buf.getvalue())
        except Exception as exc:
            exc.add_note("stage: dicom output")
            raise
        body, ctype = stow_body(parts)
        r = self._request("POST", "/dicom-web/studies", content=body,
                          headers={"Content-Type": ctype, "Accept": "application/dicom+json"})
        if r.status_code not in (200, 202):
            raise StoreRefusedError(f"STOW-RS of results for SOP {sop} refused: HTTP {r.status_code}")
        failed = _failed_sops(r)
        if failed:
            raise StoreRefusedError(f"STOW-RS of results for SOP {sop}: the PACS refused {failed} of {len(parts)} "
                                    "instances")
        self.state.mark(sop, "done", ",".join(outputs))
        stats.analyzed += 1
        stats.stored_instances += len(parts)
        log.info("instance %s (SOP %s): stored %s", orthanc_id, sop, ", ".join(outputs))


def _stage(exc: BaseException) -> str:
    if isinstance(exc, StoreRefusedError):
        return "store"
    if any("stage: dicom output" in n for n in getattr(exc, "__notes__", ())):
        return "dicom output"
    return "analyze"


def _as_json(r: httpx.Response, path: str):
    try:
        return r.json()
    except ValueError:
        raise OrthancError(f"Orthanc GET {path}: answer is not JSON") from None


def _failed_sops(r: httpx.Response) -> int:
    """Number of instances in a STOW-RS answer's FailedSOPSequence (0008,1198); 0 when none or no JSON."""
    try:
        doc = r.json()
    except ValueError:
        return 0
    seq = doc.get("00081198", {}).get("Value", []) if isinstance(doc, dict) else []
    return len(seq)
