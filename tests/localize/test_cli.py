"""``cxrkit localize`` end to end: boxes.json + overlay.png, unknown finding, DICOM pixel coordinates."""

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
from cxrkit.service.commands import localize as cmd  # noqa: E402

NIH_PNG = "localize/00000032_037_256.png"
TINY = ExplainTarget(LesionNet().eval(), TransformSpec(size=64, geometry="center_crop"), LesionNet.labels, LesionNet.labels)


@pytest.fixture
def tiny_model(monkeypatch):
    """The CLI with a tiny two-finding model instead of the shipped one (the loader is the only thing swapped)."""
    monkeypatch.setattr(cmd, "load_classifier_or_explain", lambda path: TINY)


def test_localize_writes_boxes_and_overlay(tiny_model, fixtures_dir, tmp_path, capsys) -> None:
    rc = cli.main(["localize", str(fixtures_dir / NIH_PNG), "--findings", "Nodule,Effusion", "--out", str(tmp_path)])
    assert rc == 0
    d = tmp_path / "00000032_037_256"
    boxes = json.loads((d / "boxes.json").read_text())
    assert list(boxes) == ["Nodule", "Effusion"]
    for bs in boxes.values():
        assert bs, "boxes for every requested finding whatever its probability"
        for b in bs:
            assert set(b) == {"x_min", "y_min", "x_max", "y_max", "score"}
            assert 0 <= b["x_min"] < b["x_max"] <= 256 and 0 <= b["y_min"] < b["y_max"] <= 256
    assert (d / "overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "probabilities" in capsys.readouterr().out


def test_unknown_finding_lists_available(tiny_model, fixtures_dir, tmp_path, capsys) -> None:
    rc = cli.main(["localize", str(fixtures_dir / NIH_PNG), "--findings", "Nodle", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1 and "did you mean 'Nodule'" in err and "Effusion" in err
    assert not any(tmp_path.iterdir())


def test_dicom_boxes_in_dicom_pixel_coordinates(tiny_model, fixtures_dir, tmp_path) -> None:
    dcm = fixtures_dir / "io" / "RG1_J2KI"  # 1955 rows x 1841 columns, MONOCHROME1, JPEG 2000
    rc = cli.main(["localize", str(dcm), "--findings", "Nodule", "--out", str(tmp_path), "--no-overlay"])
    assert rc == 0
    (b, *_) = json.loads((tmp_path / "RG1_J2KI" / "boxes.json").read_text())["Nodule"]
    assert 0 <= b["x_min"] < b["x_max"] <= 1841 and 0 <= b["y_min"] < b["y_max"] <= 1955
    # center crop: columns outside the central 1841-wide square are seen, rows outside are not
    assert b["y_min"] >= (1955 - 1841) / 2 - 16 and b["y_max"] <= 1955 - (1955 - 1841) / 2 + 16


def test_shipped_model_end_to_end(fixtures_dir, tmp_path) -> None:
    try:
        from cxrkit.models.classifier import load_classifier

        clf = load_classifier()
    except Exception as exc:  # not shipped yet in this checkout
        pytest.skip(f"shipped classifier unavailable: {exc}")
    rc = cli.main(["localize", str(fixtures_dir / NIH_PNG), "--out", str(tmp_path)])
    assert rc == 0
    boxes = json.loads((tmp_path / "00000032_037_256" / "boxes.json").read_text())
    assert list(boxes) == list(clf.findings)
    assert (tmp_path / "00000032_037_256" / "overlay.png").exists()


def test_empty_folder_is_a_clean_error(tiny_model, tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    rc = cli.main(["localize", str(tmp_path / "empty"), "--findings", "Nodule", "--out", str(tmp_path / "o")])
    assert rc == 1 and "no input images" in capsys.readouterr().err
