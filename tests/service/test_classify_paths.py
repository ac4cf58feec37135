"""``cxrkit classify``'s pipelined loop: decoding in worker threads never reorders rows or changes values."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cxrkit.io import read_image
from cxrkit.models.classifier import load_classifier
from cxrkit.service.commands.classify import adaptive_threads, classify_paths


@pytest.fixture(scope="module")
def clf():
    return load_classifier(threads=1)


def test_rows_in_order_with_errors_between(tmp_path, fixtures_dir, clf):
    good = fixtures_dir / "classifier" / "00000002_000.png"
    files = []
    for i in range(7):
        f = tmp_path / f"img{i}.png"
        shutil.copy(good, f)
        files.append(f)
    (tmp_path / "broken.png").write_bytes(good.read_bytes()[:300])  # truncated PNG
    (tmp_path / "notes.png").write_text("not an image")
    files[2:2] = [tmp_path / "broken.png"]
    files[5:5] = [tmp_path / "notes.png", tmp_path / "missing.png"]
    expect = clf.predict([read_image(good).pixels])[0]
    for batch, workers in ((1, 1), (3, 2), (4, 4)):
        out = list(classify_paths(clf, files, batch_size=batch, workers=workers, qc=False))
        assert [p for p, _, _ in out] == files
        for p, probs, err in out:
            if p.stem.startswith("img"):
                assert err == "" and np.allclose(probs, expect, atol=1e-5)
            else:
                assert probs is None and err.split(":")[0] in ("InvalidImageError", "OSError"), (p, err)


def test_adaptive_threads_respects_env(monkeypatch):
    monkeypatch.setenv("CXRKIT_THREADS", "2")
    assert adaptive_threads() is None  # the user's setting wins (load_classifier reads it)
    monkeypatch.delenv("CXRKIT_THREADS")
    monkeypatch.setattr("os.getloadavg", lambda: (99.0, 99.0, 99.0))
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert adaptive_threads() == 1
    monkeypatch.setattr("os.getloadavg", lambda: (0.1, 0.1, 0.1))
    assert adaptive_threads() is None
