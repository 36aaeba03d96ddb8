"""R18 delta syncs on the local stack: the delta schedule's firing through the real dispatcher, SQS
and the district-sync handler against the ClassLink emulator (``dateLastModified>`` filters,
``x-perm-rev`` on every page).

Must show: a delta picks up a changed name and a new enrolment within one interval and removes
nothing when a user is ``tobedeleted`` or absent (R9); a delta whose ``x-perm-rev`` changes mid-pull
is abandoned (and the retry succeeds); the nightly full sync then removes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from classlink_local.lambda_runtime import invoke
from classlink_local.queue_runner import drain_queue
from classlink_local.stack import LocalStack
from classlink_sync.rules import delta as cadence
from classlink_sync.store import runs
from classlink_sync.store.districts import set_delta
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync

from .conftest import District, day, sync_via_queue

pytestmark = pytest.mark.e2e


def _pick(export: dict[str, list[dict[str, Any]]]) -> tuple[list[str], str, str]:
    """Synced students (several) and, for the first, a synced class of its school it is not in."""
    students = [a for a in export["accounts"] if a["role"] == "student" and a["active"]]
    pairs = {(e["classSourcedId"], e["userSourcedId"]) for e in export["enrollments"]}
    for student in students:
        for klass in export["classes"]:
            joinable = klass["active"] and klass["school"] in student["schools"]
            if joinable and (klass["sourcedId"], student["sourcedId"]) not in pairs:
                return [s["sourcedId"] for s in students], student["sourcedId"], klass["sourcedId"]
    raise AssertionError("no synced student with a class of its school to join")


def _accounts(district: District) -> dict[str, dict[str, Any]]:
    return {a["sourcedId"]: a for a in district.export()["accounts"]}


def _delta_run(district: District, before: set[str]) -> runs.RunRecord:
    new = [r for r in district.runs() if r.run_id not in before]
    assert len(new) == 1, new
    return new[0]


def test_R18_delta_picks_up_changes_removes_nothing_abandons_on_perm_rev_and_the_full_sync_removes(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    district = make_district("delta-isd", tenant_id="3181", seed=18, users=120, prefix="DeltaISD")
    first = sync_via_queue(stack, district, day(0))
    assert first.status == "succeeded"
    students, joiner, klass = _pick(district.export())
    renamed, doomed, vanished = students[1], students[2], students[3]
    ds = district.dataset

    # ClassLink changes between full syncs (each edit stamps dateLastModified).
    ds.update("users", renamed, givenName="Renamed")
    new_enrolment = ds.add_enrollment(joiner, klass)["sourcedId"]
    ds.mark_tobedeleted("users", doomed)
    ds.drop("users", vanished)  # absent: a delta cannot see that

    # The delta schedule fires (district cadence: every 15 minutes, all day, UTC).
    set_delta(district.district_id, cadence.cadence("15m"))
    before = {r.run_id for r in district.runs()}
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    event = {"trigger": "schedule", "mode": "delta", "scheduled_time": now.isoformat().replace("+00:00", "Z")}
    summary = invoke("dispatcher", event, timeout_seconds=60)
    assert summary["mode"] == "delta" and summary["sent"] >= 1
    drain_queue(stack.client("sqs"), stack.queue_url)
    delta_run = _delta_run(district, before)
    assert delta_run.status == "succeeded" and delta_run.mode == "delta", delta_run.error
    accounts = _accounts(district)
    assert accounts[renamed]["given_name"] == "Renamed"
    assert any(e["sourcedId"] == new_enrolment and e["active"] for e in district.export()["enrollments"])
    assert accounts[doomed]["active"] and accounts[vanished]["active"], "a delta never removes (R9)"
    report = district.report(delta_run)
    deferred = {(d["entity"], d["sourced_id"]) for d in report["deferred"]}
    assert ("user", doomed) in deferred and delta_run.deferred == len(report["deferred"])
    # only the changes were read: the filter on every collection, a handful of records
    requests = [e for e in district.emulator.requests.entries() if "dateLastModified" in str(e.query)]
    assert requests and all("filter" in dict(e.query) for e in requests)

    # A delta whose x-perm-rev changes between pages is abandoned, recorded, and retried.
    oneroster = district.emulator.oneroster
    assert oneroster is not None
    oneroster.max_limit = 2  # the users delta spans several pages
    for sid in students[4:10]:
        ds.touch("users", sid)
    district.faults.add("perm-rev", path="/users", after=1, limit=1)
    abandoned = run_sync(
        SyncRequest(district_id=district.district_id, date=day(0), trigger="manual", mode="delta"),
        raise_on_failure=False,
    )
    assert abandoned.status == "failed" and "x-perm-rev" in (abandoned.report.error or "")
    assert "abandoned" in (abandoned.report.error or "") and abandoned.report.roster_writes == 0
    retried = run_sync(
        SyncRequest(district_id=district.district_id, date=day(0), trigger="manual", mode="delta"),
        raise_on_failure=False,
    )
    oneroster.max_limit = 1000
    assert retried.status == "succeeded", retried.report.error

    # The nightly full sync stays the source of truth: now the tobedeleted and the absent user go.
    nightly = sync_via_queue(stack, district, day(1), trigger="schedule")
    assert nightly.status == "succeeded" and nightly.mode == "full"
    accounts = _accounts(district)
    assert not accounts[doomed]["active"] and not accounts[vanished]["active"]
    assert accounts[renamed]["given_name"] == "Renamed" and accounts[renamed]["active"]
