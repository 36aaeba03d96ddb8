"""fetch_snapshot (SPEC §1 collections, R9) and filter building (SPEC §1 "Filters")."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from classlink_sync.oneroster.filters import combine, modified_since, predicate

from .conftest import FakeRoster, users


def district() -> dict[str, list[dict]]:
    ref = lambda i: {"href": f"/x/{i}", "sourcedId": i, "type": "x"}  # noqa: E731
    return {
        "orgs": [
            {"sourcedId": "d1", "type": "district", "name": "ISD"},
            {"sourcedId": "s1", "type": "SCHOOL", "name": "High", "parent": ref("d1")},
        ],
        "academicSessions": [{"sourcedId": "t1", "type": "term", "startDate": "2026-09-01", "endDate": "2027-01-31"}],
        "courses": [{"sourcedId": "co1", "title": "French 1", "org": ref("s1")}],
        "classes": [
            {
                "sourcedId": "c1",
                "title": "French 1A",
                "classType": "Scheduled",
                "school": ref("s1"),
                "course": ref("co1"),
                "terms": [ref("t1")],
                "subjects": "French",
            }
        ],
        "users": [*users(3), {"sourcedId": "t9", "role": "Teacher", "enabledUser": "TRUE", "password": "x"}],
        "enrollments": [
            {
                "sourcedId": f"e{i}",
                "user": ref(f"u{i:05d}"),
                "class": ref("c1"),
                "role": "student",
                "primary": "false",
            }
            for i in range(3)
        ],
    }


def test_snapshot_reads_every_collection_the_sync_needs(make_client) -> None:
    server = FakeRoster(district())
    snapshot = make_client(server).fetch_snapshot()
    assert snapshot.complete and snapshot.incomplete_reasons == []
    assert set(snapshot.orgs) == {"d1", "s1"} and snapshot.orgs["s1"].type == "school"
    assert snapshot.academic_sessions["t1"].start_date == "2026-09-01"
    assert snapshot.courses["co1"].org_id == "s1"
    assert snapshot.classes["c1"].class_type == "scheduled" and snapshot.classes["c1"].term_ids == ("t1",)
    assert snapshot.users["t9"].role == "teacher" and len(snapshot.users) == 4
    assert snapshot.enrollments["e0"].user_id == "u00000" and snapshot.enrollments["e0"].class_id == "c1"
    assert set(snapshot.collections) == {
        "orgs",
        "academicSessions",
        "courses",
        "classes",
        "users",
        "enrollments",
    }


def test_R9_delta_snapshot_filters_by_date_and_is_never_complete(make_client) -> None:
    server = FakeRoster(district())
    snapshot = make_client(server).fetch_snapshot(since="2026-01-01T00:00:00Z")
    assert {s.query["filter"] for s in server.seen} == {"dateLastModified>'2026-01-01T00:00:00Z'"}
    assert not snapshot.complete
    assert all("a delta never proves absence (R9)" in r for r in snapshot.incomplete_reasons)
    assert len(snapshot.users) == 4  # what the delta returned is kept


def test_R9_failure_part_way_gives_an_incomplete_snapshot_that_keeps_what_it_read(make_client) -> None:
    server = FakeRoster(district(), fault=lambda n, r: httpx.Response(500) if "/courses" in r.url.path else None)
    snapshot = make_client(server).fetch_snapshot()
    assert not snapshot.complete
    assert set(snapshot.orgs) == {"d1", "s1"} and "t1" in snapshot.academic_sessions
    assert snapshot.users == {} and not snapshot.collections["users"].complete
    reasons = "\n".join(snapshot.incomplete_reasons)
    assert "courses: fetch failed" in reasons and "status=500" in reasons
    assert "classes: not fetched: courses failed before it" in reasons
    assert not any("/users" in s.request.url.path for s in server.seen)


def test_snapshot_collects_rejections(make_client) -> None:
    data = district()
    data["users"].append({"sourcedId": "bad", "enabledUser": "sometimes"})
    snapshot = make_client(FakeRoster(data)).fetch_snapshot()
    assert [(r.collection, r.sourced_id, r.field) for r in snapshot.rejected] == [("users", "bad", "enabledUser")]
    assert snapshot.collections["users"].complete  # a rejected record was still received (R4 reports it)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("status", "=", "active"), "status='active'"),
        (("familyName", "=", "Núñez"), "familyName='Núñez'"),
        (
            ("dateLastModified", ">=", datetime(2026, 1, 1, tzinfo=UTC)),
            "dateLastModified>='2026-01-01T00:00:00Z'",
        ),
        (("givenName", "~", "de la"), "givenName~'de la'"),
        (("grades", "!=", 9), "grades!='9'"),
    ],
)
def test_predicate_quotes_values(args: tuple, expected: str) -> None:
    assert predicate(*args) == expected


@pytest.mark.parametrize(
    "args",
    [("status", "==", "x"), ("status; drop", "=", "x"), ("familyName", "=", "O'Brien"), ("", "=", "x")],
)
def test_predicate_refuses_what_oneroster_cannot_express(args: tuple) -> None:
    with pytest.raises(ValueError):
        predicate(*args)


def test_at_most_two_predicates_joined_by_and_or() -> None:
    a, b = predicate("role", "=", "teacher"), predicate("status", "=", "active")
    assert combine(a, b) == "role='teacher' AND status='active'"
    assert combine(a, b, "or") == "role='teacher' OR status='active'"
    assert combine(a) == a
    with pytest.raises(ValueError):
        combine(a, b, "XOR")


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("2026-01-01T00:00:00Z", "dateLastModified>'2026-01-01T00:00:00Z'"),
        (datetime(2026, 3, 1, 12, 30), "dateLastModified>'2026-03-01T12:30:00Z'"),
        ("2026-03-01T13:30:00.250+01:00", "dateLastModified>'2026-03-01T12:30:00.250Z'"),
    ],
)
def test_delta_filter_by_date_last_modified(since, expected: str) -> None:
    assert modified_since(since) == expected


def test_fetching_collects_less_often_and_restores_the_collector_afterwards() -> None:
    import gc

    from classlink_sync.oneroster.client import fewer_gc_passes

    before = gc.get_threshold()
    with fewer_gc_passes(young_threshold=before[0] + 1000):
        assert gc.get_threshold()[0] == before[0] + 1000
    assert gc.get_threshold() == before
    try:
        with fewer_gc_passes(young_threshold=before[0] + 1000):
            raise RuntimeError("a failed fetch")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
