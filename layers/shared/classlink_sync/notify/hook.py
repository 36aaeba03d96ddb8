"""R19: after a run record is finished, tell the district's contacts what is new.

``sync.service.run_sync`` calls ``notify_after_run`` once per run, after the record is written.
It is best effort: any failure (reading the history, SES refusing a message) is logged and counted
(metric ``NotifyFailed``) and never fails the sync. Dry runs (R12) email nothing; staff-triggered
syncs are treated as scheduled ones. Without ``NOTIFY_FROM`` notification is off (one log line per
process). Addresses are never logged, only how many were emailed.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from classlink_sync.notify.decide import DistrictState, decide
from classlink_sync.notify.settings import NotifySettings, get_notify_settings

if TYPE_CHECKING:
    from classlink_sync.notify.sender import Sender
    from classlink_sync.report import RunReport
    from classlink_sync.store.context import Store
    from classlink_sync.store.districts import District

logger = Logger()
FAILED_METRIC = "NotifyFailed"
SENT_METRIC = "NotifySent"
_off_logged = False


def clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def notify_after_run(
    report: RunReport,
    store: Store,
    *,
    district: District | None = None,
    settings: NotifySettings | None = None,
    sender: Sender | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Email the district's contacts if this run is news (``notify.decide``); returns the
    addresses emailed. Never raises. Only a full sync is news (R19 tells the district about its
    daily sync): a delta sync (R18) sees only the records that changed, so its issues are partial,
    and an undo (R17) is a staff action on a run already reported."""
    if report.dry_run or report.mode != "full":
        return []
    try:
        settings = settings or get_notify_settings()
        if not settings.enabled:
            _log_off()
            return []
        return _notify(report, store, district, settings, sender, now or clock())
    except Exception as exc:
        problem = {"error": type(exc).__name__, "detail": _code(exc)}
        logger.warning("R19 notification failed; the sync is not affected", extra=problem)
        _count(FAILED_METRIC, 1)
        return []


def _notify(
    report: RunReport,
    store: Store,
    district: District | None,
    settings: NotifySettings,
    sender: Sender | None,
    now: dt.datetime,
) -> list[str]:
    from classlink_sync.notify.history import claim_day, load_previous, release_day
    from classlink_sync.store.districts import get_district

    district = district or get_district(report.district_id, store)
    if not district.contacts:
        return []
    state = DistrictState(district.district_id, tuple(district.contacts))
    notification = decide(report, load_previous(report, store), state, now, portal_url=settings.portal_url)
    if notification is None:
        return []
    if notification.once_a_day and not claim_day(state.district_id, notification.kind, now, store):
        logger.info("R19: the district was already told today", extra={"kind": notification.kind})
        return []
    if sender is None:
        from classlink_sync.notify.sender import ses_sender

        sender = ses_sender(settings, store.settings)
    sent: list[str] = []
    for email in notification.emails:
        try:
            sender(email)
        except Exception as exc:
            logger.warning("R19: an email was not sent", extra={"error": type(exc).__name__, "detail": _code(exc)})
        else:
            sent.append(email.to)
    failed = len(notification.emails) - len(sent)
    if failed:
        _count(FAILED_METRIC, failed)
        if not sent and notification.once_a_day:
            release_day(state.district_id, notification.kind, now, store)
    if sent:
        _count(SENT_METRIC, len(sent))
    logger.info("R19 notification", extra={"kind": notification.kind, "emailed": len(sent), "failed": failed})
    return sent


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _log_off() -> None:
    global _off_logged
    if not _off_logged:
        _off_logged = True
        logger.info("R19 notification is off: NOTIFY_FROM is not set")


def _count(name: str, value: int) -> None:
    try:
        from aws_lambda_powertools import Metrics
        from aws_lambda_powertools.metrics import MetricUnit

        Metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)
    except Exception:  # a metric must not fail the sync either
        logger.warning("could not count a notification metric", extra={"metric": name})
