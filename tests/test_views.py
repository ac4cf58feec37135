"""cxrkit.views: one vocabulary of view positions for readers, datasets, QC, measurements and the CLI."""

from __future__ import annotations

import pandas as pd
import pytest

from cxrkit.data.adapters._common import norm_view
from cxrkit.views import AP_SUPINE, LATERAL, VIEW_OPTIONS, is_ap, is_frontal, is_lateral, normalize_view


@pytest.mark.parametrize(("raw", "canonical"), [
    ("PA", "PA"), (" pa ", "PA"), ("AP", "AP"), ("AP Supine", AP_SUPINE), ("ap_supine", AP_SUPINE),
    ("APS", AP_SUPINE), ("AP-SUPINE", AP_SUPINE), ("LL", LATERAL), ("RL", LATERAL), ("L", LATERAL),
    ("Lateral", LATERAL), ("left lateral decubitus", LATERAL), ("XTABLE", LATERAL), ("", None), ("  ", None),
    (None, None), (float("nan"), None), ("OBLIQUE", "OBLIQUE"),
])
def test_normalize_view(raw, canonical) -> None:
    assert normalize_view(raw) == canonical


def test_predicates_agree_with_the_vocabulary() -> None:
    assert all(is_frontal(v) for v in ("PA", "AP", "AP SUPINE", "aps", "frontal"))
    assert not any(is_frontal(v) for v in ("LL", "", None, "OBLIQUE"))
    assert all(is_lateral(v) for v in ("LL", "RL", "LAT", "LLD", "XTABLE", "lateral"))
    assert not any(is_lateral(v) for v in ("PA", "AP", None))
    assert is_ap("AP") and is_ap("ap supine") and not is_ap("PA") and not is_ap(None)
    assert {normalize_view(v) for v in VIEW_OPTIONS} == set(VIEW_OPTIONS)


def test_dataset_tables_use_the_same_vocabulary() -> None:
    got = norm_view(pd.Series(["PA", "AP Supine", "LL", None, "ap"]))
    assert got[[0, 1, 2, 4]].tolist() == ["PA", "AP SUPINE", "LATERAL", "AP"] and pd.isna(got[3])


def test_qc_and_measurements_treat_every_lateral_code_alike() -> None:
    import numpy as np

    from cxrkit.anatomy.measure import measure

    masks = {k: np.zeros((64, 64), bool) for k in ("right_lung", "left_lung", "heart")}
    masks["right_lung"][10:50, 8:28] = masks["left_lung"][10:50, 36:56] = masks["heart"][30:50, 20:40] = True
    for code in ("LL", "XTABLE", "Lateral"):
        assert measure(masks, view=code)["cardiothoracic_ratio"] is None
    assert measure(masks, view="PA")["cardiothoracic_ratio"] is not None
