"""The emulator's data faults that completeness must not be fooled by (SPEC §1 paging, R4, R9):
a repeated sourcedId, junk entries (non-objects) counted by X-Total-Count, and a delete-and-insert
shift that keeps the total steady."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from classlink_local.emulator.faults import Faults, parse_faults
from classlink_sync.oneroster.auth import OAuth1Auth

pytestmark = pytest.mark.integration


def get(emulator: Any, path: str, **params: Any) -> httpx.Response:
    auth = OAuth1Auth(emulator.client_id, emulator.client_secret)
    return httpx.get(emulator.base_url + path, params=params, auth=auth, timeout=10)


def listing(emulator: Any, path: str, limit: int) -> tuple[list[Any], set[int]]:
    """Every entry of a collection, page by page, and the X-Total-Count values seen."""
    entries: list[Any] = []
    totals: set[int] = set()
    offset = 0
    while True:
        resp = get(emulator, path, limit=limit, offset=offset)
        totals.add(int(resp.headers["X-Total-Count"]))
        page = next(iter(resp.json().values()))
        if not page:
            return entries, totals
        entries.extend(page)
        offset += len(page)


def test_R4_duplicate_fault_lists_a_sourced_id_twice_and_counts_it(emulator_factory: Any) -> None:
    emulator = emulator_factory(users=60, faults="duplicate:first=1,path=/users")
    users = emulator.dataset.users
    entries, totals = listing(emulator, "/users", 25)
    ids = [e["sourcedId"] for e in entries]
    assert totals == {len(users) + 1} and len(ids) == len(users) + 1
    (repeated,) = {i for i in ids if ids.count(i) > 1}
    assert ids.count(repeated) == 2 and set(ids) == set(users.ids())
    assert get(emulator, f"/users/{repeated}").json()["user"]["sourcedId"] == repeated  # by id: one record
    filtered = get(emulator, "/users", filter="role='student'", limit=1000).json()["users"]
    assert len({u["sourcedId"] for u in filtered}) == len(filtered)  # filtered listings are left alone


def test_R4_junk_fault_serves_non_objects_counted_by_the_total(emulator_factory: Any) -> None:
    emulator = emulator_factory(users=60, faults="junk:first=1,path=/users,count=4")
    users = emulator.dataset.users
    entries, totals = listing(emulator, "/users", 25)
    junk = [e for e in entries if not isinstance(e, dict)]
    assert totals == {len(users) + 4} and len(junk) == 4
    assert {type(j).__name__ for j in junk} == {"str", "int", "NoneType", "list"}
    fields = get(emulator, "/users", fields="sourcedId", limit=1000).json()["users"]
    assert len(fields) == len(users) + 4  # a projection lists the junk too


def test_R9_replace_shift_deletes_an_already_served_record_and_appends_one(emulator_factory: Any) -> None:
    emulator = emulator_factory(users=100, faults="shift:after=1,limit=1,path=/users,mode=replace")
    before = list(emulator.dataset.users.ids())
    first = get(emulator, "/users", limit=30, offset=0)
    second = get(emulator, "/users", limit=30, offset=30)
    after = list(emulator.dataset.users.ids())
    assert first.headers["X-Total-Count"] == second.headers["X-Total-Count"] == str(len(before))
    (deleted,) = set(before) - set(after)
    assert before.index(deleted) < 30  # from the page already served
    assert after[-1] not in before and after[:-1] == [i for i in before if i != deleted]
    # the record at the boundary slid onto the first page: the second page starts one later
    assert second.json()["users"][0]["sourcedId"] == before[31]
    assert get(emulator, f"/users/{deleted}").status_code == 404
    assert get(emulator, f"/users/{before[30]}").status_code == 200  # never listed, still there


def test_fault_spec_after_count_and_replace() -> None:
    rules = parse_faults("shift:after=2,limit=1,mode=replace;duplicate:count=2;junk:first=1,count=3")
    assert [r.kind for r in rules] == ["shift", "duplicate", "junk"]
    assert (rules[0].after, rules[0].mode, rules[1].count, rules[2].count) == (2, "replace", 2, 3)
    faults = Faults()
    faults.add("5xx", after=2, limit=1)
    assert [bool(faults.decide("/users")) for _ in range(4)] == [False, False, True, False]
    with pytest.raises(ValueError):
        parse_faults("junk:count=0")


def test_junk_entries_are_valid_json(emulator_factory: Any) -> None:
    emulator = emulator_factory(users=10, faults="junk:first=1,count=5")
    body = get(emulator, "/users", limit=1000).content
    assert len(json.loads(body)["users"]) == len(emulator.dataset.users) + 5
