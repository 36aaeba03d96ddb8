"""Staff commands for districts (SPEC R1, R2, R19, §2): onboard, list, show, contacts, import accounts, reset."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json

from classlink_sync.cli import (
    CLIError,
    add_client_secret_arguments,
    client_secret,
    district_id_arg,
    prepare_environment,
    read_input_text,
    tenant_id_arg,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    districts = subparsers.add_parser("districts", help="onboard and inspect districts (R1)")
    sub = districts.add_subparsers(dest="districts_command", required=True)

    add = sub.add_parser("add", help="onboard a district (R1)")
    add.add_argument("district_id", type=district_id_arg)
    add.add_argument("--tenant-id", required=True, type=tenant_id_arg, help="ClassLink tenant id, 1-64 digits (R1)")
    add.add_argument(
        "--oneroster-url",
        required=True,
        help="Roster Server base URL (.../ims/oneroster/v1p1), without credentials (R1: Secrets Manager)",
    )
    add.add_argument("--client-id", required=True)
    add_client_secret_arguments(add, what="client secret (it goes to Secrets Manager only)")
    add.add_argument("--schools", required=True, help="licensed school sourcedIds, comma-separated, or 'all'")
    add.add_argument("--enable-from", help="YYYY-MM-DD; at least 14 days from today (R1)")
    add.add_argument("--override-notice", action="store_true", help="staff override of the 14-day notice")
    add.add_argument("--use-proxy", action="store_true", help="ClassLink's OneRoster proxy (bearer token)")
    add.add_argument(
        "--timezone",
        default="UTC",
        type=timezone_arg,
        metavar="ZONE",
        help="IANA time zone of the district's dates and hours, e.g. America/Chicago (R16, R18; default UTC)",
    )
    add.add_argument(
        "--contact",
        action="append",
        default=[],
        type=contact_arg,
        metavar="EMAIL",
        help="a contact email told about the district's syncs (R19); repeat for more",
    )
    add.set_defaults(func=_add)

    lst = sub.add_parser("list", help="list onboarded districts")
    lst.set_defaults(func=_list)

    show = sub.add_parser("show", help="show one district's settings (no secrets)")
    show.add_argument("district_id", type=district_id_arg)
    show.set_defaults(func=_show)

    contacts = sub.add_parser("contacts", help="R19: set, add or remove the district's contact emails")
    contacts.add_argument("district_id", type=district_id_arg)
    contacts.add_argument("action", choices=("set", "add", "remove"), help="set replaces the list (none: clear it)")
    contacts.add_argument("emails", nargs="*", type=contact_arg, metavar="EMAIL")
    contacts.set_defaults(func=_contacts)

    setter = sub.add_parser("set", help="R18: change a district's delta-sync cadence")
    setter.add_argument("district_id", type=district_id_arg)
    cadence = setter.add_mutually_exclusive_group(required=True)
    cadence.add_argument("--delta-every", metavar="DURATION", help="R18: a delta sync every 15m..24h, e.g. 60m")
    cadence.add_argument("--delta-off", action="store_true", help="R18: no delta syncs (the default)")
    setter.add_argument(
        "--delta-hours", metavar="HH-HH", help="R18: local hours of delta syncs, e.g. 07-18 (default 00-24)"
    )
    setter.set_defaults(func=_set)

    accounts = subparsers.add_parser("accounts", help="accounts that existed before onboarding (SPEC §2)")
    acc_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    imp = acc_sub.add_parser("import", help="import pre-existing accounts (username,email,given_name,...)")
    imp.add_argument("--district", required=True, type=district_id_arg)
    imp.add_argument("file", help="CSV with columns username, email, given_name, family_name, role")
    imp.set_defaults(func=_import)

    reset = subparsers.add_parser("reset", help="R2: archive classes/enrolments, deactivate accounts")
    reset.add_argument("district_id", type=district_id_arg)
    reset.set_defaults(func=_reset)


def _prepare() -> None:
    prepare_environment()


def _add(args: argparse.Namespace) -> int:
    from classlink_sync.errors import OnboardingError
    from classlink_sync.rules.onboarding import check_no_url_credentials

    try:  # before anything is read or written, and without quoting the URL
        check_no_url_credentials(args.district_id, args.oneroster_url)
    except OnboardingError as exc:
        raise CLIError(f"--oneroster-url: {exc}") from None
    secret = client_secret(args)
    _prepare()
    from classlink_sync.store.districts import add_district

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
            client_secret=secret or "",
            schools=schools,  # type: ignore[arg-type]
            enable_from=enable_from,
            override_notice=args.override_notice,
            use_proxy=args.use_proxy,
            contacts=args.contact,
            timezone=args.timezone,
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


def timezone_arg(value: str) -> str:
    """argparse type of ``--timezone`` (R16): an IANA name zoneinfo knows, else a one-line usage error."""
    from classlink_sync.errors import OnboardingError
    from classlink_sync.rules.calendar import check_timezone

    try:
        return check_timezone(value)
    except OnboardingError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("R16: --timezone ")) from None


def contact_arg(value: str) -> str:
    """argparse type of a contact email (R19): a malformed one is a one-line usage error, exit 2."""
    from classlink_sync.rules.contacts import contact_problem

    problem = contact_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"contact email {value.strip()!r} {problem} (R19)")
    return value.strip()


def _contacts(args: argparse.Namespace) -> int:
    if args.action != "set" and not args.emails:
        raise CLIError(f"districts contacts {args.action}: give at least one EMAIL")
    _prepare()
    from classlink_sync.errors import OnboardingError
    from classlink_sync.store.districts import DistrictNotFound, change_district_contacts

    try:
        contacts = change_district_contacts(args.district_id, args.action, args.emails)
    except DistrictNotFound as exc:
        raise CLIError(f"no district {args.district_id!r}; onboard it with `districts add`") from exc
    except OnboardingError as exc:
        raise CLIError(str(exc)) from exc
    print(f"contacts of {args.district_id}: {', '.join(contacts) if contacts else 'none'}")
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
    check_import_file(args.file)
    _prepare()
    from classlink_sync.store.accounts import import_accounts
    from classlink_sync.store.districts import DistrictNotFound, get_district

    try:
        get_district(args.district)
    except DistrictNotFound as exc:
        raise CLIError(f"--district: no district {args.district!r}; onboard it with `districts add`") from exc
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
    from classlink_sync.store.districts import DistrictNotFound, get_district
    from classlink_sync.sync.service import take_lease

    try:  # before the lease: an unknown district gets no lock item
        get_district(args.district_id)
    except DistrictNotFound as exc:
        raise CLIError(f"no district {args.district_id!r}; onboard it with `districts add`") from exc
    # R2 rewrites the district's items: never while a sync of it is writing (R14 lease).
    holder = f"reset-{uuid.uuid4().hex[:8]}"
    if not take_lease(args.district_id, holder):
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


def check_import_file(path: str) -> None:
    """The accounts file is UTF-8 CSV text with a header naming at least ``username`` and ``role``;
    otherwise one ``CLIError`` naming the file, before anything is read from AWS or written."""
    from classlink_sync.store.accounts import IMPORT_COLUMNS

    text = read_input_text(path, "accounts file", encoding="utf-8-sig")
    if "\x00" in text:
        raise CLIError(f"accounts file {path}: contains NUL bytes; is it a binary file? (expected CSV text)")
    try:
        header = next(csv.reader(io.StringIO(text)), None)
    except csv.Error as exc:
        raise CLIError(f"accounts file {path}: not readable as CSV: {exc}") from None
    columns = [c.strip() for c in header or []]
    missing = [c for c in ("username", "role") if c not in columns]
    if missing:
        raise CLIError(
            f"accounts file {path}: missing column(s) {', '.join(missing)}; the first row must name the columns "
            f"{', '.join(IMPORT_COLUMNS)} (username and role are required)"
        )


def _set(args: argparse.Namespace) -> int:
    """R18: ``districts set DISTRICT --delta-every 60m [--delta-hours 07-18] | --delta-off``."""
    from classlink_sync.errors import OnboardingError
    from classlink_sync.rules import delta

    if args.delta_off and args.delta_hours:
        raise CLIError("districts set: --delta-hours goes with --delta-every, not --delta-off")
    try:
        cadence = None if args.delta_off else delta.cadence(args.delta_every, args.delta_hours)
    except OnboardingError as exc:
        raise CLIError(str(exc)) from exc
    _prepare()
    from classlink_sync.store.districts import DistrictNotFound, get_district, set_delta

    try:
        stored = set_delta(args.district_id, cadence)
        zone = get_district(args.district_id).timezone
    except DistrictNotFound as exc:
        raise CLIError(f"no district {args.district_id!r}; onboard it with `districts add`") from exc
    print(f"delta syncs of {args.district_id}: {delta.describe(stored)}" + (f" ({zone})" if stored else ""))
    return 0
