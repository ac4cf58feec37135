"""uvicorn's h11 protocol with a request-header deadline (slowloris defence).

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but waits forever for a client that
trickles an incomplete header block. :func:`header_timeout_protocol` returns an ``H11Protocol`` subclass that
closes a connection when no complete request head arrived within ``header_timeout_s`` of the connection opening
or of the previous response. Slow request *bodies* are handled by the API's upload guard middleware.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["header_timeout_protocol"]

log = logging.getLogger(__name__)


class _HeaderDeadlineProtocol(H11Protocol):
    header_timeout_s: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

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
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)


def header_timeout_protocol(header_timeout_s: float) -> type[H11Protocol]:
    """An ``H11Protocol`` class for ``uvicorn.Config(http=...)`` that enforces ``header_timeout_s``."""
    if header_timeout_s <= 0:
        raise ValueError(f"header_timeout_s must be positive, got {header_timeout_s}")
    return type("HeaderDeadlineH11Protocol", (_HeaderDeadlineProtocol,), {"header_timeout_s": float(header_timeout_s)})
