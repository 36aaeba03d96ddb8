"""A district's life through the daily schedule: the dispatcher, SQS and the district-sync handler
on moto and the ClassLink emulator (issue 4 "Must show").

The module onboards one district (the only one on this module's stack, so the dispatcher's fan-out
is exactly that district); its first sync runs once (module fixture) and the tests below follow it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from classlink_local.lambda_runtime import invoke
from classlink_local.stack import LocalStack
from classlink_sync.settings import get_settings
from classlink_sync.store.dynamo import METER, roster_tables

from .conftest import (
    District,
    changes,
    day,
    expected_roster,
    fire_schedule,
    issues_by_id,
    queue_depth,
    roster_state,
    start_district,
)

pytestmark = pytest.mark.e2e

# Planted problems (datagen.PROBLEM_KINDS) that must not be synced and must be reported, by rule.
REPORTED = {
    "blank_username": "R4",
    "missing_names": "R4",
    "missing_role": "R4",
    "required_in_metadata": "R4",
    "unsynced_teacher": "R4",
    "class_missing_school": "R4",
    "class_no_subject": "R7",
    "class_two_subjects": "R7",
    "class_only_unsynced_teacher": "R8",
    "class_without_teacher": "R8",
    "teacher_school_mismatch": "R8",
    "teacher_as_student": "R8",
}
# Planted records out of scope (R3) or removed (R9): never synced.
NOT_SYNCED_USERS = (
    "role_out_of_scope",
    "unlicensed_school_user",
    "student_without_class",
    "tobedeleted_user",
)
NOT_SYNCED_CLASSES = ("unlicensed_school_class",)
NOT_SYNCED_ENROLLMENTS = ("ended_enrollment",)


@pytest.fixture(scope="module")
def stack(own_stack: LocalStack) -> LocalStack:
    """This module's own tables and queues: the dispatcher fans out to every enabled district of its
    stack, and the tests below count exactly this module's district."""
    return own_stack


@pytest.fixture(scope="module")
def life(stack: LocalStack) -> Iterator[dict[str, Any]]:
    district = start_district("life-isd", tenant_id="3101", seed=11, users=120, prefix="LifeISD")
    try:
        METER.reset()
        summary, drained = fire_schedule(stack, day(0))
        writes = METER.writes(roster_tables(get_settings()))
        yield {"district": district, "summary": summary, "drained": drained, "meter_writes": writes}
    finally:
        district.emulator.stop()


