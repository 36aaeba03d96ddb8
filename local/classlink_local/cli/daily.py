"""``classlink-sync daily``: fire the daily schedule as EventBridge Scheduler would and drain the
sync queue through the real handlers (SPEC R14), on the local stack."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from dataclasses import asdict
from typing import Any

from classlink_sync.cli import prepare_environment
from classlink_sync.cli.sync import sync_date


def register(subparsers: argparse._SubParsersAction) -> None:
    daily = subparsers.add_parser("daily", help="fire the daily schedule and drain the queue through the handlers")
    daily.add_argument("--date", help="the slot date (YYYY-MM-DD), default today (UTC)")
    daily.add_argument("--json", action="store_true")
    daily.set_defaults(func=_daily)


def _daily(args: argparse.Namespace) -> int:
    prepare_environment()
    result = fire_daily(sync_date(args.date))
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
    from classlink_local.lambda_runtime import invoke
    from classlink_local.queue_runner import drain_queue
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
