"""The delta fan-out (SPEC R18): one ``mode: delta`` sync message per district whose cadence is due.

The delta schedule (template.yaml ``DeltaSchedule``, every 15 minutes) invokes the dispatcher with
``{"trigger": "schedule", "mode": "delta", "scheduled_time": ...}``. For each district with a
cadence (``rules.delta``) this finds the cadence slot the scheduled time falls in, in the
district's time zone, and claims it (``locks.claim_slot`` on ``delta-YYYY-MM-DDTHH:MM``) before
sending, so a schedule delivered twice sends each slot once. Skipped, with the reason: no cadence
or outside its hours (not listed), not yet enabled (R1), no successful full sync yet (a delta
starts from one), paused or blacked out (R16), a slot already claimed.

The messages go to the same sync queue and function as the daily full syncs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from classlink_sync.rules import delta as cadence_rules
from classlink_sync.rules.calendar import paused_reason
from classlink_sync.store import districts as district_store
from classlink_sync.store import locks
from classlink_sync.store.context import Store, resolve
from classlink_sync.sync.dispatch import SQS_BATCH, DispatchResult, sqs_client
from classlink_sync.sync.messages import SyncRequest


def _zone(name: str) -> dt.tzinfo:
    if name in ("", "UTC", "Etc/UTC"):
        return dt.UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _why_not(district: district_store.District, local: dt.datetime) -> str | None:
    """Why a district whose cadence slot is due gets no delta now (None: it does)."""
    day = local.date()
    if not district.enabled_on(day):
        return f"R1: syncs enabled from {district.enable_from.isoformat()}"
    if not district.first_sync_done:
        return "R18: no full sync has succeeded yet; a delta starts from one"
    paused = paused_reason(district, day)
    if paused is not None:
        return f"R16: {paused}"
    return None


def _busy(district_id: str, moment: dt.datetime, store: Store) -> str | None:
    """R14: a sync of the district holds its lease (the nightly full sync, a long delta, an undo):
    this slot's delta is skipped, not queued to wait (it would only find the district busy, be
    retried and end in the DLQ); the next slot reads from the last success, so nothing is lost."""
    lease = locks.read_lease(district_id, store)
    if lease is None or not lease.holder or lease.expired(moment.timestamp()):
        return None
    return f"R14: a sync of the district is running ({lease.holder}); the next slot catches up"


def dispatch_delta_syncs(
    *, moment: dt.datetime, trigger: str = "schedule", store: Store | None = None, sqs: Any = None
) -> DispatchResult:
    """R18: claim the due cadence slot of every district with delta syncs at ``moment`` (the
    schedule's time, aware) and send one ``mode: delta`` sync message each."""
    store = resolve(store)
    queue_url = store.settings.require("sync_queue_url")
    result = DispatchResult(date=moment.astimezone(dt.UTC).isoformat(timespec="minutes"))
    claimant = f"delta-dispatch:{trigger}"
    due: list[tuple[str, str, str]] = []  # (district, local date, slot label)
    for district in sorted(district_store.list_districts(store), key=lambda d: d.district_id):
        if not district.delta:
            continue
        local = moment.astimezone(_zone(district.timezone))
        slot = cadence_rules.due_slot(district.delta, local)
        if slot is None:
            continue
        label = cadence_rules.slot_label(slot)
        why = _why_not(district, local) or _busy(district.district_id, moment, store)
        if why is not None:
            result.skipped[district.district_id] = why
        elif not locks.claim_slot(district.district_id, label, store, claimant=claimant):
            result.skipped[district.district_id] = f"R18: {label} already dispatched"
        else:
            result.due.append(district.district_id)
            due.append((district.district_id, local.date().isoformat(), label))
    if due and sqs is None:
        sqs = sqs_client(store)
    for start in range(0, len(due), SQS_BATCH):
        batch = due[start : start + SQS_BATCH]
        entries = [
            {
                "Id": str(i),
                "MessageBody": SyncRequest(district_id=d, date=day, trigger="schedule", mode="delta").to_json(),
            }
            for i, (d, day, _label) in enumerate(batch)
        ]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        for ok in response.get("Successful", []):
            result.sent.append(batch[int(ok["Id"])][0])
        for bad in response.get("Failed", []):
            district_id, _day, label = batch[int(bad["Id"])]
            result.failed[district_id] = f"{bad.get('Code')}: {bad.get('Message', '')}"
            locks.release_slot(district_id, label, claimant, store)  # the schedule's retry sends it
    return result
