"""The CTR sentence never interprets a ratio the measurement marked implausible (issue 11, item 11)."""

from __future__ import annotations

import pytest

from cxrkit.report import draft_report
from cxrkit.result import Quality
from cxrkit.types import Measurement


@pytest.mark.parametrize("value", [0.12, 0.45, 0.95])
def test_an_implausible_ctr_is_not_called_within_or_above_the_limit(value):
    """Was: 'Cardiothoracic ratio 0.12 ..., within the usual limit of 0.50' for a ratio flagged implausible."""
    m = Measurement("cardiothoracic_ratio", value, "ratio", False, ("implausible_anatomy",))
    text = draft_report([], [m], Quality(True)).sentences[-1].text
    assert "within" not in text and "above" not in text
    assert "implausible" in text and "not interpreted" in text


def test_a_plausible_unreliable_ctr_keeps_its_reading_and_caveat():
    m = Measurement("cardiothoracic_ratio", 0.45, "ratio", False, ("low_confidence",))
    text = draft_report([], [m], Quality(True)).sentences[-1].text
    assert "within the usual limit" in text and "flagged unreliable: low_confidence" in text
