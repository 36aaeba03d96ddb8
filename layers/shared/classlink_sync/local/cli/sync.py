"""Sync commands (SPEC R10, R12, R14): sync one district now, fire the daily schedule, list and
review runs (approve / discard a held run), export what a district has synced."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from dataclasses import asdict
from typing import Any

from classlink_sync.local.cli import CLIError


def register(subparsers: argparse._SubParsersAction) -> None:
    sync = subparsers.add_parser("sync", help="sync one district now (the Lambda's code path)")
    sync.add_argument("district_id")
    sync.add_argument("--dry-run", action="store_true", help="R12: fetch, validate and plan; write no roster data")
    sync.add_argument("--json", action="store_true", help="print the run record as JSON")
    sync.add_argument("--date", help="the sync date (YYYY-MM-DD), default today (UTC)")
    sync.set_defaults(func=_sync)

    daily = subparsers.add_parser("daily", help="fire the daily schedule and drain the queue through the handlers")
    daily.add_argument("--date", help="the slot date (YYYY-MM-DD), default today (UTC)")
    daily.add_argument("--json", action="store_true")
    daily.set_defaults(func=_daily)

    runs = subparsers.add_parser("runs", help="a district's sync runs, newest first")
    runs.add_argument("district_id")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(func=_runs)

    approve = subparsers.add_parser("approve", help="R10: re-fetch, re-plan and apply a held run, guard waived once")
    approve.add_argument("district_id")
    approve.add_argument("run_id")
    approve.add_argument("--json", action="store_true")
    approve.set_defaults(func=_approve)

    discard = subparsers.add_parser("discard", help="R10: drop a held run; the next sync evaluates again")
    discard.add_argument("district_id")
    discard.add_argument("run_id")
    discard.set_defaults(func=_discard)

    export = subparsers.add_parser("export", help="the district's synced accounts, classes and enrolments")
    export.add_argument("district_id")
    export.add_argument("--json", action="store_true", help="JSON (the default prints counts)")
    export.set_defaults(func=_export)


def _prepare() -> None:
    from classlink_sync.local.stack import ensure_local_env

    ensure_local_env()


def _today(value: str | None) -> str:
    if value is None:
        return dt.datetime.now(dt.UTC).date().isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise CLIError(f"--date must be YYYY-MM-DD: {exc}") from exc


def run_record_json(report: Any) -> dict[str, Any]:
    """The run record as `--json` prints it: status, counts, issues (rule, sourcedId, message)."""
    data = report.to_dict()
    data["issues"] = [
        {
            "rule": i.rule,
            "entity": i.entity,
            "sourcedId": i.sourced_id,
            "field": i.field,
            "message": i.message,
            "stale": i.stale,
        }
        for i in report.issues
    ]
    return data


def _run(request: Any, as_json: bool) -> int:
    from classlink_sync.store.districts import DistrictNotFound
    from classlink_sync.sync.report import FAILED, render_text
    from classlink_sync.sync.service import DistrictBusy, run_sync

    try:
        outcome = run_sync(request, raise_on_failure=False)
    except DistrictNotFound as exc:
        raise CLIError(f"no district {request.district_id!r}; onboard it with `districts add`") from exc
    except DistrictBusy as exc:
        raise CLIError(str(exc)) from exc
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if as_json:
        print(json.dumps(run_record_json(outcome.report), indent=2, default=str))
    else:
        print(render_text(outcome.report))
    return 1 if outcome.report.status == FAILED else 0


def _sync(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.sync.messages import SyncRequest

    request = SyncRequest(district_id=args.district_id, date=_today(args.date), trigger="manual", dry_run=args.dry_run)
    return _run(request, args.json)


def _approve(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.sync.messages import SyncRequest

    request = SyncRequest(
        district_id=args.district_id, date=_today(None), trigger="approve", approve_run_id=args.run_id
    )
    return _run(request, args.json)


def _discard(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store import runs

    record = runs.get_run(args.district_id, args.run_id)
    if record is None:
        raise CLIError(f"district {args.district_id} has no run {args.run_id}")
    if record.status != "held":
        raise CLIError(f"R10: run {args.run_id} is {record.status}; only a held run can be discarded")
    runs.set_status(args.district_id, args.run_id, "discarded")
    print(f"R10: discarded held run {args.run_id}; nothing was written, the next scheduled sync evaluates again")
    return 0


def _daily(args: argparse.Namespace) -> int:
    _prepare()
    result = fire_daily(_today(args.date))
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        dispatch = result["dispatch"]
        print(
            f"daily schedule for {dispatch.get('date')}: {dispatch.get('due')} due, {dispatch.get('sent')} sent, "
            f"{dispatch.get('skipped')} skipped (not enabled yet, or already dispatched for that date)"
        )
        drained = result["drain"]
        print(f"queue drained: {len(drained['succeeded'])} succeeded, {len(drained['failed'])} failed")
    return 1 if result["drain"]["failed"] else 0


def fire_daily(date: str) -> dict[str, Any]:
    """Fire the schedule as EventBridge Scheduler would (its explicit Input as the event) and drain
    the sync queue through the real district-sync handler."""
    from classlink_sync.local.lambda_runtime import invoke
    from classlink_sync.local.queue_runner import drain_queue
    from classlink_sync.settings import get_settings
    from classlink_sync.store.context import get_store
    from classlink_sync.sync.dispatch import sqs_client

    event = {"trigger": "schedule", "date": date}
    # What the functions print (JSON logs, EMF) goes to CloudWatch in Lambda; here, to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        dispatch = invoke("dispatcher", event, timeout_seconds=60)
        settings = get_settings()
        drain = drain_queue(sqs_client(get_store()), settings.require("sync_queue_url"))
    return {"dispatch": dispatch, "drain": asdict(drain)}


def _runs(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store import runs

    records = runs.list_runs(args.district_id, limit=args.limit)
    if not records:
        print(f"no runs for district {args.district_id}")
    for r in records:
        writes = "-" if r.roster_writes is None else r.roster_writes
        print(f"{r.run_id}\t{r.status}\t{r.trigger}\tissues {r.issue_count}\twrites {writes}\t{r.started}")
    return 0


def _export(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store.accounts import export_district

    data = export_district(args.district_id)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        for kind, items in data.items():
            print(f"{kind}: {len(items)}")
    return 0
