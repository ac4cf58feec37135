"""Fixtures for the service tests: bundled example paths, a free loopback port, a live uvicorn server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from importlib import resources
from pathlib import Path

import pytest

EXAMPLES = Path(str(resources.files("cxrkit").joinpath("examples")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def orthanc_namespace() -> None:
    """Skip (a failure in CI, see tests/conftest.py) unless a real Orthanc with DICOMweb can be started in a
    private network namespace."""
    if shutil.which("Orthanc") is None or not Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so").exists():
        pytest.skip("Debian orthanc + orthanc-dicomweb not installed (scripts/system_deps.sh installs them)")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("unshare/ip not available: cannot isolate Orthanc in a private network namespace")
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.decode(errors='replace').strip()}")


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
