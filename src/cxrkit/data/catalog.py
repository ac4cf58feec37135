"""Image catalog: a dataset's flat table in Parquet, queried with DuckDB.

One row per image of the dataset's label table: ``path`` (None when the file is not on disk), ``image_id``,
``patient_id``, ``age_years``, ``sex``, ``view``, ``source``, the other meta columns, one float column per
finding (1 / 0 / NaN, named by the canonical finding name) and ``n_boxes``.

>>> info = build_catalog("nih", "../shared/data/nih-cxr14", "nih.parquet")  # doctest: +SKIP
>>> query_catalog("nih.parquet", "Cardiomegaly = 1 AND age_years > 60", limit=5)  # doctest: +SKIP

Finding names with spaces must be double-quoted in SQL: ``"No Finding" = 1``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrkit.data.dataset import Dataset
from cxrkit.errors import DataFormatError
from cxrkit.fs import atomic_path

__all__ = ["CatalogInfo", "build_catalog", "catalog_table", "write_catalog", "query_catalog", "catalog_schema",
           "catalog_metadata", "summarize_catalog", "catalog_image_paths"]

log = logging.getLogger(__name__)

#: Key of the JSON metadata stored in the Parquet file's schema.
META_KEY = b"cxrkit.catalog"


@dataclass(frozen=True)
class CatalogInfo:
    """What :func:`build_catalog` wrote.

    Attributes:
        path: the Parquet file.
        rows: number of rows (images of the label table).
        images_on_disk: rows whose ``path`` is not null.
        findings: finding columns.
        load_seconds: time to read the dataset's tables (wall clock).
        write_seconds: time to write the Parquet file.
    """

    path: Path
    rows: int
    images_on_disk: int
    findings: tuple[str, ...]
    load_seconds: float
    write_seconds: float


def catalog_table(ds: Dataset) -> pd.DataFrame:
    """The flat table of a dataset with Parquet-friendly column types.

    Text-like columns become strings (None kept), finding columns float32, ``n_boxes`` int32.
    """
    df = ds.table()
    for col in df.columns:
        if col in ds.findings or col == "n_boxes":
            continue
        s = df[col]
        if s.dtype == object or str(s.dtype) in ("str", "string"):
            vals = s.to_numpy(dtype=object)
            isnull = pd.isna(vals)
            if not all(isinstance(v, str) for v in vals[~isnull]):
                vals = np.array([None if n else str(v) for v, n in zip(vals, isnull)], dtype=object)
            else:
                vals = vals.copy()
                vals[isnull] = None
            df[col] = pd.Series(vals, index=df.index, dtype=object)
    df[ds.findings] = df[ds.findings].astype(np.float32)
    return df


def write_catalog(df: pd.DataFrame, out: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``df`` to Parquet atomically (temporary file in the same folder, then rename).

    A crash never leaves a half-written catalog at ``out``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if out.suffix.lower() != ".parquet":
        raise DataFormatError(f"catalog file must end with .parquet; got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata:
        meta = dict(table.schema.metadata or {})
        meta[META_KEY] = json.dumps(metadata).encode()
        table = table.replace_schema_metadata(meta)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return out


def build_catalog(
    name: str,
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    images_only: bool = False,
    **options: Any,
) -> CatalogInfo:
    """Load a dataset and write its catalog.

    Args:
        name: dataset name (:func:`cxrkit.data.list_datasets`).
        root: dataset root.
        out: the ``.parquet`` file to write (replaced atomically).
        images_only: only rows whose image is on disk; default False keeps every row of the label table
            (``path`` null where the image is absent).
        **options: passed to the adapter.

    Returns:
        A :class:`CatalogInfo`.
    """
    from cxrkit.data.registry import load_dataset

    t0 = time.perf_counter()
    ds = load_dataset(name, root=root, images_only=images_only, **options)
    df = catalog_table(ds)
    t1 = time.perf_counter()
    meta = {"dataset": ds.card.to_dict(), "findings": ds.findings, "root": str(root), "options": {
        k: v for k, v in options.items() if isinstance(v, (str, int, float, bool, type(None)))},
        "images_only": images_only}
    path = write_catalog(df, out, metadata=meta)
    t2 = time.perf_counter()
    log.info("catalog %s: %d rows in %.2f s + %.2f s write", path, len(df), t1 - t0, t2 - t1)
    return CatalogInfo(path=path, rows=len(df), images_on_disk=int(df["path"].notna().sum()),
                       findings=tuple(ds.findings), load_seconds=t1 - t0, write_seconds=t2 - t1)


def _check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"catalog file not found: {p}")
    return p


def catalog_schema(path: str | os.PathLike) -> dict[str, str]:
    """Column name → DuckDB type of a catalog file."""
    import duckdb

    p = _check_file(path)
    con = duckdb.connect()
    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(p)]).fetchall()
    except duckdb.Error as exc:
        raise DataFormatError(f"{p} is not a readable Parquet file: {exc}") from exc
    finally:
        con.close()
    return {r[0]: r[1] for r in rows}


def query_catalog(
    path: str | os.PathLike,
    where: str | None = None,
    *,
    limit: int | None = None,
    columns: list[str] | None = None,
    order_by: str | None = None,
) -> pd.DataFrame:
    """Rows of a catalog matching an SQL ``WHERE`` clause (DuckDB dialect).

    Args:
        path: the catalog's Parquet file.
        where: boolean SQL expression over the catalog's columns, e.g.
            ``"Cardiomegaly = 1 AND sex = 'F' AND age_years >= 65"``; None for all rows. A single expression
            only (no ``;``).
        limit: at most this many rows.
        columns: columns to return (default all).
        order_by: optional SQL ORDER BY expression.

    Returns:
        A DataFrame of the matching rows.

    Raises:
        DataFormatError: missing file, unknown column or bad SQL (the message lists the columns).
    """
    import duckdb

    p = _check_file(path)
    if where is not None and ";" in where:
        raise DataFormatError("the WHERE clause must be one expression (no ';')")
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 0):
        raise DataFormatError(f"limit must be a non-negative integer; got {limit!r}")
    if columns:  # unknown names fail in DuckDB's binder, whose error lists the close ones
        select = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    else:
        select = "*"
    sql = f"SELECT {select} FROM read_parquet(?)"
    if where:
        sql += f" WHERE {where}"
    if order_by:
        if ";" in order_by:
            raise DataFormatError("order_by must be one expression (no ';')")
        sql += f" ORDER BY {order_by}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    con = duckdb.connect()
    try:
        return con.execute(sql, [str(p)]).df()
    except duckdb.Error as exc:
        con.close()
        try:
            cols = ", ".join(catalog_schema(p))
        except DataFormatError:
            raise DataFormatError(f"{p} is not a readable catalog: {exc}") from exc
        raise DataFormatError(f"query failed: {exc}\nColumns: {cols} "
                              '(quote names with spaces: "No Finding")') from exc
    finally:
        con.close()


def catalog_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata :func:`build_catalog` stored in the file (dataset card, findings, options); {} if none."""
    import pyarrow.parquet as pq

    p = _check_file(path)
    try:
        meta = pq.read_schema(p).metadata or {}
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for non-Parquet files
        raise DataFormatError(f"{p} is not a readable Parquet file: {exc}") from exc
    raw = meta.get(META_KEY)
    return json.loads(raw) if raw else {}


