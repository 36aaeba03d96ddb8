"""R3: who and what is in scope (teachers always, students with a synced class, licensed schools)."""

from tests.unit.rules.fakes import (
    FakeStore,
    class_with_teacher,
    klass,
    org,
    run,
    settings,
    snapshot,
    user,
)


def test_R3_teacher_without_classes_is_synced():
    store = FakeStore()
    p = run(store, snapshot(users=[user("t1", "teacher")]))
    [created] = p.accounts["create"]
    assert (created.sourced_id, created.role, created.active) == ("t1", "teacher", True)
    assert p.counts["user"]["create"] == 1


def test_R3_student_without_classes_is_ignored_and_counted():
    store = FakeStore()
    members, c, enr = class_with_teacher(1, students=1)
    p = run(store, snapshot(users=[*members, user("s-lonely")], classes=[c], enrollments=enr))
    assert {a.sourced_id for a in p.accounts["create"]} == {"t1", "s1-0"}
    assert p.counts["user"]["ignored"] == 1
    assert not [i for i in p.issues if i.sourced_id == "s-lonely"]


def test_R3_aide_and_administrator_are_ignored_and_counted():
    store = FakeStore()
    p = run(store, snapshot(users=[user("a1", "aide"), user("x1", "administrator"), user("t1", "teacher")]))
    assert [a.sourced_id for a in p.accounts["create"]] == ["t1"]
    assert p.counts["user"]["ignored"] == 2


def test_R3_disabled_user_is_synced_as_inactive_account():
    store = FakeStore()
    p = run(store, snapshot(users=[user("t1", "teacher", enabled=False)]))
    [created] = p.accounts["create"]
    assert created.active is False and created.enabled is False
    # Enabled again in ClassLink: the account comes back.
    p2 = run(store, snapshot(users=[user("t1", "teacher", enabled=True)]))
    assert [a.active for a in p2.accounts["reactivate"]] == [True]


def test_R3_unlicensed_school_data_is_ignored_and_counted():
    store = FakeStore()
    members1, c1, enr1 = class_with_teacher(1, school="sch1")
    members2, c2, enr2 = class_with_teacher(2, school="sch2")
    snap = snapshot(
        orgs=[org("sch1"), org("sch2", "Other High"), org("dist", "District", type="district")],
        users=members1 + members2,
        classes=[c1, c2],
        enrollments=enr1 + enr2,
    )
    p = run(store, snap, settings(licensed={"sch1"}))
    assert {a.sourced_id for a in p.accounts["create"]} == {u.sourced_id for u in members1}
    assert [c.sourced_id for c in p.classes["create"]] == ["c1"]
    assert [s.sourced_id for s in p.schools["create"]] == ["sch1"]
    assert p.counts["user"]["ignored"] == 3
    assert p.counts["class"]["ignored"] == 1
    assert p.counts["enrollment"]["ignored"] == 3
    assert p.counts["org"]["ignored"] == 2  # the unlicensed school and the district org
    assert not p.issues


def test_R3_student_left_without_synced_classes_is_deactivated():
    store = FakeStore()
    members, c, enr = class_with_teacher(1, students=1)
    run(store, snapshot(users=members, classes=[c], enrollments=enr))
    p = run(store, snapshot(users=members, classes=[c], enrollments=enr[:1]))  # student unenrolled
    assert [a.sourced_id for a in p.accounts["deactivate"]] == ["s1-0"]
    assert [e.user_sourced_id for e in p.enrollments["archive"]] == ["s1-0"]


def test_R3_role_no_longer_teacher_or_student_leaves_scope():
    store = FakeStore()
    run(store, snapshot(users=[user("t1", "teacher")]))
    p = run(store, snapshot(users=[user("t1", "aide")]))
    [gone] = p.accounts["deactivate"]
    assert gone.sourced_id == "t1" and gone.active is False


def test_R3_school_no_longer_licensed_archives_its_classes():
    store = FakeStore()
    members, c, enr = class_with_teacher(1)
    snap = snapshot(users=members, classes=[c], enrollments=enr)
    run(store, snap, settings(licensed={"sch1"}))
    p = run(store, snap, settings(licensed={"sch9"}))
    assert [x.sourced_id for x in p.classes["archive"]] == ["c1"]
    assert len(p.enrollments["archive"]) == 3
    assert len(p.accounts["deactivate"]) == 3
    assert [s.sourced_id for s in p.schools["archive"]] == ["sch1"]
    assert klass("c1").title == "Spanish 1"
