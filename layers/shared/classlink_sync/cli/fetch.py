"""``classlink-sync fetch``: read a whole district from a Roster Server and report it (SPEC §1).

Prints counts per collection, completeness (R9) and the rejected records (R4), or with ``--out``
writes every record as JSON files into a directory. The secret may come from a file
(``--client-secret-file``) or the environment (``ONEROSTER_CLIENT_SECRET``, ``ONEROSTER_BEARER``)
so it stays out of ``ps`` and the shell history.
Exit code: 0 complete, 1 incomplete, 2 usage or credentials error.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from classlink_sync.cli import add_client_secret_arguments, non_negative_int, positive_int


def register(subparsers: Any) -> None:
    """Add the ``fetch`` command."""
    parser = subparsers.add_parser("fetch", help="fetch a district's roster and print what came back")
    parser.add_argument("--url", required=True, help="Roster Server base URL, ending in /ims/oneroster/v1p1")
    parser.add_argument("--client-id", help="OAuth 1.0a client id (consumer key)")
    add_client_secret_arguments(parser, what="OAuth 1.0a client secret")
    parser.add_argument(
        "--bearer",
        default=os.environ.get("ONEROSTER_BEARER"),
        help="bearer token for ClassLink's OneRoster proxy, instead of OAuth 1.0a (default: $ONEROSTER_BEARER)",
    )
    parser.add_argument("--out", type=Path, help="write every record as JSON into this directory")
    parser.add_argument("--page-size", type=positive_int, default=1000)
    parser.add_argument("--concurrency", type=positive_int, default=4)
    parser.add_argument("--since", help="delta fetch: only records modified after this ISO date-time")
    parser.add_argument("--show-rejected", type=non_negative_int, default=50, help="how many rejected records to print")
    parser.set_defaults(func=run)


def make_client(args: argparse.Namespace) -> Any:
    """Build the client from the arguments (tests replace this to inject a transport)."""
    from classlink_sync.oneroster.auth import BearerAuth, OAuth1Auth
    from classlink_sync.oneroster.client import OneRosterClient

    from . import SECRET_SOURCES, CLIError, client_secret

    if not args.url.startswith(("https://", "http://")):
        raise CLIError("--url must be an http(s) URL ending in /ims/oneroster/v1p1")
    if args.bearer:
        auth: Any = BearerAuth(args.bearer)
    elif args.client_id:
        secret = client_secret(args, required=False)
        if secret is None:
            raise CLIError(f"--client-id needs the client secret: give one of {SECRET_SOURCES} (or use --bearer)")
        auth = OAuth1Auth(args.client_id, secret)
    else:
        raise CLIError(f"give --client-id and the client secret ({SECRET_SOURCES}), or --bearer")
    if args.page_size < 1 or args.concurrency < 1:
        raise CLIError("--page-size and --concurrency must be at least 1")
    return OneRosterClient(args.url, auth, page_size=args.page_size, concurrency=args.concurrency)


def run(args: argparse.Namespace) -> int:
    from classlink_sync.oneroster.client import SNAPSHOT_COLLECTIONS
    from classlink_sync.oneroster.errors import CredentialsRejected

    from . import CLIError

    try:
        with make_client(args) as client:
            snapshot = client.fetch_snapshot(since=args.since)
    except CredentialsRejected as exc:
        raise CLIError(f"credentials rejected: {exc}") from None

    print(f"{'collection':<18} {'records':>9} {'rejected':>9} {'total':>9}  complete")
    rejected_by: dict[str, int] = {}
    for rejection in snapshot.rejected:
        rejected_by[rejection.collection] = rejected_by.get(rejection.collection, 0) + 1
    for path, attribute in SNAPSHOT_COLLECTIONS:
        status = snapshot.collections[path]
        total = "-" if status.total is None else str(status.total)
        complete = "yes" if status.complete else f"NO: {status.reason}"
        records = len(getattr(snapshot, attribute))
        print(f"{path:<18} {records:>9} {rejected_by.get(path, 0):>9} {total:>9}  {complete}")
    print(f"snapshot complete: {'yes' if snapshot.complete else 'no (a sync would remove nothing, R9)'}")

    if snapshot.rejected:
        print(f"rejected records ({len(snapshot.rejected)}):")
        for rejection in snapshot.rejected[: max(args.show_rejected, 0)]:
            print(f"  {rejection.collection} {rejection.sourced_id or '(no sourcedId)'}: {rejection.message}")
        if len(snapshot.rejected) > args.show_rejected:
            print(f"  ... and {len(snapshot.rejected) - args.show_rejected} more")

    if args.out is not None:
        write_snapshot(snapshot, args.out)
        print(f"wrote records to {args.out}")
    return 0 if snapshot.complete else 1


def _plain(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}


def write_snapshot(snapshot: Any, out: Path) -> None:
    """One JSON file per collection (a list of records), plus rejected.json and status.json."""
    from classlink_sync.oneroster.client import SNAPSHOT_COLLECTIONS

    out.mkdir(parents=True, exist_ok=True)
    for path, attribute in SNAPSHOT_COLLECTIONS:
        records = [_plain(r) for r in getattr(snapshot, attribute).values()]
        (out / f"{path}.json").write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "rejected.json").write_text(
        json.dumps([_plain(r) for r in snapshot.rejected], indent=1, ensure_ascii=False), encoding="utf-8"
    )
    statuses = {name: _plain(status) for name, status in snapshot.collections.items()}
    (out / "status.json").write_text(json.dumps(statuses, indent=1), encoding="utf-8")
