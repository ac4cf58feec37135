"""Draft reports from findings, boxes and measurements (each sentence points to its evidence).

* :func:`cxrkit.report.draft.draft_report` builds the :class:`cxrkit.result.DraftReport`;
* :func:`cxrkit.report.markdown.result_markdown` renders a result as ``report.md``;
* :mod:`cxrkit.report.overlay` draws heatmaps, boxes and masks over the radiograph (arrays in, arrays out).
"""

from cxrkit.report.draft import DRAFT_NOTICE, draft_report

__all__ = ["draft_report", "DRAFT_NOTICE"]
