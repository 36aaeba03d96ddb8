"""Resilience (SPEC §1 "Errors"): backoff with full jitter, Retry-After, budget, 401/403, bad pages."""

from __future__ import annotations

import json
from email.utils import formatdate

import httpx
import pytest

from classlink_sync.oneroster.client import OneRosterClient, RetryPolicy
from classlink_sync.oneroster.errors import CredentialsRejected, parse_imsx

from .conftest import BASE, FakeRoster, users

IMSX_429 = {
    "imsx_codeMajor": "failure",
    "imsx_severity": "error",
    "imsx_CodeMinor": {
        "imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": "server_busy"}
        ]
    },
}


def failing(times: int, response: httpx.Response | type[Exception]):
    def fault(n: int, request: httpx.Request) -> httpx.Response | None:
        if n < times:
            if isinstance(response, type):
                raise response("boom", request=request)
            return response
        return None

    return fault


def test_429_without_retry_after_backs_off_exponentially_with_full_jitter(make_client, sleeps) -> None:
    server = FakeRoster({"users": users(5)}, fault=failing(3, httpx.Response(429, json=IMSX_429)))
    _, _, status = make_client(server).fetch_collection("users")
    assert status.complete
    assert sleeps == [0.5, 1.0, 2.0]  # rng() == 1.0: the top of each jitter window


def test_full_jitter_draws_within_the_window(sleeps) -> None:
    draws = iter([0.25, 0.5, 0.0])
    server = FakeRoster({"users": users(5)}, fault=failing(3, httpx.Response(503)))
    with OneRosterClient(
        BASE,
        None,
        transport=httpx.MockTransport(server),
        sleep=sleeps,
        rng=lambda: next(draws),
        retry=RetryPolicy(base_delay=2.0),
    ) as client:
        assert client.fetch_collection("users")[2].complete
    assert sleeps == [0.5, 2.0, 0.0]


def test_backoff_is_capped_by_max_delay(make_client, sleeps) -> None:
    server = FakeRoster({"users": users(1)}, fault=failing(5, httpx.Response(500)))
    client = make_client(server, retry=RetryPolicy(max_attempts=6, budget=10, base_delay=1, max_delay=3))
    assert client.fetch_collection("users")[2].complete
    assert sleeps == [1, 2, 3, 3, 3]


def test_retry_after_seconds_is_honoured(make_client, sleeps) -> None:
    server = FakeRoster({"users": users(5)}, fault=failing(2, httpx.Response(429, headers={"Retry-After": "7"})))
    assert make_client(server).fetch_collection("users")[2].complete
    assert sleeps == [7.0, 7.0]


def test_retry_after_http_date_is_honoured(make_client, sleeps) -> None:
    now = 1_800_000_000.0
    later = formatdate(now + 30, usegmt=True)
    server = FakeRoster({"users": users(5)}, fault=failing(1, httpx.Response(503, headers={"Retry-After": later})))
    assert make_client(server, clock=lambda: now).fetch_collection("users")[2].complete
    assert sleeps == [30.0]


def test_connection_and_read_errors_are_retried(make_client, sleeps) -> None:
    for error in (httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError):
        sleeps.clear()
        server = FakeRoster({"users": users(5)}, fault=failing(2, error))
        assert make_client(server).fetch_collection("users")[2].complete, error
        assert len(sleeps) == 2


def test_per_request_attempts_run_out_with_a_clear_error(make_client, sleeps) -> None:
    server = FakeRoster({"users": users(5)}, fault=failing(99, httpx.Response(503, json=IMSX_429)))
    records, _, status = make_client(server, retry=RetryPolicy(max_attempts=3, budget=50)).fetch_collection("users")
    assert records == {} and not status.complete
    assert len(server.seen) == 3 and len(sleeps) == 2
    assert f"url={BASE}/users?limit=1000&offset=0" in status.reason
    assert "status=503" in status.reason and "attempts=3" in status.reason
    assert "failure error server_busy" in status.reason


