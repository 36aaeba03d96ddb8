"""Staff command for the district portal (S6): ``portal-link`` makes a signed link to one district's
portal, valid at most 7 days.

The link is a bearer credential for that district's portal (read its runs, approve or discard a
held run, start a readiness check) until it expires: send it to the person who needs it only. It is
signed with the portal key: ``$PORTAL_KEY`` when set (local stack), else the ``portal_key`` of the
portal's secret (``--secret-id`` or ``$PORTAL_SECRET_ARN``, the stack's ``PortalSecretArn`` output).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os

from classlink_sync.cli import CLIError, district_id_arg, prepare_environment

BASE_URL_VARIABLE = "PORTAL_BASE_URL"


def _hours(value: str) -> float:
    from classlink_sync.portal.stafflink import MAX_LINK_HOURS

    try:
        hours = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hours is a number of hours, not {value[:40]!r}") from None
    if not 0 < hours <= MAX_LINK_HOURS:
        raise argparse.ArgumentTypeError(
            f"S6: a portal link lasts more than 0 and at most {MAX_LINK_HOURS} hours (7 days)"
        )
    return hours


def register(subparsers: argparse._SubParsersAction) -> None:
    link = subparsers.add_parser(
        "portal-link",
        help="S6: a signed link to one district's portal (at most 7 days)",
        description="Print a signed link that opens one district's portal as 'staff link' until it expires. "
        "Anyone holding the link can use that district's portal: send it to the person who needs it only.",
    )
    link.add_argument("district_id", type=district_id_arg)
    link.add_argument("--hours", type=_hours, default=24.0, help="how long the link works (default 24, at most 168)")
    link.add_argument(
        "--base-url", help=f"the platform's address, e.g. https://app.example.org (or ${BASE_URL_VARIABLE})"
    )
    link.add_argument("--secret-id", help="the portal secret (default $PORTAL_SECRET_ARN), unless $PORTAL_KEY is set")
    link.add_argument("--json", action="store_true", help="print the link as JSON")
    link.set_defaults(func=_portal_link)


def _portal_link(args: argparse.Namespace) -> int:
    base_url = (args.base_url or os.environ.get(BASE_URL_VARIABLE, "")).strip()
    if not base_url.startswith(("https://", "http://")):
        raise CLIError(f"the portal's address is needed: give --base-url https://... or set ${BASE_URL_VARIABLE}")
    prepare_environment()
    from classlink_sync.portal.settings import PortalSecretResolver, load_portal_settings
    from classlink_sync.portal.stafflink import make_staff_link
    from classlink_sync.store.districts import get_district

    environ = dict(os.environ)
    if args.secret_id:
        environ["PORTAL_SECRET_ARN"] = args.secret_id
    key = PortalSecretResolver(load_portal_settings(environ)).key()
    get_district(args.district_id)  # DistrictNotFound (one line, exit 2) for a district that does not exist
    link = make_staff_link(key, args.district_id, hours=args.hours)
    expires = dt.datetime.fromtimestamp(link.expires_at, dt.UTC).isoformat(timespec="minutes")
    if args.json:
        print(json.dumps({"district_id": link.district_id, "url": link.url(base_url), "expires_at": expires}))
    else:
        print(link.url(base_url))
        print(f"opens the portal of {link.district_id} as 'staff link' until {expires} (S6)")
    return 0
