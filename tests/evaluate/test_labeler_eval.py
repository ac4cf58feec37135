"""Evaluation of the report labeler against Open-i MeSH codes (ChestX-ray8 protocol)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cxrkit.errors import DataFormatError, UnknownNameError
from cxrkit.evaluate.labeler import (
    EVAL_FINDINGS,
    bootstrap_f1_ci,
    evaluate_openi,
    gold_from_mesh,
    score_labeler,
    split_of,
    to_markdown,
)
from cxrkit.text import label_report


@pytest.mark.parametrize(
    "codes,positive",
    [
        (["normal"], {"Normal"}),
        (["Pulmonary Atelectasis/base/left", "Pleural Effusion/bilateral/small"], {"Atelectasis", "Effusion"}),
        (["Cardiac Shadow/enlarged/mild"], {"Cardiomegaly"}),
        (["Cardiac Shadow/borderline"], set()),
        (["Pericardial Effusion"], set()),
        (["Infiltrate/lung/base", "Nodule/lung", "Mass", "Pneumonia/lower lobe", "Pneumothorax/right"],
         {"Infiltration", "Nodule", "Mass", "Pneumonia", "Pneumothorax"}),
        (["Opacity/lung/base/left", "Calcified Granuloma"], set()),
    ],
)
def test_mesh_mapping(codes: list[str], positive: set[str]) -> None:
    gold = gold_from_mesh(codes)
    assert gold is not None and {k for k, v in gold.items() if v} == positive
    assert set(gold) == set(EVAL_FINDINGS)


def test_unindexed_reports_have_no_truth() -> None:
    assert gold_from_mesh(["No Indexing"]) is None and gold_from_mesh([]) is None


def test_split_is_stable_and_about_half() -> None:
    ids = [str(i) for i in range(1, 4000)]
    dev = sum(split_of(i) == "dev" for i in ids)
    assert 1800 < dev < 2200 and split_of("123") == split_of("123")


def test_scores_count_real_labels() -> None:
    items = [
        ("a", ["Cardiomegaly"], label_report("Mild cardiomegaly.")),  # TP cardiomegaly
        ("b", ["normal"], label_report("Lungs are clear. No effusion.")),  # TP normal
        ("c", ["Pleural Effusion"], label_report("No effusion.")),  # FN effusion (negated), FP normal
        ("d", ["normal"], label_report("Possible pneumonia.")),  # uncertain: FN normal; FP pneumonia if counted
        ("e", ["No Indexing"], label_report("Cardiomegaly.")),  # excluded
        ("f", ["normal"], label_report("")),  # no text: left out
    ]
    s = score_labeler(items)
    rows = {r.finding: r for r in s.rows}
    assert s.n_reports == 4 and s.n_excluded == 1 and s.n_no_text == 1
    assert (rows["Cardiomegaly"].tp, rows["Cardiomegaly"].fp, rows["Cardiomegaly"].fn) == (1, 0, 0)
    assert (rows["Effusion"].tp, rows["Effusion"].fn) == (0, 1)
    assert (rows["Normal"].tp, rows["Normal"].fn) == (1, 1) and rows["Pneumonia"].fp == 0
    assert rows["Normal"].fp == 1 and s.micro.tp == 2 and s.micro.fn == 2 and s.micro.fp == 1
    assert s.errors["Effusion: FN: negated but coded (negation or scope error)"] == 1
    sp = score_labeler(items, uncertain="positive")
    assert {r.finding: r for r in sp.rows}["Pneumonia"].fp == 1
    assert rows["Normal"].f1 == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    with pytest.raises(UnknownNameError):
        score_labeler(items, uncertain="maybe")


def test_evaluate_fixture_folder(fixtures_dir: Path) -> None:
    scores = evaluate_openi(fixtures_dir / "text" / "openi", workers=1)
    assert set(scores) == {"dev", "test", "all"}
    a = scores["all"]
    assert a.n_excluded == 1 and a.n_no_text == 1 and a.n_reports == 12
    assert a.micro.f1 > 0.8  # hand-picked reports; the full-data check is below
    md = to_markdown(scores)
    assert "ChestX-ray8" in md and "| Atelectasis |" in md and md.count("\n") == len(EVAL_FINDINGS) + 4
    lo, hi = a.micro_f1_ci
    assert lo <= a.micro.f1 <= hi


def test_bootstrap_ci_brackets_the_estimate() -> None:
    rng = np.random.default_rng(3)
    counts = np.stack([rng.integers(0, 3, 400), rng.integers(0, 2, 400), rng.integers(0, 2, 400)], axis=1)
    tp, fp, fn = counts.sum(axis=0)
    f1 = 2 * tp / (2 * tp + fp + fn)
    lo, hi = bootstrap_f1_ci(counts, seed=1)
    assert lo < f1 < hi and hi - lo < 0.1
    assert bootstrap_f1_ci(counts, seed=1) == (lo, hi)
    assert np.isnan(bootstrap_f1_ci(np.zeros((0, 3)))[0])


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no readable"):
        evaluate_openi(tmp_path, workers=1)


@pytest.mark.shared_data
@pytest.mark.slow
def test_full_openi_beats_chestxray8(shared_data: Path) -> None:
    scores = evaluate_openi(shared_data / "openi-reports" / "reports", workers=2)
    assert scores["all"].n_reports > 2500
    assert scores["test"].micro.f1 >= 0.93  # held-out half; ChestX-ray8's labeler: 0.90
    assert scores["all"].micro.f1 >= 0.93
