"""R5: usernames are unique platform-wide after NFKC, case-folding and trimming; never merged."""

from classlink_sync.rules.holdings import Reservation
from classlink_sync.rules.normalise import normalise
from tests.unit.rules.fakes import FakeStore, no_account_changes, run, snapshot, user


def test_R5_normalisation_matches_case_width_and_combining_accents():
    assert normalise("  JSmith ") == normalise("jsmith")
    assert normalise("José") == normalise("Jose\u0301")  # composed vs combining accent
    assert normalise("\uff2a\uff33\uff2d\uff29\uff34\uff28") == "jsmith"  # full-width (NFKC)
    assert normalise("Jose") != normalise("José")
    assert normalise("   ") is None


def test_R5_two_users_differing_only_in_case_get_one_account():
    p = run(
        FakeStore(),
        snapshot(users=[user("t1", "teacher", username="JSmith"), user("t2", "teacher", username="jsmith")]),
    )
    assert [a.sourced_id for a in p.accounts["create"]] == ["t1"]
    [issue] = p.issues
    assert (issue.rule, issue.sourced_id, issue.field) == ("R5", "t2", "username")
    assert "t1" in issue.message and "ExampleISD-12345" in issue.message


def test_R5_combining_accent_collides_with_composed_username():
    p = run(
        FakeStore(),
        snapshot(
            users=[
                user("t1", "teacher", username="josé.garcia"),
                user("t2", "teacher", username="jose\u0301.garcia"),
            ]
        ),
    )
    assert len(p.accounts["create"]) == 1
    assert [i.sourced_id for i in p.issues if i.rule == "R5"] == ["t2"]


def test_R5_username_held_by_another_district_is_a_conflict_never_merged():
    store = FakeStore()
    store.add_account("other-1", "12345", district_id="d-other", role="teacher")
    p = run(store, snapshot(users=[user("t1", "teacher", username="12345")]))
    assert no_account_changes(p)
    [issue] = p.issues
    assert issue.rule == "R5" and "another district" in issue.message
    assert "school email addresses" in issue.message and "ExampleISD-12345" in issue.message
    assert store.accounts["other-1"].district_id == "d-other" and store.accounts["other-1"].sourced_id is None


def test_R5_new_account_reserves_its_username():
    store = FakeStore()
    p = run(store, snapshot(users=[user("t1", "teacher", username="Ms.Smith")]))
    [res] = p.reservations["add"]
    assert res.username_norm == "ms.smith" and res.account_id == p.accounts["create"][0].account_id
    assert store.table["ms.smith"].account_id == res.account_id


def test_R5_rename_moves_the_reservation():
    store = FakeStore()
    run(store, snapshot(users=[user("t1", "teacher", username="msmith")]))
    p = run(store, snapshot(users=[user("t1", "teacher", username="ExampleISD-msmith")]))
    [moved] = p.reservations["move"]
    assert (moved.previous_norm, moved.username_norm) == ("msmith", "exampleisd-msmith")
    assert p.accounts["update"][0].username == "ExampleISD-msmith"
    assert "msmith" not in store.table and "exampleisd-msmith" in store.table


def test_R5_rename_onto_a_taken_name_keeps_the_old_username_and_reports_it():
    store = FakeStore()
    store.add_account("other-1", "taken", district_id="d-other")
    run(store, snapshot(users=[user("t1", "teacher", username="mine")]))
    p = run(store, snapshot(users=[user("t1", "teacher", username="TAKEN")]))
    assert not p.reservations["move"]
    assert p.is_empty()  # nothing else changed: the account keeps its last good state
    [issue] = p.issues
    assert issue.rule == "R5" and issue.stale and "keeps its username 'mine'" in issue.message
    assert p.counts["user"]["stale"] == 1
    # Another field changes too: it is updated, still with the old username.
    p2 = run(store, snapshot(users=[user("t1", "teacher", username="TAKEN", given="Grace")]))
    [updated] = p2.accounts["update"]
    assert (updated.username, updated.given_name) == ("mine", "Grace")


def test_R5_a_reservation_left_by_an_interrupted_apply_is_adopted_not_reported():
    """An apply stopped after writing reservations but before the accounts leaves this district's
    reservation with no account; the rerun creates the account under that id (no conflict)."""
    interrupted = FakeStore()
    first = run(interrupted, snapshot(users=[user("t1", "teacher", username="Ms.Smith")]), apply=False)
    [created] = first.accounts["create"]
    [reserved] = first.reservations["add"]
    interrupted.table[reserved.username_norm] = Reservation(
        reserved.username_norm, reserved.account_id, reserved.district_id
    )
    again = run(interrupted, snapshot(users=[user("t1", "teacher", username="Ms.Smith")]))
    assert [i for i in again.issues if i.rule == "R5"] == []
    assert [a.account_id for a in again.accounts["create"]] == [created.account_id]
    assert interrupted.table["ms.smith"].account_id == created.account_id


def test_R5_another_districts_reservation_without_an_account_is_still_a_conflict():
    store = FakeStore()
    store.table["ms.smith"] = Reservation("ms.smith", "acct-elsewhere", "d-other")
    p = run(store, snapshot(users=[user("t1", "teacher", username="Ms.Smith")]))
    assert no_account_changes(p)
    assert [i.rule for i in p.issues] == ["R5"]
