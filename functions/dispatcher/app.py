"""Dispatcher Lambda: the daily schedule fans out one sync message per district due today (R1, R14).

Thin handler: parse the schedule event, one call into ``classlink_sync.sync.dispatch``, a small
JSON summary back. Accepted events:

* EventBridge Scheduler's explicit ``Input`` (template.yaml), e.g.
  ``{"trigger": "schedule", "scheduled_time": "2026-01-05T06:00:00Z"}``, optionally ``"date"``;
* the classic ``aws.events`` "Scheduled Event" (an EventBridge rule), whose ``time`` is the slot.

The date slot comes from the scheduled time, not the wall clock, in the schedule's time zone
(``SCHEDULE_TIMEZONE``), so a schedule delivered twice names the same slot and the core's
conditional claim turns the second delivery into "skipped".
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sized
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from classlink_sync.errors import DispatchIncompleteError as DispatchIncompleteError
from classlink_sync.sync.dispatch import dispatch_due_districts
from classlink_sync.sync.messages import ScheduleInput

logger = Logger()
tracer = Tracer()
metrics = Metrics()


# Injection points: ``dispatch_due_districts`` (imported above, every invocation needs it) and
# ``clock`` are production defaults that tests replace.
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


clock: Clock = utc_now


@cache
def schedule_timezone() -> dt.tzinfo:
    """The schedule's time zone (template.yaml ScheduleTimezone -> SCHEDULE_TIMEZONE)."""
    name = os.environ.get("SCHEDULE_TIMEZONE", "UTC").strip() or "UTC"
    if name in ("UTC", "Etc/UTC"):
        return dt.UTC
    from zoneinfo import ZoneInfo  # only for non-UTC schedules; tzdata ships in requirements.txt

    return ZoneInfo(name)


def parse_schedule_event(event: Mapping[str, Any]) -> ScheduleInput:
    """The schedule's input, from either accepted shape; ``ValueError`` for anything else."""
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return ScheduleInput.parse({"trigger": "schedule", "scheduled_time": event.get("time")})
    return ScheduleInput.parse(event)


def _count(value: Any) -> int:
    """The result fields may be counts or collections of district ids: report a count either way."""
    if isinstance(value, Sized) and not isinstance(value, str):
        return len(value)
    return int(value)


def dispatch_deltas(schedule: ScheduleInput) -> dict[str, Any]:
    """R18: one ``mode: delta`` message per district whose cadence slot is due at the scheduled time."""
    from classlink_sync.sync.delta_dispatch import dispatch_delta_syncs

    result = dispatch_delta_syncs(moment=schedule.scheduled_time or clock(), trigger=schedule.trigger)
    summary = {**result.summary(), "mode": "delta", "skipped": len(result.skipped), "failed": len(result.failed)}
    metrics.add_metric(name="DeltaSyncsDispatched", unit=MetricUnit.Count, value=len(result.sent))
    if result.failed:
        logger.error("some delta sync messages were not sent", extra={**summary, "not_sent": result.failed})
        raise DispatchIncompleteError(f"{len(result.failed)} delta sync messages were not sent (R18)")
    logger.info("delta syncs dispatched", extra=summary)
    return summary


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    schedule = parse_schedule_event(event)
    if schedule.mode == "delta":  # R18: the delta schedule fans out delta syncs
        return dispatch_deltas(schedule)
    today = schedule.slot_date(tz=schedule_timezone(), now=clock())
    logger.append_keys(sync_date=today, trigger=schedule.trigger)

    # R16: each district's date is the firing in its own time zone (a staff-named date is as given).
    moment = None if schedule.date is not None else (schedule.scheduled_time or clock())
    result = dispatch_due_districts(today=today, trigger=schedule.trigger, moment=moment)

    due, sent, skipped = _count(result.due), _count(result.sent), _count(result.skipped)
    not_sent = getattr(result, "failed", ())  # claimed, but SQS refused the message
    failed = _count(not_sent)
    metrics.add_metric(name="DistrictsDue", unit=MetricUnit.Count, value=due)
    metrics.add_metric(name="SyncsDispatched", unit=MetricUnit.Count, value=sent)
    metrics.add_metric(name="SyncsSkipped", unit=MetricUnit.Count, value=skipped)
    metrics.add_metric(name="SyncsNotSent", unit=MetricUnit.Count, value=failed)
    # R16: slots recorded as paused runs (a pause or blackout): no message, no failure
    paused = _count(getattr(result, "paused", ()))
    metrics.add_metric(name="SyncPaused", unit=MetricUnit.Count, value=paused)
    summary: dict[str, Any] = {
        "date": today,
        "trigger": schedule.trigger,
        "due": due,
        "sent": sent,
        "skipped": skipped,
        "failed": failed,
    }
    if paused:
        summary["paused"] = paused
    if failed:
        # Fail the invocation so the dispatcher-errors alarm fires and the schedule retries.
        logger.error("some sync messages were not sent", extra={**summary, "not_sent": not_sent})
        raise DispatchIncompleteError(f"{failed} of {due} district sync messages were not sent for {today}")
    logger.info("districts dispatched", extra=summary)
    return summary