def test_retry_budget_per_collection_runs_out(make_client, sleeps) -> None:
    # every page needs two retries; a budget of 4 serves two pages, then the fetch stops
    def fault(n: int, request: httpx.Request) -> httpx.Response | None:
        seen = [s for s in server.seen if s.request.url == request.url]
        return httpx.Response(502) if len(seen) <= 2 else None

    server = FakeRoster({"users": users(500)}, fault=fault)
    client = make_client(server, page_size=100, concurrency=1, retry=RetryPolicy(max_attempts=10, budget=4))
    records, _, status = client.fetch_collection("users")
    assert len(sleeps) == 4
    assert len(records) == 200 and not status.complete
    assert "retry budget of 4 retries for this collection is spent" in status.reason
    assert "status=502" in status.reason and "attempts=1" in status.reason  # offset 200, first try


@pytest.mark.parametrize("code", [401, 403])
def test_credentials_rejected_at_once_without_retries(make_client, sleeps, code: int) -> None:
    body = {
        "statusInfoSet": [
            {
                "imsx_codeMajor": "failure",
                "imsx_severity": "error",
                "imsx_CodeMinor": "unauthorisedrequest",
                "imsx_description": "bad signature",
            }
        ]
    }
    server = FakeRoster({"users": users(5)}, fault=failing(99, httpx.Response(code, json=body)))
    with pytest.raises(CredentialsRejected) as info:
        make_client(server).fetch_collection("users")
    assert len(server.seen) == 1 and sleeps == []
    assert info.value.status == code and info.value.attempts == 1
    assert "failure error unauthorisedrequest: bad signature" in str(info.value)


def test_credentials_rejected_on_a_later_parallel_page_still_raises(make_client) -> None:
    server = FakeRoster({"users": users(500)}, fault=lambda n, r: httpx.Response(401) if n == 3 else None)
    with pytest.raises(CredentialsRejected):
        make_client(server, page_size=100).fetch_collection("users")


def test_other_4xx_is_not_retried_and_reported(make_client, sleeps) -> None:
    body = {"imsx_codeMajor": "failure", "imsx_severity": "error", "imsx_CodeMinor": "invalid_filter_field"}
    server = FakeRoster({"users": users(5)}, fault=failing(99, httpx.Response(400, json=body)))
    _, _, status = make_client(server).fetch_collection("users", filter="nope='x'")
    assert len(server.seen) == 1 and sleeps == []
    assert not status.complete and "HTTP 400" in status.reason and "invalid_filter_field" in status.reason


def test_truncated_json_is_retried(make_client, sleeps) -> None:
    body = json.dumps({"users": users(5)}).encode()
    truncated = httpx.Response(200, content=body[: len(body) // 2], headers={"X-Total-Count": "5"})
    server = FakeRoster({"users": users(5)}, fault=failing(2, truncated))
    _, _, status = make_client(server).fetch_collection("users")
    assert status.complete and len(sleeps) == 2


def test_malformed_json_that_never_heals_is_reported(make_client) -> None:
    server = FakeRoster({"users": users(5)}, fault=failing(99, httpx.Response(200, content=b"<html>oops</html>")))
    records, _, status = make_client(server).fetch_collection("users")
    assert records == {} and not status.complete
    assert "malformed JSON" in status.reason and "attempts=4" in status.reason


def test_unusable_envelope_is_reported(make_client) -> None:
    bad = httpx.Response(200, json={"users": "nope", "classes": []}, headers={"X-Total-Count": "1"})
    server = FakeRoster({"users": users(5)}, fault=failing(99, bad))
    _, _, status = make_client(server).fetch_collection("users")
    assert not status.complete and "unexpected response envelope" in status.reason


def test_failure_part_way_keeps_what_was_read(make_client) -> None:
    server = FakeRoster(
        {"users": users(400)}, fault=lambda n, r: httpx.Response(503) if "offset=300" in str(r.url) else None
    )
    records, _, status = make_client(server, page_size=100, concurrency=1).fetch_collection("users")
    assert len(records) == 300 and not status.complete and status.received == 300
    assert "fetch failed" in status.reason


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (IMSX_429, "failure error server_busy"),
        (
            {"imsx_codeMajor": "failure", "imsx_severity": "error", "imsx_description": "Rate limit"},
            "failure error: Rate limit",
        ),
        (
            {"statusInfoSet": {"imsx_StatusInfo": [{"imsx_codeMajor": "failure", "imsx_CodeMinor": "unknownobject"}]}},
            "failure unknownobject",
        ),
        ({"error": "nope"}, None),
    ],
)
def test_imsx_bodies_are_parsed(body: dict, expected: str | None) -> None:
    assert parse_imsx(json.dumps(body).encode()) == expected
    assert parse_imsx(b"not json") is None
