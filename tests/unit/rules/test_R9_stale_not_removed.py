"""R9: "A record we hold that is still shared but now breaks a rule keeps its last good state and is
reported as stale under that rule; it is not removed. Removal is triggered only by: absence from a
complete fetch, status tobedeleted, leaving scope, an enrolment whose endDate has passed."

Hostile records go through the client's real models (tests/unit/rules/raw.py), so what the client
rejects (a status it does not know, a lone surrogate, ``enabledUser: "maybe"``, an impossible date, a
repeated sourcedId) reaches the planner as it would in production.
"""

from __future__ import annotations

import pytest

from classlink_sync.oneroster.records import Rejected
from classlink_sync.rules.planner import plan
from tests.unit.rules.fakes import TODAY, FakeStore, settings
from tests.unit.rules.raw import raw_district, raw_enrol, raw_user, replaced, snapshot_of, without


def _synced(data):
    store = FakeStore()
    snap = snapshot_of(data)
    store.apply(plan(snap, store.holdings(snap), settings(), today=TODAY))
    return store


def _plan(store, snap):
    return plan(snap, store.holdings(snap), settings(), today=TODAY)


def _removals(p):
    return (
        [a.sourced_id for a in p.accounts["deactivate"]],
        [c.sourced_id for c in p.classes["archive"]],
        [e.sourced_id for e in p.enrollments["archive"]],
    )


