"""Record the shipped models' outputs on the bundled examples as golden values (tests/golden/golden.json).

Run only when a change is *meant* to alter outputs, and say why in the commit:
    .venv/bin/python scripts/make_golden.py
The golden tests (tests/golden/test_golden.py) then hold every refactor to these numbers: probabilities
within 1e-5, masks identical (sha256 of the packed mask), heatmaps within 1e-4 on an 8x8 block summary,
analysis results equal after dropping timings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "golden"))

from golden_values import compute  # noqa: E402


def main() -> int:
    out = ROOT / "tests" / "golden" / "golden.json"
    values = compute()
    out.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out} ({len(values['images'])} images)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
