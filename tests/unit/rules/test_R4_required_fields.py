"""R4: required data in the standard fields; a record missing one is skipped and names the field."""

from classlink_sync.oneroster.records import Rejected
from tests.unit.rules.fakes import FakeStore, class_with_teacher, enrol, klass, run, snapshot, user


def _issue(p, sid):
    [found] = [i for i in p.issues if i.sourced_id == sid]
    return found


def test_R4_user_missing_username_or_names_is_skipped_naming_the_field():
    store = FakeStore()
    users = [
        user("t1", "teacher", username=""),
        user("t2", "teacher", given=None),
        user("t3", "teacher", family=None),
        user("t4", None),
        user("t5", "teacher", orgs=()),
    ]
    p = run(store, snapshot(users=users))
    assert not p.accounts["create"]
    fields = {i.sourced_id: i.field for i in p.issues}
    assert fields == {"t1": "username", "t2": "givenName", "t3": "familyName", "t4": "role", "t5": "orgs"}
    assert all(i.rule == "R4" and "not metadata" in i.message for i in p.issues)
    assert p.counts["user"]["skipped"] == 5


def test_R4_user_whose_only_org_is_the_district_is_reported():
    from tests.unit.rules.fakes import org

    p = run(
        FakeStore(),
        snapshot(
            orgs=[org(), org("dist", "District", type="district")],
            users=[user("t1", "teacher", orgs=("dist",))],
        ),
    )
    assert _issue(p, "t1").field == "orgs"


def test_R4_class_missing_title_or_school_is_skipped():
    store = FakeStore()
    members, _c, enr = class_with_teacher(1)
    p = run(
        store,
        snapshot(users=members, classes=[klass("c1", None), klass("c2", "French", school=None)], enrollments=enr),
    )
    assert _issue(p, "c1").field == "title"
    assert _issue(p, "c2").field == "school"
    assert not p.classes["create"]


def test_R4_enrollment_without_user_or_class_and_unknown_references():
    store = FakeStore()
    members, c, enr = class_with_teacher(1)
    extra = [
        enrol("x1", None, "c1"),
        enrol("x2", "s1-0", None),
        enrol("x3", "ghost", "c1"),
        enrol("x4", "s1-0", "c404"),
    ]
    p = run(store, snapshot(users=members, classes=[c], enrollments=enr + extra))
    fields = {i.sourced_id: i.field for i in p.issues}
    assert fields == {"x1": "user", "x2": "class", "x3": "user", "x4": "class"}
    assert p.counts["enrollment"]["skipped"] == 4
    assert len(p.enrollments["create"]) == 3


def test_R4_rejected_records_are_accounted_for_as_skipped():
    snap = snapshot(users=[user("t1", "teacher")])
    snap.rejected.append(Rejected("users", None, "sourcedId", "A user record has no sourcedId."))
    p = run(FakeStore(), snap)
    assert p.counts["user"]["skipped"] == 1 and p.counts["user"]["fetched"] == 2
    assert p.issues[0].rule == "R4" and p.issues[0].field == "sourcedId"


def test_R4_held_user_that_loses_a_required_field_is_stale_not_removed():
    store = FakeStore()
    run(store, snapshot(users=[user("t1", "teacher")]))
    p = run(store, snapshot(users=[user("t1", "teacher", family=None)]))
    assert p.is_empty()
    issue = _issue(p, "t1")
    assert issue.stale and issue.field == "familyName"
    assert p.counts["user"]["stale"] == 1
