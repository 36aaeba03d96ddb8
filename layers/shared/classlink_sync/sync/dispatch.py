"""The daily fan-out (SPEC R1, R14): one SQS message per district that is enabled and due.

Each district's slot for the date is claimed with a conditional write before its message is
sent, so a schedule delivered twice (or a dispatcher retried) sends each district at most once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from classlink_sync.rules.calendar import local_day, paused_reason
from classlink_sync.store import districts as district_store
from classlink_sync.store import locks, runs
from classlink_sync.store.context import Store, resolve
from classlink_sync.sync.messages import SyncRequest

SQS_BATCH = 10  # SendMessageBatch takes at most 10 entries


@dataclass
class DispatchResult:
    date: str
    due: list[str] = field(default_factory=list)  # districts claimed for this date
    sent: list[str] = field(default_factory=list)  # their messages, accepted by SQS
    skipped: dict[str, str] = field(default_factory=dict)  # district -> why not sent
    failed: dict[str, str] = field(default_factory=dict)  # district -> SQS's error
    # R16: district -> why its slot is paused (a pause or blackout): recorded as a paused run, not sent
    paused: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "due": len(self.due),
            "sent": len(self.sent),
            "skipped": self.skipped,
            "failed": self.failed,
            "paused": self.paused,
        }


def record_paused_slot(
    district: district_store.District,
    today: str,
    reason: str,
    claimant: str,
    result: DispatchResult,
    store: Store,
    *,
    slot: str | None = None,
) -> None:
    """R16: the claimed slot of a paused or blacked-out district becomes a ``paused`` run (no fetch,
    no writes, no failure), and the district remembers its first paused slot (``paused_since``) for
    the hold after a long pause. ``today``: the district's date; ``slot``: the slot's name, when
    it differs. A failure to record frees the slot for the schedule's retry."""
    try:
        runs.record_paused(district.district_id, today, reason, store, trigger="schedule")
        district_store.mark_paused_since(district.district_id, today, store)
    except Exception as exc:
        locks.release_slot(district.district_id, slot or today, claimant, store)
        result.failed[district.district_id] = f"R16: could not record the paused slot: {type(exc).__name__}: {exc}"
        return
    result.paused[district.district_id] = reason


def sqs_client(store: Store) -> Any:
    from classlink_sync import aws

    return aws.client("sqs", store.settings)


def dispatch_due_districts(
    *,
    today: str,
    trigger: str = "schedule",
    store: Store | None = None,
    sqs: Any = None,
    moment: dt.datetime | None = None,
) -> DispatchResult:
    """Claim today's slot of every enabled district and send one sync message each (R14).

    A district before its enable date is skipped (R1); a slot already claimed is skipped. A send
    that SQS refuses is reported in ``failed`` with the district named, and raised by the caller.
    R16: a district whose date falls in its pause or a blackout gets no message: its claimed slot
    is recorded as a ``paused`` run with the reason (``paused``).

    ``today`` names the slot (the schedule's date, R14). The district's own date is the firing
    ``moment`` in the district's time zone (R16: its ranges are in its time zone; R1: its enable
    date); it is the date its sync message carries, which the service checks again and plans for
    (R9 end dates). Without a ``moment`` (staff naming a date) it is ``today``.
    """
    store = resolve(store)
    queue_url = store.settings.require("sync_queue_url")
    result = DispatchResult(date=today)
    claimant = f"dispatch:{trigger}"
    dates: dict[str, str] = {}
    for district in sorted(district_store.list_districts(store), key=lambda d: d.district_id):
        day = dt.date.fromisoformat(today) if moment is None else local_day(moment, district.timezone)
        dates[district.district_id] = day.isoformat()
        if not district.enabled_on(day):
            result.skipped[district.district_id] = f"R1: daily sync enabled from {district.enable_from.isoformat()}"
        elif not locks.claim_slot(district.district_id, today, store, claimant=claimant):
            result.skipped[district.district_id] = f"R14: already dispatched for {today}"
        elif (reason := paused_reason(district, day)) is not None:
            record_paused_slot(district, day.isoformat(), reason, claimant, result, store, slot=today)  # R16
        else:
            result.due.append(district.district_id)
    sqs = sqs or sqs_client(store)
    for start in range(0, len(result.due), SQS_BATCH):
        batch = result.due[start : start + SQS_BATCH]
        entries = [
            {
                "Id": str(i),
                "MessageBody": SyncRequest(district_id=d, date=dates[d], trigger="schedule").to_json(),
            }
            for i, d in enumerate(batch)
        ]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        for ok in response.get("Successful", []):
            result.sent.append(batch[int(ok["Id"])])
        for bad in response.get("Failed", []):
            district_id = batch[int(bad["Id"])]
            result.failed[district_id] = f"{bad.get('Code')}: {bad.get('Message', '')}"
            # Not sent: free the slot so the schedule's retry can send it (R14).
            locks.release_slot(district_id, today, claimant, store)
    return result
