"""Staff commands for districts (SPEC R1, R2, §2): onboard, list, show, import accounts, reset."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from classlink_sync.local.cli import CLIError


def register(subparsers: argparse._SubParsersAction) -> None:
    districts = subparsers.add_parser("districts", help="onboard and inspect districts (R1)")
    sub = districts.add_subparsers(dest="districts_command", required=True)

    add = sub.add_parser("add", help="onboard a district (R1)")
    add.add_argument("district_id")
    add.add_argument("--tenant-id", required=True, help="ClassLink tenant id (kept as a string)")
    add.add_argument("--oneroster-url", required=True, help="Roster Server base URL (.../ims/oneroster/v1p1)")
    add.add_argument("--client-id", required=True)
    add.add_argument("--client-secret", required=True, help="stored in Secrets Manager, never in config")
    add.add_argument("--schools", required=True, help="licensed school sourcedIds, comma-separated, or 'all'")
    add.add_argument("--enable-from", help="YYYY-MM-DD; at least 14 days from today (R1)")
    add.add_argument("--override-notice", action="store_true", help="staff override of the 14-day notice")
    add.add_argument("--use-proxy", action="store_true", help="ClassLink's OneRoster proxy (bearer token)")
    add.set_defaults(func=_add)

    lst = sub.add_parser("list", help="list onboarded districts")
    lst.set_defaults(func=_list)

    show = sub.add_parser("show", help="show one district's settings (no secrets)")
    show.add_argument("district_id")
    show.set_defaults(func=_show)

    accounts = subparsers.add_parser("accounts", help="accounts that existed before onboarding (SPEC §2)")
    acc_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    imp = acc_sub.add_parser("import", help="import pre-existing accounts (username,email,given_name,...)")
    imp.add_argument("--district", required=True)
    imp.add_argument("file", help="CSV with columns username, email, given_name, family_name, role")
    imp.set_defaults(func=_import)

    reset = subparsers.add_parser("reset", help="R2: archive classes/enrolments, deactivate accounts")
    reset.add_argument("district_id")
    reset.set_defaults(func=_reset)


def _prepare() -> None:
    from classlink_sync.local.stack import ensure_local_env

    ensure_local_env()


def _add(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store.districts import OnboardingError, add_district

    schools: list[str] | str
    if args.schools.strip().lower() == "all":
        schools = "all"
    else:
        schools = [s.strip() for s in args.schools.split(",") if s.strip()]
    try:
        enable_from = dt.date.fromisoformat(args.enable_from) if args.enable_from else None
    except ValueError as exc:
        raise CLIError(f"--enable-from must be YYYY-MM-DD: {exc}") from exc
    try:
        district = add_district(
            args.district_id,
            tenant_id=args.tenant_id,
            oneroster_url=args.oneroster_url,
            client_id=args.client_id,
            client_secret=args.client_secret,
            schools=schools,  # type: ignore[arg-type]
            enable_from=enable_from,
            override_notice=args.override_notice,
            use_proxy=args.use_proxy,
        )
    except OnboardingError as exc:
        raise CLIError(str(exc)) from exc
    print(json.dumps(district.describe(), indent=2, default=str))
    return 0


def _list(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store.districts import list_districts

    for d in sorted(list_districts(), key=lambda d: d.district_id):
        schools = "all" if d.licensed_schools is None else f"{len(d.licensed_schools)} school(s)"
        print(f"{d.district_id}\ttenant {d.tenant_id}\t{schools}\tenabled from {d.enable_from}")
    return 0


def _show(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store.districts import DistrictNotFound, show_district

    try:
        print(json.dumps(show_district(args.district_id), indent=2, default=str))
    except DistrictNotFound as exc:
        raise CLIError(f"no district {args.district_id!r}") from exc
    return 0


def _import(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store.accounts import import_accounts

    result = import_accounts(args.district, args.file)
    print(f"imported {len(result.created)} account(s) into {args.district}")
    for error in result.errors:
        print(f"  row {error.row} ({error.username or 'no username'}): {error.message}")
    return 1 if result.errors else 0


def _reset(args: argparse.Namespace) -> int:
    _prepare()
    import uuid

    from classlink_sync.store import locks
    from classlink_sync.store.accounts import reset_district
    from classlink_sync.sync.service import LEASE_SECONDS

    # R2 rewrites the district's items: never while a sync of it is writing (R14 lease).
    holder = f"reset-{uuid.uuid4().hex[:8]}"
    if not locks.acquire_lease(args.district_id, holder, LEASE_SECONDS):
        raise CLIError(f"a sync of district {args.district_id} is running (R14); reset it when that sync ends")
    try:
        result = reset_district(args.district_id)
    finally:
        locks.release_lease(args.district_id, holder)
    print(
        f"R2 reset of {args.district_id}: {result.accounts_deactivated} account(s) deactivated, "
        f"{result.classes_archived} class(es) and {result.enrollments_archived} enrolment(s) archived; "
        "nothing destroyed"
    )
    return 0
