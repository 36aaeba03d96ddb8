"""R16 end to end on the local stack, through the real dispatcher and district-sync handlers and the
staff CLI: a paused slot is recorded as a ``paused`` run and nothing is read from ClassLink; a
blackout spanning the summer gives paused runs, then the first sync after it is held for review
(R10) because the district's data shrank, and approving it applies it; an additions-only range
creates but defers removals, which the first normal sync after it makes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from classlink_local.stack import LocalStack
from classlink_sync.cli import main
from classlink_sync.store.districts import get_district
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync

from .conftest import District, active_ids, changes, fire_schedule, sync_via_queue

pytestmark = pytest.mark.e2e

ENABLED = dt.date(2026, 1, 1)  # the slots below are dates of 2026, whatever today is


@pytest.fixture(scope="module")
def stack(own_stack: LocalStack) -> LocalStack:
    """This module's own tables and queues: the dispatcher fans out to every enabled district of its
    stack, and the test below counts exactly its district's slots."""
    return own_stack


def staff(*argv: str) -> None:
    """A staff command, in-process, as `classlink-sync ...` runs it."""
    assert main(list(argv)) == 0, argv


def fetched(district: District) -> int:
    """Requests the district's emulator has served since the last reset."""
    return len(district.emulator.requests.entries())


def students(export: dict) -> list[str]:
    return sorted(a["sourcedId"] for a in export["accounts"] if a["role"] == "student" and a["active"])


def test_R16_a_blackout_spanning_the_summer_gives_paused_runs_then_holds_the_first_sync_if_data_shrank(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    district = make_district("r16-summer", tenant_id="3601", seed=61, users=80, problem_share=0, enable_from=ENABLED)
    summary, drained = fire_schedule(stack, "2026-06-09")
    assert summary["sent"] == 1 and len(drained.succeeded) == 1
    assert district.last_run().status == "succeeded"
    staff(
        "blackout", district.district_id, "add", "--from", "2026-06-10", "--until", "2026-08-25", "--reason", "summer"
    )

    district.emulator.requests.reset()
    for slot in ("2026-06-10", "2026-07-15", "2026-08-25"):
        summary, drained = fire_schedule(stack, slot)
        assert (summary["sent"], summary["paused"], summary["failed"], drained.invocations) == (0, 1, 0, 0), summary
    assert fetched(district) == 0  # no fetch while blacked out
    paused = [r for r in district.runs() if r.status == "paused"]
    assert [r.reason for r in paused] == [
        f"blackout 2026-06-10..2026-08-25: summer (slot {slot})" for slot in ("2026-08-25", "2026-07-15", "2026-06-10")
    ]
    assert all(r.roster_writes == 0 and r.trigger == "schedule" for r in paused)
    assert get_district(district.district_id).paused_since == "2026-06-10"

    # Over the summer two students left: far under R10's thresholds, but after a blackout of more
    # than 14 days the first sync is held if it would remove anything.
    before = district.export()
    left = students(before)[:2]
    district.dataset.drop("users", *left)
    summary, _ = fire_schedule(stack, "2026-08-26")
    assert summary["sent"] == 1
    held = district.last_run()
    assert held.status == "held" and district.export() == before
    reasons = district.report(held)["guard_reasons"]
    assert any("a pause of 77 days (2026-06-10..2026-08-25)" in r and "R16" in r for r in reasons), reasons

    outcome = run_sync(
        SyncRequest(district_id=district.district_id, date="2026-08-26", trigger="approve", approve_run_id=held.run_id)
    )
    assert outcome.status == "succeeded"
    assert changes(outcome.report.counts)["user"] == {"deactivate": 2}
    assert not set(left) & active_ids(district.export(), "accounts")
    assert get_district(district.district_id).paused_since is None
    summary, _ = fire_schedule(stack, "2026-08-27")  # the summer is over: a normal daily sync
    assert summary["sent"] == 1 and district.last_run().status == "succeeded"


def test_R16_a_paused_districts_slot_is_recorded_and_nothing_is_fetched(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    district = make_district("r16-pause", tenant_id="3602", seed=62, users=60, enable_from=ENABLED)
    assert sync_via_queue(stack, district, "2026-05-04", trigger="schedule").status == "succeeded"
    staff("pause", district.district_id, "--from", "2026-05-05", "--reason", "contract review")
    district.emulator.requests.reset()
    export = district.export()

    run = sync_via_queue(stack, district, "2026-05-06", trigger="schedule")
    assert (run.status, run.roster_writes) == ("paused", 0)
    assert run.reason == "paused 2026-05-05..: contract review (slot 2026-05-06)"
    assert fetched(district) == 0 and district.export() == export
    assert sync_via_queue(stack, district, "2026-05-07").status == "paused"  # a staff sync too
    assert fetched(district) == 0

    staff("resume", district.district_id)
    assert sync_via_queue(stack, district, "2026-05-08", trigger="schedule").status == "succeeded"
    assert fetched(district) > 0
    assert get_district(district.district_id).paused_since is None


def test_R16_additions_only_creates_but_defers_removals_to_the_first_normal_sync(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    district = make_district("r16-adds", tenant_id="3603", seed=63, users=80, problem_share=0, enable_from=ENABLED)
    assert sync_via_queue(stack, district, "2026-08-31", trigger="schedule").status == "succeeded"
    staff("additions-only", district.district_id, "add", "--from", "2026-09-01", "--until", "2026-09-10")

    before = district.export()
    left = students(before)[:3]
    a_class = sorted(c["sourcedId"] for c in before["classes"] if c["active"])[0]
    new = district.dataset.add_user("student", class_ids=[a_class])["sourcedId"]
    district.dataset.drop("users", *left)

    during = sync_via_queue(stack, district, "2026-09-05", trigger="schedule")
    assert during.status == "succeeded"
    assert changes(during.counts)["user"] == {"create": 1}
    assert during.counts["user"]["deferred"] == 3
    report = district.report(during)
    deferred_users = {d["sourced_id"] for d in report["deferred"] if d["entity"] == "user"}
    assert deferred_users == set(left)
    assert {d["why"] for d in report["deferred"]} == {"additions-only window 2026-09-01..2026-09-10"}
    assert during.deferred == len(report["deferred"])
    active = active_ids(district.export(), "accounts")
    assert new in active and set(left) <= active  # created; nothing removed

    after = sync_via_queue(stack, district, "2026-09-11", trigger="schedule")  # the first normal sync
    assert after.status == "succeeded" and after.deferred == 0
    assert changes(after.counts)["user"] == {"deactivate": 3}
    assert not set(left) & active_ids(district.export(), "accounts")
