"""R10 end to end: half the students unshared holds the whole run; approve applies it; discard
drops it and the next sync evaluates (and holds) again."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from classlink_local.stack import LocalStack
from classlink_sync.settings import get_settings
from classlink_sync.store import runs
from classlink_sync.store.dynamo import METER, roster_tables
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync

from .conftest import District, active_ids, changes, day, sync_via_queue

pytestmark = pytest.mark.e2e


def _unshare_half_the_students(district: District, export: dict) -> tuple[set[str], set[str]]:
    """Drop every other synced student from ClassLink (their enrolments go with them). Returns the
    dropped students and their synced enrolments."""
    students = sorted(a["sourcedId"] for a in export["accounts"] if a["role"] == "student" and a["active"])
    dropped = set(students[::2])
    enrollments = {e["sourcedId"] for e in export["enrollments"] if e["userSourcedId"] in dropped and e["active"]}
    district.dataset.drop("users", *dropped)
    return dropped, enrollments


def _first_sync(stack: LocalStack, district: District) -> None:
    run = sync_via_queue(stack, district, day(0))
    assert run.status == "succeeded"


def _held_run(stack: LocalStack, district: District, date: str, before: dict) -> runs.RunRecord:
    METER.reset()
    run = sync_via_queue(stack, district, date)
    assert METER.writes(roster_tables(get_settings())) == 0
    assert run.status == "held"
    assert run.roster_writes in (0, None)
    assert district.export() == before  # the whole run wrote no roster data
    return run


def test_R10_half_the_students_unshared_holds_the_run_and_approve_applies_it(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    district = make_district("guard-approve", tenant_id="3201", seed=21, users=90, problem_share=0)
    _first_sync(stack, district)
    before = district.export()
    students_before = {a["sourcedId"] for a in before["accounts"] if a["role"] == "student"}
    dropped, dropped_enr = _unshare_half_the_students(district, before)
    assert len(dropped) >= 25 and len(dropped) * 2 >= len(students_before) - 1

    held = _held_run(stack, district, day(1), before)
    report = district.report(held)
    assert report["guard_reasons"] and any("account" in r or "user" in r for r in report["guard_reasons"])
    assert held.plan_key  # the full plan is kept for review
    planned = changes(report["counts"])
    assert planned["user"] == {"deactivate": len(dropped)}
    assert planned["enrollment"] == {"archive": len(dropped_enr)}

    outcome = run_sync(
        SyncRequest(district_id=district.district_id, date=day(1), trigger="approve", approve_run_id=held.run_id)
    )
    assert outcome.status == "succeeded"
    assert runs.get_run(district.district_id, held.run_id).status == "approved"
    approved = runs.get_run(district.district_id, outcome.run_id)
    assert approved.trigger == "approve"
    assert changes(approved.counts) == planned
    export = district.export()
    assert active_ids(export, "accounts") & dropped == set()
    assert {a["sourcedId"] for a in export["accounts"]} >= dropped  # deactivated, not destroyed (R9)
    assert active_ids(export, "enrollments") & dropped_enr == set()
    # the guard is waived for that one run only: a held run cannot be approved twice
    with pytest.raises(ValueError, match="R10"):
        run_sync(
            SyncRequest(district_id=district.district_id, date=day(1), trigger="approve", approve_run_id=held.run_id)
        )
    nxt = sync_via_queue(stack, district, day(2))
    assert nxt.status == "succeeded" and changes(nxt.counts) == {}


def test_R10_discarded_hold_is_dropped_and_the_next_sync_evaluates_again(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    district = make_district("guard-discard", tenant_id="3202", seed=22, users=90, problem_share=0)
    _first_sync(stack, district)
    before = district.export()
    _unshare_half_the_students(district, before)

    held = _held_run(stack, district, day(1), before)
    runs.set_status(district.district_id, held.run_id, "discarded")
    assert runs.get_run(district.district_id, held.run_id).status == "discarded"
    with pytest.raises(ValueError, match="R10"):  # a discarded run cannot be approved any more
        run_sync(
            SyncRequest(district_id=district.district_id, date=day(2), trigger="approve", approve_run_id=held.run_id)
        )

    again = _held_run(stack, district, day(2), before)
    assert again.run_id != held.run_id
    assert changes(again.counts) == changes(held.counts)
    assert [r.status for r in district.runs()] == ["held", "discarded", "succeeded"]
