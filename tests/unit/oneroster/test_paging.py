"""Paging and completeness (SPEC §1 paging; R9: only a complete fetch may cause removals)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import FakeRoster, users


def ids(n: int, prefix: str = "u") -> set[str]:
    return {f"{prefix}{i:05d}" for i in range(n)}


@pytest.mark.parametrize(("n", "page_size"), [(250, 100), (300, 100), (1, 100), (100, 100), (99, 100)])
def test_complete_fetch_exact_multiples_and_short_last_page(make_client, n: int, page_size: int) -> None:
    server = FakeRoster({"users": users(n)})
    records, rejected, status = make_client(server, page_size=page_size).fetch_collection("users")
    assert set(records) == ids(n) and rejected == []
    assert status.complete and status.received == n and status.total == n and status.reason is None
    assert sorted(server.offsets()) == list(range(0, n, page_size))  # no extra empty page when total is known


def test_empty_district_is_complete(make_client) -> None:
    server = FakeRoster({"users": []})
    records, _, status = make_client(server).fetch_collection("users")
    assert records == {} and status.complete and status.total == 0
    assert len(server.seen) == 1


def test_server_caps_limit_silently_offsets_planned_by_real_page_size(make_client) -> None:
    server = FakeRoster({"users": users(1050)}, cap=100)
    records, _, status = make_client(server, page_size=1000).fetch_collection("users")
    assert status.complete and len(records) == 1050
    assert sorted(server.offsets()) == list(range(0, 1050, 100))
    assert {s.limit for s in server.seen[1:]} == {100}


def test_server_ignores_limit_and_returns_everything(make_client) -> None:
    server = FakeRoster({"users": users(2500)}, ignore_limit=True)
    records, _, status = make_client(server, page_size=100).fetch_collection("users")
    assert status.complete and len(records) == 2500
    assert len(server.seen) == 1


def test_short_page_in_the_middle_is_not_the_end(make_client) -> None:
    data = users(300)

    def fault(n: int, request: httpx.Request) -> httpx.Response | None:
        # the page at offset 100 comes back with only 40 records (a short page that is not the end)
        if "offset=100" in str(request.url) and n < 3:
            return httpx.Response(200, json={"users": data[100:140]}, headers={"X-Total-Count": "300"})
        return None

    server = FakeRoster({"users": data}, fault=fault)
    records, _, status = make_client(server, page_size=100, concurrency=1).fetch_collection("users")
    assert status.complete and len(records) == 300
    assert 140 in server.offsets()  # the offset advanced by what was actually received


def test_missing_total_reads_until_an_empty_page_but_cannot_prove_completeness(make_client) -> None:
    server = FakeRoster({"users": users(250)}, send_total=False, cap=100)
    records, _, status = make_client(server, page_size=100).fetch_collection("users")
    assert len(records) == 250
    assert server.offsets() == [0, 100, 200, 250]
    assert not status.complete and status.total is None
    assert "X-Total-Count" in status.reason


def test_missing_total_can_be_trusted_when_configured(make_client) -> None:
    server = FakeRoster({"users": users(250)}, send_total=False)
    _, _, status = make_client(server, page_size=100, trust_end_without_total=True).fetch_collection("users")
    assert status.complete and status.received == 250


def test_missing_total_server_ignoring_offset_stops(make_client) -> None:
    data = users(50)

    def fault(n: int, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"users": data})  # every offset gives the same page

    server = FakeRoster({"users": data}, send_total=False, fault=fault)
    _, _, status = make_client(server, page_size=50, trust_end_without_total=True).fetch_collection("users")
    assert len(server.seen) == 2
    assert not status.complete and "ignore offset" in status.reason


def test_R9_total_changing_mid_fetch_is_incomplete(make_client) -> None:
    base = users(300)
    grown = [{"sourcedId": "new-0", "status": "active"}, *base]
    server = FakeRoster({"users": lambda n: base if n == 0 else grown})
    records, _, status = make_client(server, page_size=100, concurrency=1).fetch_collection("users")
    assert not status.complete
    assert "changed during the fetch (300 -> 301)" in status.reason
    assert len(records) >= 300  # everything read is kept


def test_R4_duplicate_ids_across_pages_with_a_steady_total_are_issues_not_incompleteness(make_client) -> None:
    data = users(200)
    data[150] = dict(data[10])  # the server repeats u00010 and never sends u00150
    server = FakeRoster({"users": data})
    records, rejected, status = make_client(server, page_size=100).fetch_collection("users")
    # R4: the repeated id is an issue and its records are dropped; the fetch read every record the
    # total announced, so it is complete. u00150, never sent, is what proven absence is for (R9).
    assert len(records) == 198 and "u00010" not in records
    assert [(r.sourced_id, r.field) for r in rejected] == [("u00010", "sourcedId")]
    assert status.complete and status.received == 199


def test_R9_first_page_empty_although_total_says_otherwise(make_client) -> None:
    server = FakeRoster({"users": []}, total_for=lambda n, real: 5)
    _, _, status = make_client(server).fetch_collection("users")
    assert not status.complete and "X-Total-Count is 5" in status.reason


def test_R9_server_runs_dry_before_the_total(make_client) -> None:
    server = FakeRoster({"users": users(150)}, total_for=lambda n, real: 200)
    records, _, status = make_client(server, page_size=100).fetch_collection("users")
    assert len(records) == 150 and not status.complete
    assert "empty page at offset 150" in status.reason


def test_rejected_records_count_as_received_but_records_without_id_do_not(make_client) -> None:
    data = users(10)
    data[3]["enabledUser"] = "perhaps"
    data[4] = {"username": "no-id"}
    server = FakeRoster({"users": data})
    records, rejected, status = make_client(server).fetch_collection("users")
    assert len(records) == 8 and {r.sourced_id for r in rejected} == {"u00003", None}
    assert status.received == 9
    assert status.complete  # R4: a record without sourcedId is an issue, not a gap (10 of 10 received)


def test_pages_are_fetched_in_parallel_with_bounded_concurrency(make_client) -> None:
    server = FakeRoster({"users": users(2000)}, delay=0.02)
    records, _, status = make_client(server, page_size=100, concurrency=3).fetch_collection("users")
    assert status.complete and len(records) == 2000
    assert 1 < server.max_in_flight <= 3


@pytest.mark.parametrize(
    ("envelope", "collection"),
    [(lambda name: "orgs", "schools"), (lambda name: "data", "users"), (lambda name: name, "orgs")],
)
def test_lenient_envelope_key(make_client, envelope, collection: str) -> None:
    server = FakeRoster({collection: users(5, "o")}, envelope=envelope)
    records, _, status = make_client(server).fetch_collection(collection)
    assert status.complete and len(records) == 5


def test_bare_list_body_is_accepted(make_client) -> None:
    def fault(n: int, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=users(3), headers={"X-Total-Count": "3"})

    _, _, status = make_client(FakeRoster({"users": []}, fault=fault)).fetch_collection("users")
    assert status.complete and status.received == 3


def test_nested_collection_and_filter_are_sent(make_client) -> None:
    server = FakeRoster({"classes": users(3, "c")})
    _, _, status = make_client(server).fetch_collection("schools/sch-1/classes", filter="status='active'")
    assert status.complete and status.name == "schools/sch-1/classes"
    assert server.seen[0].request.url.path.endswith("/schools/sch-1/classes")
    assert server.seen[0].query["filter"] == "status='active'"
    assert b"filter=status%3D%27active%27" in server.seen[0].request.url.query
