"""classlink_sync.sync.messages: the sync message and the schedule input are strict and round-trip."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from classlink_sync.sync.messages import ScheduleInput, SyncRequest

from .conftest import load_event


def test_sync_request_round_trips_through_json() -> None:
    request = SyncRequest(
        district_id="d-1",
        date="2026-01-05",
        trigger="approve",
        approve_run_id="run-9",
        continuation={"chunk": 3},
    )
    assert SyncRequest.parse(request.to_json()) == request
    assert SyncRequest.parse(request.to_json().encode()) == request
    minimal = SyncRequest.parse({"district_id": "d-1", "date": "2026-01-05", "trigger": "manual"})
    assert minimal.dry_run is False


def test_the_sample_message_body_is_a_sync_request() -> None:
    body = load_event("sync_message.json")["Records"][0]["body"]
    assert SyncRequest.parse(body).district_id == "demo-isd"


def test_unset_optional_fields_stay_out_of_the_body() -> None:
    body = SyncRequest(district_id="d", date="2026-01-05", trigger="schedule").to_json()
    assert "approve_run_id" not in body and "continuation" not in body


@pytest.mark.parametrize(
    "fields",
    [
        {"date": "2026-02-30"},
        {"date": "2026-1-5"},
        {"trigger": "daily"},
        {"district_id": ""},
        {"dryrun": True},  # a misspelling must not run a real sync
        {"approve_run_id": "run-1"},  # only with trigger approve
        {"trigger": "approve"},  # approve needs the run id
        {"trigger": "approve", "approve_run_id": "run-1", "dry_run": True},
    ],
)
def test_invalid_sync_requests_are_refused(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"district_id": "d", "date": "2026-01-05", "trigger": "schedule"}
    with pytest.raises(ValidationError):
        SyncRequest.parse({**base, **fields})


def test_schedule_input_slot_date() -> None:
    tz = dt.timezone(dt.timedelta(hours=-6))
    now = dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
    assert ScheduleInput(date="2026-01-02").slot_date(tz=tz, now=now) == "2026-01-02"
    scheduled = ScheduleInput.parse('{"scheduled_time": "2026-01-05T03:00:00Z"}')
    assert scheduled.trigger == "schedule"
    assert scheduled.slot_date(tz=tz, now=now) == "2026-01-04"
    assert ScheduleInput(trigger="manual").slot_date(tz=tz, now=now) == "2026-02-28"
