"""Fixtures of the retrieval tests."""

from __future__ import annotations

import pytest
from retrieval_data import make_spec

from cxrkit.retrieval.embed import EmbeddingSpec


@pytest.fixture()
def spec() -> EmbeddingSpec:
    return make_spec()
