"""Completeness that cannot be fooled (SPEC §1 paging, R4, R9).

- Duplicates and junk: a collection read to its end (pages covering a steady X-Total-Count, raw
  records received == total) is complete even when a sourcedId repeats or an entry is not a JSON
  object; each becomes an R4 ``Rejected`` instead of making every fetch incomplete forever.
- Proven absence: a held record absent from a complete fetch is looked up by id (or, above
  ``ABSENCE_LOOKUP_LIMIT``, by re-reading the collection) before R9 may remove it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from classlink_sync.oneroster.client import ABSENCE_LOOKUP_LIMIT, RetryPolicy

from .conftest import FakeRoster, users

NOT_FOUND_IMSX = {
    "imsx_codeMajor": "failure",
    "imsx_severity": "error",
    "imsx_CodeMinor": {
        "imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": "unknownobject"}
        ]
    },
}


def by_id(answers: dict[str, Any], collection: str = "users"):
    """A FakeRoster fault that answers ``GET /{collection}/{id}`` from ``answers``: an
    ``httpx.Response``, an exception class to raise, or a record dict (sent as ``{"user": ...}``)."""

    def fault(n: int, request: httpx.Request) -> httpx.Response | None:
        head, _, sid = request.url.path.rpartition("/")
        if not head.endswith(f"/{collection}"):
            return None  # a list request: the normal answer
        answer = answers.get(sid)
        if answer is None:
            return httpx.Response(404, json=NOT_FOUND_IMSX)
        if isinstance(answer, type):
            raise answer("boom", request=request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json={"user": answer})

    return fault


def by_id_requests(server: FakeRoster, collection: str = "users") -> list[str]:
    return [s.request.url.path.rsplit("/", 1)[-1] for s in server.seen if s.collection != collection]


# -- R4: duplicates, junk and missing ids are issues, not incompleteness --------------------------


def test_R4_duplicate_sourced_id_is_an_issue_not_incompleteness(make_client) -> None:
    data = users(200)
    data[150] = dict(data[10])  # u00010 listed twice (and u00150 never sent), total steady at 200
    data.insert(20, dict(data[5]))  # u00005 twice on the same page ...
    data.pop()  # ... keeping the raw count equal to the total
    server = FakeRoster({"users": data})
    records, rejected, status = make_client(server, page_size=100).fetch_collection("users")
    assert status.complete and status.reason is None, status.reason
    # records under a duplicate id are dropped: neither created nor removed (R4)
    assert "u00010" not in records and "u00005" not in records
    duplicates = {r.sourced_id: r for r in rejected}
    assert set(duplicates) == {"u00010", "u00005"}
    issue = duplicates["u00010"]
    assert (issue.collection, issue.field) == ("users", "sourcedId")
    assert "'u00010'" in issue.message and "2 times" in issue.message and "R4" in issue.message
    assert status.total == 200 and status.received == 198  # distinct sourcedIds


def test_R4_non_object_records_are_issues_not_incompleteness(make_client) -> None:
    data: list[Any] = users(200)
    data[103] = "u00103"  # a bare string where a record should be
    data[150] = None
    data[151] = 42
    data[199] = ["nested"]
    server = FakeRoster({"users": data})
    records, rejected, status = make_client(server, page_size=100).fetch_collection("users")
    assert status.complete and status.reason is None, status.reason
    assert len(records) == 196
    assert all(r.sourced_id is None and r.field == "record" and r.collection == "users" for r in rejected)
    messages = sorted(r.message for r in rejected)
    assert len(messages) == 4
    junk = next(m for m in messages if "string" in m)
    assert "users" in junk and "offset 100" in junk and "index 3" in junk and "R4" in junk
    assert any("null" in m and "index 50" in m for m in messages)
    assert any("number" in m and "index 51" in m for m in messages)
    assert any("array" in m and "index 99" in m for m in messages)


def test_R4_records_without_sourced_id_are_issues_not_incompleteness(make_client) -> None:
    data = users(10)
    data[4] = {"username": "no-id"}
    data[5]["sourcedId"] = "  "
    _, rejected, status = make_client(FakeRoster({"users": data})).fetch_collection("users")
    assert status.complete, status.reason
    assert [(r.sourced_id, r.field) for r in rejected] == [(None, "sourcedId"), (None, "sourcedId")]


def test_R4_snapshot_with_duplicates_is_complete_and_lists_them(make_client) -> None:
    data = users(5)
    data[4] = dict(data[0])
    snapshot = make_client(
        FakeRoster({"users": data, "orgs": [], "academicSessions": [], "courses": [], "classes": [], "enrollments": []})
    ).fetch_snapshot()
    assert snapshot.complete, snapshot.incomplete_reasons
    assert "u00000" not in snapshot.users
    assert [(r.collection, r.sourced_id, r.field) for r in snapshot.rejected] == [("users", "u00000", "sourcedId")]


def test_R9_real_gaps_stay_incomplete_even_with_duplicates(make_client) -> None:
    data = users(200)
    data[150] = dict(data[10])
    server = FakeRoster({"users": data}, total_for=lambda n, real: 201)  # one record never arrives
    _, _, status = make_client(server, page_size=100).fetch_collection("users")
    assert not status.complete and "X-Total-Count is 201" in status.reason


# -- R9: proven absence --------------------------------------------------------------------------


def test_R9_delete_and_insert_shift_is_caught_by_proven_absence(make_client) -> None:
    base = users(300)
    # After the first page is served, u00010 (already read) is deleted and a new user is added at
    # the end: the total stays 300, every id count adds up, and u00100 slides onto page one.
    shifted = [u for u in base if u["sourcedId"] != "u00010"] + users(1, prefix="new")
    answers = {u["sourcedId"]: u for u in shifted}
    fault = by_id(answers)
    server = FakeRoster({"users": lambda n: base if n == 0 else shifted}, fault=fault)
    client = make_client(server, page_size=100, concurrency=1)
    records, rejected, status = client.fetch_collection("users")
    assert status.complete and rejected == []  # completeness alone is fooled ...
    held = {u["sourcedId"] for u in base}
    absent = held - set(records)
    assert absent == {"u00100"}  # ... u00100 is still active but was never listed
    check = client.confirm_absent("users", absent)
    assert set(check.found) == {"u00100"} and check.found["u00100"].username == "u100"
    assert check.confirmed == set() and check.unconfirmed == {}
    assert (check.requests, check.reread) == (1, False)
    assert by_id_requests(server) == ["u00100"]
    gone = client.confirm_absent("users", ["u00010"])
    assert gone.confirmed == {"u00010"} and not gone.found


def test_R9_absence_confirmed_by_404_and_tobedeleted(make_client) -> None:
    leaving = {"sourcedId": "leaving", "status": "tobedeleted", "role": "student", "username": "l"}
    inactive = {"sourcedId": "old", "status": "inactive", "role": "student", "username": "o"}
    here = {"sourcedId": "here", "status": "active", "role": "teacher", "username": "h"}
    answers = {
        "gone-imsx": httpx.Response(400, json={"statusInfoSet": [NOT_FOUND_IMSX]}),
        "leaving": leaving,
        "old": inactive,
        "here": httpx.Response(200, json={"users": here}),  # lenient about the envelope key
        "bare": httpx.Response(200, json={**here, "sourcedId": "bare"}),
    }
    server = FakeRoster({"users": []}, fault=by_id(answers))
    check = make_client(server).confirm_absent("users", ["gone", "gone-imsx", "leaving", "old", "here", "bare"])
    assert check.confirmed == {"gone", "gone-imsx", "leaving", "old"}
    assert set(check.found) == {"here", "bare"} and check.found["here"].role == "teacher"
    assert check.unconfirmed == {}
    assert check.requests == 6 and not check.reread
    assert check.summary() == {
        "collection": "users",
        "checked": 6,
        "confirmed": 4,
        "found": 2,
        "unconfirmed": 0,
        "requests": 6,
        "reread": False,
    }


def test_R9_absence_unconfirmed_on_server_error(make_client, sleeps) -> None:
    answers = {
        "err": httpx.Response(503),
        "slow": httpx.ReadTimeout,
        "garbled": httpx.Response(200, content=b'{"user": {"sourcedId": "garb'),
        "empty": httpx.Response(200, json={"user": None}),
        "other": httpx.Response(200, json={"user": {"sourcedId": "someone-else", "status": "active"}}),
        "unusable": httpx.Response(200, json={"user": {"sourcedId": "unusable", "enabledUser": "perhaps"}}),
        "refused": httpx.Response(400, json={"imsx_codeMajor": "failure", "imsx_description": "bad"}),
    }
    server = FakeRoster({"users": []}, fault=by_id(answers))
    client = make_client(server, retry=RetryPolicy(max_attempts=3, budget=20, base_delay=0.1))
    check = client.confirm_absent("users", [*answers, "gone"])
    assert check.confirmed == {"gone"} and check.found == {}
    assert set(check.unconfirmed) == set(answers)
    assert "503" in check.unconfirmed["err"] and "ReadTimeout" in check.unconfirmed["slow"]
    assert "JSON" in check.unconfirmed["garbled"] and "someone-else" in check.unconfirmed["other"]
    assert "enabledUser" in check.unconfirmed["unusable"]
    # 3 attempts each for the retryable ones (503, timeout, malformed JSON), 1 for the rest
    assert check.requests == 3 * 3 + 5
    assert len(sleeps) == 3 * 2


def test_R9_absence_unconfirmed_when_credentials_are_refused(make_client) -> None:
    server = FakeRoster({"users": []}, fault=by_id({"x": httpx.Response(401)}))
    check = make_client(server).confirm_absent("users", ["x"])
    assert set(check.unconfirmed) == {"x"} and "401" in check.unconfirmed["x"]


def test_R9_many_absences_reread_the_collection(make_client) -> None:
    base = users(300)
    reread = base[:240] + users(5, prefix="new")  # 60 users left ClassLink, 5 arrived
    server = FakeRoster({"users": lambda n: reread}, fault=by_id({}))
    client = make_client(server, page_size=100)
    absent = {u["sourcedId"] for u in base[200:]}  # 100 held ids absent from the first read
    assert len(absent) > ABSENCE_LOOKUP_LIMIT
    check = client.confirm_absent("users", absent)
    assert check.reread
    assert set(check.found) == {u["sourcedId"] for u in base[200:240]}  # listed again by the re-read
    assert check.confirmed == {u["sourcedId"] for u in base[240:]}  # absent from both reads
    assert check.unconfirmed == {}
    assert check.requests == 3 and by_id_requests(server) == []  # 245 records in pages of 100


def test_R9_reread_that_is_not_complete_confirms_nothing(make_client) -> None:
    base = users(300)
    server = FakeRoster({"users": base}, total_for=lambda n, real: real + n)  # the total keeps changing
    check = make_client(server, page_size=100).confirm_absent("users", [f"x{i}" for i in range(60)])
    assert check.reread and check.confirmed == set() and check.found == {}
    assert len(check.unconfirmed) == 60
    assert all("re-read" in why and "X-Total-Count changed" in why for why in check.unconfirmed.values())


def test_R9_absence_check_with_nothing_to_check_makes_no_request(make_client) -> None:
    server = FakeRoster({"users": []})
    check = make_client(server).confirm_absent("users", [])
    assert check.requests == 0 and server.seen == []


@pytest.mark.parametrize(
    ("collection", "envelope", "record"),
    [
        ("classes", "class", {"sourcedId": "c1", "status": "active", "title": "French 1"}),
        ("enrollments", "enrollment", {"sourcedId": "e1", "status": "active", "role": "student"}),
        ("orgs", "org", {"sourcedId": "s1", "status": "active", "type": "school", "name": "High"}),
    ],
)
def test_R9_absence_lookups_by_id_for_each_collection(make_client, collection, envelope, record) -> None:
    def fault(n: int, request: httpx.Request) -> httpx.Response | None:
        assert request.url.path.endswith(f"/{collection}/{record['sourcedId']}")
        return httpx.Response(200, content=json.dumps({envelope: record}).encode())

    check = make_client(FakeRoster({}, fault=fault)).confirm_absent(collection, [record["sourcedId"]])
    assert set(check.found) == {record["sourcedId"]}
