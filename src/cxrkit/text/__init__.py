"""cxrkit.text: a rule-based radiology report labeler (sections, sentences, mentions, negation/uncertainty).

``label_report(text)`` gives CheXpert-style values (1 / 0 / -1 / None) per canonical finding plus
``No Finding``, each with its evidence. The rules are data: ``cxrkit/text/rules/*.yaml``.
"""

from cxrkit.text.labeler import Evidence, ReportLabels, label_report
from cxrkit.text.rules import Rules, default_rules, load_rules

__all__ = ["Evidence", "ReportLabels", "label_report", "Rules", "default_rules", "load_rules"]
