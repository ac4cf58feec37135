"""Spread a job's items over a pool of Ray actors, so that no item is lost and none is reported twice.

The job is ``n_items`` items (0 .. n-1) cut into units of ``batch_size``. Each actor (created by
``make_actor``; it loads its models once in its constructor) offers ``ready() -> dict`` (who and where it is)
and ``run(payload) -> list`` (one result per item of the unit, in order). Units go only to actors whose
``ready()`` has returned, ``in_flight`` at a time per actor, so an actor never waits for the driver.

Faults: an actor that dies (its node was removed, its process was killed, out of memory) fails the units it
held; the actor is replaced (the replacement starts wherever Ray finds room) and the items of those units are
queued again one by one, first in line, each to run alone on an actor (nothing sent behind it), so that a
later death is charged to that item exactly. A death counts as an attempt only for a unit known to be the one
running: the only unit the actor held (a reply of a unit that had finished can die with the process, so with
several units outstanding none is charged). An item charged ``max_attempts`` times is given up
(``on_lost``: the caller records it as an error) and the job goes on: a file that kills the worker every time
cannot stall the job. Each item's result is delivered exactly once (``on_result``): a unit's reply is accepted
once, and a retried item is one whose unit produced no reply.

Actors are created with ``max_restarts=0``: Ray's in-place restart would queue the retried calls behind an actor
that may never be scheduled again (its node is gone and the other nodes are full); the pool instead replaces it
and hands its items to the actors that are alive.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cxrkit.errors import EngineError

__all__ = ["PoolStats", "run_actor_pool"]

log = logging.getLogger(__name__)


@dataclass
class PoolStats:
    """What happened in a pool run.

    Attributes:
        actors_started: actors created (the initial ones and the replacements).
        actor_failures: actors that died or could not be created.
        retried: item attempts queued again after their unit failed.
        lost: items given up after ``max_attempts`` failed units.
        workers: the ``ready()`` reply of every actor that came up.
        final: the ``ready()`` reply of the actors alive at the end (e.g. their peak memory).
    """

    actors_started: int = 0
    actor_failures: int = 0
    retried: int = 0
    lost: int = 0
    workers: list[dict[str, Any]] = field(default_factory=list)
    final: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Slot:
    handle: Any
    alive: bool = False
    dead: bool = False
    units: list[Any] = field(default_factory=list)  # refs of the units sent, oldest first
    isolated: bool = False  # running a retried item alone: nothing is sent behind it


def run_actor_pool(
    ray: Any,
    make_actor: Callable[[], Any],
    n_actors: int,
    n_items: int,
    *,
    payload: Callable[[list[int]], Any],
    on_result: Callable[[int, Any], None],
    on_lost: Callable[[int, str], None],
    batch_size: int = 4,
    in_flight: int = 2,
    max_attempts: int = 3,
    stall_timeout_s: float = 900.0,
) -> PoolStats:
    """Run items 0 .. ``n_items``-1 through ``n_actors`` actors; see the module docstring.

    Parameters
    ----------
    ray:
        the initialised ``ray`` module.
    make_actor:
        creates one actor handle (``SomeActor.options(...).remote(...)``).
    payload:
        the argument of ``run`` for a unit (list of item indices).
    on_result:
        called once per item with the item's entry of the ``run`` reply.
    on_lost:
        called once per item given up, with the reason.

    Raises
    ------
    EngineError
        no actor could be created (``max_attempts`` x ``n_actors`` failed creations in a row, e.g. the models
        cannot be loaded on the workers), or no unit finished for ``stall_timeout_s`` seconds (no room on the
        cluster); items already delivered stay delivered.
    """
    if n_actors < 1 or batch_size < 1 or in_flight < 1 or max_attempts < 1:
        raise EngineError(f"actors, batch size, in-flight units and attempts must be >= 1; got {n_actors}, "
                          f"{batch_size}, {in_flight}, {max_attempts}")
    return _Pool(ray, make_actor, n_actors, n_items, payload, on_result, on_lost, batch_size=batch_size,
                 in_flight=in_flight, max_attempts=max_attempts, stall_timeout_s=stall_timeout_s).run()


class _Pool:
    """The state of one :func:`run_actor_pool` call: actors (slots), queued units, units in flight."""

    def __init__(self, ray: Any, make_actor: Callable[[], Any], n_actors: int, n_items: int,
                 payload: Callable[[list[int]], Any], on_result: Callable[[int, Any], None],
                 on_lost: Callable[[int, str], None], *, batch_size: int, in_flight: int, max_attempts: int,
                 stall_timeout_s: float) -> None:
        self.ray, self.make_actor, self.n_actors = ray, make_actor, n_actors
        self.payload, self.on_result, self.on_lost = payload, on_result, on_lost
        self.in_flight, self.max_attempts, self.stall_timeout_s = in_flight, max_attempts, stall_timeout_s
        self.stats = PoolStats()
        # (unit, retry): a retried unit is one item, run alone on its actor so that a death is charged to it
        # exactly
        self.queue: deque[tuple[list[int], bool]] = deque(
            (list(range(i, min(i + batch_size, n_items))), False) for i in range(0, n_items, batch_size))
        self.attempts = bytearray(n_items)
        self.slots: dict[int, _Slot] = {}
        self.ready_refs: dict[Any, int] = {}
        self.pending: dict[Any, tuple[int, list[int]]] = {}
        self.failed_creations = 0
        self.last_error = ""

    def spawn(self) -> None:
        sid = self.stats.actors_started
        self.stats.actors_started += 1
        slot = _Slot(self.make_actor())
        self.slots[sid] = slot
        self.ready_refs[slot.handle.ready.remote()] = sid

    def requeue(self, indices: list[int], reason: str, *, charge: bool) -> None:
        for i in reversed(indices):
            if charge:
                self.attempts[i] = min(self.attempts[i] + 1, 255)
            if self.attempts[i] >= self.max_attempts:
                self.stats.lost += 1
                self.on_lost(i, f"the worker failed {self.attempts[i]} times while analyzing this image; last: {reason}")
            else:
                self.stats.retried += 1
                self.queue.appendleft(([i], True))

    def deliver(self, ref: Any, reply: list[Any]) -> None:
        sid, unit = self.pending.pop(ref)
        self.slots[sid].units.remove(ref)
        self.slots[sid].isolated = False
        if len(reply) != len(unit):
            raise EngineError(f"a worker returned {len(reply)} results for {len(unit)} images")
        for i, r in zip(unit, reply):
            self.on_result(i, r)

    def retire(self, sid: int, reason: str) -> None:
        """The actor is gone: replies that arrived are delivered; the other units' items go back one by one, to
        run alone. The death counts as an attempt only when one unit was left (it was the one running); with
        several, the reply of a finished one may have died with the process, so none is charged: the items,
        then run alone, are charged exactly."""
        ray = self.ray
        slot = self.slots[sid]
        slot.dead, slot.alive = True, False
        self.stats.actor_failures += 1
        log.warning("worker %d lost (%s); replacing it", sid, reason[:300])
        for ref in list(slot.units):
            if ray.wait([ref], timeout=0)[0]:
                with contextlib.suppress(ray.exceptions.RayError):  # failed: handled below
                    self.deliver(ref, ray.get(ref))
        exact = len(slot.units) == 1
        for ref in reversed(slot.units):  # newest first: the oldest ends first in line
            self.requeue(self.pending.pop(ref)[1], reason, charge=exact)
        slot.units.clear()
        with contextlib.suppress(Exception):  # already gone
            ray.kill(slot.handle, no_restart=True)
        self.spawn()

    def dispatch(self) -> None:
        """Fill every live actor up to ``in_flight`` units (a retried item runs alone)."""
        for sid, slot in self.slots.items():
            while slot.alive and not slot.isolated and len(slot.units) < self.in_flight and self.queue:
                unit, retry = self.queue[0]
                if retry and slot.units:
                    break
                self.queue.popleft()
                ref = slot.handle.run.remote(self.payload(unit))
                self.pending[ref] = (sid, unit)
                slot.units.append(ref)
                slot.isolated = retry

    def on_ready(self, ref: Any) -> None:
        """An actor finished starting (or failed to)."""
        ray = self.ray
        sid = self.ready_refs.pop(ref)
        try:
            info = ray.get(ref)
        except ray.exceptions.RayError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.failed_creations += 1
            if self.failed_creations >= self.max_attempts * self.n_actors:
                raise EngineError(f"could not start a worker ({self.failed_creations} tries): {self.last_error}"
                                  ) from exc
            self.slots[sid].units.clear()
            self.retire(sid, self.last_error)
            return
        self.failed_creations = 0
        if not self.slots[sid].dead:
            self.slots[sid].alive = True
            self.stats.workers.append(dict(info))

    def on_reply(self, ref: Any) -> bool:
        """A unit finished: deliver it (True), or requeue its items / replace its actor (False)."""
        ray = self.ray
        sid, unit = self.pending[ref]
        try:
            reply = ray.get(ref)
        except ray.exceptions.RayError as exc:
            self.last_error = f"{type(exc).__name__}: {str(exc)[:500]}"
            if isinstance(exc, ray.exceptions.RayTaskError) and not isinstance(exc, ray.exceptions.RayActorError):
                self.pending.pop(ref)  # the method raised; the actor lives on
                self.slots[sid].units.remove(ref)
                self.slots[sid].isolated = False
                self.requeue(unit, self.last_error, charge=True)
            else:
                self.retire(sid, self.last_error)
            return False
        self.deliver(ref, reply)
        return True

    def run(self) -> PoolStats:
        ray = self.ray
        for _ in range(self.n_actors):
            self.spawn()
        last_progress = time.monotonic()
        try:
            while self.queue or self.pending:
                self.dispatch()
                refs = list(self.pending) + list(self.ready_refs)
                done, _ = ray.wait(refs, num_returns=1, timeout=1.0)
                if not done:
                    if time.monotonic() - last_progress > self.stall_timeout_s:
                        raise EngineError(
                            f"no progress for {self.stall_timeout_s:.0f} s ({sum(len(u) for u, _ in self.queue)} "
                            f"images queued, {len(self.pending)} units running, "
                            f"{sum(s.alive for s in self.slots.values())} workers up); last worker error: "
                            f"{self.last_error or 'none'}. Finished images are kept: rerun to resume")
                    continue
                ref = done[0]
                if ref in self.ready_refs:
                    self.on_ready(ref)
                elif self.on_reply(ref):
                    last_progress = time.monotonic()
            alive = [s.handle for s in self.slots.values() if s.alive]
            try:
                self.stats.final = [dict(x) for x in ray.get([h.ready.remote() for h in alive], timeout=30)]
            except ray.exceptions.RayError as exc:
                log.info("final worker report unavailable: %s", exc)
        finally:
            for slot in self.slots.values():
                with contextlib.suppress(Exception):  # already gone
                    ray.kill(slot.handle, no_restart=True)
        return self.stats
