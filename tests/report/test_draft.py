"""Draft report sentences, markdown rendering and overlays (arrays in, arrays out)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cxrkit.report import DRAFT_NOTICE, draft_report
from cxrkit.report.overlay import compose_overlay, draw_boxes, gray_to_rgb, heatmap_rgba, mask_rgba
from cxrkit.result import Quality
from cxrkit.types import Box, Finding, Measurement


def _findings():
    return [
        Finding("Effusion", 0.81, 0.42, True, (Box(10, 20, 60, 90, 0.9), Box(100, 20, 150, 90, 0.4))),
        Finding("Cardiomegaly", 0.66, 0.5, True),
        Finding("Pneumonia", 0.2, 0.3, False),
    ]


def test_positive_findings_point_to_their_evidence():
    rep = draft_report(_findings(), quality=Quality(True))
    s0, s1 = rep.sentences[:2]
    assert s0.evidence == {"finding": "Effusion", "probability": 0.81, "threshold": 0.42,
                           "boxes": ["Effusion#1", "Effusion#2"]}
    assert "pleural effusion" in s0.text and "Effusion#1, Effusion#2" in s0.text and "0.81" in s0.text
    assert s1.evidence["finding"] == "Cardiomegaly" and s1.evidence["boxes"] == []
    assert "pneumonia" not in rep.text.lower()  # below its operating point: never stated
    assert rep.text.endswith(DRAFT_NOTICE) and "not a diagnosis" in rep.text


def test_negative_study_and_ctr_sentence_with_caveats():
    neg = [Finding("Pneumonia", 0.2, 0.3, False)]
    ctr = Measurement("cardiothoracic_ratio", 0.56, "ratio", False, ("lung_cut_off",))
    rep = draft_report(neg, [ctr], Quality(True, warnings=("AP view: heart magnified",)), view="AP")
    texts = [s.text for s in rep.sentences]
    assert texts[0].startswith("None of the assessed findings reached its operating point (pneumonia)")
    assert "Cardiothoracic ratio 0.56" in texts[1] and "above the usual limit of 0.50" in texts[1]
    assert "AP projection" in texts[1] and "lung_cut_off" in texts[1]
    assert rep.sentences[1].evidence["measurement"] == "cardiothoracic_ratio"
    assert texts[2].startswith("Note: AP view")


def test_unusable_image_gets_one_sentence_only():
    rep = draft_report(_findings(), quality=Quality(False, reasons=("lateral view (LL)",)))
    assert [s.text for s in rep.sentences] == ["Image not analyzed: lateral view (LL)."]


def test_no_classifier_is_said():
    rep = draft_report([], quality=Quality(True), classifier_available=False)
    assert rep.sentences[0].text.startswith("No classifier was available")


def test_overlays_shapes_and_content():
    px = np.linspace(0, 1, 64 * 80, dtype=np.float32).reshape(64, 80)
    rgb = gray_to_rgb(px)
    assert rgb.shape == (64, 80, 3) and rgb.dtype == np.uint8 and rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255
    hm = np.zeros((64, 80), np.float32)
    hm[10:20, 10:20] = 1.0
    rgba = heatmap_rgba(hm)
    assert rgba[0, 0, 3] == 0 and rgba[15, 15, 3] > 200  # transparent where cold, opaque where hot
    m = np.zeros((64, 80), bool)
    m[30:40, 30:40] = True
    mr = mask_rgba({"heart": m})
    assert mr[35, 35, 3] > 0 and mr[0, 0, 3] == 0
    boxed = draw_boxes(rgb, [("Effusion#1", Box(5, 5, 50, 40))])
    assert (boxed[5, 20] != rgb[5, 20]).any() and (boxed[60, 70] == rgb[60, 70]).all()
    out = compose_overlay(px, heatmaps={"Effusion": hm}, boxes=[("Effusion#1", Box(5, 5, 50, 40))], masks={"heart": m})
    assert out.shape == (64, 80, 3) and not np.array_equal(out, rgb)


def test_markdown_renders_tables_and_disclaimer():
    from cxrkit.pipeline import Analyzer
    from cxrkit.report.markdown import result_markdown

    class Stub:
        findings = ("Effusion",)
        thresholds = {"Effusion": 0.4}

        def predict(self, pixels_list):
            return np.array([[0.9]])

    from importlib import resources

    nih = resources.files("cxrkit").joinpath("examples/00000002_000.png")
    result = Analyzer(Stub(), None, localize=False).analyze(str(nih))
    md = result_markdown(result, overlay_name="overlay.png")
    assert md.startswith("# cxrkit draft report: 00000002_000.png")
    assert "| Effusion | 0.900 | 0.400 | positive | - |" in md
    assert "not a diagnosis" in md and "![overlay](overlay.png)" in md


def test_no_finding_output_is_never_called_a_possible_finding():
    nf = Finding("No Finding", 0.3, 0.1, True)
    rep = draft_report([nf, Finding("Nodule", 0.2, 0.4, False)], quality=Quality(True))
    assert rep.sentences[0].text.startswith("None of the assessed findings reached its operating point (nodule)")
    assert rep.sentences[0].evidence["no_finding"]["positive"] is True
    assert "Possible no finding" not in rep.text
    rep = draft_report([nf, Finding("Nodule", 0.6, 0.4, True)], quality=Quality(True))
    assert rep.sentences[0].evidence["finding"] == "Nodule"
    assert "findings above are uncertain" in rep.sentences[1].text


def test_classifier_and_measured_ctr_disagreement_is_pointed_out():
    ctr = Measurement("cardiothoracic_ratio", 0.44, "ratio", True)
    rep = draft_report([Finding("Cardiomegaly", 0.35, 0.24, True)], [ctr], Quality(True))
    assert "disagrees with the measured cardiothoracic ratio (0.44)" in rep.sentences[-1].text
    assert rep.sentences[-1].evidence["measurement"] == "cardiothoracic_ratio"
    agree = draft_report([Finding("Cardiomegaly", 0.8, 0.24, True)], [replace(ctr, value=0.6)], Quality(True))
    assert "disagrees" not in agree.text
    unreliable = draft_report([Finding("Cardiomegaly", 0.8, 0.24, True)], [replace(ctr, reliable=False)], Quality(True))
    assert "disagrees" not in unreliable.text
