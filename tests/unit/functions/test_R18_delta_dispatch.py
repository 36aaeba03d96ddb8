"""R18 delta fan-out: the delta schedule's input through the real dispatcher handler, the cadence
(every N minutes within the district's hours, in its time zone), one claim per district and slot
(a schedule delivered twice sends once), districts skipped with the reason (R1, R16, no full sync
yet), and the cadence rules themselves."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from classlink_local.inprocess import IN_PROCESS_ENV
from classlink_local.stack import reset_cached_settings
from classlink_sync.errors import OnboardingError
from classlink_sync.rules import delta as cadence
from classlink_sync.store import districts as district_store
from classlink_sync.store.context import Store
from classlink_sync.sync.delta_dispatch import dispatch_delta_syncs
from classlink_sync.sync.messages import ScheduleInput, SyncRequest

from .conftest import FakeLambdaContext

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/t-delta-sync"
CHICAGO = "America/Chicago"  # UTC-5 in May (daylight time)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, aws_world: Any) -> Iterator[Store]:
    for key, value in IN_PROCESS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SYNC_QUEUE_URL", QUEUE_URL)
    reset_cached_settings()
    with aws_world.active() as s:
        yield s
    reset_cached_settings()


@pytest.fixture
def queue(store: Store) -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="t-delta-sync")["QueueUrl"]
    assert url == QUEUE_URL
    return sqs, url


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def onboard(store: Store, district: str, *, timezone: str = CHICAGO, synced: bool = True, **kw: Any) -> None:
    district_store.add_district(
        district,
        tenant_id=str(abs(hash(district)) % 10**8),
        oneroster_url="https://example.invalid/ims/oneroster/v1p1",
        client_id="k",
        client_secret="s",
        schools="all",
        enable_from=kw.pop("enable_from", dt.date(2026, 5, 1)),
        override_notice=True,
        today=dt.date(2026, 5, 1),
        timezone=timezone,
        store=store,
    )
    if synced:
        district_store.mark_first_sync(district, store)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_R18_hourly_07_to_18_in_the_district_time_zone_sends_one_delta_per_slot(store, queue) -> None:
    sqs, url = queue
    onboard(store, "d1")
    district_store.set_delta("d1", cadence.cadence("60m", "07-18"), store)
    # 14:00 UTC = 09:00 in Chicago: due; the 14:15 firing is in the same hourly slot: claimed already
    first = dispatch_delta_syncs(moment=at("2026-05-04T14:00:00Z"), store=store, sqs=sqs)
    again = dispatch_delta_syncs(moment=at("2026-05-04T14:00:00Z"), store=store, sqs=sqs)  # delivered twice
    later = dispatch_delta_syncs(moment=at("2026-05-04T14:15:00Z"), store=store, sqs=sqs)
    assert first.sent == ["d1"] and again.sent == [] and later.sent == []
    assert "already dispatched" in again.skipped["d1"]
    [body] = drain(sqs, url)
    assert SyncRequest.parse(body) == SyncRequest(district_id="d1", date="2026-05-04", trigger="schedule", mode="delta")
    assert body["mode"] == "delta"
    # 11:00 UTC = 06:00 in Chicago and 23:00 UTC = 18:00: outside the hours, nothing is sent
    for moment in ("2026-05-04T11:00:00Z", "2026-05-04T23:00:00Z"):
        assert dispatch_delta_syncs(moment=at(moment), store=store, sqs=sqs).sent == []
    assert dispatch_delta_syncs(moment=at("2026-05-04T15:00:00Z"), store=store, sqs=sqs).sent == ["d1"]


def test_R18_districts_without_a_cadence_or_not_ready_get_no_delta(store, queue) -> None:
    sqs, url = queue
    onboard(store, "off")  # default: no delta syncs
    onboard(store, "new", synced=False)  # no full sync has succeeded yet
    onboard(store, "later", enable_from=dt.date(2026, 6, 1))  # R1
    onboard(store, "paused")
    for district in ("new", "later", "paused"):
        district_store.set_delta(district, cadence.cadence("15m"), store)
    district_store.set_pause("paused", "2026-05-01", None, "exams", store)
    result = dispatch_delta_syncs(moment=at("2026-05-04T14:00:00Z"), store=store, sqs=sqs)
    assert result.sent == [] and drain(sqs, url) == []
    assert "off" not in result.skipped
    assert "no full sync has succeeded yet" in result.skipped["new"]
    assert result.skipped["later"].startswith("R1")
    assert result.skipped["paused"].startswith("R16")


def test_R18_R14_a_district_whose_sync_holds_the_lease_gets_no_delta_this_slot(store, queue) -> None:
    """The nightly full sync (or a long delta, an undo) still runs: the slot's delta is skipped, not
    queued to find the district busy and end in the DLQ; once the lease expires deltas go on."""
    from classlink_sync.store import locks

    sqs, url = queue
    onboard(store, "busy")
    district_store.set_delta("busy", cadence.cadence("60m", "07-18"), store)
    moment = at("2026-05-04T14:00:00Z")
    assert locks.take_lease("busy", "run-full", 3600, store, clock=lambda: moment.timestamp() - 60) is not None
    result = dispatch_delta_syncs(moment=moment, store=store, sqs=sqs)
    assert result.sent == [] and drain(sqs, url) == []
    assert result.skipped["busy"].startswith("R14") and "run-full" in result.skipped["busy"]
    after = dispatch_delta_syncs(moment=at("2026-05-04T15:30:00Z"), store=store, sqs=sqs)  # lease expired
    assert after.sent == ["busy"]


def test_R18_delta_off_switches_the_cadence_off_and_show_prints_it(store, queue) -> None:
    onboard(store, "d1")
    district_store.set_delta("d1", cadence.cadence("2h", "07-18"), store)
    shown = district_store.show_district("d1", store)
    assert shown["delta"] == {"every_minutes": 120, "from_hour": 7, "until_hour": 18} and shown["timezone"] == CHICAGO
    assert district_store.set_delta("d1", None, store) is None
    assert district_store.show_district("d1", store)["delta"] is None


def test_R18_the_delta_schedule_input_goes_through_the_dispatcher_handler(
    store, queue, handler_loader: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, url = queue
    onboard(store, "d1", timezone="UTC")
    district_store.set_delta("d1", cadence.cadence("30m", "00-24"), store)
    module = handler_loader("dispatcher")
    monkeypatch.setattr(module, "dispatch_due_districts", lambda **kw: pytest.fail("the daily fan-out ran"))
    event = {"trigger": "schedule", "mode": "delta", "scheduled_time": "2026-05-04T09:30:00Z"}
    summary = module.lambda_handler(event, FakeLambdaContext())
    assert summary["mode"] == "delta" and summary["sent"] == 1 and summary["failed"] == 0
    assert [b["mode"] for b in drain(sqs, url)] == ["delta"]
    again = module.lambda_handler(event, FakeLambdaContext())  # Scheduler delivers at least once
    assert again["sent"] == 0 and drain(sqs, url) == []


def test_R18_schedule_input_mode_defaults_to_full() -> None:
    assert ScheduleInput.parse({"trigger": "schedule"}).mode == "full"
    assert ScheduleInput.parse({"trigger": "schedule", "mode": "delta"}).mode == "delta"
    with pytest.raises(ValueError):
        ScheduleInput.parse({"trigger": "schedule", "mode": "hourly"})


@pytest.mark.parametrize(
    ("every", "hours", "expected"),
    [
        ("60m", "07-18", {"every_minutes": 60, "from_hour": 7, "until_hour": 18}),
        ("15", None, {"every_minutes": 15, "from_hour": 0, "until_hour": 24}),
        ("2h", "00-24", {"every_minutes": 120, "from_hour": 0, "until_hour": 24}),
    ],
)
def test_R18_cadence_parses_durations_and_hours(every: str, hours: str | None, expected: dict) -> None:
    assert cadence.cadence(every, hours) == expected


@pytest.mark.parametrize(
    ("every", "hours"),
    [("10m", None), ("25h", None), ("soon", None), ("60m", "18-07"), ("60m", "07-25"), ("60m", "7to18")],
)
def test_R18_cadence_refuses_what_cannot_be_honoured(every: str, hours: str | None) -> None:
    with pytest.raises(OnboardingError, match="R18"):
        cadence.cadence(every, hours)


def test_R18_due_slot_cuts_the_day_from_the_opening_hour() -> None:
    every_20 = {"every_minutes": 20, "from_hour": 7, "until_hour": 18}
    local = dt.datetime(2026, 5, 4, 7, 45)
    assert cadence.due_slot(every_20, local) == dt.datetime(2026, 5, 4, 7, 40)
    assert cadence.due_slot(every_20, dt.datetime(2026, 5, 4, 18, 0)) is None
    assert cadence.due_slot(None, local) is None
    assert cadence.slot_label(dt.datetime(2026, 5, 4, 7, 40)) == "delta-2026-05-04T07:40"
