"""Fixtures for the service tests: a free loopback port, a live uvicorn server."""

from __future__ import annotations

import threading
import time

import pytest
from _serve import free_port


@pytest.fixture()
def live_server():
    """Start a real uvicorn server (in a thread, on a free loopback port) for an app; yields a starter."""
    import uvicorn

    servers = []

    def start(app, **kw) -> str:
        port = free_port()
        kw.setdefault("http", "h11")
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **kw)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.time() + 20
        while not server.started:
            if time.time() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)
