"""The stage runner of :func:`cxrkit.pipeline.analyze`: one place that records each stage's timing, status and
failure.

A stage is "ran", "skipped" (not needed or disabled), "absent" (no model available) or "failed" (a
:class:`~cxrkit.errors.CxrkitError` raised inside it; the message is kept and the analysis goes on). Anything
else propagates: a bug is not a recorded failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from cxrkit.errors import CxrkitError
from cxrkit.result import Component

__all__ = ["StageRunner", "STATUSES"]

log = logging.getLogger(__name__)

T = TypeVar("T")
STATUSES = ("ran", "skipped", "absent", "failed")


@dataclass
class StageRunner:
    """Timings (milliseconds, by stage) and component statuses (in the order they happened) of one analysis."""

    timings: dict[str, float] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)

    def record(self, name: str, status: str, detail: str = "") -> None:
        """Record a stage's status without running anything (skipped / absent)."""
        if status not in STATUSES:
            raise ValueError(f"stage status must be one of {STATUSES}, got {status!r}")
        self.components.append(Component(name, status, detail))

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        """Time a block into ``timings[key]`` (recorded even when the block raises)."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[key] = (time.perf_counter() - t) * 1e3

    def run(self, name: str, fn: Callable[[], T], *, timing: str | None = None, detail: str = "",
            record_ran: bool = True) -> tuple[bool, T | None]:
        """Run one optional stage: ``(True, value)``, or ``(False, None)`` with the failure recorded.

        Args:
            name: component name in the result.
            fn: the stage's work.
            timing: key in :attr:`timings` (default ``name``); set only when the stage succeeds.
            detail: the "ran" component's detail.
            record_ran: False when the caller records "ran" itself (after later work of the same stage).
        """
        t = time.perf_counter()
        try:
            value = fn()
        except CxrkitError as exc:
            log.warning("%s failed: %s", name, exc)
            self.record(name, "failed", str(exc))
            return False, None
        self.timings[timing or name] = (time.perf_counter() - t) * 1e3
        if record_ran:
            self.record(name, "ran", detail)
        return True, value
