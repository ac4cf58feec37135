"""``cxrkit evaluate localization`` on the shared NIH box images (tiny model; a few images)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "explain"))
from _cam_models import LesionNet  # noqa: E402

from cxrkit.data.transforms import TransformSpec  # noqa: E402
from cxrkit.explain.heatmaps import ExplainTarget  # noqa: E402
from cxrkit.service import cli  # noqa: E402
from cxrkit.service.commands import evaluate_localization as ev_cmd  # noqa: E402
from cxrkit.service.commands import localize as loc_cmd  # noqa: E402

TINY = ExplainTarget(LesionNet().eval(), TransformSpec(size=64), LesionNet.labels, LesionNet.labels)


def test_read_exclude_text_and_csv(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("# comment\n00000001_000.png\n00000002_000\n\n")
    got = ev_cmd.read_exclude(tmp_path / "a.txt")
    assert got >= {"00000001_000.png", "00000002_000.png"} and not any(g.startswith("#") for g in got)
    (tmp_path / "b.csv").write_text("image_id,split\nx.png,train\ny.png,val\n")
    assert ev_cmd.read_exclude(tmp_path / "b.csv") == {"x.png"}


@pytest.mark.shared_data
def test_evaluate_localization_on_nih(shared_data, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(loc_cmd, "load_classifier_or_explain", lambda path: TINY)
    excl = tmp_path / "exclude.txt"
    excl.write_text("00000344_003\n")  # the first image with an Effusion box: must be left out
    out = tmp_path / "ev"
    rc = cli.main(["evaluate", "localization", "--root", str(shared_data / "nih-cxr14"), "--out", str(out),
                   "--limit", "4", "--examples", "2", "--exclude", str(excl)])
    assert rc == 0
    md = (out / "localization.md").read_text()
    assert "T=0.1" in md and "Pointing game" in md and "(0.165)" in md  # paper's Nodule value beside ours
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["n_box_images_excluded"] == 1 and protocol["n_images"] <= 4
    assert protocol["not_evaluable_findings"]["Pneumonia"] == "not reported by the model"
    assert (out / "examples.html").exists() and (out / "scores.csv").exists()
    assert "00000344_003" not in (out / "cases.csv").read_text()


def test_holdout_file_beside_the_card(tmp_path) -> None:
    from types import SimpleNamespace

    (tmp_path / "m.card.json").write_text("{}")
    clf = SimpleNamespace(card=SimpleNamespace(name="m", path=tmp_path / "m.card.json"))
    assert ev_cmd.holdout_file(clf) is None
    (tmp_path / "m.holdout.csv").write_text("image_id,source\n00000001_000.png,nih\nabc,jsrt\n")
    assert ev_cmd.holdout_file(clf) == tmp_path / "m.holdout.csv"
    assert ev_cmd.read_holdout(tmp_path / "m.holdout.csv") >= {"00000001_000.png", "abc"}
    assert ev_cmd.holdout_file(SimpleNamespace()) is None
