"""Apply and fetch under failure, end to end (DESIGN "What moto hides"; SPEC R9, §3):

* a sync killed in the middle of applying, then run again, ends in the same roster state as an
  uninterrupted run of the same data in another district;
* UnprocessedItems and throttling injected into apply lose nothing;
* a ClassLink outage in the middle of a fetch removes nothing (R9) and fails the run with a reason
  naming the incomplete collection.

The reference and the faulty districts serve the same generated data (same seed) under different
username prefixes (R5: usernames are unique platform-wide) and tenants; their exports are compared
by sourcedId, username (prefix stripped), role, active, schools, title and subject, never by ids.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from classlink_local.dynamo_faults import throttled
from classlink_local.emulator.faults import FaultRule, Faults
from classlink_local.queue_runner import drain_queue
from classlink_local.stack import LocalStack
from classlink_sync.oneroster import client as oneroster_client
from classlink_sync.settings import get_settings
from classlink_sync.store.context import Store
from classlink_sync.store.dynamo import METER, RetryPolicy, roster_tables
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync

from .conftest import District, active_ids, changes, day, roster_state, send_sync, start_district, sync_via_queue

pytestmark = pytest.mark.e2e

SEED = 41
USERS = 80
WRITE_OPS = ("BatchWriteItem", "PutItem", "DeleteItem", "TransactWriteItems", "UpdateItem")
NO_SLEEP = RetryPolicy(attempts=12, sleep=lambda _s: None)


@pytest.fixture(scope="module")
def reference(stack: LocalStack) -> Iterator[dict[str, Any]]:
    """The uninterrupted first sync of the shared data."""
    district = start_district("res-ref", tenant_id="3400", seed=SEED, users=USERS, prefix="RefISD", problem_share=0)
    try:
        run = sync_via_queue(stack, district, day(0))
        assert run.status == "succeeded"
        yield {"district": district, "run": run, "state": roster_state(district.export(), "RefISD")}
    finally:
        district.emulator.stop()


def _same_data(make_district: Callable[..., District], district_id: str, tenant_id: str, prefix: str) -> District:
    return make_district(district_id, tenant_id=tenant_id, seed=SEED, users=USERS, prefix=prefix, problem_share=0)


class Killed(Exception):
    """The invocation dies here (what a Lambda timeout or a crash looks like to apply)."""


def _killer(after_writes: int) -> tuple[Callable[..., dict[str, Any]], dict[str, Any]]:
    state: dict[str, Any] = {"ops": 0, "tables": []}

    def killer(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        if op in WRITE_OPS:
            state["ops"] += 1
            if state["ops"] > after_writes:
                raise Killed(f"killed at write request {state['ops']} ({op})")
            state["tables"].append(kwargs.get("TableName") or next(iter(kwargs.get("RequestItems", {"?": 0}))))
        return send(op, kwargs)

    return killer, state


def _kill_then_rerun(
    stack: LocalStack, district: District, reference: dict[str, Any], after_writes: int
) -> dict[str, Any]:
    killer, state = _killer(after_writes)
    outcome = run_sync(
        SyncRequest(district_id=district.district_id, date=day(0), trigger="schedule"),
        store=Store.create(interceptor=killer),
        raise_on_failure=False,
    )
    assert outcome.status == "failed" and "Killed" in (outcome.report.error or "")
    partial = roster_state(district.export(), district.prefix)
    assert partial != reference["state"]  # it really stopped half-way

    rerun = sync_via_queue(stack, district, day(0))  # SQS redelivers: the real handler runs again
    assert rerun.status == "succeeded"
    r5 = [i for i in district.report(rerun)["issues"] if i["rule"] == "R5"]
    assert r5 == []  # the district's own reservations, written before the kill, are no conflict
    assert roster_state(district.export(), district.prefix) == reference["state"]
    settled = sync_via_queue(stack, district, day(1))
    assert settled.status == "succeeded" and changes(settled.counts) == {} and settled.roster_writes == 0
    return {"partial": partial, "state": state}


def test_sync_killed_while_writing_enrolments_then_rerun_ends_like_an_uninterrupted_run(
    stack: LocalStack, make_district: Callable[..., District], reference: dict[str, Any]
) -> None:
    district = _same_data(make_district, "res-killed-late", "3401", "KillLateISD")
    # every reservation (one PutItem each), schools, accounts and classes are written; then it dies
    ref_accounts = len(reference["state"]["accounts"])
    result = _kill_then_rerun(stack, district, reference, after_writes=ref_accounts + 12)
    assert len(result["partial"]["accounts"]) == ref_accounts
    assert 0 < len(result["partial"]["enrollments"]) < len(reference["state"]["enrollments"])


def test_sync_killed_between_reservations_and_accounts_then_rerun_ends_like_an_uninterrupted_run(
    stack: LocalStack, make_district: Callable[..., District], reference: dict[str, Any]
) -> None:
    district = _same_data(make_district, "res-killed-early", "3404", "KillEarlyISD")
    result = _kill_then_rerun(stack, district, reference, after_writes=60)
    assert result["partial"]["accounts"] == []


def test_sync_stopped_by_its_deadline_after_a_chunk_resumes_on_the_next_run(
    stack: LocalStack,
    make_district: Callable[..., District],
    reference: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time as real_time
    import types

    from classlink_sync.store import apply as apply_module

    district = _same_data(make_district, "res-deadline", "3405", "DeadlineISD")
    # apply's clock jumps an hour once the first item is written: the time budget is then spent,
    # and apply stops before its next chunk (a chunk writes its accounts' reservations, then the
    # accounts: the first chunk is whole, nothing after it is written).
    clock = {"offset": 0.0}
    monkeypatch.setattr(
        apply_module, "time", types.SimpleNamespace(monotonic=lambda: real_time.monotonic() + clock["offset"])
    )

    def jump(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        if op == "PutItem":
            clock["offset"] = 3600.0
        return send(op, kwargs)

    outcome = run_sync(
        SyncRequest(district_id=district.district_id, date=day(0), trigger="schedule"),
        store=Store.create(interceptor=jump),
        deadline=real_time.monotonic() + 600,
        raise_on_failure=False,
    )
    assert outcome.status == "failed" and "time budget" in (outcome.report.error or "")
    partial = district.export()
    assert partial["classes"] == [] and partial["enrollments"] == []
    assert 0 < len(partial["accounts"]) <= len(reference["state"]["accounts"])  # the first chunk only
    monkeypatch.undo()

    rerun = sync_via_queue(stack, district, day(0))
    assert rerun.status == "succeeded"
    assert [i for i in district.report(rerun)["issues"] if i["rule"] == "R5"] == []
    assert roster_state(district.export(), district.prefix) == reference["state"]


def test_unprocessed_items_and_throttling_injected_into_apply_lose_nothing(
    stack: LocalStack, make_district: Callable[..., District], reference: dict[str, Any]
) -> None:
    district = _same_data(make_district, "res-throttled", "3402", "ThrISD")
    seen = {"unprocessed": 0}

    def unprocessed(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        if op == "BatchWriteItem":
            ((table, requests),) = kwargs["RequestItems"].items()
            if len(requests) > 1:  # DynamoDB accepted only part of the batch
                seen["unprocessed"] += 1
                half = len(requests) // 2
                send(op, {"RequestItems": {table: requests[:half]}})
                return {"UnprocessedItems": {table: requests[half:]}}
        return send(op, kwargs)

    METER.reset()
    store = Store.create(interceptor=unprocessed, retry=NO_SLEEP)
    attempts = itertools.count(1)
    # Every third HTTP attempt of a write is throttled (a 400 below botocore's retry handler, as
    # DynamoDB sends it): botocore's retries carry the apply through (standard mode, 10 attempts).
    writes = ("BatchWriteItem", "TransactWriteItems", "PutItem", "UpdateItem")
    with throttled(store, lambda op, _body: op in writes and next(attempts) % 3 == 0) as throttles:
        outcome = run_sync(SyncRequest(district_id=district.district_id, date=day(0), trigger="schedule"), store=store)
    assert outcome.status == "succeeded"
    assert sum(throttles.values()) > 10 and seen["unprocessed"] > 5
    report = district.report()
    assert report["apply"]["throttled_retries"] > 0 and report["apply"]["unprocessed_retries"] > 0
    ref_run = reference["run"]
    assert outcome.report.roster_writes == ref_run.roster_writes
    assert METER.writes(roster_tables(get_settings())) == ref_run.roster_writes  # each item once, none lost
    assert roster_state(district.export(), "ThrISD") == reference["state"]


class OutageAfter(Faults):
    """ClassLink goes down: once armed, every OneRoster request after the first ``after`` answers
    503 (``faults.FaultRule`` "5xx"), persistently."""

    def __init__(self) -> None:
        super().__init__()
        self.after: int | None = None
        self.count = 0

    def arm(self, after: int | None) -> None:
        self.after, self.count = after, 0

    def decide(self, path: str) -> list[FaultRule]:
        with self._lock:
            self.count += 1
            if self.after is not None and self.count > self.after:
                self.fired["5xx"] += 1
                return [FaultRule("5xx", status=503)]
        return super().decide(path)


def test_R9_classlink_outage_in_the_middle_of_a_fetch_removes_nothing(
    stack: LocalStack, make_district: Callable[..., District], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client's backoff is real (up to 6 attempts a page); only its delays are shortened.
    monkeypatch.setattr(
        oneroster_client, "RetryPolicy", functools.partial(oneroster_client.RetryPolicy, base_delay=0.01)
    )
    outage = OutageAfter()
    district = make_district(
        "res-outage",
        tenant_id="3403",
        seed=43,
        users=USERS,
        emulator_options={"faults": outage, "max_limit": 40},  # users arrive in several pages
    )
    assert sync_via_queue(stack, district, day(0)).status == "succeeded"
    before = district.export()
    order = [e.path.rsplit("/", 1)[-1] for e in district.emulator.requests.entries()]
    first_users_page = order.index("users") + 1  # requests up to and including the first users page

    # The district unshares a class and two students (below the R10 thresholds) ...
    ds = district.dataset
    klass = next(c["sourcedId"] for c in before["classes"] if c["active"])
    students = sorted(a["sourcedId"] for a in before["accounts"] if a["role"] == "student" and a["active"])[:2]
    class_enr = {e["sourcedId"] for e in before["enrollments"] if e["classSourcedId"] == klass}
    gone_enr = class_enr | {e["sourcedId"] for e in before["enrollments"] if e["userSourcedId"] in students}
    # R3/R9: a student left without synced classes leaves scope too
    classes_of: dict[str, set[str]] = {}
    for e in before["enrollments"]:
        if e["active"] and e["role"] == "student" and e["sourcedId"] not in gone_enr:
            classes_of.setdefault(e["userSourcedId"], set()).add(e["classSourcedId"])
    deactivated = {
        a["sourcedId"]
        for a in before["accounts"]
        if a["role"] == "student" and a["active"] and (a["sourcedId"] in students or not classes_of.get(a["sourcedId"]))
    }
    assert len(deactivated) >= 2
    ds.drop("classes", klass)
    ds.drop("users", *students)
    # ... and ClassLink fails after the first page of users, for good.
    outage.arm(after=first_users_page)
    district.emulator.requests.reset()
    message_id = send_sync(stack, SyncRequest(district_id=district.district_id, date=day(1), trigger="schedule"))
    drained = drain_queue(stack.client("sqs"), stack.queue_url)
    assert drained.failed == [message_id]  # SQS will retry it
    stack.client("sqs").purge_queue(QueueUrl=stack.queue_url)
    assert outage.fired["5xx"] > 1

    run = district.last_run()
    assert run.status == "failed"
    assert "users" in (run.error or "")
    report = district.report(run)
    assert report["fetch_complete"] is False
    assert any("users" in r for r in report["incomplete_reasons"])
    assert any("enrollments" in r for r in report["incomplete_reasons"])
    removals = {
        e: {a: n for a, n in acts.items() if a in ("deactivate", "archive")} for e, acts in changes(run.counts).items()
    }
    assert all(not acts for acts in removals.values()), run.counts
    after = district.export()
    for kind in ("accounts", "classes", "enrollments"):
        assert active_ids(after, kind) == active_ids(before, kind), kind
    assert roster_state(after) == roster_state(before)

    # ClassLink is back: the next sync removes exactly what was unshared.
    outage.arm(None)
    back = sync_via_queue(stack, district, day(2))
    assert back.status == "succeeded"
    assert active_ids(before, "accounts") - active_ids(district.export(), "accounts") == deactivated
    assert changes(back.counts) == {
        "user": {"deactivate": len(deactivated)},
        "class": {"archive": 1},
        "enrollment": {"archive": len(gone_enr)},
    }
