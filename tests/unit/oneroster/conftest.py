"""A small in-test OneRoster server over ``httpx.MockTransport`` (no network), and client helpers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from classlink_sync.oneroster.client import OneRosterClient, RetryPolicy

BASE = "https://tenant-ca-v2.oneroster.com/ims/oneroster/v1p1"
ENVELOPE = {"schools": "orgs", "terms": "academicSessions", "teachers": "users", "students": "users"}


def users(n: int, prefix: str = "u") -> list[dict[str, Any]]:
    return [
        {"sourcedId": f"{prefix}{i:05d}", "status": "active", "role": "student", "username": f"{prefix}{i}"}
        for i in range(n)
    ]


@dataclass
class Seen:
    collection: str
    limit: int | None
    offset: int
    query: dict[str, str]
    request: httpx.Request


@dataclass
class FakeRoster:
    """Serves ``collections`` with limit/offset paging and X-Total-Count, plus switchable quirks.

    ``data`` values may be callables of the request number (data that shifts between pages);
    ``fault(n, request)`` may return a response (or raise) to replace the normal answer.
    """

    data: dict[str, Any]
    cap: int | None = None  # silently caps limit, as real servers do
    ignore_limit: bool = False  # returns everything whatever the limit
    send_total: bool = True
    default_limit: int = 100
    envelope: Callable[[str], str] | None = None
    total_for: Callable[[int, int], int] | None = None  # (request number, real total) -> header
    fault: Callable[[int, httpx.Request], httpx.Response | None] | None = None
    delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        query = dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True))
        with self._lock:
            n = len(self.seen)
            limit = int(query["limit"]) if "limit" in query else None
            self.seen.append(Seen(name, limit, int(query.get("offset", 0)), query, request))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                threading.Event().wait(self.delay)
            if self.fault is not None:
                replaced = self.fault(n, request)
                if replaced is not None:
                    return replaced
            return self._page(n, name, limit, int(query.get("offset", 0)))
        finally:
            with self._lock:
                self.in_flight -= 1

    def _page(self, n: int, name: str, limit: int | None, offset: int) -> httpx.Response:
        items = self.data.get(name)
        if items is None:
            return httpx.Response(404, json={"imsx_codeMajor": "failure", "imsx_severity": "error"})
        if callable(items):
            items = items(n)
        limit = self.default_limit if limit is None else limit
        if self.cap is not None:
            limit = min(limit, self.cap)
        page = items if self.ignore_limit else items[offset : offset + limit]
        headers = {}
        if self.send_total:
            total = len(items) if self.total_for is None else self.total_for(n, len(items))
            headers["X-Total-Count"] = str(total)
        key = self.envelope(name) if self.envelope else ENVELOPE.get(name, name)
        return httpx.Response(200, content=json.dumps({key: page}).encode(), headers=headers)

    def offsets(self, collection: str | None = None) -> list[int]:
        return [s.offset for s in self.seen if collection is None or s.collection == collection]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(sleeps: Sleeps) -> Callable[..., OneRosterClient]:
    clients: list[OneRosterClient] = []

    def make(server: FakeRoster, **kwargs: Any) -> OneRosterClient:
        kwargs.setdefault("retry", RetryPolicy(max_attempts=4, budget=6, base_delay=0.5, max_delay=8))
        kwargs.setdefault("rng", lambda: 1.0)
        client = OneRosterClient(BASE, None, transport=httpx.MockTransport(server), sleep=sleeps, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
