"""The results table of a batch run: one Parquet row per input image, written atomically in input order.

Columns (see :func:`results_schema`): ``index`` (position of the input in the job), ``path``, ``name`` (the result
folder, :func:`cxrkit.deliver.outdir.output_name`), ``status`` ("done" or "error"), ``reused`` (the image's
``result.json`` was already complete when the run reached it: resumed, not recomputed), ``usable`` and
``reasons`` (quality check), ``positive`` (names of the positive findings), ``findings`` (name, probability,
threshold, positive per finding), ``measurements`` (name, value, unit), ``timings_ms`` (stage → milliseconds,
from ``result.json``), ``seconds`` (wall time of this run's handling of the image, writing included),
``worker`` (which worker handled it) and ``error_type`` / ``error`` (empty when done).

Rows arrive in completion order; :class:`ResultsTableWriter` keeps the ones that arrive early and writes row
groups in input order, so memory holds only the out-of-order window, and the file appears under its final name
only when the table is complete (temporary file + ``os.replace``). Nothing here imports Ray.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_FILE", "results_schema", "result_row", "error_row", "ResultsTableWriter", "read_results",
           "clean_table_leftovers"]

RESULTS_FILE = "results.parquet"
ROW_GROUP = 4096


def results_schema():
    """The table's ``pyarrow.Schema``."""
    import pyarrow as pa

    finding = pa.struct([("name", pa.string()), ("probability", pa.float64()), ("threshold", pa.float64()),
                         ("positive", pa.bool_())])
    measurement = pa.struct([("name", pa.string()), ("value", pa.float64()), ("unit", pa.string())])
    return pa.schema([
        ("index", pa.int64()), ("path", pa.string()), ("name", pa.string()), ("status", pa.string()),
        ("reused", pa.bool_()), ("usable", pa.bool_()), ("reasons", pa.list_(pa.string())),
        ("positive", pa.list_(pa.string())), ("findings", pa.list_(finding)),
        ("measurements", pa.list_(measurement)), ("timings_ms", pa.map_(pa.string(), pa.float64())),
        ("seconds", pa.float64()), ("worker", pa.string()), ("error_type", pa.string()), ("error", pa.string()),
    ])


def result_row(index: int, path: str, name: str, doc: Mapping[str, Any], *, reused: bool, seconds: float,
               worker: str) -> dict[str, Any]:
    """The row of an analyzed image from its ``result.json`` document (schema ``cxrkit.result/1``)."""
    quality = doc.get("quality") or {}
    findings = [{"name": f["name"], "probability": f["probability"], "threshold": f.get("threshold"),
                 "positive": f["positive"]} for f in doc.get("findings") or []]
    measurements = [{"name": m["name"], "value": m.get("value"), "unit": m.get("unit")}
                    for m in doc.get("measurements") or []]
    return {"index": index, "path": path, "name": name, "status": "done", "reused": reused,
            "usable": quality.get("usable"), "reasons": list(quality.get("reasons") or []),
            "positive": [f["name"] for f in findings if f["positive"]], "findings": findings,
            "measurements": measurements, "timings_ms": list((doc.get("timings_ms") or {}).items()),
            "seconds": seconds, "worker": worker, "error_type": "", "error": ""}


def error_row(index: int, path: str, name: str, error_type: str, message: str, *, seconds: float = 0.0,
              worker: str = "") -> dict[str, Any]:
    """The row of an image that could not be analyzed (the same error is in ``errors.jsonl``)."""
    return {"index": index, "path": path, "name": name, "status": "error", "reused": False, "usable": None,
            "reasons": [], "positive": [], "findings": [], "measurements": [], "timings_ms": [],
            "seconds": seconds, "worker": worker, "error_type": error_type, "error": message}


def read_result_doc(folder: Path) -> dict[str, Any]:
    """``folder/result.json`` parsed."""
    return json.loads((Path(folder) / "result.json").read_text(encoding="utf-8"))


class ResultsTableWriter:
    """Collects rows by ``index`` (0 .. ``n``-1, each exactly once) and writes ``path`` in index order.

    Use as a context manager; :meth:`close` (on a clean exit) checks that every index arrived and moves the
    temporary file into place. On an exception the temporary file is removed and ``path`` is left as it was.

    Raises:
        ValueError: an index arrives twice or is out of range; :meth:`close` with rows missing.
    """

    def __init__(self, path: str | os.PathLike, n: int) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.n = n
        self._pending: dict[int, dict[str, Any]] = {}
        self._next = 0
        self._buffer: list[dict[str, Any]] = []
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.close(fd)
        self._tmp = Path(tmp)
        self._schema = results_schema()
        self._writer = pq.ParquetWriter(self._tmp, self._schema, compression="zstd")

    def add(self, row: dict[str, Any]) -> None:
        """Add the row of one image (its ``index`` says where it goes)."""
        i = int(row["index"])
        if not 0 <= i < self.n or i < self._next or i in self._pending:
            raise ValueError(f"results row {i} is a duplicate or out of range 0..{self.n - 1}")
        self._pending[i] = row
        while self._next in self._pending:
            self._buffer.append(self._pending.pop(self._next))
            self._next += 1
            if len(self._buffer) >= ROW_GROUP:
                self._flush()

    @property
    def missing(self) -> int:
        """Rows not yet added."""
        return self.n - self._next - len(self._pending)

    def _flush(self) -> None:
        import pyarrow as pa

        if self._buffer:
            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self._schema))
            self._buffer = []

    def close(self) -> Path:
        """Write the last rows and move the file into place; returns its path."""
        if self.missing:
            raise ValueError(f"{self.missing} of {self.n} results rows are missing")
        self._flush()
        self._writer.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._tmp, 0o666 & ~umask)  # mkstemp makes 0600
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; ``path`` is left as it was."""
        try:
            self._writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ResultsTableWriter:
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def clean_table_leftovers(out_dir: str | os.PathLike, name: str = RESULTS_FILE) -> int:
    """Remove the temporary tables (``.<name>.XXXXXXXX.tmp``) a killed driver left in ``out_dir``; returns how
    many. Call it while holding the folder's lock."""
    n = 0
    for p in Path(out_dir).glob(f".{name}.*.tmp"):
        if p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            n += 1
    return n


def read_results(path: str | os.PathLike):
    """The results table as a pandas DataFrame (one row per input image, in input order)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()