def test_R3_R4_R5_R7_R8_first_sync_creates_everything_the_rules_allow_and_reports_each_planted_problem(
    life: dict[str, Any],
) -> None:
    district: District = life["district"]
    ds = district.dataset
    planted = ds.planted
    assert life["summary"]["sent"] == 1 and life["summary"]["due"] == 1
    assert len(life["drained"].succeeded) == 1 and not life["drained"].failed

    [run] = district.runs()
    assert (run.status, run.trigger) == ("succeeded", "schedule")
    report = district.report(run)
    export = district.export()
    issues = issues_by_id(report)
    accounts = {a["sourcedId"]: a for a in export["accounts"]}
    classes = {c["sourcedId"]: c for c in export["classes"]}
    enrollments = {e["sourcedId"]: e for e in export["enrollments"]}

    # Every planted problem that breaks a rule is not synced and is reported under that rule.
    for kind, rule in REPORTED.items():
        assert planted[kind], kind
        for sid in planted[kind]:
            assert sid not in accounts and sid not in classes and sid not in enrollments, (kind, sid)
            assert rule in {i["rule"] for i in issues.get(sid, [])}, (kind, sid, issues.get(sid))
    for kind in NOT_SYNCED_USERS:
        assert planted[kind] and not set(planted[kind]) & set(accounts), kind
    for kind in NOT_SYNCED_CLASSES:
        assert planted[kind] and not set(planted[kind]) & set(classes), kind
    for kind in NOT_SYNCED_ENROLLMENTS:
        assert planted[kind] and not set(planted[kind]) & set(enrollments), kind
    # R5: of each pair of usernames equal after normalisation, one is synced, the other reported.
    pairs = planted["username_collision"]
    losers = set()
    for first, second in zip(pairs[0::2], pairs[1::2], strict=True):
        synced = {first, second} & set(accounts)
        assert len(synced) == 1, (first, second)
        (loser,) = {first, second} - synced
        assert [i["rule"] for i in issues[loser]] == ["R5"]
        losers.add(loser)

    # Valid-but-unusual records are synced: teachers without classes (R3), disabled users as
    # inactive accounts (R3), a subject from the course title (R7), co-teachers (R8).
    for sid in planted["teacher_without_class"]:
        assert accounts[sid]["active"] and accounts[sid]["role"] == "teacher"
    for sid in planted["disabled_user"]:
        if sid in accounts:
            assert accounts[sid]["active"] is False
    assert any(sid in accounts for sid in planted["disabled_user"])
    for sid in planted["subject_from_course"]:
        assert classes[sid]["active"] and classes[sid]["subject"]
    for sid in planted["co_taught_class"]:
        teachers = [e for e in export["enrollments"] if e["classSourcedId"] == sid and e["role"] == "teacher"]
        assert len(teachers) == 2 and all(e["active"] for e in teachers)

    # Everything the rules allow, computed from the raw records, is exactly what was created.
    expected = expected_roster(ds, set(classes), losers)
    for sid, teacher in expected.teachers.items():
        account = accounts[sid]
        assert (account["username"], account["role"]) == (teacher["username"], "teacher")
        assert account["active"] is (str(teacher["enabledUser"]).lower() == "true")
    assert set(accounts) == expected.accounts
    assert {s for s, a in accounts.items() if a["active"]} == expected.active_accounts
    assert set(enrollments) == expected.enrollments
    assert all(c["active"] and c["subject"] for c in classes.values())
    assert all(e["active"] for e in enrollments.values())

    # The run record's counts say the same, and each create cost at most 2 roster writes
    # (account + reservation), counted at the DynamoDB API.
    assert changes(report["counts"]) == {
        "user": {"create": len(accounts)},
        "class": {"create": len(classes)},
        "enrollment": {"create": len(enrollments)},
        "org": {"create": len(ds.licensed_school_ids)},
    }
    planned = len(accounts) * 2 + len(classes) + len(enrollments) + len(ds.licensed_school_ids)
    assert run.roster_writes == planned
    assert life["meter_writes"] == planned


