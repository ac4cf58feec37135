"""``cxrkit localize`` / ``cxrkit evaluate localization`` with the anatomy boxes of the shipped classifier."""

from __future__ import annotations

import json

import pytest

from cxrkit.service import cli

NIH_PNG = "localize/00000032_037_256.png"


@pytest.fixture(scope="module")
def shipped():
    try:
        from cxrkit.models.classifier import load_classifier

        return load_classifier()
    except Exception as exc:  # not shipped in this checkout
        pytest.skip(f"shipped classifier unavailable: {exc}")


def test_localize_research_mode_all_8_findings(shipped, fixtures_dir, tmp_path, capsys) -> None:
    from cxrkit.localize.anatomy import lung_field
    from cxrkit.localize.evaluate import BOX_FINDINGS

    rc = cli.main(["localize", str(fixtures_dir / NIH_PNG), "--all-outputs", "--findings", ",".join(BOX_FINDINGS),
                   "--boxes", "anatomy", "--no-overlay", "--out", str(tmp_path)])
    assert rc == 0
    boxes = json.loads((tmp_path / "00000032_037_256" / "boxes.json").read_text())
    assert list(boxes) == list(BOX_FINDINGS) and all(1 <= len(b) <= 2 for b in boxes.values())
    out = capsys.readouterr().out
    assert "Mass" in out and "(location not validated)" in out  # Mass: head not reported by the card

    from cxrkit.anatomy.segment import load_segmenter
    from cxrkit.io import read_image

    image = read_image(fixtures_dir / NIH_PNG)
    field = lung_field(load_segmenter().predict(image.pixels), image.shape)
    for bs in boxes.values():
        for b in bs:  # every box at most half the lung field (small slack: the heatmap grid is coarser)
            assert (b["x_max"] - b["x_min"]) * (b["y_max"] - b["y_min"]) <= 0.5 * field.area * 1.05


@pytest.mark.shared_data
def test_evaluate_split_file_and_classes(shipped, shared_data, tmp_path) -> None:
    from pathlib import Path

    split = Path(__file__).resolve().parents[2] / "configs" / "splits" / "nih_v2.csv"
    if not split.is_file():
        pytest.skip("configs/splits/nih_v2.csv not found")
    out = tmp_path / "ev"
    rc = cli.main(["evaluate", "localization", "--root", str(shared_data / "nih-cxr14"), "--images", "adult_512",
                   "--split-file", str(split), "--part", "val", "--classes", "all", "--limit", "6",
                   "--examples", "0", "--out", str(out)])
    assert rc == 0
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["box_methods"] == ["anatomy", "default", "chestxray8"] and protocol["n_images"] == 6
    assert "Atelectasis" in protocol["unvalidated_findings_scored"]
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert not verdicts["Atelectasis"]["reported_by_card"] and not verdicts["Atelectasis"]["validated"]
    md = (out / "localization.md").read_text()
    assert "Localization verdicts" in md and "Accuracy, T(IoU)" in md
    rc = cli.main(["evaluate", "localization", "--root", str(shared_data / "nih-cxr14"), "--images", "adult_512",
                   "--split-file", str(split), "--limit", "2", "--write-validated", "--examples", "0",
                   "--out", str(tmp_path / "w")])
    assert rc != 0  # verdicts are never written from a partial run
