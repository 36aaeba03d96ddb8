"""R18 delta fetch: ``dateLastModified>'T'`` on every collection, correctly encoded and signed, and
abandoned when ClassLink signals a change during the pull (``X-Total-Count`` or ``x-perm-rev``
changing between the pages of a collection). A delta is never complete (R9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from classlink_sync.errors import DeltaAbandoned, OneRosterError
from classlink_sync.oneroster.client import SNAPSHOT_COLLECTIONS, OneRosterClient

from .conftest import BASE, FakeRoster, Sleeps, users
from .test_snapshot_and_filters import district


class RevServer:
    """A ``FakeRoster`` that also sends ``x-perm-rev`` (``rev(n, request)``; None: no header)."""

    def __init__(self, server: FakeRoster, rev: Callable[[int, httpx.Request], str | None]) -> None:
        self.server = server
        self.rev = rev
        self.n = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.server(request)
        value = self.rev(self.n, request)
        self.n += 1
        if value is not None:
            response.headers["X-Perm-Rev"] = value  # any case: the header is case-insensitive
        return response


def client_for(handler: Callable[[httpx.Request], httpx.Response], sleeps: Sleeps, **kwargs) -> OneRosterClient:
    return OneRosterClient(BASE, None, transport=httpx.MockTransport(handler), sleep=sleeps, rng=lambda: 1.0, **kwargs)


def test_R18_delta_filters_every_collection_by_date_last_modified_encoded_strictly(sleeps) -> None:
    server = FakeRoster(district())
    with client_for(server, sleeps) as client:
        delta = client.fetch_delta(datetime(2026, 5, 4, 8, 45, tzinfo=UTC))
    expected = "dateLastModified>'2026-05-04T08:45:00Z'"
    assert delta.filter == expected
    assert [s.collection for s in server.seen] == [path for path, _ in SNAPSHOT_COLLECTIONS]
    assert {s.query["filter"] for s in server.seen} == {expected}
    # SPEC §1: strict RFC 3986 encoding (quotes, > and : percent-encoded), as the signature expects
    raw = server.seen[0].request.url.raw_path.decode()
    assert "filter=dateLastModified%3E%272026-05-04T08%3A45%3A00Z%27" in raw
    assert delta.read_through and delta.problems == []
    assert not delta.snapshot.complete  # R9: absence from a delta proves nothing
    assert all("a delta never proves absence (R9)" in r for r in delta.snapshot.incomplete_reasons)
    assert len(delta.snapshot.users) == 4


def test_R18_a_steady_perm_rev_is_kept_and_the_delta_goes_ahead(sleeps) -> None:
    server = RevServer(FakeRoster({**district(), "users": users(25)}, cap=10), lambda n, r: "rev-7")
    with client_for(server, sleeps, page_size=10) as client:
        delta = client.fetch_delta("2026-05-04T08:45:00Z")
    assert len(delta.snapshot.users) == 25 and delta.read_through
    assert delta.revs["users"] == "rev-7"


def test_R18_delta_is_abandoned_when_perm_rev_changes_between_pages(sleeps) -> None:
    def rev(n: int, request: httpx.Request) -> str:
        offset = int(request.url.params.get("offset", "0"))
        return "rev-1" if "/users" not in request.url.path or offset == 0 else "rev-2"

    server = RevServer(FakeRoster({**district(), "users": users(25)}, cap=10), rev)
    with client_for(server, sleeps, page_size=10, concurrency=1) as client, pytest.raises(DeltaAbandoned) as caught:
        client.fetch_delta("2026-05-04T08:45:00Z")
    error = caught.value
    assert isinstance(error, OneRosterError)  # a caller catching client errors sees it too
    assert error.collection == "users" and error.header == "x-perm-rev"
    assert error.values == ["rev-1", "rev-2"]
    assert "R18" in str(error) and "retried" in str(error)
    assert not any("/enrollments" in s.request.url.path for s in server.server.seen)  # stopped at once


def test_R18_delta_is_abandoned_when_x_total_count_changes_between_pages(sleeps) -> None:
    grow = lambda n, total: total if n < 5 else total + 1  # noqa: E731  (a record added mid-pull)
    server = FakeRoster({**district(), "users": users(25)}, cap=10, total_for=grow)
    with client_for(server, sleeps, page_size=10, concurrency=1) as client, pytest.raises(DeltaAbandoned) as caught:
        client.fetch_delta("2026-05-04T08:45:00Z")
    assert caught.value.header == "X-Total-Count"
    assert caught.value.collection == "users"


def test_R18_a_delta_that_fails_part_way_names_the_problem_and_reads_no_further(sleeps) -> None:
    def fault(n: int, request: httpx.Request) -> httpx.Response | None:
        return httpx.Response(400, json={"imsx_codeMajor": "failure"}) if "/classes" in request.url.path else None

    server = FakeRoster(district(), fault=fault)
    with client_for(server, sleeps) as client:
        delta = client.fetch_delta("2026-05-04T08:45:00Z")
    assert not delta.read_through
    assert delta.problems and delta.problems[0].startswith("classes: fetch failed")
    assert "users" not in delta.snapshot.collections


def test_R18_full_fetch_ignores_perm_rev_changes(sleeps) -> None:
    """A full sync keeps its own completeness rules (R9); x-perm-rev only abandons a delta."""
    server = RevServer(FakeRoster({**district(), "users": users(25)}, cap=10), lambda n, r: f"rev-{n}")
    with client_for(server, sleeps, page_size=10) as client:
        snapshot = client.fetch_snapshot()
    assert snapshot.complete and len(snapshot.users) == 25
