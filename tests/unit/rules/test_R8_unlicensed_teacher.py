"""R8: "A teacher must be enrolled (orgs) in the school of every class they teach; where not, that
teacher-class link is reported and not synced." Also when the teacher's only school is unlicensed, which
makes the teacher out of scope (R3): the link is reported, not ignored silently."""

from __future__ import annotations

from tests.unit.rules.fakes import FakeStore, enrol, klass, org, run, settings, snapshot, user

ORGS = [org("sch1"), org("sch2", "Unlicensed Middle")]
CFG = settings(licensed=["sch1"])


def test_R8_teacher_only_in_an_unlicensed_school_is_reported():
    outsider = user("t9", "teacher", orgs=("sch2",))  # enrolled only in the unlicensed school
    t1, s1 = user("t1", "teacher"), user("s1")
    c = klass("c1", "Spanish 1")  # a class of the licensed school
    enr = [
        enrol("e1", "t1", "c1", "teacher", primary=True),
        enrol("e9", "t9", "c1", "teacher"),
        enrol("e3", "s1", "c1"),
    ]
    p = run(FakeStore(), snapshot(orgs=ORGS, users=[outsider, t1, s1], classes=[c], enrollments=enr), CFG)
    assert {(e.user_sourced_id, e.role) for e in p.enrollments["create"]} == {("t1", "teacher"), ("s1", "student")}
    [issue] = p.issues
    assert (issue.rule, issue.entity, issue.sourced_id, issue.field) == ("R8", "enrollment", "e9", "school")
    assert "not enrolled in that school" in issue.message and "sch1" in issue.message
    assert p.counts["enrollment"]["skipped"] == 1
    assert "t9" not in {a.sourced_id for a in p.accounts["create"]}  # out of scope (R3), as before


def test_R8_class_whose_only_teacher_is_only_in_an_unlicensed_school_names_the_school():
    outsider = user("t9", "teacher", orgs=("sch2",))
    enr = [enrol("e9", "t9", "c1", "teacher"), enrol("e3", "s1", "c1")]
    p = run(FakeStore(), snapshot(orgs=ORGS, users=[outsider, user("s1")], classes=[klass("c1")], enrollments=enr), CFG)
    assert not p.classes["create"]
    by_id = {i.sourced_id: i for i in p.issues}
    assert by_id["c1"].rule == "R8" and "is not enrolled in school sch1" in by_id["c1"].message
    assert set(by_id) == {"c1"}  # as for any wrong-school teacher: the class's issue names the link


def test_R8_teacher_of_a_licensed_school_not_synced_for_another_reason_is_not_an_R8_issue():
    """A teacher enrolled in the class's school but skipped for R4 (no family name) has their own
    issue; the link is not reported twice."""
    teacher = user("t9", "teacher", family=None)
    enr = [enrol("e1", "t1", "c1", "teacher"), enrol("e9", "t9", "c1", "teacher")]
    p = run(FakeStore(), snapshot(orgs=ORGS, users=[teacher, user("t1", "teacher")], classes=[klass("c1")],
                                  enrollments=enr), CFG)  # fmt: skip
    assert [(i.rule, i.sourced_id) for i in p.issues] == [("R4", "t9")]
