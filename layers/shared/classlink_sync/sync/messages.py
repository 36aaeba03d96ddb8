"""The messages between the schedule, the dispatcher and the district sync (SPEC R14).

``ScheduleInput`` is what the daily schedule hands the dispatcher (template.yaml's explicit
``Input``); ``SyncRequest`` is one SQS message body, one district's sync. Both are strict
(``extra="forbid"``): a misspelt field such as ``dryrun`` must fail loudly (the message ends in the
DLQ and an alarm fires), never run a real sync the sender did not ask for.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# "undo": R17, undo the run ``undo_run_id`` (``sync.undo``), e.g. asked for in the portal (S7).
Trigger = Literal["schedule", "manual", "approve", "undo"]
# What may start a fan-out: the daily schedule, or staff firing the schedule by hand.
ScheduleTrigger = Literal["schedule", "manual"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_date(value: str) -> str:
    """A calendar date written ``YYYY-MM-DD`` (the district's sync slot, R14)."""
    if not _DATE.fullmatch(value):
        raise ValueError(f"date must be YYYY-MM-DD, got {value!r}")
    dt.date.fromisoformat(value)  # rejects 2026-02-30
    return value


class SyncRequest(BaseModel):
    """One district's sync: the body of one message on the sync queue."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    district_id: str = Field(min_length=1)
    date: str  # the slot this sync fills (R14), YYYY-MM-DD
    trigger: Trigger
    dry_run: bool = False  # R12
    approve_run_id: str | None = Field(default=None, min_length=1)  # R10: the held run being approved
    undo_run_id: str | None = Field(default=None, min_length=1)  # R17: the run to undo
    # R18: "delta" reads only ClassLink's changes since the last successful sync and never removes;
    # "full" (the default, left out of the body) reads everything.
    mode: Literal["full", "delta"] = "full"
    # R20: set on the follow-up message of a sync that reached its time budget: the run it
    # continues, as ``sync.continuation.Pointer`` (run id, hop, checkpoint key, start); validated
    # there when the message is handled. The plan and the checkpoint stay in the report bucket.
    continuation: dict[str, Any] | None = None

    @field_validator("date")
    @classmethod
    def _date(cls, value: str) -> str:
        return _check_date(value)

    @model_validator(mode="after")
    def _approve_consistent(self) -> Self:
        if self.trigger == "approve":
            if self.approve_run_id is None:
                raise ValueError("trigger 'approve' needs approve_run_id (the held run, R10)")
            if self.dry_run:
                raise ValueError("an approval applies the held run; it cannot be a dry run")
        elif self.approve_run_id is not None:
            raise ValueError(f"approve_run_id is only valid with trigger 'approve', not {self.trigger!r}")
        if self.trigger == "undo":
            if self.undo_run_id is None or self.dry_run or self.mode != "full":
                raise ValueError("trigger 'undo' needs undo_run_id (the run to undo, R17), no dry_run and no mode")
        elif self.undo_run_id is not None:
            raise ValueError(f"undo_run_id is only valid with trigger 'undo', not {self.trigger!r}")
        if self.mode == "delta" and self.trigger == "approve":
            raise ValueError("an approval applies a held full sync; it cannot be a delta sync (R18)")
        return self

    def to_json(self) -> str:
        """The SQS message body. Unset optional fields are left out, so bodies stay small and stable."""
        exclude = {"mode"} if self.mode == "full" else None
        return self.model_dump_json(exclude_none=True, exclude=exclude)

    @classmethod
    def parse(cls, body: str | bytes | Mapping[str, Any]) -> SyncRequest:
        """Parse a message body (JSON text) or an already decoded mapping; raises ``ValueError``."""
        if isinstance(body, Mapping):
            return cls.model_validate(dict(body))
        return cls.model_validate_json(body)


class ScheduleInput(BaseModel):
    """The dispatcher's input from the schedule (template.yaml: DispatcherFunction's ScheduleV2 Input).

    ``scheduled_time`` is EventBridge Scheduler's ``<aws.scheduler.scheduled-time>``: the time the
    firing was due, the same on every retry, so a redelivered schedule maps to the same date slot.
    ``date`` overrides the slot (staff re-running a missed day).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    trigger: ScheduleTrigger = "schedule"
    date: str | None = None
    scheduled_time: dt.datetime | None = None
    # R18: "delta": the delta schedule (template.yaml DeltaSchedule), fanned out by
    # ``sync.delta_dispatch`` to the districts whose delta cadence is due; "full": the daily fan-out.
    mode: Literal["full", "delta"] = "full"

    @field_validator("date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        return None if value is None else _check_date(value)

    @field_validator("scheduled_time")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("scheduled_time must carry a UTC offset (e.g. 2026-01-05T06:00:00Z)")
        return value

    def slot_date(self, *, tz: dt.tzinfo, now: dt.datetime) -> str:
        """The date slot this firing fills: the override, else the scheduled time (else ``now``) in
        the schedule's time zone."""
        if self.date is not None:
            return self.date
        moment = self.scheduled_time or now
        return moment.astimezone(tz).date().isoformat()

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def parse(cls, data: str | bytes | Mapping[str, Any]) -> ScheduleInput:
        if isinstance(data, Mapping):
            return cls.model_validate(dict(data))
        return cls.model_validate(json.loads(data))
