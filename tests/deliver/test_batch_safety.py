"""Batch runs under hostile file names, partial failures, reruns and concurrent runs (issue 11, items 1/3/7/11).

Each test reproduces a defect that was seen: a stem of ``.`` or ``..`` deleting outside ``--out``, one bad file
aborting the batch, names changing with the input set, ``errors.jsonl`` growing on every rerun, temp folders left
by killed runs, two runs on one ``--out``, output folders created 0700 and broken symbolic links skipped silently.
"""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from cxrkit.deliver.batch import (
    LOCK_NAME,
    OutputBusyError,
    collect_inputs,
    output_name,
    output_names,
    run_batch,
)
from cxrkit.pipeline import Analyzer
from cxrkit.service.cli import main


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(None, None)


@pytest.mark.parametrize("fname", ["..png", "...png", ".png", "-.png", "a/../b.png", "   .png", "\u00e9t\u00e9 x.png",
                                   "con.png", "x" * 240 + ".png", "a\nb.png", "$(rm -rf).png"])
def test_output_names_are_safe(fname):
    name = output_name(__import__("pathlib").Path("/in") / fname)
    assert name not in {".", ".."} and "/" not in name and "\\" not in name and "\n" not in name
    assert not name.startswith((".", "-")) and 0 < len(name) <= 80
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in name), name


@pytest.mark.parametrize("fname", ["...png", "..png"])
def test_dot_stems_never_delete_outside_out(tmp_path, examples, analyzer, fname):
    """Was: stem '..' removed the parent of --out, stem '.' replaced --out itself (exit 0)."""
    home = tmp_path / "home"
    (home / "precious").mkdir(parents=True)
    (home / "precious" / "thesis.txt").write_text("years of work")
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(examples / "00000002_000.png", src / fname)
    out = home / "results"
    (out / "earlier").mkdir(parents=True)
    (out / "earlier" / "keep.txt").write_text("an earlier result the user keeps")
    items = run_batch(analyzer, collect_inputs([src / fname]), out)
    assert [i.status for i in items] == ["done"]
    assert (home / "precious" / "thesis.txt").read_text() == "years of work"
    assert (out / "earlier" / "keep.txt").is_file()
    folder = out / items[0].name
    assert folder.parent == out and (folder / "result.json").is_file()


def test_names_are_stable_whatever_the_input_set(tmp_path, examples, analyzer):
    """Was: '-hash' added only on collisions within one run, so a rerun with more inputs renamed results."""
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        shutil.copy(examples / "00000002_000.png", tmp_path / d / "img.png")
    out = tmp_path / "out"
    first = run_batch(analyzer, collect_inputs([tmp_path / "x"]), out)
    second = run_batch(analyzer, collect_inputs([tmp_path / "x", tmp_path / "y"]), out)
    assert first[0].name == second[0].name and second[0].status == "skipped" and second[1].status == "done"
    assert len({p.name for p in out.iterdir() if p.is_dir()}) == 2
    assert output_names([tmp_path / "x" / "img.png"]) == [first[0].name]
    assert first[0].name.startswith("img-")


def test_one_bad_file_from_any_stage_is_recorded_and_the_run_goes_on(tmp_path, examples, analyzer, monkeypatch):
    """Was: an untyped exception (ValueError, TypeError, zlib.error...) killed the batch with a traceback."""
    import cxrkit.deliver.batch as batch

    real = batch.write_outputs

    def flaky(result, image, folder, **kw):
        if "bad" in folder.name:
            raise TypeError("simulated bug in an output stage")
        return real(result, image, folder, **kw)

    monkeypatch.setattr(batch, "write_outputs", flaky)
    src = tmp_path / "in"
    src.mkdir()
    for n in ("a.png", "bad.png", "c.png"):
        shutil.copy(examples / "00000002_000.png", src / n)
    out = tmp_path / "out"
    items = run_batch(analyzer, collect_inputs([src]), out)
    assert [i.status for i in items] == ["done", "error", "done"]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert len(errors) == 1 and errors[0]["error"] == "TypeError" and errors[0]["name"] == items[1].name


