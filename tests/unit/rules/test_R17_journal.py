"""R17 (pure): the journal of a run (the before-state of every record its plan changes, built from
the plan and the holdings before anything is written) and the inverse plan, on the in-memory store.
R5: a username is given back only when free or already the account's own; R9: what a run created is
deactivated or archived, never destroyed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from classlink_sync.rules.holdings import Reservation
from classlink_sync.rules.journal import (
    Journal,
    held_from_row,
    held_row,
    inverse_plan,
    journal_of,
    names_to_restore,
    record_key,
)
from classlink_sync.rules.planner import plan as make_plan
from tests.unit.rules.fakes import (
    DISTRICT,
    TENANT,
    TODAY,
    FakeStore,
    class_with_teacher,
    settings,
    snapshot,
)


def district(title: str = "Spanish 1", students: int = 2, **user_changes: dict[str, Any]):
    users, c, enr = class_with_teacher(0, title, students=students)
    users = [replace(u, **user_changes.get(u.sourced_id, {})) for u in users]
    return snapshot(users=users, classes=[c], enrollments=enr)


def journaled_run(store: FakeStore, snap, run_id: str = "r1") -> Journal:
    """Plan, journal (before anything is written), apply: what the sync does."""
    holdings = store.holdings(snap)
    plan = make_plan(snap, holdings, settings(), today=TODAY)
    journal = journal_of(plan, holdings, run_id=run_id)
    store.apply(plan)
    return journal


def undo(store: FakeStore, journal: Journal, snap=None):
    holdings = store.holdings(snap or snapshot(users=[], classes=[], enrollments=[]))
    holdings.reservations = dict(store.reservations(names_to_restore(journal, holdings)))
    plan, issues = inverse_plan(journal, holdings, tenant_id=TENANT, today=TODAY)
    store.apply(plan)
    return plan, issues


def state(store: FakeStore) -> dict[str, Any]:
    return {
        "accounts": {k: v.as_held() for k, v in store.accounts.items() if v.district_id == DISTRICT},
        "classes": {k: v.as_held() for k, v in store.classes.items()},
        "enrollments": {k: v.as_held() for k, v in store.enrollments.items()},
        "schools": {k: v.as_held() for k, v in store.schools.items()},
        "reservations": dict(store.table),
    }


def test_R17_the_journal_holds_every_changed_record_and_none_for_those_the_run_creates() -> None:
    store = FakeStore()
    first = journaled_run(store, district())
    assert len(first.before["accounts"]) == 3 and set(first.before["accounts"].values()) == {None}
    assert len(first.before["enrollments"]) == 3 and len(first.before["classes"]) == 1
    held_class = next(iter(store.classes.values())).as_held()
    second = journaled_run(store, district("French 1"), "r2")
    assert second.before["classes"] == {held_class.class_id: held_class}  # the state before the run
    assert second.before["accounts"] == {} and second.before["enrollments"] == {}  # unchanged: not journaled
    assert second.keys() == {("classes", held_class.class_id)}


def test_R17_undo_returns_every_record_to_its_state_before_the_run() -> None:
    store = FakeStore()
    journaled_run(store, district())
    before = state(store)
    changes = {"s0-0": {"family_name": "Curie"}, "s0-1": {"username": "ExampleISD-renamed"}}
    journal = journaled_run(store, district("French 1", **changes), "r2")
    assert state(store) != before
    plan, issues = undo(store, journal)
    assert issues == [] and state(store) == before
    assert plan.counts["user"] == {"update": 2} and plan.counts["class"] == {"update": 1}
    [move] = plan.reservations["move"]
    assert (move.username_norm, move.previous_norm) == ("exampleisd-s0-1", "exampleisd-renamed")
    again, _ = undo(store, journal)  # against what we hold now: nothing left to change
    assert again.is_empty() and again.counts["user"] == {"unchanged": 2}


def test_R17_R9_what_the_run_created_is_deactivated_and_archived_not_destroyed() -> None:
    store = FakeStore()
    journaled_run(store, district(students=1))
    journal = journaled_run(store, district(students=3), "r2")
    plan, _ = undo(store, journal)
    created = {"s0-1", "s0-2"}
    assert {a.sourced_id for a in plan.accounts["deactivate"]} == created
    assert all(not a.active for a in plan.accounts["deactivate"])
    assert len(plan.enrollments["archive"]) == 2 and all(e.archived for e in plan.enrollments["archive"])
    kept = {a.sourced_id: a for a in store.accounts.values()}
    assert not kept["s0-1"].active and kept["s0-0"].active  # still there, with their reservations (R5)
    assert {r.account_id for r in store.table.values()} >= {kept["s0-1"].account_id, kept["s0-2"].account_id}


def test_R17_R5_a_username_now_held_by_another_district_is_reported_and_that_account_left_as_is() -> None:
    store = FakeStore()
    journaled_run(store, district())
    changes = {"s0-1": {"username": "ExampleISD-renamed"}, "s0-0": {"family_name": "Curie"}}
    journal = journaled_run(store, district(**changes), "r2")
    store.add_account("other", "ExampleISD-s0-1", district_id="d-other")  # the freed name, taken elsewhere
    plan, issues = undo(store, journal)
    [issue] = issues
    assert (issue.rule, issue.entity, issue.sourced_id, issue.field) == ("R5", "user", "s0-1", "username")
    assert "another district's account" in issue.message and issue in plan.issues
    assert plan.reservations["move"] == [] and plan.counts["user"] == {"skipped": 1, "update": 1}
    accounts = {a.sourced_id: a for a in store.accounts.values()}
    assert accounts["s0-1"].username == "ExampleISD-renamed"  # left as it is
    assert accounts["s0-0"].family_name == "Lovelace"  # the rest is undone
    assert store.table["exampleisd-s0-1"] == Reservation("exampleisd-s0-1", "other", "d-other")


def test_R17_R5_a_username_still_the_accounts_own_is_given_back() -> None:
    store = FakeStore()
    journaled_run(store, district())
    journal = journaled_run(store, district(**{"s0-1": {"username": "ExampleISD-renamed"}}), "r2")
    account = next(a for a in store.accounts.values() if a.sourced_id == "s0-1")
    holdings = store.holdings(snapshot(users=[], classes=[], enrollments=[]))
    own = Reservation("exampleisd-s0-1", account.account_id, DISTRICT)  # e.g. a move half-done by hand
    plan, issues = inverse_plan(journal, holdings, tenant_id=TENANT, today=TODAY, reservations={"exampleisd-s0-1": own})
    assert issues == [] and len(plan.reservations["move"]) == 1


def test_R17_held_items_round_trip_through_journal_rows() -> None:
    store = FakeStore()
    journaled_run(store, district())
    for entity, items in (("accounts", store.accounts), ("classes", store.classes)):
        for item in items.values():
            held = item.as_held()
            assert held_from_row(entity, held_row(held)) == held
            assert record_key(entity, held) == record_key(entity, item)
    assert held_row(None) is None and held_from_row("schools", None) is None


def test_R17_a_journal_undoes_only_its_own_district() -> None:
    store = FakeStore()
    journal = journaled_run(store, district())
    holdings = store.holdings(snapshot(users=[], classes=[], enrollments=[]), "d-other")
    with pytest.raises(ValueError, match="R17"):
        inverse_plan(journal, holdings, tenant_id=TENANT, today=TODAY)
