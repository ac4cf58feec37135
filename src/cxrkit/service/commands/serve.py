"""``cxrkit serve --host 127.0.0.1 --port 8000``: the REST API and the web viewer (uvicorn)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the REST API and the web viewer",
                       description="Settings come from CXRKIT_* environment variables (see docs/delivery.md).")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from cxrkit.service.api import create_app
    from cxrkit.service.http import header_timeout_protocol
    from cxrkit.service.settings import Settings

    settings = Settings.from_env()
    app = create_app(settings)
    print(f"cxrkit API on http://{args.host}:{args.port}/ (viewer), /docs (OpenAPI); not a diagnostic device")
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        http=header_timeout_protocol(settings.header_timeout_s),  # h11 + a deadline for the header block
        timeout_keep_alive=5,  # idle keep-alive connections are closed after 5 s
        h11_max_incomplete_event_size=64 * 1024,  # header block limit (slow/huge headers)
        limit_concurrency=64,  # beyond this many connections, 503 instead of queueing forever
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    return 0