def test_errors_file_keeps_one_line_per_input(tmp_path, examples, analyzer):
    """Was: every rerun appended the same errors again."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    shutil.copy(examples / "00000002_000.png", src / "ok.png")
    out = tmp_path / "out"
    for _ in range(3):
        run_batch(analyzer, collect_inputs([src]), out)
    lines = (out / "errors.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["path"].endswith("broken.png")
    # a file that now reads correctly drops its old error
    shutil.copy(examples / "00000002_000.png", src / "broken.png")
    run_batch(analyzer, collect_inputs([src]), out)
    assert (out / "errors.jsonl").read_text() == ""


def test_temp_folders_of_killed_runs_are_cleaned_at_start(tmp_path, examples, analyzer):
    out = tmp_path / "out"
    (out / ".img-0123456789.tmp-deadbeef").mkdir(parents=True)
    (out / ".img-0123456789.tmp-deadbeef" / "overlay.png").write_bytes(b"half")
    (out / ".img-0123456789.old-cafef00d").mkdir()
    (out / ".hidden-user-folder").mkdir()  # not ours: left alone
    run_batch(analyzer, [examples / "00000002_000.png"], out)
    left = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert left == sorted([".hidden-user-folder", LOCK_NAME])


def test_a_second_run_on_the_same_out_is_refused(tmp_path, examples, analyzer):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK_NAME, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OutputBusyError, match="another cxrkit run"):
            run_batch(analyzer, [examples / "00000002_000.png"], out)
    assert run_batch(analyzer, [examples / "00000002_000.png"], out)[0].status == "done"  # lock released


def test_a_folder_that_is_not_a_result_is_never_removed(tmp_path, examples, analyzer):
    src = examples / "00000002_000.png"
    out = tmp_path / "out"
    theirs = out / output_name(src)
    theirs.mkdir(parents=True)
    (theirs / "notes.txt").write_text("the user's own folder that happens to have this name")
    items = run_batch(analyzer, [src], out)
    assert items[0].status == "error" and "not a cxrkit result folder" in items[0].error
    assert (theirs / "notes.txt").is_file()


def test_a_stale_result_is_replaced_only_when_it_is_ours(tmp_path, examples, analyzer):
    src = examples / "00000002_000.png"
    out = tmp_path / "out"
    item = run_batch(analyzer, [src], out)[0]
    (out / item.name / "result.json").write_text("{ half")  # e.g. edited by hand: redone, replaced
    again = run_batch(analyzer, [src], out)[0]
    assert again.status == "done" and json.loads((out / item.name / "result.json").read_text())


def test_output_folders_follow_the_umask(tmp_path, examples, analyzer):
    """Was: mkdtemp's 0700 survived the rename."""
    old = os.umask(0o022)
    try:
        item = run_batch(analyzer, [examples / "00000002_000.png"], tmp_path / "out")[0]
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "out" / item.name).stat().st_mode)
    assert mode == 0o755


def test_broken_symlinks_are_reported(tmp_path, examples, analyzer):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(examples / "00000002_000.png", src / "ok.png")
    (src / "gone.dcm").symlink_to(tmp_path / "nowhere.dcm")
    inputs = collect_inputs([src])
    assert [p.name for p in inputs] == ["gone.dcm", "ok.png"]
    items = run_batch(analyzer, inputs, tmp_path / "out")
    assert [i.status for i in items] == ["error", "done"] and "broken symbolic link" in items[0].error


def test_cli_view_option_marks_ap_films(tmp_path, examples):
    out = tmp_path / "out"
    assert main(["analyze", str(examples / "00000002_000.png"), "--out", str(out), "--view", "AP",
                 "--no-localize"]) in (0, 1)
    doc = json.loads(next(out.glob("*/result.json")).read_text())
    assert doc["image"]["view"] == "AP"
    ctr = [m for m in doc["measurements"] if m["name"] == "cardiothoracic_ratio"]
    if ctr:  # a segmenter is shipped: the AP CTR is flagged
        assert not ctr[0]["reliable"] and "ap_view_magnifies_heart" in ctr[0]["flags"]


@pytest.mark.parametrize("fname", ["..png", "...png", ".png"])
def test_segment_and_localize_folders_stay_inside_out(tmp_path, fname):
    """`cxrkit segment` / `cxrkit localize` named folders from the raw stem too: '..' wrote into --out's parent."""
    from pathlib import Path

    from cxrkit.service.commands.localize import _stem_dirs
    from cxrkit.service.commands.segment import _unique_stem

    out = tmp_path / "out"
    f = Path("/in") / fname
    assert _stem_dirs([f], out)[0].parent == out and _stem_dirs([f], out)[0].name not in (".", "..")
    assert _unique_stem(f, set()) not in (".", "..", "") and "/" not in _unique_stem(f, set())


def test_stale_result_folders_are_reported_not_removed(tmp_path, examples, capsys):
    out = tmp_path / "out"
    (out / "00000002_000").mkdir(parents=True)  # an older cxrkit's folder, named by the bare stem
    (out / "00000002_000" / "result.json").write_text("{}")
    assert main(["analyze", str(examples / "00000002_000.png"), "--out", str(out), "--no-segment",
                 "--no-localize"]) == 0
    text = capsys.readouterr().out
    assert "1 result folder(s)" in text and "00000002_000" in text
    assert (out / "00000002_000" / "result.json").is_file()


def test_cli_refuses_a_busy_out_before_loading_models(tmp_path, examples, capsys):
    import fcntl
    import time

    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK_NAME, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        t = time.time()
        code = main(["analyze", str(examples / "00000002_000.png"), "--out", str(out)])
        took = time.time() - t
    assert code == 1 and took < 5 and "another cxrkit run" in capsys.readouterr().err
