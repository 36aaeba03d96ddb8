"""The client against the emulator's data faults (SPEC §1 paging, R4, R9): duplicates and junk
entries are issues, not incompleteness; a delete-and-insert shift that keeps the total steady is
caught by proven absence."""

from __future__ import annotations

import pytest

from classlink_sync.oneroster.auth import OAuth1Auth
from classlink_sync.oneroster.client import OneRosterClient

pytestmark = pytest.mark.integration


def client_for(emulator, **options) -> OneRosterClient:
    options.setdefault("sleep", lambda seconds: None)
    return OneRosterClient(emulator.base_url, OAuth1Auth(emulator.client_id, emulator.client_secret), **options)


def test_R4_duplicate_and_junk_entries_are_issues_not_incompleteness(emulator_factory) -> None:
    emulator = emulator_factory(
        users=120, max_limit=25, faults="duplicate:first=1,path=/users,count=2;junk:first=1,path=/users,count=3"
    )
    with client_for(emulator, page_size=25, concurrency=2) as client:
        snapshot = client.fetch_snapshot()
    assert snapshot.complete, snapshot.incomplete_reasons
    users = emulator.dataset.users
    status = snapshot.collections["users"]
    assert status.total == len(users) + 5  # X-Total-Count counts the repeats and the junk
    duplicates = [r for r in snapshot.rejected if r.collection == "users" and r.field == "sourcedId"]
    junk = [r for r in snapshot.rejected if r.collection == "users" and r.field == "record" and r.sourced_id is None]
    assert len(duplicates) == 2 and len(junk) == 3
    for issue in duplicates:
        assert issue.sourced_id in users and issue.sourced_id not in snapshot.users
        assert f"'{issue.sourced_id}'" in issue.message and "2 times" in issue.message
    assert all("users page at offset" in r.message and "JSON" in r.message for r in junk)
    assert set(snapshot.users) == set(users.ids()) - {r.sourced_id for r in duplicates} - {
        r.sourced_id for r in snapshot.rejected if r.collection == "users"
    }


def test_R9_delete_and_insert_shift_is_caught_by_proven_absence(emulator_factory) -> None:
    # After the first page of users is served, one already-served user is deleted and a new one is
    # added at the end: X-Total-Count stays the same and every count adds up, yet the user at the
    # page boundary slides onto the page already read and is never listed.
    emulator = emulator_factory(users=300, max_limit=50, faults="shift:after=1,limit=1,path=/users,mode=replace")
    users = emulator.dataset.users
    listed_before = list(users.ids())
    with client_for(emulator, page_size=50, concurrency=1) as client:
        snapshot = client.fetch_snapshot()
        assert snapshot.complete, snapshot.incomplete_reasons  # completeness alone is fooled
        deleted = set(listed_before) - set(users.ids())
        assert len(deleted) == 1 and deleted <= set(snapshot.users)  # read before it was deleted
        rejected = {r.sourced_id for r in snapshot.rejected if r.collection == "users"}
        absent = set(listed_before) - set(snapshot.users) - rejected
        assert absent == {listed_before[50]} and absent <= set(users.ids())  # still shared
        check = client.confirm_absent("users", absent)
        gone = client.confirm_absent("users", deleted)
    assert set(check.found) == absent and not check.confirmed and not check.unconfirmed
    assert check.found[listed_before[50]].sourced_id == listed_before[50]
    assert (check.requests, check.reread) == (1, False)
    assert gone.confirmed == deleted and gone.requests == 1  # 404 unknownobject


def test_R9_many_absences_are_proven_by_one_reread(emulator_factory) -> None:
    emulator = emulator_factory(users=200, max_limit=50)
    users = emulator.dataset.users
    dropped = list(users.ids())[:60]
    emulator.dataset.drop("users", *dropped)
    with client_for(emulator, page_size=50) as client:
        check = client.confirm_absent("users", [*dropped, users.ids()[0]])
    assert check.reread and check.confirmed == set(dropped) and set(check.found) == {users.ids()[0]}
    assert check.requests == -(-len(users) // 50)  # one page request per 50 users, no lookups by id
