"""cxrkit.text: a rule-based radiology report labeler (sections, sentences, mentions, negation/uncertainty).

``label_report(text)`` gives CheXpert-style values (1 / 0 / -1 / None) per canonical finding plus
``No Finding``, each with its evidence. The rules are data: ``cxrkit/text/rules/*.yaml``. For many reports,
``label_paths(paths)`` reads Open-i XML / text / CSV / JSONL files and labels them on all cores.
"""

from cxrkit.text.batch import Labeled, label_paths, label_records
from cxrkit.text.labeler import Evidence, ReportLabels, label_report
from cxrkit.text.readers import BadRecord, ReportRecord, iter_reports
from cxrkit.text.rules import Rules, default_rules, load_rules

__all__ = [
    "Evidence", "ReportLabels", "label_report", "Rules", "default_rules", "load_rules", "iter_reports",
    "ReportRecord", "BadRecord", "label_paths", "label_records", "Labeled",
]
