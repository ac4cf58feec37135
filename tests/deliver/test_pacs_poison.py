"""PACS worker: a poison instance is given up and the others still get results; a kill between STOW-RS and
recording never stores twice; a real-world header (PatientSex MALE) no longer crash-loops the worker
(issue 11, items 3, 4, 5)."""

from __future__ import annotations

import numpy as np
import pytest
from fake_orthanc import FakeOrthanc

import cxrkit.deliver.pacs as pacs
from cxrkit.deliver.pacs import PacsWorker
from cxrkit.pipeline import Analyzer
from cxrkit.synthetic import synthetic_chest, synthetic_dicom


class StubClassifier:
    findings = ("Effusion",)
    thresholds = {"Effusion": 0.5}

    def predict(self, pixels_list):
        return np.array([[0.7]])


@pytest.fixture()
def orthanc():
    o = FakeOrthanc()
    yield o
    o.close()


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(StubClassifier(), None, localize=False)


def _radiograph(seed: int, **extra) -> bytes:
    pixels = synthetic_chest((256, 256), seed=seed)
    return synthetic_dicom(None, pixels=pixels, modality="CR", seed=seed,
                           extra={"PatientID": f"P{seed}", "PatientSex": "M", **extra})


def _worker(orthanc, tmp_path, analyzer, **kw) -> PacsWorker:
    return PacsWorker(orthanc.url, tmp_path / "state.sqlite", analyzer, retries=2, sleep=lambda s: None, **kw)


def test_patient_sex_male_is_stored_not_crash_looped(orthanc, tmp_path, analyzer):
    orthanc.add(_radiograph(1, PatientSex="MALE"))
    w = _worker(orthanc, tmp_path, analyzer)
    stats = w.run_once()
    w.close()
    assert stats.analyzed == 1 and stats.failed == 0 and len(orthanc.stored) == 2  # SR + SC


def test_a_poison_instance_is_given_up_and_the_rest_are_analyzed(orthanc, tmp_path, analyzer, monkeypatch):
    """Was: any untyped exception (DICOM output, reader) escaped run_once; the worker restarted on the same
    instance forever and the studies behind it got nothing."""
    real = pacs.write_dicom_outputs
    poison = {}

    def flaky(result, image, *, source, overlay):
        if image.meta.dicom.get("SOPInstanceUID") == poison.get("sop"):
            raise ValueError("simulated: a header value the writer cannot take")
        return real(result, image, source=source, overlay=overlay)

    monkeypatch.setattr(pacs, "write_dicom_outputs", flaky)
    import io

    import pydicom

    datas = [_radiograph(i) for i in (1, 2, 3)]
    poison["sop"] = str(pydicom.dcmread(io.BytesIO(datas[1])).SOPInstanceUID)
    for d in datas:
        orthanc.add(d)
    w = _worker(orthanc, tmp_path, analyzer, max_attempts=3)
    first = w.run_once()
    assert first.analyzed == 2 and first.failed == 1 and first.given_up == 0
    second, third = w.run_once(), w.run_once()
    assert second.failed == 1 and third.given_up == 1
    assert w.run_once().failed == 0  # given up: not retried again
    assert w.state.counts() == {"done": 2, "failed": 1}
    (sop, detail), = w.state.failed()
    assert sop == poison["sop"] and "dicom output: ValueError" in detail and "header" not in detail
    w.close()
    assert len(orthanc.stored) == 4


def test_kill_between_stow_and_recording_stores_nothing_twice(orthanc, tmp_path, analyzer, monkeypatch):
    """Was: random output UIDs, so the restarted worker stored a second SR and SC."""
    orthanc.add(_radiograph(7))
    w = _worker(orthanc, tmp_path, analyzer)
    real_mark = w.state.mark

    def killed(sop, status, detail=""):
        if status == "done":
            raise SystemExit("simulated kill -9 after STOW-RS, before the state was written")
        real_mark(sop, status, detail)

    monkeypatch.setattr(w.state, "mark", killed)
    with pytest.raises(SystemExit):
        w.run_once()
    w.client.close()
    w.state.close()
    assert len(orthanc.stored) == 2
    w2 = _worker(orthanc, tmp_path, analyzer)
    stats = w2.run_once()
    w2.close()
    assert stats.already_stored == 1 and stats.analyzed == 0
    assert set(orthanc.stow_counts.values()) == {1} and len(orthanc.stored) == 2


def test_a_retry_after_lookup_failure_is_still_idempotent(orthanc, tmp_path, analyzer, monkeypatch):
    """Without the lookup (a PACS without /tools/lookup), the derived UIDs make a second STOW the same objects."""
    orthanc.add(_radiograph(8))
    w = _worker(orthanc, tmp_path, analyzer)
    monkeypatch.setattr(w, "_already_stored", lambda sop: False)
    w.run_once()
    w.state.db.execute("DELETE FROM processed")  # state lost
    w.state.db.execute("DELETE FROM meta")
    w.run_once()
    w.close()
    assert len(orthanc.stored) == 2 and set(orthanc.stow_counts.values()) == {2}


def test_a_refused_store_is_retried_then_given_up(orthanc, tmp_path, analyzer):
    orthanc.add(_radiograph(9))
    orthanc.stow_status = 400
    w = _worker(orthanc, tmp_path, analyzer, max_attempts=2)
    assert w.run_once().failed == 1
    assert w.run_once().given_up == 1
    detail = w.state.failed()[0][1]
    w.close()
    assert "store: StoreRefusedError" in detail


def test_an_instance_deleted_before_processing_does_not_block_the_rest(orthanc, tmp_path, analyzer):
    """Was: a NewInstance change whose instance was gone (404) raised OrthancError and the sequence never moved."""
    orthanc.changes.append({"Seq": 1, "ChangeType": "NewInstance", "ID": "deleted-meanwhile"})
    orthanc.instances["x"] = b""  # keep add()'s numbering independent of the fake change
    orthanc.add(_radiograph(11))
    orthanc.changes[-1]["Seq"] = 2
    w = _worker(orthanc, tmp_path, analyzer)
    stats = w.run_once()
    w.close()
    assert stats.analyzed == 1 and stats.skipped == 1 and len(orthanc.stored) == 2
