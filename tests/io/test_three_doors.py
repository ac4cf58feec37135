"""Every bad file of the reader table through the three doors (issue 11): ``read_image``, ``cxrkit analyze`` and
``POST /v1/analyze``, with the shipped models. No traceback, no 500, no wrong success, nothing lost: each bad
file is one line of ``errors.jsonl`` (or a "not analysable" result) and the good film in the same batch is
analysed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_io_errors import FILE_CASES

from cxrkit.errors import CxrkitError
from cxrkit.io import read_image

GOOD = Path(__file__).resolve().parents[1] / "fixtures" / "classifier" / "00000002_000.png"
# cases that are not one file a user could pass or upload (a folder, a missing path)
NOT_UPLOADABLE = {"missing-file", "directory"}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    out = {}
    for i, (case_id, make, _error, _words) in enumerate(FILE_CASES):
        if case_id in NOT_UPLOADABLE:
            continue
        work = root / f"case{i:02d}"
        work.mkdir()
        p = make(work)
        if p.is_file():
            out[case_id] = p
    assert len(out) >= 30, f"only {len(out)} bad files built"
    return out


def test_read_image_door(bad_files):
    for p in bad_files.values():
        with pytest.raises(CxrkitError):
            read_image(p)


@pytest.mark.slow
def test_cli_door_records_every_bad_file_and_analyses_the_good_one(bad_files, tmp_path, capsys):
    from cxrkit.service.cli import main

    src = tmp_path / "in"
    src.mkdir()
    names = {}
    for i, (case_id, p) in enumerate(sorted(bad_files.items())):
        dst = src / f"{i:02d}_{case_id}{p.suffix}"
        shutil.copy(p, dst)
        names[dst.name] = case_id
    shutil.copy(GOOD, src / "zz_good.png")
    out = tmp_path / "out"
    # files named one by one: a folder walk keeps image suffixes only, so ``.bin`` would not be a candidate
    code = main(["analyze", *sorted(str(f) for f in src.iterdir()), "--out", str(out), "--no-localize"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code in (0, 1)
    errors = {Path(json.loads(line)["path"]).name for line in (out / "errors.jsonl").read_text().splitlines()}
    results = [json.loads(r.read_text()) for r in out.glob("*/result.json")]
    done = {Path(r["image"]["source"]).name for r in results if r["image"].get("source")}
    for name in names:  # each bad file is an error line or a "not analysable" result, never findings
        assert name in errors or name in done, name
    for r in results:
        if Path(r["image"].get("source") or "").name in names:
            assert not r["quality"]["usable"] and not r["findings"], r["image"]
    good = [r for r in results if Path(r["image"].get("source") or "").name == "zz_good.png"]
    assert len(good) == 1 and good[0]["quality"]["usable"] and good[0]["findings"]


@pytest.mark.slow
def test_api_door_never_answers_500(bad_files):
    from cxrkit.service.api import create_app
    from cxrkit.service.settings import Settings

    with TestClient(create_app(Settings()), raise_server_exceptions=False) as c:
        for case_id, p in bad_files.items():
            r = c.post("/v1/analyze", files={"file": (f"upload{p.suffix}", p.read_bytes())})
            assert r.status_code != 500 and r.headers["content-type"].startswith("application/json"), (case_id, r.text)
            if r.status_code == 200:  # a readable file that is not a radiograph: said so, no findings
                body = r.json()
                assert not body["quality"]["usable"] and not body["findings"], case_id
            else:
                assert 400 <= r.status_code < 500, case_id
        r = c.post("/v1/analyze", files={"file": ("good.png", GOOD.read_bytes())})
        assert r.status_code == 200 and r.json()["quality"]["usable"]
