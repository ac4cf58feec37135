"""The evaluation protocol on a small synthetic dataset whose lesions the tiny model localizes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "explain"))
from _cam_models import LesionNet, lesion_image  # noqa: E402

from cxrkit.data.dataset import Dataset, DatasetCard  # noqa: E402
from cxrkit.data.transforms import TransformSpec  # noqa: E402
from cxrkit.explain.heatmaps import ExplainTarget  # noqa: E402
from cxrkit.localize.evaluate import PAPER_TABLE4, centre_prior, evaluate_localization, wilson_interval  # noqa: E402
from cxrkit.localize.report import markdown_report, paper_mean, write_examples_page  # noqa: E402


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Dataset:
    rng = np.random.default_rng(7)
    d = tmp_path_factory.mktemp("synthetic_boxes")
    rows, boxes = [], []
    corners = [(30, 30), (30, 160), (160, 30), (160, 160)]  # lesions away from the centre
    for i, (r, c) in enumerate(corners):
        img = lesion_image((192, 192), centre=(r, c), radius=14, rng=rng)
        path = d / f"img{i}.png"
        PILImage.fromarray((img * 255).astype(np.uint8)).save(path)
        rows.append({"path": str(path), "image_id": path.name, "patient_id": str(i)})
        boxes.append({"row": i, "finding": "Nodule", "x_min": c - 16.0, "y_min": r - 16.0, "x_max": c + 16.0,
                      "y_max": r + 16.0})
    card = DatasetCard(name="synthetic", title="synthetic lesions", citation="", license="", homepage="",
                       label_source="", cannot_provide=())
    return Dataset(["Nodule"], np.ones((4, 1), np.float32), pd.DataFrame(rows), boxes=pd.DataFrame(boxes), card=card)


def test_protocol_on_synthetic_lesions(synthetic, tmp_path) -> None:
    target = ExplainTarget(LesionNet().eval(), TransformSpec(size=64), ("Nodule", "Effusion"), ("Nodule", "Effusion"))
    ev = evaluate_localization(target, synthetic, n_examples=2)
    assert ev.protocol["evaluable_findings"] == ["Nodule"]
    assert "Cardiomegaly" in ev.protocol["not_evaluable_findings"] and ev.protocol["n_cases"] == 4
    s = ev.scores.set_index(["source", "finding", "measure", "threshold"])
    assert s.loc[("default", "Nodule", "iobb", 0.1), "accuracy"] == 1.0
    assert s.loc[("chestxray8", "Nodule", "iobb", 0.1), "accuracy"] == 1.0
    # the centred control misses corner lesions
    assert s.loc[("control:default", "Nodule", "iobb", 0.1), "accuracy"] == 0.0
    p = ev.pointing.set_index("finding")
    assert p.loc["Nodule", "accuracy"] == 1.0 and p.loc["Nodule", "control_accuracy"] == 0.0
    md = markdown_report(ev)
    assert "(0.165)" in md  # ChestX-ray8's Nodule accuracy at T(IoBB)=0.1 printed beside ours
    page = write_examples_page(ev, tmp_path)
    assert page.exists() and len(list((tmp_path / "examples").glob("*.png"))) == 2


def test_paper_table_means_match_the_published_means() -> None:
    from cxrkit.localize.evaluate import BOX_FINDINGS

    published = {0.1: 0.629, 0.25: 0.486, 0.5: 0.330, 0.75: 0.244, 0.9: 0.209}
    for t, m in published.items():
        assert paper_mean(t, list(BOX_FINDINGS)) == pytest.approx(m, abs=0.0015)
    assert set(PAPER_TABLE4) == set(published)


def test_helpers() -> None:
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    prior = centre_prior((100, 60))
    assert np.unravel_index(np.argmax(prior), prior.shape) in {(49, 29), (49, 30), (50, 29), (50, 30)}


def test_unreported_outputs_only_with_all_outputs(synthetic) -> None:
    only_effusion = ExplainTarget(LesionNet().eval(), TransformSpec(size=64), ("Nodule", "Effusion"), ("Effusion",))
    ev = evaluate_localization(only_effusion, synthetic, n_examples=0)
    assert ev.protocol["evaluable_findings"] == [] and ev.protocol["n_cases"] == 0
    assert ev.protocol["not_evaluable_findings"]["Nodule"] == "not reported by the model"
    ev = evaluate_localization(only_effusion, synthetic, n_examples=0, all_outputs=True)
    assert ev.protocol["evaluable_findings"] == ["Nodule"] and ev.protocol["unvalidated_findings_scored"] == ["Nodule"]
    assert "Nodule †" in markdown_report(ev)
