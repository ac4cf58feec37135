"""Audit inputs (folder + CSV, bad inputs reported and skipped) and the resumable prediction cache."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from cxrkit.audit.inputs import from_folder, subsample
from cxrkit.audit.predict import cached_outputs, occlude_border
from cxrkit.errors import DataFormatError


@pytest.fixture
def folder(tmp_path, fixtures_dir):
    src = fixtures_dir / "classifier" / "00000002_000.png"
    for i in range(6):
        shutil.copy(src, tmp_path / f"img{i}.png")
    return tmp_path


def test_bad_inputs_get_messages_and_the_audit_goes_on(folder):
    pd.DataFrame({"image": [f"img{i}.png" for i in range(6)] + ["gone.png"],
                  "Effusion": [1, 0, 1, 0, 1, 0, 1], "Pneumonia": [0] * 7, "Efusion2": [0, 1, 0, 1, 0, 1, 0],
                  "sex": list("MFMFMFM"), "scanner": list("aabbccd")}).to_csv(folder / "l.csv", index=False)
    d = from_folder(folder, folder / "l.csv")
    text = " | ".join(d.notes)
    assert "1 of 7 images" in text and "gone.png" in text
    assert "'Pneumonia': label is constant" in text
    assert "'Efusion2' is not a known finding (did you mean 'Effusion'?)" in text
    assert len(d) == 6 and d.findings == ["Effusion", "Pneumonia"]
    assert d.extra == ["Efusion2", "scanner"] and d.meta["sex"].tolist() == list("MFMFMF")
    with pytest.raises(DataFormatError, match="no finding column"):
        pd.DataFrame({"image": ["img0.png"], "colour": ["red"]}).to_csv(folder / "x.csv", index=False)
        from_folder(folder, folder / "x.csv")


def test_subsample_per_source_is_seeded(folder):
    pd.DataFrame({"image": [f"img{i}.png" for i in range(6)], "Effusion": [1, 0] * 3,
                  "site": list("aaabbb")}).to_csv(folder / "l.csv", index=False)
    d = from_folder(folder, folder / "l.csv")
    a, b = subsample(d, 2, seed=3), subsample(d, 2, seed=3)
    assert list(a.paths) == list(b.paths) and a.meta["source"].value_counts().to_dict() == {"a": 2, "b": 2}


def test_cache_makes_a_second_run_free_and_resumes(folder, tmp_path):
    paths = [str(folder / f"img{i}.png") for i in range(6)] + [str(folder / "missing.png")]
    calls = []

    def compute(imgs):
        calls.append(len(imgs))
        return {"probs": np.array([[float(im.mean()), 1.0] for im in imgs])}

    errors: dict = {}
    first = cached_outputs(paths[:4], "full", compute, tmp_path / "c", batch_size=2, progress=False)
    assert calls == [2, 2]
    out = cached_outputs(paths, "full", compute, tmp_path / "c", batch_size=2, errors=errors, progress=False)
    assert calls == [2, 2, 2]  # only the 2 new readable images (as if resumed after a kill)
    assert np.allclose(out["probs"][:4], first["probs"]) and np.isnan(out["probs"][6]).all()
    assert list(errors) == [paths[6]]
    (folder / "img0.png").touch()  # a changed file (new mtime) is recomputed
    import os
    os.utime(folder / "img0.png", ns=(1, 1))
    cached_outputs(paths[:1], "full", compute, tmp_path / "c", batch_size=2, progress=False)
    assert calls[-1] == 1


def test_occlude_border_blanks_a_band():
    im = np.ones((100, 50), np.float32)
    o = occlude_border(im, 0.1)
    assert o[:10].max() == 0 and o[:, -5:].max() == 0 and o[10:90, 5:45].min() == 1 and im.min() == 1
