"""Table-driven sentence cases for the report labeler: mentions, negation scope, uncertainty, history."""

from __future__ import annotations

import pytest

from cxrkit.labels import FINDINGS
from cxrkit.text import label_report

# (text, {finding: expected value}); findings not listed are not checked
CASES = [
    # plain mentions, synonyms, misspellings, radiology phrasing
    ("Mild cardiomegaly.", {"Cardiomegaly": 1}),
    ("The cardiac silhouette is enlarged.", {"Cardiomegaly": 1}),
    ("Enlarged cardiac silhouette.", {"Cardiomegaly": 1}),
    ("Heart size is mildly enlarged.", {"Cardiomegaly": 1}),
    ("Cardiomegally is noted.", {"Cardiomegaly": 1}),
    ("Small left pleural effusion.", {"Effusion": 1}),
    ("Blunting of the left costophrenic angle.", {"Effusion": -1}),
    ("Focal airspace disease in the right lower lobe.", {"Lung Opacity": 1}),
    ("Right middle lobe infiltrate.", {"Infiltration": 1}),
    ("Bibasilar atelectasis.", {"Atelectasis": 1}),
    ("Subsegmental atelectatic changes at the left base.", {"Atelectasis": 1}),
    ("Large right pneumothorax.", {"Pneumothorax": 1}),
    ("Pnuemothorax on the right.", {"Pneumothorax": 1}),
    ("Right upper lobe mass.", {"Mass": 1, "Lung Lesion": 1}),
    ("A 6 mm nodule in the left lower lobe.", {"Nodule": 1, "Lung Lesion": 1}),
    ("No lung lesion. Small nodule.", {"Nodule": 1, "Lung Lesion": 1}),  # implied positive beats negative
    ("Small hiatal hernia.", {"Hernia": 1}),
    ("Healed left rib fractures.", {"Fracture": 1}),
    ("Pulmonary edema.", {"Edema": 1}),
    ("Pericardial effusion.", {"Effusion": None}),
    ("Subcutaneous emphysema in the neck.", {"Emphysema": None}),
    ("Hyperinflated lungs compatible with COPD.", {"Emphysema": 1}),
    ("Left subclavian central venous catheter tip in the SVC.", {"Support Devices": 1}),
    ("Calcified granuloma in the right upper lobe.", {"Calcification": 1}),
    ("Tortuous thoracic aorta.", {"Aortic Enlargement": 1}),
    # negation and its scope
    ("No pneumothorax or effusion.", {"Pneumothorax": 0, "Effusion": 0}),
    ("No focal consolidation, pleural effusion, or pneumothorax.",
     {"Consolidation": 0, "Effusion": 0, "Pneumothorax": 0}),
    ("The lungs are normally inflated without evidence of focal airspace disease, pleural effusion, or pneumothorax.",
     {"Lung Opacity": 0, "Effusion": 0, "Pneumothorax": 0}),
    ("There is no evidence of pneumothorax.", {"Pneumothorax": 0}),
    ("Negative for pneumonia.", {"Pneumonia": 0}),
    ("Pleural effusion is not seen.", {"Effusion": 0}),
    ("Pneumothorax is no longer seen.", {"Pneumothorax": 0}),
    ("The right pleural effusion has resolved.", {"Effusion": 0}),
    ("The heart is not enlarged.", {"Cardiomegaly": 0}),
    ("Heart size is normal.", {"Cardiomegaly": 0}),
    ("Normal heart size.", {"Cardiomegaly": 0}),
    ("The lungs are clear.", {"Lung Opacity": 0}),
    ("Clear lungs.", {"Lung Opacity": 0}),
    ("There are no XXXX of a pleural effusion.", {"Effusion": 0}),
    ("No pleural line to suggest pneumothorax.", {"Pneumothorax": 0}),
    ("No pneumothorax, but there is a small effusion.", {"Pneumothorax": 0, "Effusion": 1}),
    ("No pneumothorax. Small left effusion.", {"Pneumothorax": 0, "Effusion": 1}),
    ("No effusion; mild cardiomegaly.", {"Effusion": 0, "Cardiomegaly": 1}),
    ("No acute cardiopulmonary abnormality aside from cardiomegaly.", {"Cardiomegaly": 1}),
    # pseudo-negations
    ("No change in cardiomegaly.", {"Cardiomegaly": 1}),
    ("No significant change in the small left effusion.", {"Effusion": 1}),
    ("No interval change in the appearance of the bibasilar opacities.", {"Lung Opacity": 1}),
    ("Not only atelectasis but also effusion.", {"Atelectasis": 1}),
    # uncertainty
    ("Findings may represent pneumonia.", {"Pneumonia": -1}),
    ("Pneumonia cannot be excluded.", {"Pneumonia": -1}),
    ("Cannot exclude a small pneumothorax.", {"Pneumothorax": -1}),
    ("Possible small left pleural effusion.", {"Effusion": -1}),
    ("Left basilar opacity, concerning for pneumonia.", {"Lung Opacity": 1, "Pneumonia": -1}),
    ("Atelectasis versus pneumonia.", {"Pneumonia": -1}),
    ("Questionable nodule in the right lung.", {"Nodule": -1}),
    ("Recommend follow-up CT to exclude a nodule.", {"Nodule": -1}),
    ("Correlate clinically for pneumonia.", {"Pneumonia": -1}),
    # high-probability hedges stay positive
    ("Opacity most likely atelectasis.", {"Atelectasis": 1}),
    ("Probable small right effusion.", {"Effusion": 1}),
    ("Atelectasis is likely.", {"Atelectasis": 1}),
    # history / not current
    ("History of pneumonia.", {"Pneumonia": None}),
    ("Interval resolution of the pneumothorax.", {"Pneumothorax": 0}),
    # negation beats uncertainty
    ("No focal consolidation, suspicious opacity, pneumothorax or definite pleural effusion.",
     {"Effusion": 0, "Pneumothorax": 0}),
    # granulomatous infection is not pneumonia; nodular opacity is an opacity, not a nodule
    ("Residuals of prior granulomatous infection.", {"Pneumonia": None}),
    ("Nodular opacity in the right midlung.", {"Nodule": None, "Lung Opacity": 1}),
    # more radiology phrasing
    ("Interval removal of the right chest tube.", {"Support Devices": 0}),
    ("ET tube tip 3 cm above the carina. NG tube in the stomach.", {"Support Devices": 1}),
    ("No focal consolidation to suggest pneumonia.", {"Pneumonia": 0, "Consolidation": 0}),
    ("No radiographic evidence of pneumonia.", {"Pneumonia": 0}),
    ("Emphysematous changes.", {"Emphysema": 1}),
    ("Pulmonary vascular congestion.", {"Edema": 1}),
    ("The previously seen nodule is no longer visualized.", {"Nodule": 0}),
    ("Pneumothorax is unchanged in size.", {"Pneumothorax": 1}),
    ("Decreased left effusion.", {"Effusion": 1}),
    ("No new focal opacity.", {"Lung Opacity": 0}),
    ("Enlarged cardiomediastinal silhouette.", {"Enlarged Cardiomediastinum": 1, "Cardiomegaly": None}),
    ("Mediastinal widening.", {"Enlarged Cardiomediastinum": 1}),
    ("There is no pneumothorax, and the heart is enlarged.", {"Pneumothorax": 0, "Cardiomegaly": 1}),
    ("Evaluate for pneumonia.", {"Pneumonia": -1}),
    ("Pneumonia is unlikely.", {"Pneumonia": -1}),
    ("Left lower lobe opacity may represent atelectasis or pneumonia.",
     {"Atelectasis": -1, "Pneumonia": -1, "Lung Opacity": 1}),
    ("No acute fracture.", {"Fracture": 0}),
    ("Heart size upper limits of normal.", {"Cardiomegaly": 0}),
    ("Cardiac silhouette is mildly enlarged but stable.", {"Cardiomegaly": 1}),
    ("Resolved right lower lobe pneumonia.", {"Pneumonia": 0}),
    ("Right lower lobe pneumonia, resolved.", {"Pneumonia": 0}),
    ("Trace bilateral pleural effusions.", {"Effusion": 1}),
    ("Lungs are clear without infiltrate or effusion.", {"Infiltration": 0, "Effusion": 0}),
    ("Borderline heart size.", {"Cardiomegaly": 1}),
    ("XXXX tip at the cavoatrial junction.", {"Support Devices": 1}),  # device name redacted
    ("The right chest XXXX tip is visualized in the mid SVC.", {"Support Devices": 1}),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[c[0][:48] for c in CASES])
