"""R9: removal is deactivation/archiving, only on its triggers; stale records keep their last state."""

from tests.unit.rules.fakes import (
    FakeStore,
    class_with_teacher,
    course,
    enrol,
    klass,
    run,
    snapshot,
    user,
)


def _district(n=2):
    users, classes, enr = [], [], []
    for i in range(n):
        m, c, e = class_with_teacher(i)
        users += m
        classes.append(c)
        enr += e
    return users, classes, enr


def test_R9_absence_from_a_complete_fetch_deactivates_and_archives():
    store = FakeStore()
    users, classes, enr = _district()
    run(store, snapshot(users=users, classes=classes, enrollments=enr))
    # Class c1, its teacher and its students are no longer shared.
    keep = [u for u in users if u.sourced_id in {"t0", "s0-0", "s0-1"}]
    p = run(store, snapshot(users=keep, classes=classes[:1], enrollments=[e for e in enr if e.class_id == "c0"]))
    assert sorted(a.sourced_id for a in p.accounts["deactivate"]) == ["s1-0", "s1-1", "t1"]
    assert all(not a.active for a in p.accounts["deactivate"])
    assert [c.sourced_id for c in p.classes["archive"]] == ["c1"] and p.classes["archive"][0].archived
    assert len(p.enrollments["archive"]) == 3
    assert store.account_by_sourced_id("t1") is not None  # nothing destroyed
    assert p.counts["user"]["absent"] == 3


def test_R9_nothing_is_removed_after_an_incomplete_fetch():
    store = FakeStore()
    users, classes, enr = _district()
    run(store, snapshot(users=users, classes=classes, enrollments=enr))
    snap = snapshot(users=users[:1], classes=[], enrollments=[], complete=False)
    p = run(store, snap)
    assert not p.fetch_complete and p.incomplete_reasons
    assert not p.accounts["deactivate"] and not p.classes["archive"] and not p.enrollments["archive"]
    assert p.counts["user"]["withheld"] == 5 and p.counts["class"]["withheld"] == 2
    # A tobedeleted record is not removed either while the fetch is incomplete.
    p = run(store, snapshot(users=[user("t0", "teacher", status="tobedeleted")], complete=False))
    assert not p.accounts["deactivate"]


def test_R9_tobedeleted_removes():
    store = FakeStore()
    users, classes, enr = _district(1)
    run(store, snapshot(users=users, classes=classes, enrollments=enr))
    gone = [
        enrol(e.sourced_id, e.user_id, e.class_id, e.role, status="tobedeleted") if e.user_id == "s0-1" else e
        for e in enr
    ]
    p = run(store, snapshot(users=users, classes=classes, enrollments=gone))
    assert [e.user_sourced_id for e in p.enrollments["archive"]] == ["s0-1"]
    assert [a.sourced_id for a in p.accounts["deactivate"]] == ["s0-1"]  # left without synced classes
    c = klass("c0", status="tobedeleted")
    p = run(store, snapshot(users=users, classes=[c], enrollments=gone))
    assert [x.sourced_id for x in p.classes["archive"]] == ["c0"]


def test_R9_enrolment_whose_end_date_has_passed_is_archived():
    store = FakeStore()
    users, classes, enr = _district(1)
    run(store, snapshot(users=users, classes=classes, enrollments=enr))
    ended = [
        enrol(e.sourced_id, e.user_id, e.class_id, e.role, end="2026-03-01") if e.user_id == "s0-0" else e for e in enr
    ]
    p = run(store, snapshot(users=users, classes=classes, enrollments=ended), today="2026-03-02")
    assert [e.user_sourced_id for e in p.enrollments["archive"]] == ["s0-0"]
    # Ending today is not yet ended.
    store2 = FakeStore()
    today = [enrol(e.sourced_id, e.user_id, e.class_id, e.role, end="2026-03-02") for e in enr]
    p = run(store2, snapshot(users=users, classes=classes, enrollments=today), today="2026-03-02")
    assert len(p.enrollments["create"]) == 3


def test_R9_class_renamed_so_it_loses_its_subject_is_stale_not_archived():
    store = FakeStore()
    users, classes, enr = _district(1)
    run(store, snapshot(users=users, classes=classes, enrollments=enr))
    renamed = [klass("c0", "Homeroom 7B")]
    p = run(store, snapshot(users=users, classes=renamed, enrollments=enr))
    assert p.is_empty()
    [issue] = p.issues
    assert (issue.rule, issue.sourced_id, issue.stale) == ("R7", "c0", True)
    assert "keeps the last good version" in issue.message
    assert p.counts["class"]["stale"] == 1 and p.counts["enrollment"]["stale"] == 3
    assert store.class_by_sourced_id("c0").title == "Spanish 1"  # last good state


def test_R9_shared_again_comes_back_with_its_history():
    store = FakeStore()
    users, classes, enr = _district(1)
    first = run(store, snapshot(users=users, classes=classes, enrollments=enr))
    run(store, snapshot(users=[], classes=[], enrollments=[]))
    p = run(store, snapshot(users=users, classes=classes, enrollments=enr))
    assert {a.account_id for a in p.accounts["reactivate"]} == {a.account_id for a in first.accounts["create"]}
    assert [c.class_id for c in p.classes["restore"]] == [first.classes["create"][0].class_id]
    assert len(p.enrollments["restore"]) == 3


def test_R9_course_renamed_stale_class_via_course():
    store = FakeStore()
    users, _classes, enr = _district(1)
    c = klass("c0", "Period 2", course="k1")
    run(store, snapshot(users=users, classes=[c], enrollments=enr, courses=[course("k1", "Spanish")]))
    p = run(store, snapshot(users=users, classes=[c], enrollments=enr, courses=[course("k1", "Study hall")]))
    assert p.is_empty() and [i.stale for i in p.issues] == [True]