def test_R9_next_sync_applies_exactly_the_changed_data(stack: LocalStack, life: dict[str, Any]) -> None:
    district: District = life["district"]
    ds = district.dataset
    before = district.export()
    classes = {c["sourcedId"]: c for c in before["classes"] if c["active"]}
    active_enr = [e for e in before["enrollments"] if e["active"]]
    per_student: dict[str, set[str]] = {}
    for e in active_enr:
        if e["role"] == "student":
            per_student.setdefault(e["userSourcedId"], set()).add(e["classSourcedId"])
    regular = sorted(
        (c for c in classes if c in ds.classes and ds.classes.record(c).get("metadata") == {}),
        key=lambda s: int(s.split("-")[1]),
    )

    def droppable(cid: str) -> bool:  # every student keeps another synced class (no deactivation)
        studs = [e["userSourcedId"] for e in active_enr if e["classSourcedId"] == cid and e["role"] == "student"]
        return bool(studs) and all(len(per_student[s] - {cid}) >= 1 for s in studs)

    dropped = next(c for c in regular if droppable(c))
    renamed = next(c for c in regular if c != dropped)
    joined = next(c for c in regular if c not in (dropped, renamed))
    moved = ds.planted["teacher_without_class"][0]
    old_school = ds.users.record(moved)["orgs"][0]["sourcedId"]
    new_school = next(s for s in ds.licensed_school_ids if s != old_school)
    dropped_enr = {e["sourcedId"] for e in active_enr if e["classSourcedId"] == dropped}
    assert len(dropped_enr) >= 2

    old_title = ds.classes.record(renamed)["title"]
    new_title = f"{old_title} (Room 12)"
    school = ds.classes.record(joined)["school"]["sourcedId"]
    student = ds.add_user("student", school_ids=[school], class_ids=[joined], givenName="Nina", familyName="Neu")
    ds.rename_class(renamed, new_title)
    ds.move_teacher(moved, new_school)
    dropped_records = {
        sid for sid, e in ds.enrollments.iter_records() if (e.get("class") or {}).get("sourcedId") == dropped
    }
    ds.drop("classes", dropped)

    METER.reset()
    summary, drained = fire_schedule(stack, day(1))
    meter_writes = METER.writes(roster_tables(get_settings()))
    assert summary["sent"] == 1 and len(drained.succeeded) == 1
    run = district.last_run()
    assert run.status == "succeeded"
    report = district.report(run)
    assert changes(report["counts"]) == {
        "user": {"create": 1, "update": 1},
        "class": {"update": 1, "archive": 1},
        "enrollment": {"create": 1, "archive": len(dropped_enr)},
    }
    # account + reservation, teacher, two classes, the new enrolment and the archived ones
    assert run.roster_writes == meter_writes == 2 + 1 + 2 + 1 + len(dropped_enr)
    # no new issue; only issues about records of the dropped class went away with it
    issues_before = {(i["rule"], i["sourced_id"]) for i in district.report(district.runs()[1])["issues"]}
    issues_after = {(i["rule"], i["sourced_id"]) for i in report["issues"]}
    assert issues_after == {i for i in issues_before if i[1] not in dropped_records | {dropped}}
    assert run.issue_count == len(report["issues"]) == len(issues_after)

    after = district.export()
    accounts = {a["sourcedId"]: a for a in after["accounts"]}
    assert accounts[student["sourcedId"]]["active"] and accounts[student["sourcedId"]]["role"] == "student"
    assert accounts[moved]["schools"] == [new_school] and accounts[moved]["active"]
    after_classes = {c["sourcedId"]: c for c in after["classes"]}
    assert after_classes[renamed]["title"] == new_title
    assert after_classes[renamed]["subject"] == classes[renamed]["subject"]
    assert after_classes[dropped]["active"] is False  # archived, not destroyed (R9)
    after_enr = {e["sourcedId"]: e for e in after["enrollments"]}
    assert all(after_enr[e]["active"] is False for e in dropped_enr)
    new_enr = [e for e in after["enrollments"] if e["userSourcedId"] == student["sourcedId"]]
    assert [(e["classSourcedId"], e["active"]) for e in new_enr] == [(joined, True)]

    # Nothing else changed.
    def without_changes(state: dict[str, Any]) -> dict[str, Any]:
        return {
            "accounts": [a for a in state["accounts"] if a[0] not in (student["sourcedId"], moved)],
            "classes": [c for c in state["classes"] if c[0] not in (renamed, dropped)],
            "enrollments": [
                e for e in state["enrollments"] if e[0] not in dropped_enr and e[2] != student["sourcedId"]
            ],
        }

    assert without_changes(roster_state(after)) == without_changes(roster_state(before))
    assert len(after["accounts"]) == len(before["accounts"]) + 1


def test_no_change_sync_makes_zero_roster_writes_counted_at_the_dynamodb_api(
    stack: LocalStack, life: dict[str, Any]
) -> None:
    district: District = life["district"]
    before = district.export()
    METER.reset()
    summary, drained = fire_schedule(stack, day(3))
    writes = METER.writes(roster_tables(get_settings()))
    assert summary["sent"] == 1 and len(drained.succeeded) == 1
    run = district.last_run()
    assert run.status == "succeeded"
    assert writes == 0
    assert run.roster_writes == 0
    report = district.report(run)
    assert changes(report["counts"]) == {}
    assert report["counts"]["user"]["unchanged"] == len(before["accounts"])
    # archived enrolments of a class no longer shared are not in the fetch: they get no outcome
    assert report["counts"]["enrollment"]["unchanged"] == len([e for e in before["enrollments"] if e["active"]])
    assert report["counts"]["class"]["unchanged"] == len([c for c in before["classes"] if c["active"]])
    assert district.export() == before
    # (the first-sync test shows the same meter counting every roster write of this district)


def test_R14_schedule_delivered_twice_sends_one_message(stack: LocalStack, life: dict[str, Any]) -> None:
    district: District = life["district"]
    runs_before = len(district.runs())
    first = invoke("dispatcher", {"trigger": "schedule", "scheduled_time": f"{day(5)}T06:00:00Z"})
    second = invoke("dispatcher", {"trigger": "schedule", "scheduled_time": f"{day(5)}T06:00:00Z"})
    assert (first["date"], first["sent"], first["skipped"]) == (day(5), 1, 0)
    assert (second["date"], second["sent"], second["skipped"]) == (day(5), 0, 1)
    assert queue_depth(stack) == 1
    _, drained = fire_schedule(stack, day(5))  # a third delivery, then the queue drained
    assert len(drained.succeeded) == 1 and not drained.failed
    assert len(district.runs()) == runs_before + 1
