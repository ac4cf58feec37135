"""Write the JSON Schemas generated from the pydantic document models into ``src/cxrkit/schemas/``.

    .venv/bin/python scripts/make_schemas.py            # rewrite result-1.json from cxrkit.result_document
    .venv/bin/python scripts/make_schemas.py --check    # exit 1 when the checked-in file differs

Never edit ``result-1.json`` by hand: change :mod:`cxrkit.result_document` and rerun this script
(``tests/test_result_schema.py`` fails while the two differ).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cxrkit.fs import atomic_write_text
from cxrkit.result_document import result_schema_text

SCHEMAS = Path(__file__).resolve().parents[1] / "src" / "cxrkit" / "schemas"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when out of date")
    args = parser.parse_args(argv)
    target, text = SCHEMAS / "result-1.json", result_schema_text()
    if args.check:
        same = target.is_file() and target.read_text(encoding="utf-8") == text
        print(f"{target}: {'up to date' if same else 'OUT OF DATE (run scripts/make_schemas.py)'}")
        return 0 if same else 1
    atomic_write_text(target, text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
