"""Engines that run a batch job past one process: ``cxrkit analyze --engine ray`` and
``cxrkit classify --engine ray`` on a Ray cluster (or a local Ray started for the job).

The local engine is :mod:`cxrkit.deliver.batch`. Ray is an optional extra (``pip install 'cxrkit[ray]'``):
importing this package, or running the local engine, never imports it.

| module | job |
| --- | --- |
| ``ray_cluster`` | ``ray.init`` / ``ray.shutdown``: join a cluster or start a local Ray for the job |
| ``ray_pool`` | spread items over Ray actors; replace dead actors, retry their items, never deliver twice |
| ``ray_analyze`` | the analyze worker (one Analyzer per actor) and the driver (lock, errors.jsonl, results) |
| ``ray_classify`` | the classify worker (one classifier per actor, batched inference) and its driver |
| ``results`` | the Parquet results table (one row per image, input order, atomic) |
| ``catalog`` | the inputs of a job from a ``cxrkit catalog build`` Parquet file |
"""
