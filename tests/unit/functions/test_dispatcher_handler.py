"""functions/dispatcher: both schedule shapes (events/schedule.json, events/schedule_classic.json),
the date slot from the scheduled time in the schedule's time zone, and the summary."""

from __future__ import annotations

import datetime as dt
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from .conftest import FakeLambdaContext, emitted_metrics, load_event


@dataclass
class FakeDispatchResult:
    due: Any
    sent: Any
    skipped: Any


@dataclass
class FakeDispatch:
    result: FakeDispatchResult = field(default_factory=lambda: FakeDispatchResult(due=3, sent=2, skipped=1))
    calls: list[dict[str, str]] = field(default_factory=list)

    moments: list[dt.datetime | None] = field(default_factory=list)

    def __call__(self, *, today: str, trigger: str, moment: dt.datetime | None = None) -> FakeDispatchResult:
        self.calls.append({"today": today, "trigger": trigger})
        self.moments.append(moment)
        return self.result


@pytest.fixture
def fake_dispatch() -> FakeDispatch:
    return FakeDispatch()


@pytest.fixture
def dispatcher(
    handler_loader: Callable[[str], Any], fake_dispatch: FakeDispatch, monkeypatch: pytest.MonkeyPatch
) -> Any:
    monkeypatch.delenv("SCHEDULE_TIMEZONE", raising=False)
    module = handler_loader("dispatcher")
    monkeypatch.setattr(module, "dispatch_due_districts", fake_dispatch)
    # A wall clock far from the sample events' date: a test that reads it by mistake fails.
    monkeypatch.setattr(module, "clock", lambda: dt.datetime(2030, 7, 1, 12, 0, tzinfo=dt.UTC))
    return module


@pytest.mark.parametrize("event_file", ["schedule.json", "schedule_classic.json"])
def test_both_schedule_shapes_dispatch_the_scheduled_date(
    dispatcher: Any, fake_dispatch: FakeDispatch, event_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = dispatcher.lambda_handler(load_event(event_file), FakeLambdaContext())
    assert fake_dispatch.calls == [{"today": "2026-01-05", "trigger": "schedule"}]
    # R16: the firing itself, so that each district's date is taken in its own time zone
    assert fake_dispatch.moments == [dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC)]
    assert summary == {"date": "2026-01-05", "trigger": "schedule", "due": 3, "sent": 2, "skipped": 1, "failed": 0}
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["SyncsDispatched"] == 2 and metrics["SyncsSkipped"] == 1


def test_the_slot_is_the_date_in_the_schedule_time_zone(
    handler_loader: Callable[[str], Any], fake_dispatch: FakeDispatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEDULE_TIMEZONE", "Pacific/Auckland")  # UTC+13 in January
    module = handler_loader("dispatcher")
    monkeypatch.setattr(module, "dispatch_due_districts", fake_dispatch)
    event = {"trigger": "schedule", "scheduled_time": "2026-01-05T12:30:00Z"}
    assert module.lambda_handler(event, FakeLambdaContext())["date"] == "2026-01-06"


def test_a_redelivered_firing_names_the_same_slot(dispatcher: Any, fake_dispatch: FakeDispatch) -> None:
    event = load_event("schedule.json")
    dispatcher.lambda_handler(event, FakeLambdaContext())
    dispatcher.lambda_handler(event, FakeLambdaContext())
    assert [c["today"] for c in fake_dispatch.calls] == ["2026-01-05", "2026-01-05"]


def test_manual_trigger_with_a_date_override(dispatcher: Any, fake_dispatch: FakeDispatch) -> None:
    dispatcher.lambda_handler({"trigger": "manual", "date": "2026-02-01"}, FakeLambdaContext())
    assert fake_dispatch.calls == [{"today": "2026-02-01", "trigger": "manual"}]
    assert fake_dispatch.moments == [None]  # a date staff name is every district's date


def test_without_a_scheduled_time_the_clock_decides(dispatcher: Any, fake_dispatch: FakeDispatch) -> None:
    dispatcher.lambda_handler({"trigger": "manual"}, FakeLambdaContext())
    assert fake_dispatch.calls == [{"today": "2030-07-01", "trigger": "manual"}]


def test_collections_of_district_ids_are_counted(dispatcher: Any, fake_dispatch: FakeDispatch) -> None:
    fake_dispatch.result = FakeDispatchResult(due=["a", "b"], sent=("a",), skipped=frozenset({"b"}))
    summary = dispatcher.lambda_handler(load_event("schedule.json"), FakeLambdaContext())
    assert (summary["due"], summary["sent"], summary["skipped"]) == (2, 1, 1)


@pytest.mark.parametrize(
    "event",
    [
        {"trigger": "approve"},  # approvals go straight to the queue, never through the fan-out
        {"trigger": "schedule", "scheduled_time": "2026-01-05T06:00:00"},  # no offset
        {"trigger": "schedule", "date": "05/01/2026"},
        {"trigger": "schedule", "scheduledTime": "2026-01-05T06:00:00Z"},  # misspelt field
    ],
)
def test_bad_schedule_input_is_refused_before_any_dispatch(
    dispatcher: Any, fake_dispatch: FakeDispatch, event: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        dispatcher.lambda_handler(event, FakeLambdaContext())
    assert fake_dispatch.calls == []


def test_production_default_calls_the_core_dispatch(
    handler_loader: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    dispatch = types.ModuleType("classlink_sync.sync.dispatch")

    def core(*, today: str, trigger: str, moment: dt.datetime | None = None) -> FakeDispatchResult:
        seen.append((today, trigger))
        return FakeDispatchResult(due=0, sent=0, skipped=0)

    dispatch.dispatch_due_districts = core  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "classlink_sync.sync.dispatch", dispatch)
    module = handler_loader("dispatcher")
    module.dispatch_due_districts(today="2026-01-05", trigger="schedule")
    assert seen == [("2026-01-05", "schedule")]


def test_messages_sqs_refused_fail_the_invocation(dispatcher: Any, fake_dispatch: FakeDispatch) -> None:
    """The core's DispatchResult lists districts whose message SQS refused: the alarm must fire."""
    result = FakeDispatchResult(due=["a", "b"], sent=["a"], skipped={})
    result.failed = {"b": "ThrottlingException"}  # type: ignore[attr-defined]
    fake_dispatch.result = result
    with pytest.raises(dispatcher.DispatchIncompleteError, match="1 of 2"):
        dispatcher.lambda_handler(load_event("schedule.json"), FakeLambdaContext())
