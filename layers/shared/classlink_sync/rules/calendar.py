"""R16 pause, blackout and additions-only windows: the date rules. Pure: no I/O, no clock.

A district keeps (``store.districts``) at most one pause ``{"from", "until", "reason"}`` (``until``
may be null: paused until staff resume it), and lists of blackout and additions-only ranges of the
same shape (``until`` required). Dates are ``YYYY-MM-DD`` calendar dates in the district's time
zone, both ends included.

* ``paused_reason(district, day)``: the pause or blackout covering ``day``, as the paused run's
  reason; None when the district syncs that day (R16: no fetch, no writes, a ``paused`` run).
* ``additions_only_reason(district, day)``: the additions-only range covering ``day``: removals are
  deferred to the first normal sync after it (the planner's ``defer_removals``).
* ``long_pause(paused_since, day)``: the first sync after a pause or blackout of more than
  ``LONG_PAUSE_DAYS`` days is held for review (R10) if it would remove anything (the planner's
  ``hold_removals``).

``day`` is the date of the sync's slot (``SyncRequest.date``; the dispatcher's slot date): see
docs/rules.md R16 for how the slot's date and the district's time zone relate.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from classlink_sync.errors import OnboardingError

LONG_PAUSE_DAYS = 14  # R16: a pause or blackout longer than this holds the first sync's removals
MAX_REASON = 200  # characters of a reason kept (one line)
DEFAULT_TIMEZONE = "UTC"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*")


class Calendar(Protocol):
    """What the rules read of a district (``store.districts.District`` has it)."""

    @property
    def pause(self) -> Mapping[str, Any] | None: ...

    @property
    def blackouts(self) -> Iterable[Mapping[str, Any]]: ...


class Windows(Calendar, Protocol):
    @property
    def additions_only(self) -> Iterable[Mapping[str, Any]]: ...


# -- checking what staff give --------------------------------------------------------------------


def parse_day(value: str | dt.date, what: str) -> dt.date:
    """A ``YYYY-MM-DD`` calendar date; ``OnboardingError`` naming ``what`` otherwise."""
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError("not YYYY-MM-DD")
        return dt.date.fromisoformat(text)
    except ValueError:
        raise OnboardingError(f"R16: {what} must be a date YYYY-MM-DD, not {text[:40]!r}") from None


def check_reason(reason: str | None, what: str, *, required: bool = False) -> str:
    """One line of at most ``MAX_REASON`` characters (empty when not ``required`` and not given)."""
    text = re.sub(r"\s+", " ", reason or "").strip()
    if required and not text:
        raise OnboardingError(f"R16: {what} needs a reason")
    if len(text) > MAX_REASON:
        raise OnboardingError(f"R16: the reason of {what} is {len(text)} characters; at most {MAX_REASON}")
    return text


def check_range(
    start: str | dt.date,
    until: str | dt.date | None,
    reason: str | None = None,
    *,
    what: str = "a range",
    open_end: bool = False,
    reason_required: bool = False,
) -> dict[str, Any]:
    """A range as stored, ``{"from", "until", "reason"}``: dates checked, ``from <= until``; ``until``
    may be None only with ``open_end`` (a pause until resumed). ``OnboardingError`` naming the
    argument otherwise."""
    first = parse_day(start, "--from")
    if until is None or (isinstance(until, str) and not until.strip()):
        if not open_end:
            raise OnboardingError(f"R16: {what} needs --until (a date YYYY-MM-DD)")
        last = None
    else:
        last = parse_day(until, "--until")
        if last < first:
            raise OnboardingError(
                f"R16: --until {last.isoformat()} is before --from {first.isoformat()}; "
                "a range ends on or after the day it starts"
            )
    return {
        "from": first.isoformat(),
        "until": None if last is None else last.isoformat(),
        "reason": check_reason(reason, what, required=reason_required),
    }


def check_timezone(name: str | None) -> str:
    """An IANA time zone name (``America/Chicago``), default UTC; ``OnboardingError`` naming it when
    zoneinfo does not know it."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = (name or "").strip() or DEFAULT_TIMEZONE
    problem = f"R16: --timezone {text[:60]!r} is not an IANA time zone name (for example America/Chicago or UTC)"
    if not _ZONE.fullmatch(text):
        raise OnboardingError(problem)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise OnboardingError(problem) from None
    return text