def summarize_catalog(path: str | os.PathLike, where: str | None = None, *, by: str | None = None) -> pd.DataFrame:
    """Label counts per finding (optionally per value of a column) with DuckDB.

    Args:
        path: a catalog written by :func:`build_catalog`.
        where: optional SQL WHERE clause selecting rows first.
        by: optional column to group by (e.g. ``"view"``, ``"sex"``, ``"source"``).

    Returns:
        One row per finding (and group): ``finding``, [``by``], ``n``, ``positive``, ``negative``, ``uncertain``,
        ``unknown``, ``prevalence`` (positive / (positive + negative), NaN when both are 0).
    """
    import duckdb

    p = _check_file(path)
    findings = catalog_metadata(p).get("findings")
    schema = catalog_schema(p)
    if not findings:
        raise DataFormatError(f"{p} has no cxrkit finding list in its metadata; build it with build_catalog")
    if where is not None and ";" in where:
        raise DataFormatError("the WHERE clause must be one expression (no ';')")
    if by is not None and by not in schema:
        raise DataFormatError(f"unknown column {by!r}; the catalog has {list(schema)}")
    q = lambda c: '"' + c.replace('"', '""') + '"'  # noqa: E731
    group = f", {q(by)} AS {q(by)}" if by else ""
    parts = []
    for f in findings:
        c = q(f)
        parts.append(
            f"SELECT ? AS finding{group}, count(*) AS n, count(*) FILTER (WHERE {c} = 1) AS positive, "
            f"count(*) FILTER (WHERE {c} = 0) AS negative, count(*) FILTER (WHERE {c} = -1) AS uncertain, "
            f"count(*) FILTER (WHERE {c} IS NULL OR isnan({c})) AS unknown FROM read_parquet(?)"
            + (f" WHERE {where}" if where else "") + (f" GROUP BY {q(by)}" if by else ""))
    params: list[Any] = []
    for f in findings:
        params += [f, str(p)]
    con = duckdb.connect()
    try:
        df = con.execute(" UNION ALL ".join(parts), params).df()
    except duckdb.Error as exc:
        raise DataFormatError(f"summary failed: {exc}\nColumns: {', '.join(schema)}") from exc
    finally:
        con.close()
    known = (df["positive"] + df["negative"]).astype(float)
    df["prevalence"] = np.where(known > 0, df["positive"] / known.where(known > 0, 1), np.nan)
    order = {f: i for i, f in enumerate(findings)}
    keys = ["finding"] + ([by] if by else [])
    df = df.sort_values(keys, key=lambda s: s.map(order) if s.name == "finding" else s, kind="stable")
    return df.reset_index(drop=True)


def catalog_image_paths(path: str | os.PathLike) -> tuple[list[Path], int]:
    """The image files a catalog lists (its ``path`` column, in row order, first occurrence of each) and the
    number of rows without a file (null ``path``: label rows whose image is not on disk).

    Used by ``cxrkit analyze --catalog`` / ``classify --catalog``. Relative paths are relative to the current
    folder, as :func:`build_catalog` wrote them.

    Raises:
        DataFormatError: the file is missing, not Parquet, or has no ``path`` column.
    """
    import pyarrow.parquet as pq

    p = _check_file(path)
    try:
        names = pq.read_schema(p).names
        if "path" not in names:
            raise DataFormatError(f"{p} has no 'path' column (it has {names}); build it with `cxrkit catalog build`")
        column = pq.read_table(p, columns=["path"]).column("path").to_pylist()
    except DataFormatError:
        raise
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for non-Parquet files
        raise DataFormatError(f"{p} is not a readable catalog: {exc}") from exc
    seen: set[str] = set()
    out = []
    for v in column:
        if v is not None and v not in seen:
            seen.add(v)
            out.append(Path(v))
    return out, sum(v is None for v in column)
