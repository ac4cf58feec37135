"""Training classifiers: ``cxrkit train --config FILE.yaml`` or :func:`cxrkit.train.api.train_classifier`.

Modules: ``config`` (YAML → dataclasses), ``assemble`` (multi-source table + patient split), ``cache``
(decode-once image cache, frozen-trunk feature cache), ``augment``, ``losses`` (NaN-masked class-weighted BCE),
``loop`` (fit: schedule, early stopping, checkpoints, resume), ``distributed`` (DDP via torchrun), ``ship``
(best checkpoint → model package with its card).
"""
