"""``cxrkit catalog build|query|schema``: a dataset's image catalog in Parquet, queried with DuckDB."""

from __future__ import annotations

import argparse
import json
import sys

from cxrkit.errors import DataFormatError


def _parse_options(items: list[str] | None) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items or []:
        if "=" not in item:
            raise DataFormatError(f"--option takes KEY=VALUE; got {item!r}")
        k, v = item.split("=", 1)
        low = v.lower()
        out[k] = None if low == "none" else True if low == "true" else False if low == "false" else v
    return out


def _build(args: argparse.Namespace) -> int:
    from cxrkit.data.catalog import build_catalog

    options = _parse_options(args.option)
    if "images_only" in options:
        raise DataFormatError("use the --images-only flag instead of --option images_only=...")
    info = build_catalog(args.dataset, args.root, args.out, images_only=args.images_only, **options)
    print(json.dumps({"path": str(info.path), "rows": info.rows, "images_on_disk": info.images_on_disk,
                      "findings": list(info.findings), "load_seconds": round(info.load_seconds, 3),
                      "write_seconds": round(info.write_seconds, 3)}))
    return 0


def _query(args: argparse.Namespace) -> int:
    from cxrkit.data.catalog import query_catalog

    cols = [c.strip() for c in args.columns.split(",")] if args.columns else None
    df = query_catalog(args.file, args.where, limit=args.limit, columns=cols)
    if args.format == "json":
        sys.stdout.write(df.to_json(orient="records", lines=True, date_format="iso"))
    else:
        df.to_csv(sys.stdout, index=False)
    return 0


def _summary(args: argparse.Namespace) -> int:
    from cxrkit.data.catalog import summarize_catalog

    df = summarize_catalog(args.file, args.where, by=args.by)
    if args.format == "json":
        sys.stdout.write(df.to_json(orient="records", lines=True))
    else:
        df.to_csv(sys.stdout, index=False, float_format="%.4f")
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from cxrkit.data.registry import dataset_card, list_datasets

    names = [args.name] if args.name else list_datasets()
    cards = [dataset_card(n).to_dict() for n in names]
    if args.name:
        print(json.dumps(cards[0], indent=1))
    else:
        for c in cards:
            print(f"{c['name']:<16} {c['title']}  [{c['license']}]")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from cxrkit.data.catalog import catalog_schema

    print(json.dumps(catalog_schema(args.file), indent=1))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("catalog", help="build and query a dataset's image catalog (Parquet + DuckDB)")
    cmds = p.add_subparsers(dest="catalog_command", metavar="ACTION")
    b = cmds.add_parser("build", help="write a dataset's flat label table to Parquet (atomic)")
    b.add_argument("--dataset", required=True, help="dataset name (nih, chexpert, ...)")
    b.add_argument("--root", required=True, help="dataset root folder")
    b.add_argument("--out", required=True, help="output .parquet file")
    b.add_argument("--images-only", action="store_true", help="only rows whose image file is on disk")
    b.add_argument("--option", action="append", metavar="KEY=VALUE", help="adapter option (repeatable)")
    b.set_defaults(func=_build)
    q = cmds.add_parser("query", help="rows matching an SQL WHERE clause (DuckDB)")
    q.add_argument("file", help="catalog .parquet file")
    q.add_argument("where", nargs="?", default=None,
                   help='SQL WHERE clause, e.g. "Cardiomegaly = 1 AND age_years > 60"; quote names with '
                        'spaces: \'"No Finding" = 1\'')
    q.add_argument("--limit", type=int, default=None, help="at most N rows")
    q.add_argument("--columns", default=None, help="comma-separated columns to print")
    q.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (json: one per line)")
    q.set_defaults(func=_query)
    m = cmds.add_parser("summary", help="label counts and prevalence per finding (optionally per group)")
    m.add_argument("file", help="catalog .parquet file")
    m.add_argument("where", nargs="?", default=None, help="optional SQL WHERE clause")
    m.add_argument("--by", default=None, help="group by this column (view, sex, source, ...)")
    m.add_argument("--format", choices=("csv", "json"), default="csv")
    m.set_defaults(func=_summary)
    d = cmds.add_parser("datasets", help="list the dataset adapters, or print one dataset's card")
    d.add_argument("name", nargs="?", default=None, help="dataset name: print its card (citation, license, limits)")
    d.set_defaults(func=_datasets)
    s = cmds.add_parser("schema", help="columns and types of a catalog file")
    s.add_argument("file")
    s.set_defaults(func=_schema)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