MALFORMED = {
    "status deleted (not a OneRoster status)": ("s0-0", "user", {"status": "deleted"}, "status"),
    "status gone": ("t0", "user", {"status": "gone"}, "status"),
    "lone surrogate in givenName": ("s0-1", "user", {"givenName": "Ad\ud800a"}, "givenName"),
    "enabledUser maybe": ("s1-0", "user", {"enabledUser": "maybe"}, "enabledUser"),
    "enrolment endDate 2026-02-30": ("e1-1", "enrollment", {"endDate": "2026-02-30"}, "endDate"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_R9_malformed_record_of_a_synced_user_keeps_last_good_state_and_is_stale(case):
    sid, entity, fields, field = MALFORMED[case]
    data = raw_district()
    store = _synced(data)
    before = dict(store.accounts), dict(store.enrollments)
    snap = snapshot_of(replaced(data, sid, **fields))
    assert [r.sourced_id for r in snap.rejected] == [sid]  # the client rejected it, keeping its id
    p = _plan(store, snap)
    assert p.is_empty(), _removals(p)  # no update, no removal
    [issue] = p.issues
    assert (issue.rule, issue.entity, issue.sourced_id, issue.field, issue.stale) == ("R4", entity, sid, field, True)
    assert "keeps the last good version" in issue.message
    assert p.counts[entity]["stale"] == 1
    store.apply(p)
    assert (dict(store.accounts), dict(store.enrollments)) == before


def test_R9_malformed_records_never_deactivate_a_district():
    """The tester's run: 6 of 11 accounts deactivated and a "succeeded" sync. Now: none."""
    data = raw_district(n_classes=3, students=2)
    store = _synced(data)
    hostile = data
    for sid, fields in [
        ("t0", {"status": "deleted"}),
        ("s0-0", {"status": "gone"}),
        ("s0-1", {"givenName": "\udc80"}),
        ("t1", {"enabledUser": "maybe"}),
        ("s1-0", {"enabledUser": "maybe"}),
        ("s2-1", {"familyName": "L" * 450 * 1024}),
        ("e2-t", {"endDate": "2026-02-30"}),
    ]:
        hostile = replaced(hostile, sid, **fields)
    p = _plan(store, snapshot_of(hostile))
    assert _removals(p) == ([], [], [])
    assert p.is_empty()
    assert p.counts["user"]["stale"] == 6


def test_R9_duplicate_id_neither_created_nor_removed():
    data = raw_district()
    store = _synced(data)
    twin = raw_user("s0-0", username="someone-else")  # a second record under a held id
    new_twins = [raw_user("n1", username="n1-a"), raw_user("n1", username="n1-b")]  # under a new id
    enrol_twin = raw_enrol("e0-0", "s0-1", "c0")  # a second enrolment under a held enrolment's id
    data2 = {**data, "users": [*data["users"], twin, *new_twins], "enrollments": [*data["enrollments"], enrol_twin]}
    snap = snapshot_of(data2)
    assert {(r.sourced_id, r.field) for r in snap.rejected} == {
        ("s0-0", "sourcedId"),
        ("n1", "sourcedId"),
        ("e0-0", "sourcedId"),
    }
    p = _plan(store, snap)
    assert p.is_empty(), _removals(p)  # s0-0 and e0-0 not removed, n1 not created
    stale = {i.sourced_id for i in p.issues if i.stale}
    assert stale == {"s0-0", "e0-0"}
    assert {i.sourced_id for i in p.issues if not i.stale} == {"n1"}


def test_R9_unconfirmed_absence_is_withheld_and_reported():
    data = raw_district(n_classes=3)
    store = _synced(data)
    # Class c2, its teacher, its students and their enrolments vanish from the lists. ClassLink
    # confirms the absence of everything but t2, s2-0, c2 and e2-1: those are kept.
    gone = ["c2", "t2", "s2-0", "s2-1", "e2-t", "e2-0", "e2-1"]
    snap = snapshot_of(without(data, *gone))
    snap.unconfirmed_absent = {"users": {"t2", "s2-0"}, "classes": {"c2"}, "enrollments": {"e2-1"}}
    p = _plan(store, snap)
    deactivated, archived, enrol_archived = _removals(p)
    assert deactivated == ["s2-1"] and archived == [] and sorted(enrol_archived) == ["e2-0", "e2-t"]
    r9 = {(i.entity, i.sourced_id) for i in p.issues if i.rule == "R9"}
    assert r9 == {("user", "t2"), ("user", "s2-0"), ("class", "c2"), ("enrollment", "e2-1")}
    assert all("did not confirm the absence" in i.message for i in p.issues if i.rule == "R9")
    assert p.counts["user"]["withheld"] == 2 and p.counts["class"]["withheld"] == 1
    assert p.counts["enrollment"]["withheld"] == 1
    # The next sync, once ClassLink confirms, removes them (nothing is kept forever).
    store.apply(p)
    again = _plan(store, snapshot_of(without(data, *gone)))
    assert sorted(_removals(again)[0]) == ["s2-0", "t2"]
    assert _removals(again)[1] == ["c2"]


def test_R9_student_whose_only_class_is_rejected_stays_and_keeps_its_enrolments():
    data = raw_district()
    store = _synced(data)
    snap = snapshot_of(replaced(data, "c0", status="deleted"))  # the class record is unreadable
    p = _plan(store, snap)
    assert p.is_empty(), _removals(p)
    assert p.counts["class"]["stale"] == 1 and p.counts["enrollment"]["stale"] == 3


def test_R9_student_whose_only_enrolment_is_rejected_stays():
    data = raw_district()
    store = _synced(data)
    p = _plan(store, snapshot_of(replaced(data, "e0-0", status="gone")))
    assert p.is_empty(), _removals(p)
    assert [i.sourced_id for i in p.issues] == ["e0-0"]


def test_R9_class_whose_only_teacher_is_rejected_stays_synced():
    data = raw_district()
    store = _synced(data)
    p = _plan(store, snapshot_of(replaced(data, "t1", enabledUser="maybe")))
    assert p.is_empty(), _removals(p)
    assert not [i for i in p.issues if i.entity == "class"]  # the teacher's last good state still teaches


def test_R9_removal_triggers_still_remove():
    """The triggers are untouched: tobedeleted, an ended enrolment, leaving scope, confirmed absence."""
    data = raw_district(n_classes=3)
    store = _synced(data)
    data2 = replaced(data, "s0-0", status="tobedeleted")
    data2 = replaced(data2, "e1-1", endDate="2026-01-01")
    data2 = replaced(data2, "s1-0", role="aide")
    data2 = without(data2, "s2-1", "e2-1")
    p = _plan(store, snapshot_of(data2))
    deactivated, _archived, enrol_archived = _removals(p)
    assert sorted(deactivated) == ["s0-0", "s1-0", "s1-1", "s2-1"]  # s1-1 lost its only class enrolment
    assert sorted(enrol_archived) == ["e0-0", "e1-0", "e1-1", "e2-1"]


def test_R9_a_rejected_record_we_do_not_hold_is_skipped_not_stale():
    data = raw_district()
    store = _synced(data)
    snap = snapshot_of({**data, "users": [*data["users"], raw_user("new", status="deleted")]})
    p = _plan(store, snap)
    [issue] = p.issues
    assert issue.sourced_id == "new" and not issue.stale
    assert p.counts["user"]["skipped"] == 1


def test_R9_rejection_without_an_id_removes_nothing_it_cannot_name():
    data = raw_district()
    store = _synced(data)
    snap = snapshot_of(data)
    snap.rejected.append(Rejected("users", None, "record", "a JSON string where a record object was expected"))
    p = _plan(store, snap)
    assert p.is_empty() and p.counts["user"]["skipped"] == 1


def test_R9_rejected_record_with_a_numeric_sourced_id_is_still_recognised():
    """A sourcedId sent as a JSON number is read as text (SPEC §1); a rejected record keeps it the
    same way, so the held record is kept, not taken for absent."""
    data = raw_district()
    data = replaced(data, "s0-0", sourcedId=12345.0)
    data["enrollments"] = [
        e if e["sourcedId"] != "e0-0" else raw_enrol("e0-0", "12345.0", "c0") for e in data["enrollments"]
    ]
    store = _synced(data)
    assert store.account_by_sourced_id("12345.0") is not None
    gone = {
        c: [({**r, "status": "gone"} if r.get("sourcedId") == 12345.0 else r) for r in rs] for c, rs in data.items()
    }
    p = _plan(store, snapshot_of(gone))
    assert p.is_empty(), _removals(p)
    assert [(i.sourced_id, i.stale) for i in p.issues] == [("12345.0", True)]
