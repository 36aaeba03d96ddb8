"""``classlink-sync serve``: the SSO HTTP API on 127.0.0.1 (S1-S5), through the real handler.

Each HTTP request becomes an API Gateway HTTP API v2 event for ``functions/sso/app.py`` (see
``classlink_sync.local.serve``), so a browser can sign in locally against the emulator (or a
ClassLink sandbox app: set ``CLASSLINK_LAUNCHPAD_URL``, ``CLASSLINK_NODEAPI_URL``,
``CLASSLINK_CLIENT_ID`` and ``CLASSLINK_CLIENT_SECRET``). ``SSO_REDIRECT_URI`` and ``APP_URL``
default to this server's own callback and root.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

DEFAULT_HANDLER = Path("functions") / "sso" / "app.py"


def register(subparsers: Any) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the SSO sign-in (GET /sso/classlink/login, /callback) on 127.0.0.1",
        description="Serve the SSO function's HTTP API on 127.0.0.1 by turning each request into an "
        "API Gateway HTTP API (v2) event for the real handler.",
    )
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080; 0 = a free one)")
    parser.add_argument("--handler", default=str(DEFAULT_HANDLER), help="the handler file (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from classlink_sync.local.cli import CLIError
    from classlink_sync.local.serve import load_handler, make_server

    handler_path = Path(args.handler)
    if not handler_path.is_file():
        raise CLIError(f"handler file not found: {handler_path} (run from the repository root or pass --handler)")
    server = make_server(lambda event, context: handler(event, context), port=args.port)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ.setdefault("SSO_REDIRECT_URI", f"{base}/sso/classlink/callback")
    os.environ.setdefault("APP_URL", f"{base}/")
    handler = load_handler(handler_path)
    classlink = os.environ.get("CLASSLINK_LAUNCHPAD_URL", "default")
    print(f"SSO sign-in on {base}/sso/classlink/login  (ClassLink: {classlink})")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
