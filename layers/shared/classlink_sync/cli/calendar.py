"""Staff commands for a district's calendar (SPEC R16): pause and resume it, and its blackout and
additions-only date ranges.

* ``pause DISTRICT --from YYYY-MM-DD [--until YYYY-MM-DD] --reason TEXT``: no roster sync runs from
  that date (until that date, or until ``resume``); each daily slot is recorded as a ``paused`` run.
  A second ``pause`` replaces the first.
* ``resume DISTRICT``: the pause is removed; the next slot syncs (held for review, R10, if the pause
  lasted more than 14 days and the sync would remove anything).
* ``blackout DISTRICT add --from --until [--reason]``, ``blackout DISTRICT remove --from --until``
  (a range is named by its two dates, exactly as ``list`` prints them), ``blackout DISTRICT list``.
* ``additions-only DISTRICT add|remove|list``, the same: syncs in the range create, update, link and
  reactivate but remove nothing; the removals are listed as ``deferred`` and made by the first
  normal sync after it.

Dates are calendar dates in the district's time zone (``districts add --timezone``), both ends
included. Every error is one line naming the argument, exit code 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from classlink_sync.cli import CLIError, district_id_arg, prepare_environment

WINDOWS = {"blackout": "blackouts", "additions-only": "additions_only"}
WHAT = {
    "blackout": "a blackout: no roster sync runs in the range (R16)",
    "additions-only": "an additions-only range: syncs remove nothing in it, removals are deferred (R16)",
}


def date_arg(value: str) -> str:
    """argparse type of a ``YYYY-MM-DD`` date: a usage error naming the argument otherwise."""
    from classlink_sync.errors import OnboardingError
    from classlink_sync.rules.calendar import parse_day

    try:
        return parse_day(value, "the date").isoformat()
    except OnboardingError:
        raise argparse.ArgumentTypeError(f"a date is YYYY-MM-DD, not {value[:40]!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    pause = subparsers.add_parser("pause", help="R16: pause a district's roster syncs (sign-in keeps working)")
    pause.add_argument("district_id", type=district_id_arg)
    pause.add_argument("--from", dest="start", required=True, type=date_arg, metavar="YYYY-MM-DD")
    pause.add_argument(
        "--until", type=date_arg, metavar="YYYY-MM-DD", help="the last paused day (default: until `resume`)"
    )
    pause.add_argument("--reason", required=True, metavar="TEXT", help="shown in each paused run")
    pause.set_defaults(func=_pause)

    resume = subparsers.add_parser("resume", help="R16: end a district's pause")
    resume.add_argument("district_id", type=district_id_arg)
    resume.set_defaults(func=_resume)

    for command, kind in WINDOWS.items():
        parser = subparsers.add_parser(command, help=WHAT[command])
        parser.add_argument("district_id", type=district_id_arg, metavar="DISTRICT")
        actions = parser.add_subparsers(dest=f"{command}_command", required=True, metavar="ACTION")
        add = actions.add_parser("add", help=f"add {WHAT[command]}")
        add.add_argument("--from", dest="start", required=True, type=date_arg, metavar="YYYY-MM-DD")
        add.add_argument("--until", required=True, type=date_arg, metavar="YYYY-MM-DD", help="the last day, included")
        add.add_argument("--reason", default="", metavar="TEXT")
        add.set_defaults(func=_window(kind, command, _add))
        remove = actions.add_parser("remove", help="remove the range with these two dates (as `list` prints them)")
        remove.add_argument("--from", dest="start", required=True, type=date_arg, metavar="YYYY-MM-DD")
        remove.add_argument("--until", required=True, type=date_arg, metavar="YYYY-MM-DD")
        remove.set_defaults(func=_window(kind, command, _remove))
        lst = actions.add_parser("list", help="the district's ranges (and its pause)")
        lst.add_argument("--json", action="store_true", help="print the ranges as JSON")
        lst.set_defaults(func=_window(kind, command, _list))


def _store_call(args: argparse.Namespace, call: Callable[[], Any]) -> Any:
    """Run a store change: an unknown district or a refused change is one line (exit 2)."""
    prepare_environment()
    from classlink_sync.errors import DistrictNotFound, OnboardingError

    try:
        return call()
    except DistrictNotFound as exc:
        raise CLIError(f"no district {args.district_id!r}; onboard it with `districts add`") from exc
    except OnboardingError as exc:
        raise CLIError(str(exc)) from exc


def _pause(args: argparse.Namespace) -> int:
    from classlink_sync.rules.calendar import label

    def call() -> dict[str, Any]:
        from classlink_sync.store.districts import set_pause

        return set_pause(args.district_id, args.start, args.until, args.reason)

    pause = _store_call(args, call)
    until = "until resumed" if pause["until"] is None else f"to {pause['until']}"
    print(f"R16: {args.district_id} paused {label(pause)} ({until}): {pause['reason']}; sign-in keeps working")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from classlink_sync.rules.calendar import label

    def call() -> dict[str, Any] | None:
        from classlink_sync.store.districts import clear_pause

        return clear_pause(args.district_id)

    had = _store_call(args, call)
    if had is None:
        print(f"R16: {args.district_id} was not paused; nothing changed")
    else:
        print(f"R16: {args.district_id} resumed (its pause {label(had)} is removed)")
    return 0


Handler = Callable[[argparse.Namespace, str, str], int]


def _window(kind: str, command: str, handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return handler(args, kind, command)

    return run


def _add(args: argparse.Namespace, kind: str, command: str) -> int:
    from classlink_sync.rules.calendar import label

    def call() -> list[dict[str, Any]]:
        from classlink_sync.store.districts import add_window

        return add_window(args.district_id, kind, args.start, args.until, args.reason)

    ranges = _store_call(args, call)
    print(f"R16: {command} {args.start}..{args.until} added to {args.district_id}; now: {_labels(ranges, label)}")
    return 0


def _remove(args: argparse.Namespace, kind: str, command: str) -> int:
    from classlink_sync.rules.calendar import label

    def call() -> list[dict[str, Any]]:
        from classlink_sync.store.districts import remove_window

        return remove_window(args.district_id, kind, args.start, args.until)

    ranges = _store_call(args, call)
    print(f"R16: {command} {args.start}..{args.until} removed from {args.district_id}; now: {_labels(ranges, label)}")
    return 0


def _labels(ranges: list[dict[str, Any]], label: Callable[[dict[str, Any]], str]) -> str:
    return ", ".join(label(r) for r in ranges) or "none"


def _list(args: argparse.Namespace, kind: str, command: str) -> int:
    from classlink_sync.rules.calendar import covers, label, local_day

    def call() -> Any:
        from classlink_sync.store.districts import get_district

        return get_district(args.district_id)

    district = _store_call(args, call)
    ranges: list[dict[str, Any]] = [dict(r) for r in getattr(district, kind)]
    if args.json:
        print(json.dumps({"district_id": district.district_id, "timezone": district.timezone, kind: ranges}))
        return 0
    today = local_day(dt.datetime.now(dt.UTC), district.timezone)
    print(f"{command} ranges of {district.district_id} (dates in {district.timezone}; today {today.isoformat()}):")
    for rng in ranges:
        now = "\t(in force today)" if covers(rng, today) else ""
        print(f"  {label(rng)}\t{rng.get('reason') or '-'}{now}")
    if not ranges:
        print("  none")
    if district.pause:
        print(f"paused {label(district.pause)}: {district.pause.get('reason') or '-'}")
    return 0
