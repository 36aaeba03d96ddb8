"""R16 at the dispatcher handler: slots recorded as paused runs are counted as ``SyncPaused`` and in
the summary; they are no failure (the invocation succeeds, no ``SyncsNotSent``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from .conftest import FakeLambdaContext, emitted_metrics, load_event


@dataclass
class PausedResult:
    due: list[str] = field(default_factory=lambda: ["d2"])
    sent: list[str] = field(default_factory=lambda: ["d2"])
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    paused: dict[str, str] = field(default_factory=lambda: {"d1": "blackout 2026-06-10..2026-08-25: summer"})


def test_R16_paused_slots_are_counted_and_are_no_failure(
    handler_loader: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SCHEDULE_TIMEZONE", raising=False)
    module = handler_loader("dispatcher")
    monkeypatch.setattr(module, "dispatch_due_districts", lambda *, today, trigger, moment=None: PausedResult())
    monkeypatch.setattr(module, "clock", lambda: dt.datetime(2030, 7, 1, 12, 0, tzinfo=dt.UTC))
    summary = module.lambda_handler(load_event("schedule.json"), FakeLambdaContext())
    assert summary["paused"] == 1 and summary["sent"] == 1 and summary["failed"] == 0
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["SyncPaused"] == 1 and metrics["SyncsNotSent"] == 0
