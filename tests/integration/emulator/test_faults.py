"""Switchable faults (SPEC §1 "Errors", R9 complete fetches): 429, 5xx, slow, truncated, shifting data."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from classlink_local.emulator.faults import Faults, parse_faults

from .conftest import Get

pytestmark = pytest.mark.integration


def test_429_with_retry_after_for_the_first_requests(emulator: Any, get: Get) -> None:
    emulator.faults.add("429", first=2, retry_after="3")
    first, second, third = get("/users"), get("/users"), get("/users")
    assert first.status_code == second.status_code == 429
    assert first.headers["Retry-After"] == "3"
    assert first.json()["imsx_codeMajor"] == "failure"
    assert third.status_code == 200
    assert emulator.faults.fired["429"] == 2


def test_429_without_retry_after(emulator: Any, get: Get) -> None:
    emulator.faults.add("429-no-retry-after", every=2)
    statuses = [get("/users") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 429, 200, 429]
    assert "Retry-After" not in statuses[1].headers


def test_5xx_every_nth_request_on_one_path(emulator: Any, get: Get) -> None:
    emulator.faults.add("5xx", every=3, status=502, path="/enrollments")
    codes = [get("/enrollments").status_code for _ in range(6)]
    assert codes == [200, 200, 502, 200, 200, 502]
    assert all(get("/users").status_code == 200 for _ in range(3))
    error = get("/enrollments", offset=1)
    assert error.status_code == 200
    emulator.faults.clear()
    assert all(get("/enrollments").status_code == 200 for _ in range(3))


def test_5xx_body_is_wrapped_imsx(emulator: Any, get: Get) -> None:
    emulator.faults.add("5xx", first=1)
    resp = get("/users")
    assert resp.status_code == 503
    assert resp.json()["statusInfoSet"][0]["imsx_codeMajor"] == "failure"


def test_slow_pages(emulator: Any, get: Get) -> None:
    emulator.faults.add("slow", first=1, delay=0.4)
    started = time.perf_counter()
    assert get("/users").status_code == 200
    assert time.perf_counter() - started >= 0.4
    started = time.perf_counter()
    get("/users")
    assert time.perf_counter() - started < 0.4


def test_truncated_json(emulator: Any, get: Get) -> None:
    emulator.faults.add("truncate", first=1)
    resp = get("/users")
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.content)
    assert get("/users").json()["users"]


@pytest.mark.parametrize("mode", ["remove", "insert"])
def test_data_shifts_between_pages(emulator: Any, get: Get, mode: str) -> None:
    before = len(emulator.dataset.users)
    first = get("/users", limit=50)
    emulator.faults.add("shift", first=1, mode=mode, path="/users")
    second = get("/users", limit=50, offset=50)
    total = int(second.headers["X-Total-Count"])
    assert int(first.headers["X-Total-Count"]) == before
    assert total == before + (1 if mode == "insert" else -1)
    if mode == "insert":
        assert emulator.dataset.users.ids()[0].startswith("shift-")
        # Everything moved one place later: the second page starts with the first page's last record.
        assert second.json()["users"][0]["sourcedId"] == first.json()["users"][-1]["sourcedId"]


def test_rate_is_deterministic_from_the_seed() -> None:
    def run(seed: int) -> list[bool]:
        faults = Faults(seed=seed)
        faults.add("5xx", rate=0.3)
        return [bool(faults.decide("/x")) for _ in range(200)]

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert 30 < sum(run(1)) < 90


def test_limit_caps_how_often_a_rule_fires() -> None:
    faults = Faults()
    faults.add("429", every=1, limit=2)
    assert [bool(faults.decide("/users")) for _ in range(4)] == [True, True, False, False]


def test_text_spec() -> None:
    rules = parse_faults(
        "429:every=5,retry_after=2; 5xx:rate=0.1,status=502;slow:first=3,delay=0.2;"
        "truncate;shift:first=1,path=/users,mode=insert;429-no-retry-after:first=1"
    )
    assert [r.kind for r in rules] == ["429", "5xx", "slow", "truncate", "shift", "429-no-retry-after"]
    assert rules[0].every == 5 and rules[0].retry_after == "2"
    assert rules[1].rate == 0.1 and rules[1].status == 502
    assert rules[2].delay == 0.2 and rules[4].mode == "insert" and rules[4].path == "/users"
    for bad in ("teapot", "429:often=1", "5xx:status=abc", "shift:mode=sideways"):
        with pytest.raises(ValueError):
            parse_faults(bad)


def test_faults_from_a_spec_at_start(emulator_factory: Any) -> None:
    from .conftest import signed_get

    emu = emulator_factory(faults="429:first=1,retry_after=0")
    codes = [signed_get(emu.base_url + "/users", emu.client_id, emu.client_secret).status_code for _ in range(2)]
    assert codes == [429, 200]
