"""Fixtures for the deliver tests: a real Orthanc in a private network namespace (PACS worker tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


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
