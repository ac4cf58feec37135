"""``cxrkit index build|add|delete|info`` and ``cxrkit similar`` on real NIH fixture films (in-process CLI)."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cxrkit.service.cli import main

FIX = Path(__file__).resolve().parents[1] / "fixtures"
FILMS = {  # NIH ChestX-ray14 fixture films: labels and patients from the NIH table
    "00000001_000.png": ("anatomy", "00000001", "Cardiomegaly", "PA"),
    "00003659_015.png": ("anatomy", "00003659", "No Finding", "PA"),
    "00000002_000.png": ("classifier", "00000002", "No Finding", "PA"),
    "00010805_049.png": ("io", "00010805", "Infiltration", "AP"),
    "00011322_006.png": ("io", "00011322", "Cardiomegaly|Edema", "AP"),
    "00013249_052.png": ("io", "00013249", "Cardiomegaly|Infiltration", "AP"),
}


@pytest.fixture()
def archive(tmp_path):
    src = tmp_path / "films"
    src.mkdir()
    for name, (folder, *_r) in FILMS.items():
        shutil.copy(FIX / folder / name, src / name)
    meta = pd.DataFrame([{"image_id": n, "patient_id": p, "labels": lab, "view": v, "study_date": "2015-03-0" + str(i + 1)}
                         for i, (n, (_f, p, lab, v)) in enumerate(FILMS.items())])
    meta.to_csv(tmp_path / "meta.csv", index=False)
    return src, tmp_path / "meta.csv"


def test_build_similar_delete_reload(archive, tmp_path, capsys):
    src, meta = archive
    idx = tmp_path / "idx"
    assert main(["index", "build", str(src), "--out", str(idx), "--meta", str(meta), "--quiet", "--threads", "1"]) == 0
    assert "6 films (6 added" in capsys.readouterr().err
    # resumable: a second build adds nothing
    assert main(["index", "build", str(src), "--out", str(idx), "--meta", str(meta), "--quiet"]) == 0
    assert "6 films (0 added, 6 already there" in capsys.readouterr().err
    query = src / "00011322_006.png"
    assert main(["similar", str(query), "--index", str(idx), "-k", "3", "--json", "--patient", "00011322"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["returned"] == 3 and doc["embedding"].startswith("cxr-adult-v2@")
    ids = [n["image_id"] for n in doc["neighbors"]]
    assert "00011322_006.png" not in ids  # its own patient (and the file itself) excluded
    assert all(isinstance(n["labels"], list) for n in doc["neighbors"])
    sims = [n["similarity"] for n in doc["neighbors"]]
    assert sims == sorted(sims, reverse=True)
    # another copy of an indexed film, own patient allowed: that film is its nearest neighbour
    assert main(["similar", str(FIX / "io" / "00011322_006.png"), "--index", str(idx), "-k", "1", "--json",
                 "--include-same-patient"]) == 0
    top = json.loads(capsys.readouterr().out)["neighbors"][0]
    assert top["image_id"] == "00011322_006.png" and top["similarity"] > 0.999
    # view filter, table output
    assert main(["similar", str(query), "--index", str(idx), "-k", "10", "--view", "PA"]) == 0
    out = capsys.readouterr().out
    assert "only 3 film(s) pass the filters" in out and " AP " not in out
    # opt-out: delete, reload, gone; adding the film again is refused
    assert main(["index", "delete", str(idx), "--patient", "00013249"]) == 0
    assert main(["similar", str(query), "--index", str(idx), "-k", "10", "--json"]) == 0
    assert "00013249_052.png" not in capsys.readouterr().out
    assert main(["index", "add", str(idx), str(src / "00013249_052.png"), "--meta", str(meta), "--quiet"]) == 0
    assert "skipped 1 film(s) of opted-out patients" in capsys.readouterr().err
    assert main(["index", "info", str(idx)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["films"] == 5 and info["opted_out_patients"] == 1


def test_errors_are_clear(archive, tmp_path, capsys):
    src, meta = archive
    idx = tmp_path / "idx"
    assert main(["similar", str(src / "00000001_000.png"), "--index", str(tmp_path / "none")]) == 1
    assert "not an index folder" in capsys.readouterr().err
    assert main(["index", "build", str(src / "00000001_000.png"), "--out", str(idx), "--quiet"]) == 0
    vec = next(idx.glob("vectors.*.npy"))
    vec.write_bytes(vec.read_bytes()[:-10])
    assert main(["similar", str(src / "00000001_000.png"), "--index", str(idx)]) == 1
    assert "checksum" in capsys.readouterr().err
    assert main(["index", "add", str(tmp_path / "nothing"), str(src)]) == 1
    assert "no index there" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["similar", str(bad), "--index", str(idx)]) == 1
    assert "error" in capsys.readouterr().err


def test_a_non_chest_query_is_refused_not_answered(archive, tmp_path, capsys):
    import numpy as np
    from PIL import Image as PILImage

    src, _meta = archive
    idx = tmp_path / "idx"
    assert main(["index", "build", str(src), "--out", str(idx), "--quiet"]) == 0
    noise = tmp_path / "noise.png"  # readable, but not a chest film: the quality check refuses it
    PILImage.fromarray(np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8)).save(noise)
    capsys.readouterr()
    assert main(["similar", str(noise), "--index", str(idx)]) == 1
    assert "not searched" in capsys.readouterr().err
    assert main(["similar", str(noise), "--index", str(idx), "--no-qc", "--json"]) == 0
