"""The learned view check on held-out real films (../shared/data): issue 10's QC targets.

Held out = patients the shipped view model never trained on (``cxrkit.qc_train.assign_splits``); every image
goes through the whole image-only check (view tag removed), so all image rules count.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cxrkit.io import read_image
from cxrkit.qc import check_quality
from cxrkit.qc_train import assign_splits, list_items, load_nih_split
from cxrkit.qc_view import default_view_model
from cxrkit.types import Image

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def _verdict(path) -> str:
    img = read_image(Path(path))
    q = check_quality(Image(img.pixels, replace(img.meta, view=None)))
    if not q.usable:
        return "refused"
    return "flagged" if any("possibly a lateral" in w for w in q.warnings) else "accepted"


@pytest.fixture(scope="module")
def heldout(shared_data):
    card = default_view_model().card
    items = list_items(shared_data)
    splits = assign_splits(items, load_nih_split(ROOT / "configs" / "splits" / "nih_v2.csv"),
                           kermany_train_max=card.training["options"]["kermany_train_max"])
    return [(it, _verdict(it.path)) for it, sp in zip(items, splits) if sp == "heldout"]


def test_false_refusals_of_heldout_frontal_films_at_most_0_3_percent(heldout):
    frontal = [v for it, v in heldout if it.kind == "frontal"]
    assert len(frontal) > 3000
    assert sum(v == "refused" for v in frontal) / len(frontal) <= 0.003
    for source in {it.source for it, _ in heldout}:  # and no source carries them all
        vs = [v for it, v in heldout if it.kind == "frontal" and it.source == source]
        assert sum(v == "refused" for v in vs) / len(vs) <= 0.01, source


def test_heldout_laterals_caught_at_least_90_percent(heldout):
    lateral = [v for it, v in heldout if it.kind == "lateral"]
    assert len(lateral) >= 10
    assert sum(v in ("refused", "flagged") for v in lateral) / len(lateral) >= 0.90


def test_issue_lateral_is_no_longer_accepted(shared_data):
    """The lateral film issue 10 saw accepted (its patient is in the view model's training part)."""
    assert _verdict(shared_data / "covid-ieee8023" / "images" / "nejmoa2001191_f3-L.jpg") != "accepted"
