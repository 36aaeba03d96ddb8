"""R6 (and R2): existing unlinked accounts of the same district are linked by username, else email."""

from tests.unit.rules.fakes import DISTRICT, FakeStore, enrol, klass, no_account_changes, run, snapshot, user


def test_R6_links_by_username_case_insensitively_and_merges():
    store = FakeStore()
    store.add_account("acc-1", "MSmith", role="teacher", given_name="Old")
    p = run(store, snapshot(users=[user("t1", "teacher", username="msmith", given="Mary")]))
    [linked] = p.accounts["link"]
    assert linked.account_id == "acc-1" and linked.sourced_id == "t1" and linked.given_name == "Mary"
    assert linked.username == "msmith" and linked.managed
    assert not p.accounts["create"] and not p.reservations["add"]
    assert run(store, snapshot(users=[user("t1", "teacher", username="msmith", given="Mary")])).is_empty()


def test_R6_links_by_email_when_no_username_matches_and_moves_the_reservation():
    store = FakeStore()
    store.add_account("acc-1", "mary123", email="Mary.Smith@school.org", role="teacher")
    p = run(store, snapshot(users=[user("t1", "teacher", username="msmith", email="mary.smith@SCHOOL.org")]))
    [linked] = p.accounts["link"]
    assert linked.account_id == "acc-1"
    [moved] = p.reservations["move"]
    assert (moved.previous_norm, moved.username_norm) == ("mary123", "msmith")


def test_R6_no_candidate_creates_an_account():
    store = FakeStore()
    store.add_account("acc-1", "someone-else", role="teacher")
    p = run(store, snapshot(users=[user("t1", "teacher")]))
    assert len(p.accounts["create"]) == 1 and not p.accounts["link"]
    assert p.recommended_for_removal == ["acc-1"]


def test_R6_two_unlinked_accounts_matching_one_user_are_reported_not_linked():
    store = FakeStore()
    store.add_account("acc-1", "mary1", email="mary@school.org", role="teacher")
    store.add_account("acc-2", "mary2", email="MARY@school.org", role="teacher")
    p = run(store, snapshot(users=[user("t1", "teacher", username="msmith", email="mary@school.org")]))
    assert no_account_changes(p)
    [issue] = p.issues
    assert issue.rule == "R6" and issue.field == "email" and "2 existing" in issue.message
    assert p.recommended_for_removal == ["acc-1", "acc-2"]


def test_R6_teacher_student_role_change_is_reported_not_linked():
    store = FakeStore()
    store.add_account("acc-1", "msmith", role="student")
    p = run(store, snapshot(users=[user("t1", "teacher", username="msmith")]))
    assert no_account_changes(p)
    assert [(i.rule, i.field) for i in p.issues] == [("R6", "role")]


def test_R6_never_links_across_districts():
    store = FakeStore()
    store.add_account("acc-x", "pat", email="pat@school.org", district_id="d-other", role="teacher")
    p = run(store, snapshot(users=[user("t1", "teacher", username="pat2", email="pat@school.org")]))
    assert [a.account_id for a in p.accounts["create"]] != ["acc-x"] and not p.accounts["link"]
    assert store.accounts["acc-x"].sourced_id is None


def test_R6_accounts_classlink_does_not_mention_stay_unchanged_and_are_recommended():
    store = FakeStore()
    store.add_account("acc-9", "old-student")
    p = run(store, snapshot(users=[user("t1", "teacher")]))
    assert p.recommended_for_removal == ["acc-9"] and p.counts["user"]["recommended_for_removal"] == 1
    assert store.accounts["acc-9"].active and store.accounts["acc-9"].sourced_id is None


def test_R2_reset_accounts_come_back_through_linking():
    store = FakeStore()
    # The reset (R2) deactivated the district's accounts before the first sync.
    store.add_account("acc-1", "msmith", role="teacher", active=False)
    store.add_account("acc-2", "gone", role="student", active=False)
    p = run(store, snapshot(users=[user("t1", "teacher", username="msmith")]))
    [linked] = p.accounts["link"]
    assert linked.account_id == "acc-1" and linked.active is True
    assert p.recommended_for_removal == ["acc-2"]
    assert store.accounts["acc-2"].active is False and store.accounts["acc-1"].district_id == DISTRICT


def test_R6_an_account_two_users_match_is_linked_to_neither_whoever_comes_first():
    store = FakeStore()
    store.add_account("acc-1", "old-name", email="kim@school.org", role="student")
    # A teacher (refused: role change) and a student both match acc-1 by email.
    users = [
        user("t1", "teacher", username="kim.t", email="kim@school.org"),
        user("s1", "student", username="kim.s", email="KIM@school.org"),
    ]
    users.append(user("t2", "teacher"))
    enr = [enrol("e1", "t2", "c1", "teacher"), enrol("e2", "s1", "c1")]
    snap = snapshot(users=users, classes=[klass("c1")], enrollments=enr)
    p = run(store, snap)
    assert not p.accounts["link"]
    assert {(i.rule, i.sourced_id) for i in p.issues} == {("R6", "t1"), ("R6", "s1")}
    assert "so does ClassLink user t1" in next(i.message for i in p.issues if i.sourced_id == "s1")
    assert run(store, snap).is_empty()
