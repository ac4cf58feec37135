"""``cxrkit analyze`` / ``cxrkit demo``: outputs, resume after a crash, per-file errors, atomic folders."""

from __future__ import annotations

import json
import shutil

import pytest

from cxrkit.deliver.batch import collect_inputs, output_name, output_names, run_batch
from cxrkit.pipeline import Analyzer
from cxrkit.result import validate_result
from cxrkit.service.cli import main


@pytest.fixture()
def inputs(tmp_path, examples):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(examples / "00000002_000.png", src / "a.png")
    shutil.copy(examples / "siim_pa_chest.dcm", src / "sub" / "siim")  # extensionless DICOM
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (src / "notes.txt").write_text("ignored: not an image suffix")
    from pydicom.data import get_testdata_file

    shutil.copy(get_testdata_file("CT_small.dcm"), src / "ct.dcm")
    return src


def test_analyze_writes_results_errors_and_resumes(tmp_path, inputs, capsys):
    out = tmp_path / "out"
    code = main(["analyze", str(inputs), "--out", str(out), "--no-segment", "--no-localize"])
    assert code == 1  # one file failed; the run went on
    text = capsys.readouterr().out
    assert "a " in text and "siim" in text and "1 errors" in text and "not a diagnosis" in text
    name_of = {p.name: output_name(p) for p in collect_inputs([inputs])}
    for name in (name_of["a.png"], name_of["siim"]):
        doc = json.loads((out / name / "result.json").read_text())
        validate_result(doc)
        assert (out / name / "report.md").read_text().startswith("# cxrkit draft report")
        assert (out / name / "overlay.png").stat().st_size > 1000
    ct = json.loads((out / name_of["ct.dcm"] / "result.json").read_text())
    validate_result(ct)
    assert not ct["quality"]["usable"] and ct["findings"] == [] and "CT" in ct["quality"]["reasons"][0]
    assert sorted(p.name for p in (out / name_of["ct.dcm"]).iterdir()) == [".cxrkit-result", "report.md", "result.json"]
    assert "not analyzed" in text
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [e["path"].rsplit("/", 1)[-1] for e in errors] == ["broken.png"]
    assert errors[0]["error"] == "InvalidImageError"
    assert not (out / name_of["broken.png"]).exists() and not list(out.glob(".*tmp*"))

    # resume: finished images are skipped, a corrupt result.json is redone
    (out / name_of["a.png"] / "result.json").write_text("{ half written")
    mtime = (out / name_of["siim"] / "result.json").stat().st_mtime_ns
    main(["analyze", str(inputs), "--out", str(out), "--no-segment", "--no-localize"])
    text = capsys.readouterr().out
    assert "1 analyzed, 2 already done (skipped), 1 errors" in text
    assert (out / name_of["siim"] / "result.json").stat().st_mtime_ns == mtime
    validate_result(json.loads((out / name_of["a.png"] / "result.json").read_text()))
    assert len((out / "errors.jsonl").read_text().splitlines()) == 1  # the rerun's error replaced the old line


def test_crash_mid_write_leaves_no_half_result(tmp_path, examples, monkeypatch):
    """A failure while writing one image's outputs leaves neither its folder nor temp files behind."""
    import cxrkit.deliver.batch as batch

    def boom(*a, **k):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(batch, "result_markdown", boom)
    out = tmp_path / "out"
    items = run_batch(Analyzer(None, None), [examples / "00000002_000.png"], out)
    assert items[0].status == "error" and "disk full" in items[0].error
    assert sorted(p.name for p in out.iterdir()) == [".cxrkit.lock", "errors.jsonl"]


def test_colliding_stems_get_distinct_folders(tmp_path, examples):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        shutil.copy(examples / "00000002_000.png", tmp_path / d / "img.png")
    paths = collect_inputs([tmp_path / "x", tmp_path / "y", tmp_path / "x" / "img.png"])
    assert len(paths) == 2
    names = output_names(paths)
    assert len(set(names)) == 2 and all(n.startswith("img-") for n in names)


def test_workers_and_missing_path(tmp_path, examples, capsys):
    out = tmp_path / "out"
    assert main(["analyze", str(examples), "--out", str(out), "--workers", "2", "--no-segment", "--no-localize"]) == 0
    assert sorted(p.name.rsplit("-", 1)[0] for p in out.iterdir() if p.is_dir()) == [
        "00000002_000", "00000377_004", "00001437_012", "siim_pa_chest"]
    assert main(["analyze", str(tmp_path / "nope"), "--out", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_demo(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 analyzed" in text and str(out) in text
    assert len(list(out.glob("*/result.json"))) == 4
