"""apply_plan and the view: round trip, idempotence, R5 at apply time, moves, faults, resume."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from classlink_local.dynamo_faults import throttled
from classlink_sync import aws
from classlink_sync.rules.holdings import gather
from classlink_sync.rules.plan import Plan, ReservationChange
from classlink_sync.store.apply import ApplyCheckpoint, apply_plan
from classlink_sync.store.dynamo import METER, RetryPolicy, error_code, retry_attempts, roster_tables
from classlink_sync.store.view import DynamoRosterView

NO_SLEEP = RetryPolicy(attempts=12, sleep=lambda _s: None)


def roster_writes(store: Any) -> int:
    return METER.writes(roster_tables(store.settings))


def test_view_round_trip_returns_what_was_applied(store, b):
    plan = b.first_sync_plan("d1")
    result = apply_plan(plan, store, chunk_size=4)
    assert result.complete and not result.issues
    view = DynamoRosterView(store)
    accounts = {a.account_id: a for a in view.held_accounts("d1")}
    created = plan.accounts["create"]
    assert set(accounts) == {a.account_id for a in created}
    for state in created:
        held = accounts[state.account_id]
        assert (
            held.digest,
            held.username,
            held.username_norm,
            held.email_norm,
            held.role,
            held.active,
            held.sourced_id,
            held.managed,
            held.district_id,
        ) == (
            state.digest,
            state.username,
            state.username_norm,
            state.email_norm,
            state.role,
            state.active,
            state.sourced_id,
            state.managed,
            "d1",
        )
        assert (
            held.given_name,
            held.family_name,
            held.email,
            held.enabled,
            held.school_ids,
            held.grades,
        ) == (state.given_name, state.family_name, state.email, state.enabled, state.school_ids, state.grades)
    classes = {c.class_id: c for c in view.held_classes("d1")}
    assert {(c.class_id, c.sourced_id, c.digest, c.subject, c.term_ids, c.archived) for c in classes.values()} == {
        (c.class_id, c.sourced_id, c.digest, c.subject, c.term_ids, False) for c in plan.classes["create"]
    }
    for state in plan.classes["create"]:
        held_class = classes[state.class_id]
        assert (held_class.class_code, held_class.course_id, held_class.grades, held_class.school_id) == (
            state.class_code,
            state.course_id,
            state.grades,
            state.school_id,
        )
    fields = (
        "class_id",
        "account_id",
        "sourced_id",
        "digest",
        "class_sourced_id",
        "user_sourced_id",
        "role",
        "primary",
        "begin_date",
        "end_date",
    )
    enrolments = view.held_enrollments("d1")
    assert {tuple(getattr(e, f) for f in fields) for e in enrolments} == {
        tuple(getattr(e, f) for f in fields) for e in plan.enrollments["create"]
    }
    assert [(s.sourced_id, s.digest) for s in view.held_schools("d1")] == [("s1", plan.schools["create"][0].digest)]
    found = view.reservations([a.username_norm for a in created] + ["nobody"])
    assert set(found) == {a.username_norm for a in created}
    assert all(r.district_id == "d1" for r in found.values())
    assert view.stats.items > 0 and view.stats.requests >= 32 + 8 + 64 + 2


def test_writes_per_record_and_idempotent_reapply(store, b):
    plan = b.first_sync_plan("d1")
    before = roster_writes(store)
    first = apply_plan(plan, store)
    records = len(plan.accounts["create"]) + len(plan.classes["create"]) + len(plan.enrollments["create"]) + 1
    assert roster_writes(store) - before == first.total_roster_writes
    assert first.roster_writes["accounts"] == first.roster_writes["reservations"] == len(plan.accounts["create"])
    assert first.total_roster_writes == records + len(plan.accounts["create"])  # creates: item + reservation
    state = b.dump(store)
    before = roster_writes(store)
    again = apply_plan(plan, store, checkpoint=first.checkpoint.to_dict())
    assert again.complete and again.total_roster_writes == 0 and roster_writes(store) == before
    # Without a checkpoint a re-apply still succeeds and changes nothing.
    third = apply_plan(plan, store)
    assert third.complete and not third.issues and b.dump(store) == state


def test_no_change_plan_writes_nothing(store, b):
    apply_plan(b.first_sync_plan("d1"), store)
    before = roster_writes(store)
    result = apply_plan(Plan(district_id="d1", tenant_id="T1", today="2026-01-16", fetch_complete=True), store)
    assert result.complete and result.chunks_total == 0
    assert roster_writes(store) == before


def test_update_costs_one_write(store, b):
    plan = b.first_sync_plan("d1")
    apply_plan(plan, store)
    changed = dataclasses.replace(plan.accounts["create"][1], family_name="Renamed", digest="new")
    update = Plan(district_id="d1", tenant_id="T1", today="2026-01-16", fetch_complete=True)
    update.accounts["update"] = [changed]
    before = roster_writes(store)
    result = apply_plan(update, store)
    assert result.total_roster_writes == 1 and roster_writes(store) - before == 1
    held = {a.account_id: a for a in DynamoRosterView(store).held_accounts("d1")}
    assert held[changed.account_id].digest == "new"


def test_reservation_taken_between_plan_and_apply_is_an_r5_issue(store, b):
    plan = b.first_sync_plan("d1")
    victim = plan.accounts["create"][2]
    # Another district reserves the name after d1's plan was made.
    other = Plan(district_id="d2", tenant_id="T2", today="2026-01-15", fetch_complete=True)
    thief = b.account("d2", 99, tenant="T2", username=victim.username)
    other.accounts["create"] = [thief]
    other.reservations["add"] = [ReservationChange(thief.username_norm, thief.account_id, "d2")]
    apply_plan(other, store)

    result = apply_plan(plan, store)
    assert result.complete
    assert [(i.rule, i.sourced_id) for i in result.issues] == [("R5", victim.sourced_id)]
    message = result.issues[0].message
    assert victim.username in message and "email" in message and "prefix" in message
    assert result.skipped == {"accounts": 1, "enrollments": len(plan.classes["create"])}
    view = DynamoRosterView(store)
    assert victim.account_id not in {a.account_id for a in view.held_accounts("d1")}
    assert victim.account_id not in {e.account_id for e in view.held_enrollments("d1")}
    assert view.reservations([victim.username_norm])[victim.username_norm].district_id == "d2"


def _move_plan(b, acc, new_name: str) -> Plan:
    renamed = dataclasses.replace(acc, username=new_name, username_norm=new_name.lower(), digest="renamed")
    plan = Plan(district_id="d1", tenant_id="T1", today="2026-01-16", fetch_complete=True)
    plan.accounts["update"] = [renamed]
    plan.reservations["move"] = [
        ReservationChange(renamed.username_norm, acc.account_id, "d1", previous_norm=acc.username_norm)
    ]
    return plan


def test_reservation_move_is_one_transaction(store, b):
    first = b.first_sync_plan("d1")
    apply_plan(first, store)
    acc = first.accounts["create"][1]
    calls: list[str] = []

    def spy(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        calls.append(op)
        return send(op, kwargs)

    store.calls.interceptor = spy
    result = apply_plan(_move_plan(b, acc, "D1-Renamed"), store)
    assert result.complete and not result.issues
    assert calls == ["TransactWriteItems"]
    assert result.roster_writes["reservations"] == 2 and result.roster_writes["accounts"] == 1
    view = DynamoRosterView(store)
    held = {a.account_id: a for a in view.held_accounts("d1")}[acc.account_id]
    assert (held.username, held.username_norm) == ("D1-Renamed", "d1-renamed")
    found = view.reservations([acc.username_norm, "d1-renamed"])
    assert set(found) == {"d1-renamed"} and found["d1-renamed"].account_id == acc.account_id


def test_move_onto_a_taken_name_keeps_the_old_one(store, b):
    first = b.first_sync_plan("d1")
    apply_plan(first, store)
    acc, other = first.accounts["create"][1], first.accounts["create"][2]
    before = b.dump(store)
    result = apply_plan(_move_plan(b, acc, other.username), store)
    assert result.complete
    assert [i.rule for i in result.issues] == ["R5"]
    assert "keeps its previous username" in result.issues[0].message
    assert b.dump(store) == before  # nothing half-written


def test_a_move_cancelled_by_throttling_fails_the_write_and_is_no_R5_issue(store, b):
    """A TransactWriteItems cancelled with ``ThrottlingError`` reasons (botocore does not retry a
    cancellation) is a failed write: it raises, it is not reported as a username conflict (R5)."""
    first = b.first_sync_plan("d1")
    apply_plan(first, store)
    acc = first.accounts["create"][1]
    before = b.dump(store)

    def cancelled(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        if op == "TransactWriteItems":
            response: Any = {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "None"}, {"Code": "ThrottlingError"}, {"Code": "None"}],
            }
            raise ClientError(response, op)
        return send(op, kwargs)

    store.calls.interceptor = cancelled
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        apply_plan(_move_plan(b, acc, "D1-Renamed"), store)
    assert b.dump(store) == before
    store.calls.interceptor = None
    result = apply_plan(_move_plan(b, acc, "D1-Renamed"), store)  # the next run writes it
    assert result.complete and not result.issues


def test_injected_unprocessed_items_lose_nothing(b):
    plan = b.first_sync_plan("d1", students=60, classes=3)
    with b.fresh_store() as clean:
        apply_plan(plan, clean)
        expected = b.dump(clean)

    def faulty(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        if op == "BatchWriteItem":
            ((table, requests),) = kwargs["RequestItems"].items()
            if len(requests) > 1:  # write half, hand the rest back as unprocessed
                half = len(requests) // 2
                send(op, {"RequestItems": {table: requests[:half]}})
                return {"UnprocessedItems": {table: requests[half:]}}
        return send(op, kwargs)

    with b.fresh_store(interceptor=faulty, retry=NO_SLEEP) as store:
        result = apply_plan(plan, store, chunk_size=50)
        assert result.complete and not result.issues
        assert result.unprocessed_retries > 0
        assert b.dump(store) == expected


def test_throttling_is_retried_by_botocore_and_loses_nothing(b):
    """No retry loop of ours: botocore's standard mode retries a throttled request (every third
    HTTP attempt here, retries included) and ``throttled_retries`` is its RetryAttempts."""
    plan = b.first_sync_plan("d1", students=60, classes=3)
    with b.fresh_store() as clean:
        apply_plan(plan, clean)
        expected = b.dump(clean)

    attempts = itertools.count(1)
    with b.fresh_store() as store, throttled(store, lambda _op, _body: next(attempts) % 3 == 0) as seen:
        result = apply_plan(plan, store, chunk_size=50)
        assert result.complete and not result.issues
        assert sum(seen.values()) > 10 and {"BatchWriteItem", "PutItem"} <= set(seen)
        assert result.throttled_retries == sum(seen.values())  # every throttled attempt was retried
        assert b.dump(store) == expected


def test_throttling_past_botocore_attempts_fails_the_apply_and_a_resume_completes(b):
    """A request still throttled after ``aws.DYNAMODB_MAX_ATTEMPTS`` attempts raises (no second
    retry layer): the apply fails between consistent chunks and resuming from its checkpoint ends
    in the same state as a clean apply."""
    plan = b.first_sync_plan("d1", students=30, classes=2)
    with b.fresh_store() as clean:
        apply_plan(plan, clean)
        expected = b.dump(clean)

    saved: list[dict[str, Any]] = []
    with b.fresh_store() as store:
        enrollments = json.dumps(store.settings.enrollments_table).encode()

        def enrollment_writes(op: str, body: bytes) -> bool:
            return op == "BatchWriteItem" and enrollments in body

        with throttled(store, enrollment_writes) as seen, pytest.raises(ClientError) as failure:
            apply_plan(plan, store, chunk_size=20, threads=1, on_checkpoint=lambda c: saved.append(c.to_dict()))
        assert error_code(failure.value) == "ProvisionedThroughputExceededException"
        assert seen == {"BatchWriteItem": aws.DYNAMODB_MAX_ATTEMPTS}
        assert retry_attempts(failure.value) == aws.DYNAMODB_MAX_ATTEMPTS - 1
        assert saved and b.dump(store) != expected
        resumed = apply_plan(plan, store, chunk_size=20, checkpoint=ApplyCheckpoint.from_dict(saved[-1]))
        assert resumed.complete and not resumed.issues
        assert b.dump(store) == expected


def test_killed_apply_resumes_from_its_checkpoint(b):
    plan = b.first_sync_plan("d1", students=40, classes=3)
    with b.fresh_store() as clean:
        apply_plan(plan, clean)
        expected = b.dump(clean)

    class Killed(Exception):
        pass

    budget = {"left": 9}

    def killer(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        budget["left"] -= 1
        if budget["left"] < 0:
            raise Killed("Lambda timed out")
        return send(op, kwargs)

    saved: list[dict[str, Any]] = []
    with b.fresh_store(interceptor=killer) as store:
        with pytest.raises(Killed):
            apply_plan(plan, store, chunk_size=10, threads=1, on_checkpoint=lambda c: saved.append(c.to_dict()))
        assert saved and b.dump(store) != expected
        store.calls.interceptor = None
        resumed = apply_plan(plan, store, chunk_size=10, checkpoint=ApplyCheckpoint.from_dict(saved[-1]))
        assert resumed.complete and not resumed.issues
        assert set(resumed.checkpoint.done) == set(range(resumed.chunks_total))
        assert b.dump(store) == expected


def test_time_budget_stops_between_chunks_and_resumes(store, b):
    plan = b.first_sync_plan("d1", students=20)
    first = apply_plan(plan, store, chunk_size=5, should_stop=lambda: True)
    assert not first.complete and first.total_roster_writes == 0
    calls = {"n": 0}

    def after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    partial = apply_plan(plan, store, chunk_size=5, should_stop=after_two)
    assert not partial.complete and len(partial.checkpoint.done) == 2
    rest = apply_plan(plan, store, chunk_size=5, checkpoint=partial.checkpoint)
    assert rest.complete
    assert len(DynamoRosterView(store).held_accounts("d1")) == len(plan.accounts["create"])


def test_checkpoint_of_another_plan_is_refused(store, b):
    done = apply_plan(b.first_sync_plan("d1"), store).checkpoint
    with pytest.raises(ValueError, match="different plan"):
        apply_plan(b.first_sync_plan("d1", students=2), store, checkpoint=done)


def test_two_districts_with_the_same_sourced_ids_never_touch_each_other(store, b):
    p1 = b.first_sync_plan("d1", tenant="T1")
    p2 = b.first_sync_plan("d2", tenant="T2")
    # Same sourcedIds, and even the same internal ids, in both districts.
    p2.accounts["create"] = [
        dataclasses.replace(a, district_id="d2", tenant_id="T2", account_id=a.account_id.replace("d2", "d1"))
        for a in p2.accounts["create"]
    ]
    p2.reservations["add"] = [ReservationChange(a.username_norm, a.account_id, "d2") for a in p2.accounts["create"]]
    p2.classes["create"] = [
        dataclasses.replace(c, class_id=c.class_id.replace("d2", "d1")) for c in p2.classes["create"]
    ]
    p2.enrollments["create"] = [b.enrolment("d2", c, a) for c in p2.classes["create"] for a in p2.accounts["create"]]
    apply_plan(p1, store)
    apply_plan(p2, store)
    view = DynamoRosterView(store)
    d1_before = (view.held_accounts("d1"), view.held_classes("d1"), view.held_enrollments("d1"))
    # Deactivate everything in d2.
    off = Plan(district_id="d2", tenant_id="T2", today="2026-01-16", fetch_complete=True)
    off.accounts["deactivate"] = [dataclasses.replace(a, active=False) for a in p2.accounts["create"]]
    off.classes["archive"] = [dataclasses.replace(c, archived=True) for c in p2.classes["create"]]
    apply_plan(off, store)
    assert (view.held_accounts("d1"), view.held_classes("d1"), view.held_enrollments("d1")) == d1_before
    assert all(not a.active for a in view.held_accounts("d2"))
    assert len(view.held_accounts("d2")) == len(p2.accounts["create"])


def test_a_plan_cannot_write_another_districts_items(store, b):
    plan = b.first_sync_plan("d1")
    plan.classes["create"].append(b.klass("d2", 5))
    with pytest.raises(ValueError, match="across districts"):
        apply_plan(plan, store)


def test_gather_through_the_view(store, b):
    from classlink_sync.oneroster.records import RosterSnapshot

    apply_plan(b.first_sync_plan("d1"), store)
    holdings = gather(DynamoRosterView(store), "d1", RosterSnapshot())
    assert len(holdings.accounts) == 7 and len(holdings.enrollments) == 14
    assert len(holdings.classes) == 2 and len(holdings.schools) == 1