def local_day(moment: dt.datetime, timezone: str | None) -> dt.date:
    """The calendar date of an aware ``moment`` in the district's time zone."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(timezone or DEFAULT_TIMEZONE)).date()


# -- lists of ranges ---------------------------------------------------------------------------------


def label(rng: Mapping[str, Any]) -> str:
    """``2026-06-10..2026-08-25`` (an open pause: ``2026-06-10..``)."""
    return f"{rng.get('from')}..{rng.get('until') or ''}"


def covers(rng: Mapping[str, Any] | None, day: dt.date) -> bool:
    """Whether ``day`` falls in the range, both ends included (an open end never ends)."""
    if not rng or not rng.get("from"):
        return False
    if day < dt.date.fromisoformat(str(rng["from"])):
        return False
    until = rng.get("until")
    return until is None or day <= dt.date.fromisoformat(str(until))


def _overlaps(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return str(a["from"]) <= str(b["until"]) and str(b["from"]) <= str(a["until"])


def add_range(ranges: Iterable[Mapping[str, Any]], new: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
    """The list with ``new`` added, sorted by start; a range overlapping one already there is refused
    (so that ``remove`` names one range)."""
    current = [dict(r) for r in ranges]
    for rng in current:
        if _overlaps(rng, new):
            raise OnboardingError(f"R16: {what} {label(new)} overlaps {what} {label(rng)}; remove that one first")
    return sorted([*current, dict(new)], key=lambda r: (str(r["from"]), str(r["until"])))


def remove_range(
    ranges: Iterable[Mapping[str, Any]], start: str | dt.date, until: str | dt.date, what: str
) -> list[dict[str, Any]]:
    """The list without the range ``start..until`` (exactly those dates); ``OnboardingError`` naming
    the ranges there are when none matches."""
    first, last = parse_day(start, "--from").isoformat(), parse_day(until, "--until").isoformat()
    current = [dict(r) for r in ranges]
    kept = [r for r in current if (r.get("from"), r.get("until")) != (first, last)]
    if len(kept) == len(current):
        there = ", ".join(label(r) for r in current) or "none"
        raise OnboardingError(f"R16: no {what} {first}..{last} (there are: {there})")
    return kept


# -- what a day is -------------------------------------------------------------------------------------


def _why(kind: str, rng: Mapping[str, Any]) -> str:
    reason = str(rng.get("reason") or "").strip()
    return f"{kind} {label(rng)}" + (f": {reason}" if reason else "")


def paused_reason(district: Calendar, day: dt.date) -> str | None:
    """R16: why no roster sync runs on ``day`` (the pause, else the first blackout covering it), or
    None. Used for the daily slot, a staff sync, and R18's delta syncs."""
    pause = district.pause
    if pause is not None and covers(pause, day):
        return _why("paused", pause)
    for rng in district.blackouts or ():
        if covers(rng, day):
            return _why("blackout", rng)
    return None


def additions_only_reason(district: Windows, day: dt.date) -> str | None:
    """R16: the additions-only range covering ``day`` (the planner's ``defer_removals``), or None."""
    for rng in district.additions_only or ():
        if covers(rng, day):
            return _why("additions-only window", rng)
    return None


def long_pause(
    paused_since: str | dt.date | None, day: dt.date, paused_last: str | dt.date | None = None
) -> str | None:
    """R16: the why of holding any removal (R10, the planner's ``hold_removals``) when ``day`` is
    after a pause of more than ``LONG_PAUSE_DAYS`` days: from the district's first paused slot since
    its last applied sync (``paused_since``) to its latest (``paused_last``), both included. Days
    when syncs failed or were held are not pause. Without ``paused_last`` (kept before it was), the
    pause is taken to run up to the day before ``day``. None otherwise (a sync dated inside the
    pause ends nothing)."""
    if not paused_since:
        return None
    since = _as_day(paused_since)
    last = _as_day(paused_last) if paused_last else day - dt.timedelta(days=1)
    if day <= last:
        return None
    days = (last - since).days + 1
    if days <= LONG_PAUSE_DAYS:
        return None
    return f"a pause of {days} days ({since.isoformat()}..{last.isoformat()})"


def _as_day(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
