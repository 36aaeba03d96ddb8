"""R11: a district replacing its sourcedIds keeps its accounts, classes and enrolments (relinked)."""

from tests.unit.rules.fakes import FakeStore, class_with_teacher, enrol, klass, run, snapshot, user


def _district(prefix="", n=7):
    users, classes, enr = [], [], []
    for i in range(n):
        t = user(f"{prefix}t{i}", "teacher", username=f"teacher{i}@school.org")
        kids = [user(f"{prefix}s{i}-{k}", username=f"student{i}-{k}@school.org") for k in range(3)]
        c = klass(f"{prefix}c{i}", f"Spanish {i}")
        users += [t, *kids]
        classes.append(c)
        enr.append(enrol(f"{prefix}e{i}-t", t.sourced_id, c.sourced_id, "teacher"))
        enr += [enrol(f"{prefix}e{i}-{k}", kid.sourced_id, c.sourced_id) for k, kid in enumerate(kids)]
    return users, classes, enr


def test_R11_replacing_all_sourced_ids_relinks_users_classes_and_enrolments():
    store = FakeStore()
    users, classes, enr = _district()
    first = run(store, snapshot(users=users, classes=classes, enrollments=enr))
    ids_before = {a.username: a.account_id for a in first.accounts["create"]}
    classes_before = {c.title: c.class_id for c in first.classes["create"]}

    users2, classes2, enr2 = _district(prefix="new-")
    p = run(store, snapshot(users=users2, classes=classes2, enrollments=enr2), apply=False)
    assert len(p.accounts["relink"]) == 28 and len(p.classes["relink"]) == 7 and len(p.enrollments["relink"]) == 28
    assert not p.accounts["deactivate"] and not p.classes["archive"] and not p.enrollments["archive"]
    assert not p.accounts["create"] and not p.classes["create"] and not p.enrollments["create"]
    assert {a.username: a.account_id for a in p.accounts["relink"]} == ids_before
    assert {c.title: c.class_id for c in p.classes["relink"]} == classes_before
    assert all(a.sourced_id.startswith("new-") for a in p.accounts["relink"])
    assert p.counts["user"]["relink"] == 28
    # An unannounced replacement is a mass change: held for review until staff approve (R10).
    assert p.guard.tripped
    approved = run(store, snapshot(users=users2, classes=classes2, enrollments=enr2), waive_guard=True)
    assert not approved.guard.tripped
    again = run(store, snapshot(users=users2, classes=classes2, enrollments=enr2))
    assert again.is_empty()


def test_R11_user_relinked_by_email_when_username_also_changed():
    store = FakeStore()
    run(store, snapshot(users=[user("t1", "teacher", username="12345", email="pat@school.org")]))
    acct = store.account_by_sourced_id("t1")
    p = run(store, snapshot(users=[user("T-9", "teacher", username="ExampleISD-12345", email="PAT@school.org")]))
    [relinked] = p.accounts["relink"]
    assert relinked.account_id == acct.account_id and relinked.sourced_id == "T-9"
    assert [r.previous_norm for r in p.reservations["move"]] == ["12345"]


def test_R11_not_after_an_incomplete_fetch():
    store = FakeStore()
    run(store, snapshot(users=[user("t1", "teacher", username="pat")]))
    p = run(store, snapshot(users=[user("t2", "teacher", username="pat")], complete=False))
    assert not p.accounts["relink"] and not p.accounts["create"] and not p.accounts["deactivate"]
    assert [i.rule for i in p.issues] == ["R5"]


def test_R11_class_with_changed_title_is_not_relinked():
    store = FakeStore()
    members, c, enr = class_with_teacher(1)
    run(store, snapshot(users=members, classes=[c], enrollments=enr))
    c2 = klass("c-new", "Spanish 1 Honors")
    enr2 = [enrol(f"n{e.sourced_id}", e.user_id, "c-new", e.role) for e in enr]
    p = run(store, snapshot(users=members, classes=[c2], enrollments=enr2))
    assert len(p.classes["create"]) == 1 and len(p.classes["archive"]) == 1


def test_R11_identical_classes_are_paired_by_class_code_or_reported():
    store = FakeStore()
    t = user("t1", "teacher")
    old = [klass("a", "French 1", code="P1"), klass("b", "French 1", code="P2")]
    enr = [enrol("ea", "t1", "a", "teacher"), enrol("eb", "t1", "b", "teacher")]
    first = run(store, snapshot(users=[t], classes=old, enrollments=enr))
    ids = {c.class_code: c.class_id for c in first.classes["create"]}
    new = [klass("x", "French 1", code="P2"), klass("y", "French 1", code="P1")]
    enr2 = [enrol("ex", "t1", "x", "teacher"), enrol("ey", "t1", "y", "teacher")]
    p = run(store, snapshot(users=[t], classes=new, enrollments=enr2), apply=False)
    assert {c.class_code: c.class_id for c in p.classes["relink"]} == ids
    no_codes = [klass("x", "French 1"), klass("y", "French 1")]
    p = run(store, snapshot(users=[t], classes=no_codes, enrollments=enr2), apply=False)
    assert len(p.classes["create"]) == 2 and {i.rule for i in p.issues} == {"R11"}
