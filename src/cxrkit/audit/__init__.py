"""Audits a hospital runs before it trusts a model: cross-site, subgroup, shortcut probes, calibration per site.

One job per module: :mod:`~cxrkit.audit.inputs` (folder + CSV or registered datasets), :mod:`~cxrkit.audit.predict`
(cached model outputs), :mod:`~cxrkit.audit.crosssite`, :mod:`~cxrkit.audit.subgroups`,
:mod:`~cxrkit.audit.probes`, :mod:`~cxrkit.audit.calibration`, :mod:`~cxrkit.audit.recalibrate`,
:mod:`~cxrkit.audit.report` (HTML + JSON) and :mod:`~cxrkit.audit.run` (all of it). CLI: ``cxrkit audit``,
``cxrkit recalibrate``; guide: ``docs/audit.md``.
"""
