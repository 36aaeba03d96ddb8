"""S7: every issue names the school of the record it is about (``Issue.school_id``), so the portal
can filter and export issues by school: a class's school, an enrolment's school (else its class's),
a user's first licensed school (the school in question for an R8 wrong-school link), a school's own
sourcedId. Plans and reports written before the field existed still load."""

from __future__ import annotations

from classlink_sync.report import RunReport, render_text
from classlink_sync.rules.plan import Issue, Plan
from tests.unit.rules.fakes import FakeStore, class_with_teacher, enrol, klass, org, run, settings, snapshot, user

ORGS = [org("district", "Example ISD", type="district"), org("sch1"), org("sch2", "Unlicensed Middle"), org("sch3")]
CFG = settings(licensed=["sch1", "sch3"])


def only(p: Plan, rule: str, sourced_id: str) -> Issue:
    [issue] = [i for i in p.issues if i.rule == rule and i.sourced_id == sourced_id]
    return issue


def test_S7_R7_class_issue_names_the_class_school():
    users, _, enrolments = class_with_teacher(3, school="sch3")
    art = klass("c3", "Art and Design", school="sch3")  # names no subject (R7)
    p = run(FakeStore(), snapshot(orgs=ORGS, users=users, classes=[art], enrollments=enrolments), CFG)
    issue = only(p, "R7", "c3")
    assert (issue.entity, issue.field, issue.school_id) == ("class", "title", "sch3")


def test_S7_R8_enrolment_issue_names_the_school_in_question():
    """A teacher enrolled only in an unlicensed school teaching a class of a licensed one: the link is
    reported under the class's school (the one the teacher is missing), not the teacher's."""
    outsider = user("t9", "teacher", orgs=("district", "sch2"))
    users, c, enrolments = class_with_teacher(1)
    p = run(FakeStore(), snapshot(orgs=ORGS, users=[outsider, *users], classes=[c],
                                  enrollments=[*enrolments, enrol("e9", "t9", "c1", "teacher", school="sch1")]),
            CFG)  # fmt: skip
    issue = only(p, "R8", "e9")
    assert (issue.entity, issue.field, issue.school_id) == ("enrollment", "school", "sch1")


def test_S7_R8_role_mismatch_names_the_enrolment_school_else_its_class():
    users, c, enrolments = class_with_teacher(1)
    wrong = [enrol("e-x", "s1-0", "c1", "teacher", school=None)]  # a student enrolled as a teacher
    p = run(FakeStore(), snapshot(orgs=ORGS, users=users, classes=[c], enrollments=[*enrolments, *wrong]), CFG)
    issue = only(p, "R8", "e-x")
    assert (issue.field, issue.school_id) == ("role", "sch1")


def test_S7_R4_user_issue_names_the_first_licensed_school():
    """The district org and an unlicensed school come first in the user's orgs; the issue names the
    first licensed school."""
    nameless = user("t5", "teacher", given=None, orgs=("district", "sch2", "sch3", "sch1"))
    p = run(FakeStore(), snapshot(orgs=ORGS, users=[nameless]), CFG)
    issue = only(p, "R4", "t5")
    assert (issue.entity, issue.field, issue.school_id) == ("user", "givenName", "sch3")


def test_S7_user_issue_without_a_school_names_none_and_school_issue_names_itself():
    homeless = user("t6", "teacher", orgs=("district",))  # R4: no school at all
    p = run(FakeStore(), snapshot(orgs=[*ORGS, org("sch4", None)], users=[homeless]), settings())
    assert only(p, "R4", "t6").school_id is None
    assert only(p, "R4", "sch4").school_id == "sch4"  # a school without a name (R4)


def test_S7_R5_and_R4_email_issues_name_the_user_school():
    store = FakeStore()
    store.add_account("acc-x", "taken", district_id="other-district")
    users = [
        user("t1", "teacher", username="taken", orgs=("sch1",)),  # R5: taken on another district
        user("t2", "teacher", email="pat smith@school.org", orgs=("sch3",)),  # R4 warning
    ]
    p = run(store, snapshot(orgs=ORGS, users=users), CFG)
    assert only(p, "R5", "t1").school_id == "sch1"
    assert only(p, "R4", "t2").school_id == "sch3"


def test_S7_school_round_trips_and_old_plans_and_reports_load():
    issue = Issue("R7", "class", "c1", "no subject", "title", school_id="sch1")
    p = Plan("d", "t", "2026-03-02", True, issues=[issue])
    assert Plan.from_dict(p.to_dict()).issues == [issue]
    old = {"rule": "R7", "entity": "class", "sourced_id": "c1", "message": "m", "field": "title", "stale": False}
    assert Plan.from_dict({**p.to_dict(), "issues": [old]}).issues[0].school_id is None
    report = RunReport("d", "r1", "manual", "2026-03-02T06:00:00Z", status="succeeded", issues=[issue])
    assert RunReport.from_dict(report.to_dict()).issues == [issue]
    assert RunReport.from_stored({"run": {}, "issues": [old]}).issues[0].school_id is None
    assert "class c1 (school sch1): no subject" in render_text(report)
