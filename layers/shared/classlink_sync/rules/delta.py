"""R18: a district's delta-sync cadence, and when a delta is due (pure: no I/O, no clock).

A cadence is ``{"every_minutes": N, "from_hour": A, "until_hour": B}``: a delta sync every N
minutes (15 minutes to 24 hours) while the district's local time is in ``[A:00, B:00)`` (hours 0 to
24, A < B). None (the default) is off. Staff set it with ``districts set DISTRICT --delta-every 60m
--delta-hours 07-18`` and switch it off with ``--delta-off``.

The delta schedule fires every ``SCHEDULE_MINUTES``; the district's day from ``A:00`` is cut into
slots of N minutes, and a firing inside a slot makes that slot due. The dispatcher claims each slot
once per district (``slot_label``), so a firing delivered twice, or two firings inside one slot
(N not a multiple of the schedule's period), send one delta.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from classlink_sync.errors import OnboardingError

MIN_EVERY_MINUTES = 15  # the delta schedule's period: a shorter cadence could not be honoured
MAX_EVERY_MINUTES = 24 * 60
SCHEDULE_MINUTES = 15  # template.yaml: the delta schedule's rate

_EVERY = re.compile(r"^\s*(\d+)\s*(m|min|minutes?|h|hours?)?\s*$", re.IGNORECASE)
_HOURS = re.compile(r"^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$")


def parse_every(text: str) -> int:
    """``60m``, ``90``, ``2h`` -> minutes (15 minutes to 24 hours). ``OnboardingError`` otherwise."""
    match = _EVERY.match(text or "")
    if not match:
        raise OnboardingError(f"R18: --delta-every {text!r} is not a duration such as 60m or 2h")
    value = int(match.group(1))
    unit = (match.group(2) or "m").lower()
    minutes = value * 60 if unit.startswith("h") else value
    if not MIN_EVERY_MINUTES <= minutes <= MAX_EVERY_MINUTES:
        raise OnboardingError(f"R18: --delta-every {text!r} must be between {MIN_EVERY_MINUTES} minutes and 24 hours")
    return minutes


def parse_hours(text: str) -> tuple[int, int]:
    """``07-18`` -> (7, 18): from 07:00 until 18:00, local time; hours 0 to 24, from before until."""
    match = _HOURS.match(text or "")
    if not match:
        raise OnboardingError(f"R18: --delta-hours {text!r} is not a range of hours such as 07-18")
    start, until = int(match.group(1)), int(match.group(2))
    if not (0 <= start <= 24 and 0 <= until <= 24) or start >= until:
        raise OnboardingError(f"R18: --delta-hours {text!r} must be hours 00 to 24, the first before the second")
    return start, until


def cadence(every: str, hours: str | None = None) -> dict[str, int]:
    """The stored cadence for ``--delta-every`` and ``--delta-hours`` (default: the whole day)."""
    start, until = parse_hours(hours) if hours else (0, 24)
    return {"every_minutes": parse_every(every), "from_hour": start, "until_hour": until}


def check_cadence(value: Mapping[str, Any] | None) -> dict[str, int] | None:
    """A stored cadence, validated (None: off); ``OnboardingError`` naming what is wrong."""
    if value is None:
        return None
    try:
        every = int(value["every_minutes"])
        start, until = int(value["from_hour"]), int(value["until_hour"])
    except (KeyError, TypeError, ValueError):
        raise OnboardingError(
            f"R18: a delta cadence needs every_minutes, from_hour and until_hour: {value!r}"
        ) from None
    if not MIN_EVERY_MINUTES <= every <= MAX_EVERY_MINUTES:
        raise OnboardingError(f"R18: every_minutes must be {MIN_EVERY_MINUTES} to {MAX_EVERY_MINUTES}, not {every}")
    if not (0 <= start < until <= 24):
        raise OnboardingError(f"R18: delta hours must be 00 to 24, the first before the second: {start}-{until}")
    return {"every_minutes": every, "from_hour": start, "until_hour": until}


def describe(value: Mapping[str, Any] | None) -> str:
    """``every 60 min, 07:00-18:00`` or ``off``."""
    if not value:
        return "off"
    return f"every {value['every_minutes']} min, {value['from_hour']:02d}:00-{value['until_hour']:02d}:00"


def due_slot(value: Mapping[str, Any] | None, local: dt.datetime) -> dt.datetime | None:
    """The start of the cadence slot ``local`` (the firing, in the district's time zone) falls in,
    or None when the cadence is off or ``local`` is outside its hours."""
    cad = check_cadence(value)
    if cad is None:
        return None
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    opens = day_start + dt.timedelta(hours=cad["from_hour"])
    closes = day_start + dt.timedelta(hours=cad["until_hour"])
    if not opens <= local < closes:
        return None
    every = dt.timedelta(minutes=cad["every_minutes"])
    return opens + every * ((local - opens) // every)


def slot_label(slot: dt.datetime) -> str:
    """The claim key's date part for a delta slot: ``delta-2026-05-04T09:00`` (local time)."""
    return "delta-" + slot.strftime("%Y-%m-%dT%H:%M")
