"""R16: the pure date rules of pauses, blackouts and additions-only ranges (``rules.calendar``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from classlink_sync.errors import OnboardingError
from classlink_sync.rules import calendar


@dataclass
class Cal:
    pause: dict[str, Any] | None = None
    blackouts: tuple[dict[str, Any], ...] = ()
    additions_only: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


SUMMER = {"from": "2026-06-10", "until": "2026-08-25", "reason": "summer"}


def test_R16_a_range_is_checked_and_stored_as_from_until_reason() -> None:
    assert calendar.check_range("2026-06-10", "2026-08-25", "  summer   break ") == {
        "from": "2026-06-10",
        "until": "2026-08-25",
        "reason": "summer break",
    }
    assert calendar.check_range("2026-06-10", "2026-06-10")["until"] == "2026-06-10"  # one day


@pytest.mark.parametrize(
    ("start", "until", "named"),
    [
        ("2026-8-1", "2026-08-25", "--from"),
        ("2026-02-30", "2026-03-01", "--from"),
        ("2026-06-10", "25/08/2026", "--until"),
        ("2026-06-10", "2026-06-09", "before --from"),
    ],
)
def test_R16_a_bad_range_names_the_argument(start: str, until: str, named: str) -> None:
    with pytest.raises(OnboardingError, match="R16") as refused:
        calendar.check_range(start, until)
    assert named in str(refused.value)


def test_R16_only_a_pause_may_be_open_ended_and_it_needs_a_reason() -> None:
    with pytest.raises(OnboardingError, match="--until"):
        calendar.check_range("2026-06-10", None, what="a blackout")
    pause = calendar.check_range("2026-06-10", None, "audit", open_end=True, reason_required=True)
    assert pause == {"from": "2026-06-10", "until": None, "reason": "audit"}
    with pytest.raises(OnboardingError, match="reason"):
        calendar.check_range("2026-06-10", None, " ", open_end=True, reason_required=True, what="a pause")
    with pytest.raises(OnboardingError, match="at most"):
        calendar.check_range("2026-06-10", "2026-06-11", "x" * 201)


def test_R16_a_pause_covers_its_days_both_ends_included_and_an_open_one_never_ends() -> None:
    cal = Cal(pause={"from": "2026-03-02", "until": "2026-03-06", "reason": "data audit"})
    assert calendar.paused_reason(cal, d("2026-03-01")) is None
    assert calendar.paused_reason(cal, d("2026-03-02")) == "paused 2026-03-02..2026-03-06: data audit"
    assert calendar.paused_reason(cal, d("2026-03-06")) is not None
    assert calendar.paused_reason(cal, d("2026-03-07")) is None
    open_pause = Cal(pause={"from": "2026-03-02", "until": None, "reason": "contract"})
    assert calendar.paused_reason(open_pause, d("2030-01-01")) == "paused 2026-03-02..: contract"


def test_R16_a_blackout_spanning_the_summer_pauses_every_slot_in_it() -> None:
    cal = Cal(blackouts=({"from": "2025-12-22", "until": "2026-01-02", "reason": ""}, SUMMER))
    days = [d("2026-06-10") + dt.timedelta(days=n) for n in range(77)]
    assert all(calendar.paused_reason(cal, day) == "blackout 2026-06-10..2026-08-25: summer" for day in days)
    assert calendar.paused_reason(cal, d("2026-06-09")) is None
    assert calendar.paused_reason(cal, d("2026-08-26")) is None
    assert calendar.paused_reason(cal, d("2026-01-01")) == "blackout 2025-12-22..2026-01-02"


def test_R16_the_pause_is_named_before_a_blackout_that_also_covers_the_day() -> None:
    cal = Cal(pause={"from": "2026-07-01", "until": None, "reason": "billing"}, blackouts=(SUMMER,))
    assert calendar.paused_reason(cal, d("2026-07-04")).startswith("paused ")  # type: ignore[union-attr]


def test_R16_additions_only_is_a_separate_question_from_pausing() -> None:
    cal = Cal(additions_only=({"from": "2026-08-26", "until": "2026-09-15", "reason": "term start"},))
    assert calendar.paused_reason(cal, d("2026-09-01")) is None
    assert calendar.additions_only_reason(cal, d("2026-09-01")) == (
        "additions-only window 2026-08-26..2026-09-15: term start"
    )
    assert calendar.additions_only_reason(cal, d("2026-09-16")) is None


def test_R16_a_pause_of_more_than_14_days_holds_the_first_sync() -> None:
    assert calendar.long_pause(None, d("2026-08-26")) is None
    assert calendar.long_pause("2026-06-10", d("2026-06-24")) is None  # 14 days: not more than 14
    assert calendar.long_pause("2026-06-10", d("2026-06-25")) == "a pause of 15 days (2026-06-10..2026-06-24)"
    assert calendar.long_pause(d("2026-06-10"), d("2026-08-26")) == "a pause of 77 days (2026-06-10..2026-08-25)"
    # with the latest paused slot kept, the pause is first..last slot, whatever the sync's date
    summer = calendar.long_pause("2026-06-10", d("2026-09-02"), "2026-08-25")
    assert summer == "a pause of 77 days (2026-06-10..2026-08-25)"


def test_R16_only_paused_days_count_and_a_sync_inside_the_pause_is_not_after_it() -> None:
    # a one-day blackout, then syncs that failed or were held for 18 days: that is no long pause
    assert calendar.long_pause("2026-06-01", d("2026-06-20"), "2026-06-01") is None
    assert (
        calendar.long_pause("2026-06-01", d("2026-06-16"), "2026-06-15")
        == "a pause of 15 days (2026-06-01..2026-06-15)"
    )
    # a staff sync dated inside a long pause (before its latest paused slot) is not the sync after it
    assert calendar.long_pause("2026-06-10", d("2026-07-01"), "2026-08-25") is None


def test_R16_ranges_are_added_sorted_refused_when_overlapping_and_removed_by_their_dates() -> None:
    first = calendar.check_range("2026-12-21", "2027-01-01", "winter")
    ranges = calendar.add_range([], first, "blackout")
    ranges = calendar.add_range(ranges, SUMMER, "blackout")
    assert [r["from"] for r in ranges] == ["2026-06-10", "2026-12-21"]
    with pytest.raises(OnboardingError, match=r"overlaps blackout 2026-06-10\.\.2026-08-25"):
        calendar.add_range(ranges, calendar.check_range("2026-08-25", "2026-08-30"), "blackout")
    assert calendar.remove_range(ranges, "2026-06-10", "2026-08-25", "blackout") == [first]
    with pytest.raises(OnboardingError, match=r"no blackout 2026-06-10..2026-08-24 \(there are: 2026-06-10"):
        calendar.remove_range(ranges, "2026-06-10", "2026-08-24", "blackout")


def test_R16_a_time_zone_is_an_iana_name_and_gives_the_district_its_local_date() -> None:
    assert calendar.check_timezone(None) == "UTC"
    assert calendar.check_timezone(" America/Chicago ") == "America/Chicago"
    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "America/", "UTC+5"):
        with pytest.raises(OnboardingError, match="--timezone"):
            calendar.check_timezone(bad)
    moment = dt.datetime(2026, 6, 10, 3, 0, tzinfo=dt.UTC)
    assert calendar.local_day(moment, "UTC") == d("2026-06-10")
    assert calendar.local_day(moment, "America/Chicago") == d("2026-06-09")
