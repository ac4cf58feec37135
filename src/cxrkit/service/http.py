"""uvicorn's h11 protocol with a request-header deadline and a cap on header-pending connections (slowloris
defence), and the uvicorn options ``cxrkit serve`` runs with.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but waits forever for a client that
trickles an incomplete header block. :func:`header_timeout_protocol` returns an ``H11Protocol`` subclass that
closes a connection when no complete request head arrived within ``header_timeout_s`` of the connection opening
or of the previous response, and that keeps at most ``max_pending`` connections waiting for a header block: a
new connection beyond that closes the oldest waiting one (a real client sends its head within milliseconds, so
the oldest waiting connection is the slow one). uvicorn's own ``limit_concurrency`` counts every open
connection, so slow-header sockets used to push authorised clients into 503s; it is now set high
(:func:`uvicorn_options`) and the pending cap does the work. Slow request *bodies* are handled by the API's
upload guard middleware.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["header_timeout_protocol", "uvicorn_options"]

log = logging.getLogger(__name__)


class _HeaderDeadlineProtocol(H11Protocol):
    header_timeout_s: float = 10.0
    max_pending: int = 64
    _open: dict  # protocol -> None, in connection order; one dict per class made by header_timeout_protocol
    _header_timer: asyncio.TimerHandle | None = None

    def _evict_oldest_pending(self) -> None:
        waiting = [p for p in self._open if p is not self and p.conn.their_state is h11.IDLE
                   and not p.transport.is_closing()]
        for p in waiting[: max(0, len(waiting) - self.max_pending + 1)]:
            log.info("closing the oldest connection still waiting for a request head (%d waiting)", len(waiting))
            p.transport.close()

    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_deadline)

    def _header_deadline(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("closing a connection that sent no complete request head within %.1f s", self.header_timeout_s)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._evict_oldest_pending()
        self._open[self] = None
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._open.pop(self, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)


def header_timeout_protocol(header_timeout_s: float, max_pending: int = 64) -> type[H11Protocol]:
    """An ``H11Protocol`` class for ``uvicorn.Config(http=...)`` that enforces ``header_timeout_s`` and keeps
    at most ``max_pending`` connections waiting for a request head."""
    if header_timeout_s <= 0:
        raise ValueError(f"header_timeout_s must be positive, got {header_timeout_s}")
    if max_pending < 1:
        raise ValueError(f"max_pending must be at least 1, got {max_pending}")
    return type("HeaderDeadlineH11Protocol", (_HeaderDeadlineProtocol,),
                {"header_timeout_s": float(header_timeout_s), "max_pending": int(max_pending), "_open": {}})


def uvicorn_options(settings) -> dict:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run`` used by ``cxrkit serve`` (and its tests)."""
    return dict(
        http=header_timeout_protocol(settings.header_timeout_s, settings.max_pending_headers),
        timeout_keep_alive=5,  # idle keep-alive connections are closed after 5 s
        h11_max_incomplete_event_size=64 * 1024,  # header block limit (slow/huge headers)
        limit_concurrency=settings.max_connections,  # beyond this many connections, 503 instead of queueing
        timeout_graceful_shutdown=10,
        server_header=False,
    )
