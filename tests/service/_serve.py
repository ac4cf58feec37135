"""Start ``cxrkit serve`` in a subprocess on a free loopback port and wait for ``/healthz`` (browser tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(args: Sequence[str] = (), env: Mapping[str, str] | None = None, *, timeout: float = 90) -> Iterator[str]:
    """Yield the base URL of a running ``cxrkit serve ARGS`` (extra environment ``env``); stopped on exit."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cxrkit.service.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--log-level", "warning", *args], env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            assert proc.stdout is not None
            pytest.fail(f"cxrkit serve did not start: {proc.stdout.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.2)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)
