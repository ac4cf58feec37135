"""``cxrkit serve --host 127.0.0.1 --port 8000``: the REST API and the web viewer (uvicorn)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the REST API and the web viewer",
                       description="Settings come from CXRKIT_* environment variables (see docs/delivery.md).")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--index", default=None, help="similar-case index folder for POST /v1/similar and the viewer's "
                                                 "panel (default: CXRKIT_INDEX, else none)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)


def _bind(host: str, port: int):
    """Bind the listening socket before any model is loaded, so a busy port fails in milliseconds."""
    import socket

    from cxrkit.errors import CxrkitError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        raise CxrkitError(f"cannot listen on {where}: {exc.strerror or exc}; choose another --port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    sock = _bind(args.host, args.port)
    import uvicorn

    from cxrkit.service.api import create_app
    from cxrkit.service.http import uvicorn_options
    from cxrkit.service.settings import Settings

    try:
        settings = Settings.from_env()
        if getattr(args, "index", None):
            settings = settings.model_copy(update={"index": args.index})
        app = create_app(settings)
        print(f"cxrkit API on http://{args.host}:{args.port}/ (viewer), /docs (OpenAPI); not a diagnostic device")
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                                **uvicorn_options(settings))
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
