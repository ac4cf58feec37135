"""The inference path does not import the training / research-only libraries (captum is a test extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_analysis_does_not_import_captum(examples: Path) -> None:
    code = (
        "import sys\n"
        "from cxrkit.pipeline import Analyzer\n"
        f"Analyzer().analyze({str(examples / '00000002_000.png')!r})\n"
        "import cxrkit.service.cli, cxrkit.deliver.batch, cxrkit.explain\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'captum'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
