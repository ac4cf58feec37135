"""The ``--engine`` / ``--address`` options shared by the batch commands (``analyze``, ``classify``)."""

from __future__ import annotations

import argparse

ENGINES = ("local", "ray")


def add_engine_arguments(p: argparse.ArgumentParser, *, ray_output: str) -> None:
    """Add ``--engine local|ray`` and ``--address``; ``ray_output`` says what the Ray engine writes."""
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local (default): this process; ray: a Ray cluster, see --address (needs the ray extra: "
                   f"pip install 'cxrkit[ray]'); {ray_output}")
    p.add_argument("--address", metavar="ADDRESS",
                   help="ray engine: 'auto' (the cluster this machine belongs to), 'ray://HOST:PORT' or "
                   "'HOST:PORT'; default: start a local Ray for the job. Inputs and outputs must be visible to "
                   "every node under the same path")
