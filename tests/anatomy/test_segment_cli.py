"""``cxrkit segment`` on real files: outputs per image, sizes, JSON, bad files skipped."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image as PILImage

from cxrkit.service.cli import main

STRUCTS = ("left_lung", "right_lung", "heart", "left_clavicle", "right_clavicle")


def test_segment_cli_writes_outputs_and_skips_bad_files(fixtures_dir, tmp_path, capsys):
    img = fixtures_dir / "anatomy" / "00000001_000.png"
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "out"
    rc = main(["segment", str(img), str(bad), "--out", str(out), "--threads", "1"])
    captured = capsys.readouterr()
    assert rc == 1  # one input failed
    assert "broken.png: skipped" in captured.err
    d = out / "00000001_000"
    size = PILImage.open(img).size
    for s in STRUCTS:
        m = np.asarray(PILImage.open(d / f"{s}.png"))
        assert m.dtype == np.uint8 and m.shape == size[::-1] and set(np.unique(m)) <= {0, 255}
    meas = json.loads((d / "measurements.json").read_text())
    assert isinstance(meas["cardiothoracic_ratio"], float) and 0.3 < meas["cardiothoracic_ratio"] < 0.8
    assert meas["heart_width_mm"] is None  # PNG: no pixel spacing
    assert {"flags", "reliable", "right_lung_area_px", "thorax_width_px"} <= set(meas)
    ov = PILImage.open(d / "overlay.png")
    assert ov.mode == "RGB" and ov.size == size
    assert not (out / "broken").exists()
    assert "CTR" in captured.out