def test_sentence_case(text: str, expected: dict[str, int | None]) -> None:
    labels = label_report(text)
    got = {k: labels.values[k] for k in expected}
    assert got == expected, [e.to_dict() for e in labels.evidence]


@pytest.mark.parametrize(
    "text,no_finding",
    [
        ("Heart size normal. Lungs are clear. No pneumothorax or effusion.", 1),
        ("No acute cardiopulmonary disease.", 1),
        ("Lungs clear. Left PICC line tip in the SVC.", 1),  # devices do not block No Finding (CheXpert)
        ("Lungs clear. Mild degenerative changes of the thoracic spine.", None),  # other abnormality
        ("Lower lung volumes. No focal opacity.", None),
        ("Mild dextro curvature of the thoracic spine.", None),
        ("The pulmonary markings appear slightly prominent.", None),
        ("Mild cardiomegaly.", None),
        ("Possible small effusion.", None),  # uncertain blocks too
    ],
)
def test_no_finding(text: str, no_finding: int | None) -> None:
    assert label_report(text).values["No Finding"] == no_finding


def test_values_cover_every_finding_and_aggregate_like_chexpert() -> None:
    r = label_report("FINDINGS: No effusion. IMPRESSION: Possible left effusion. Small right effusion.")
    assert set(r.values) == set(FINDINGS)
    assert r.values["Effusion"] == 1  # positive beats uncertain beats negative
    r = label_report("No effusion. Possible effusion.")
    assert r.values["Effusion"] == -1


def test_evidence_points_at_the_words() -> None:
    r = label_report("FINDINGS: The heart is normal. There is no pneumothorax or effusion.")
    ev = [e for e in r.evidence if e.finding == "Effusion"][0]
    assert ev.value == 0 and ev.status == "negated" and ev.section == "findings"
    assert ev.sentence == "There is no pneumothorax or effusion."
    assert ev.mention == "effusion" and ev.cue == "no"
    assert ev.to_dict()["span"] == list(ev.span)


def test_indication_and_history_sections_are_not_labeled() -> None:
    r = label_report("INDICATION: rule out pneumonia.\nHISTORY: pneumothorax\nFINDINGS: Lungs are clear.")
    assert r.values["Pneumonia"] is None and r.values["Pneumothorax"] is None
    assert r.values["No Finding"] == 1


def test_section_mapping_input() -> None:
    r = label_report({"INDICATION": "pneumonia?", "FINDINGS": "Small left effusion.", "IMPRESSION": None})
    assert r.values["Effusion"] == 1 and r.values["Pneumonia"] is None
