"""``cxrkit analyze --no-qc``: an image the quality check refuses is analyzed, and the result says QC was skipped."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

from cxrkit.deliver.batch import output_name
from cxrkit.result import validate_result
from cxrkit.service.cli import main


def test_no_qc_analyzes_a_refused_image_and_records_it(tmp_path, examples):
    src = tmp_path / "film.png"
    shutil.copy(examples / "00000002_000.png", src)
    for flag, out in (([], tmp_path / "with_qc"), (["--no-qc"], tmp_path / "no_qc")):
        # --view LATERAL: a lateral view tag, which the quality check refuses
        code = main(["analyze", str(src), "--out", str(out), "--no-segment", "--no-localize", "--view", "LATERAL", *flag])
        assert code == 0
    with_qc = json.loads((tmp_path / "with_qc" / output_name(src) / "result.json").read_text())
    no_qc = json.loads((tmp_path / "no_qc" / output_name(src) / "result.json").read_text())
    validate_result(with_qc)
    validate_result(no_qc)
    assert not with_qc["quality"]["usable"] and "lateral" in with_qc["quality"]["reasons"][0]
    assert no_qc["quality"]["usable"] and no_qc["quality"]["reasons"] == []
    assert no_qc["quality"]["checks"]["qc_skipped"]["value"] == {"would_refuse": True}
    assert any(w.startswith("QC skipped (--no-qc)") and "lateral" in w for w in no_qc["quality"]["warnings"])
    assert {"name": "qc", "status": "skipped", "detail": "refusals not applied (--no-qc)"} in no_qc["components"]
    assert not any(c["name"] == "qc" for c in with_qc["components"])


def test_no_qc_through_the_python_api(examples):
    from cxrkit.io import read_image
    from cxrkit.pipeline import Analyzer
    from cxrkit.types import Image

    film = read_image(examples / "00000002_000.png")
    img = Image(film.pixels, replace(film.meta, view="LL"))
    assert not Analyzer(None, None, localize=False).analyze(img).quality.usable
    r = Analyzer(None, None, localize=False, qc=False).analyze(img)
    assert r.quality.usable and r.quality.checks["qc_skipped"]["value"]["would_refuse"]
