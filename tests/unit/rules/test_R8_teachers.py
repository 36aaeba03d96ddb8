"""R8: a class needs an active, synced teacher; co-teachers link; wrong school; role mismatch."""

from tests.unit.rules.fakes import FakeStore, enrol, klass, org, run, snapshot, store_with, user


def _users_in(p):
    return {(e.user_sourced_id, e.role) for e in p.enrollments["create"]}


def test_R8_co_teachers_both_link_primary_or_not():
    t1, t2, s1 = user("t1", "teacher"), user("t2", "teacher"), user("s1")
    enr = [
        enrol("e1", "t1", "c1", "teacher", primary=True),
        enrol("e2", "t2", "c1", "teacher"),
        enrol("e3", "s1", "c1"),
    ]
    p = run(FakeStore(), snapshot(users=[t1, t2, s1], classes=[klass("c1")], enrollments=enr))
    assert _users_in(p) == {("t1", "teacher"), ("t2", "teacher"), ("s1", "student")}
    assert {e.primary for e in p.enrollments["create"] if e.role == "teacher"} == {True, False}


def test_R8_teacher_teaching_in_a_school_they_are_not_enrolled_in():
    orgs = [org("sch1"), org("sch2", "Other")]
    t1 = user("t1", "teacher", orgs=("sch1",))  # home school only
    t2 = user("t2", "teacher", orgs=("sch1", "sch2"))
    s1 = user("s1", orgs=("sch2",))
    c = klass("c1", "French 1", school="sch2")
    # Only t1 teaches: the link is reported and the class has no usable teacher.
    p = run(
        FakeStore(),
        snapshot(
            orgs=orgs,
            users=[t1, s1],
            classes=[c],
            enrollments=[
                enrol("e1", "t1", "c1", "teacher", school="sch2"),
                enrol("e3", "s1", "c1", school="sch2"),
            ],
        ),
    )
    [issue] = p.issues
    assert (issue.rule, issue.sourced_id) == ("R8", "c1")
    assert "teacher ExampleISD-t1 is not enrolled in school sch2" in issue.message
    assert not p.classes["create"]
    # With a co-teacher enrolled in sch2 the class syncs, without t1's link.
    p = run(
        FakeStore(),
        snapshot(
            orgs=orgs,
            users=[t1, t2, s1],
            classes=[c],
            enrollments=[
                enrol("e1", "t1", "c1", "teacher", school="sch2"),
                enrol("e2", "t2", "c1", "teacher", school="sch2"),
                enrol("e3", "s1", "c1", school="sch2"),
            ],
        ),
    )
    assert _users_in(p) == {("t2", "teacher"), ("s1", "student")}
    assert [(i.sourced_id, i.field) for i in p.issues] == [("e1", "school")]
    assert "Add the school to the teacher's orgs" in p.issues[0].message


def test_R8_teacher_enrolled_as_a_student_is_reported_and_not_synced():
    t1, t2 = user("t1", "teacher"), user("t2", "teacher")
    enr = [enrol("e1", "t1", "c1", "teacher"), enrol("e2", "t2", "c1", "student")]
    p = run(FakeStore(), snapshot(users=[t1, t2], classes=[klass("c1")], enrollments=enr))
    assert _users_in(p) == {("t1", "teacher")}
    [issue] = p.issues
    assert (issue.rule, issue.sourced_id, issue.field) == ("R8", "e2", "role")
    assert "is a teacher but is enrolled" in issue.message


def test_R8_class_whose_only_teacher_is_unsynced_is_skipped():
    # The only "teacher" is an aide in ClassLink (not synced, R3).
    aide, s1 = user("a1", "aide"), user("s1")
    enr = [enrol("e1", "a1", "c1", "teacher"), enrol("e2", "s1", "c1")]
    p = run(FakeStore(), snapshot(users=[aide, s1], classes=[klass("c1")], enrollments=enr))
    assert not p.classes["create"] and not p.accounts["create"]  # and so the student is out of scope
    assert [(i.rule, i.sourced_id) for i in p.issues] == [("R8", "c1")]
    assert "is a aide in ClassLink, not a teacher" in p.issues[0].message


def test_R8_class_whose_only_teacher_has_a_username_conflict_is_skipped():
    store = store_with(("other", "taken", "d-other"))
    t1, s1 = user("t1", "teacher", username="Taken"), user("s1")
    enr = [enrol("e1", "t1", "c1", "teacher"), enrol("e2", "s1", "c1")]
    p = run(store, snapshot(users=[t1, s1], classes=[klass("c1")], enrollments=enr))
    assert not p.classes["create"]
    assert {(i.rule, i.sourced_id) for i in p.issues} == {("R5", "t1"), ("R8", "c1")}


def test_R8_class_whose_teacher_enrolment_ended_is_skipped():
    enr = [enrol("e1", "t1", "c1", "teacher", end="2025-06-01"), enrol("e2", "s1", "c1")]
    p = run(
        FakeStore(),
        snapshot(users=[user("t1", "teacher"), user("s1")], classes=[klass("c1")], enrollments=enr),
    )
    assert not p.classes["create"]
