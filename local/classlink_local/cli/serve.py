"""``classlink-sync serve``: the SSO HTTP API on 127.0.0.1 (S1-S5), through the real handler, and
the district portal (S6-S8): ``/portal`` and below go to ``functions/portal/app.py``, as the
HTTP API's routes send them.

Each HTTP request becomes an API Gateway HTTP API v2 event for ``functions/sso/app.py`` (see
``classlink_local.serve``), so a browser can sign in locally against the emulator (or a
ClassLink sandbox app: set ``CLASSLINK_LAUNCHPAD_URL``, ``CLASSLINK_NODEAPI_URL``,
``CLASSLINK_CLIENT_ID`` and ``CLASSLINK_CLIENT_SECRET``). ``SSO_REDIRECT_URI``, ``APP_URL`` and
``PORTAL_REDIRECT_URI`` default to this server's own callbacks and root.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from classlink_sync.cli import port_arg

DEFAULT_HANDLER = Path("functions") / "sso" / "app.py"
DEFAULT_PORTAL_HANDLER = Path("functions") / "portal" / "app.py"


def register(subparsers: Any) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the SSO sign-in (GET /sso/classlink/login, /callback) on 127.0.0.1",
        description="Serve the SSO function's HTTP API on 127.0.0.1 by turning each request into an "
        "API Gateway HTTP API (v2) event for the real handler.",
    )
    parser.add_argument("--port", type=port_arg, default=8080, help="port on 127.0.0.1 (default 8080; 0 = a free one)")
    parser.add_argument("--handler", default=str(DEFAULT_HANDLER), help="the handler file (default: %(default)s)")
    parser.add_argument(
        "--portal-handler",
        default=str(DEFAULT_PORTAL_HANDLER),
        help="the district portal's handler file, serving /portal and below (default: %(default)s)",
    )
    parser.set_defaults(func=run)


def prepare_sso_environment() -> None:
    """Against a local endpoint: the local resource names (as every command), the SSO side that
    `classlink-sync stack` published, and a session key made for the life of this process when
    ``SESSION_KEY`` is not set (said on stderr). Against AWS nothing is filled in: a missing setting
    is an error page naming the variable."""
    import secrets
    import sys

    from classlink_local.stack import apply_local_sso_env
    from classlink_sync.cli import is_local_endpoint, prepare_environment

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if not is_local_endpoint(endpoint):
        return
    prepare_environment()
    filled = apply_local_sso_env(endpoint)
    if filled:
        print(f"serve: ClassLink SSO from the local stack ({', '.join(filled)})", file=sys.stderr)
    if not os.environ.get("SESSION_KEY", "").strip():
        os.environ["SESSION_KEY"] = secrets.token_urlsafe(32)
        print(
            "serve: SESSION_KEY is not set; made a random session key for the life of this process "
            "(sessions end when it stops)",
            file=sys.stderr,
        )
    if not os.environ.get("PORTAL_KEY", "").strip():
        os.environ["PORTAL_KEY"] = secrets.token_urlsafe(32)
        print("serve: PORTAL_KEY is not set; made a random portal key for the life of this process", file=sys.stderr)


def print_staff_links(base: str) -> None:
    """S6: a staff link (8 hours) to the portal of each district of the local stack, if any (never
    against AWS: there, staff make links with `classlink-sync portal-link`)."""
    from classlink_sync.cli import is_local_endpoint
    from classlink_sync.portal.settings import PortalSecretResolver, load_portal_settings
    from classlink_sync.portal.stafflink import make_staff_link
    from classlink_sync.store.districts import list_districts

    if not is_local_endpoint(os.environ.get("AWS_ENDPOINT_URL", "").strip()):
        return
    try:
        key = PortalSecretResolver(load_portal_settings()).key()
        districts = list_districts()
    except Exception:  # no local stack, no tables, no key: the portal still signs administrators in
        return
    for district in districts[:10]:
        link = make_staff_link(key, district.district_id, hours=8)
        print(f"  staff link to {district.district_id} (8 hours): {link.url(base)}")


def run(args: argparse.Namespace) -> int:
    from classlink_local.serve import load_handler, make_server, route_by_prefix
    from classlink_sync.cli import CLIError

    handler_path, portal_path = Path(args.handler), Path(args.portal_handler)
    for path, option in ((handler_path, "--handler"), (portal_path, "--portal-handler")):
        if not path.is_file():
            raise CLIError(f"handler file not found: {path} (run from the repository root or pass {option})")
    server = make_server(lambda event, context: handler(event, context), port=args.port)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ.setdefault("SSO_REDIRECT_URI", f"{base}/sso/classlink/callback")
    os.environ.setdefault("APP_URL", f"{base}/")
    os.environ.setdefault("PORTAL_REDIRECT_URI", f"{base}/portal/callback")
    prepare_sso_environment()
    handler = route_by_prefix(load_handler(handler_path), {"/portal": load_handler(portal_path)})
    classlink = os.environ.get("CLASSLINK_LAUNCHPAD_URL", "default")
    print(f"SSO sign-in on {base}/sso/classlink/login  (ClassLink: {classlink})")
    print(f"District portal on {base}/portal/  (ClassLink Tenant Administrators; approvals and readiness")
    print("  checks go to the sync queue: `classlink-sync daily` drains it)")
    print_staff_links(base)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
