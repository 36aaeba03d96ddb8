"""Issue 9, record-level isolation (store half): one record DynamoDB cannot hold never fails the
sync, and an apply never leaves a username reservation without its account (R4, R5).

DynamoDB's limits (and moto's, which enforces them): an item <= 400 KB with its attribute names,
a partition key <= 2048 bytes, a sort key <= 1024 bytes, the same for the ``sig`` key of the
``signin`` index, and no empty string in a key attribute.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from classlink_sync.oneroster.records import RosterSnapshot
from classlink_sync.rules.holdings import Reservation, gather
from classlink_sync.rules.normalise import normalise
from classlink_sync.rules.plan import Plan, ReservationChange
from classlink_sync.store.apply import ApplyCheckpoint, apply_plan
from classlink_sync.store.items import account_item, check_account, reservation_item
from classlink_sync.store.limits import MAX_ITEM_BYTES, item_size
from classlink_sync.store.view import DynamoRosterView

Interceptor = Callable[[str, dict[str, Any], Any], dict[str, Any]]


def _scan(store: Any, table: str) -> list[dict[str, Any]]:
    return store.calls.connection.dispatch("Scan", {"TableName": table}).get("Items", [])


def reservations(store: Any) -> dict[str, tuple[str, str]]:
    """Every reservation: normalised username -> (account id, district)."""
    return {i["pk"]["S"]: (i["a"]["S"], i["d"]["S"]) for i in _scan(store, store.settings.reservations_table)}


def account_ids(store: Any) -> set[str]:
    return {i["sk"]["S"] for i in _scan(store, store.settings.accounts_table)}


def orphans(store: Any) -> dict[str, tuple[str, str]]:
    """Reservations whose account item does not exist (R5: they refuse other users for nothing)."""
    held = account_ids(store)
    return {norm: owner for norm, owner in reservations(store).items() if owner[0] not in held}


def with_account(plan: Plan, index: int, **changes: Any) -> Plan:
    """The plan with its ``index``-th created account changed (its reservation and enrolments
    follow the new username and sourcedId)."""
    old = plan.accounts["create"][index]
    if "username" in changes:
        changes.setdefault("username_norm", normalise(changes["username"]) or "")
    new = dataclasses.replace(old, **changes)
    plan.accounts["create"][index] = new
    plan.reservations["add"] = [
        ReservationChange(new.username_norm, new.account_id, plan.district_id) if r.account_id == old.account_id else r
        for r in plan.reservations["add"]
    ]
    plan.enrollments["create"] = [
        dataclasses.replace(e, user_sourced_id=new.sourced_id or "") if e.account_id == old.account_id else e
        for e in plan.enrollments["create"]
    ]
    return plan


def validation_error(op: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ValidationException", "Message": "One or more parameter values were invalid"}}, op
    )


OVERSIZED = {
    "username of 10 KB": ("username", {"username": "u" * 10_000}),
    # U+FDFA is 3 bytes, but NFKC makes it 18 characters (33 bytes): 120 of them are 360 bytes as
    # sent and 3,960 bytes as the normalised reservation key.
    "username of 120 x U+FDFA": ("username", {"username": "\ufdfa" * 120}),
    # The sign-in index key is "{tenant}#{sourcedId}": over the GSI's 2048 bytes.
    "sourcedId of 10 KB": ("sourcedId", {"sourced_id": "s" * 10_000}),
}


@pytest.mark.parametrize("field, changes", OVERSIZED.values(), ids=list(OVERSIZED))
def test_R4_oversized_username_is_reported_and_the_rest_applies(store, b, field, changes):
    plan = with_account(b.first_sync_plan("d1", students=10), 3, **changes)
    bad = plan.accounts["create"][3]
    good = [a for a in plan.accounts["create"] if a.account_id != bad.account_id]
    assert len(good) == 10

    result = apply_plan(plan, store, chunk_size=4)

    assert result.complete
    assert [(i.rule, i.entity, i.sourced_id, i.field) for i in result.issues] == [("R4", "user", bad.sourced_id, field)]
    assert "not created" in result.issues[0].message
    assert account_ids(store) == {a.account_id for a in good}
    assert sorted(reservations(store)) == sorted(a.username_norm for a in good)  # none for the bad one
    assert orphans(store) == {}
    view = DynamoRosterView(store)
    assert len(view.held_classes("d1")) == len(plan.classes["create"])
    assert {e.account_id for e in view.held_enrollments("d1")} == {a.account_id for a in good}
    assert result.skipped == {"accounts": 1, "enrollments": len(plan.classes["create"])}


def test_R4_oversized_family_name_item_over_400KB_is_skipped_not_fatal(store, b):
    plan = with_account(b.first_sync_plan("d1", students=10), 5, family_name="F" * 450_000)
    bad = plan.accounts["create"][5]
    assert item_size(account_item(bad)) > MAX_ITEM_BYTES
    problem = check_account(bad)
    assert problem is not None and problem.field == "familyName"

    result = apply_plan(plan, store)

    assert result.complete
    [issue] = result.issues
    assert (issue.rule, issue.sourced_id, issue.field) == ("R4", bad.sourced_id, "familyName")
    assert "familyName" in issue.message and "400 KB" in issue.message
    assert bad.account_id not in account_ids(store)
    assert bad.username_norm not in reservations(store)  # its reservation was never written
    assert orphans(store) == {}
    assert len(account_ids(store)) == 10
    assert len(DynamoRosterView(store).held_classes("d1")) == len(plan.classes["create"])


def test_R4_oversized_class_school_and_enrolment_items_are_skipped_not_fatal(store, b):
    plan = b.first_sync_plan("d1", students=3, classes=3)
    big_class = dataclasses.replace(plan.classes["create"][1], title="French " + "x" * 450_000)
    plan.classes["create"][1] = big_class
    big_school = dataclasses.replace(b.school("d1"), sourced_id="o" * 10_000)  # the sort key
    plan.schools["create"].append(big_school)
    enrolments = list(plan.enrollments["create"])
    kept_class = plan.classes["create"][0]
    big_enrolment = next(e for e in enrolments if e.class_id == kept_class.class_id)
    enrolments[enrolments.index(big_enrolment)] = dataclasses.replace(big_enrolment, begin_date="2" * 450_000)
    plan.enrollments["create"] = enrolments

    result = apply_plan(plan, store, chunk_size=5)

    assert result.complete
    assert sorted((i.rule, i.entity, i.sourced_id, i.field) for i in result.issues) == sorted(
        [
            ("R4", "class", big_class.sourced_id, "title"),
            ("R4", "org", big_school.sourced_id, "sourcedId"),
            ("R4", "enrollment", big_enrolment.sourced_id, "beginDate"),
        ]
    )
    view = DynamoRosterView(store)
    assert {c.class_id for c in view.held_classes("d1")} == {
        c.class_id for c in plan.classes["create"] if c.class_id != big_class.class_id
    }
    held_enrolments = {(e.class_id, e.account_id) for e in view.held_enrollments("d1")}
    # The enrolments of the class that was not written wait for it; the oversized one is skipped.
    assert held_enrolments == {
        (e.class_id, e.account_id)
        for e in plan.enrollments["create"]
        if e.class_id != big_class.class_id and e.sourced_id != big_enrolment.sourced_id
    }
    assert [s.sourced_id for s in view.held_schools("d1")] == ["s1"]
    assert len(account_ids(store)) == len(plan.accounts["create"])
    assert result.skipped["classes"] == 1 and result.skipped["schools"] == 1
    assert result.skipped["enrollments"] == 1 + len(plan.accounts["create"])


def test_R4_validation_exception_for_one_item_is_isolated(b):
    """An item that passes our checks but that DynamoDB still refuses (a ValidationException for
    its whole BatchWriteItem): the batch is written again item by item, the one it refuses is an
    R4 issue, the rest is written; a refused account gives its reservation back."""
    plan = b.first_sync_plan("d1", students=8, classes=2)
    bad_account = plan.accounts["create"][4]
    bad_class = plan.classes["create"][1]
    refused = {bad_account.account_id, bad_class.class_id}

    def refuse(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        if op == "BatchWriteItem":
            ((_table, requests),) = kwargs["RequestItems"].items()
            if any(r["PutRequest"]["Item"]["sk"]["S"] in refused for r in requests):
                raise validation_error(op)
        return send(op, kwargs)

    with b.fresh_store(interceptor=refuse) as store:
        result = apply_plan(plan, store, chunk_size=4)
        assert result.complete
        assert sorted((i.rule, i.entity, i.sourced_id) for i in result.issues) == [
            ("R4", "class", bad_class.sourced_id),
            ("R4", "user", bad_account.sourced_id),
        ]
        assert all("DynamoDB" in i.message for i in result.issues)
        assert account_ids(store) == {a.account_id for a in plan.accounts["create"]} - {bad_account.account_id}
        assert bad_account.username_norm not in reservations(store)
        assert orphans(store) == {}
        view = DynamoRosterView(store)
        assert {c.class_id for c in view.held_classes("d1")} == {plan.classes["create"][0].class_id}
        assert {(e.class_id, e.account_id) for e in view.held_enrollments("d1")} == {
            (e.class_id, e.account_id)
            for e in plan.enrollments["create"]
            if e.class_id != bad_class.class_id and e.account_id != bad_account.account_id
        }


class Boom(Exception):
    """A failure the apply cannot handle (throttling past botocore's attempts, a bug...)."""


def test_R5_a_failed_apply_leaves_no_orphan_reservation(b):
    """A failure after a chunk's reservations and before (or while) its accounts are written:
    the reservations whose account was not written are given back before the error surfaces;
    those whose account was written stay. A resume from the checkpoint completes the apply."""
    plan = b.first_sync_plan("d1", students=10)
    with b.fresh_store() as clean:
        apply_plan(plan, clean)
        expected = b.dump(clean)

    account_batches = {"n": 0}

    def fail_second_account_chunk(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        if op == "BatchWriteItem" and "accounts" in next(iter(kwargs["RequestItems"])):
            account_batches["n"] += 1
            if account_batches["n"] == 2:
                raise Boom("the account write failed")
        return send(op, kwargs)

    saved: list[dict[str, Any]] = []
    with b.fresh_store(interceptor=fail_second_account_chunk) as store:
        with pytest.raises(Boom):
            apply_plan(plan, store, chunk_size=4, threads=1, on_checkpoint=lambda c: saved.append(c.to_dict()))
        written = account_ids(store)
        assert len(written) == 4  # the first chunk's accounts
        assert orphans(store) == {}
        assert {owner[0] for owner in reservations(store).values()} == written

        store.calls.interceptor = None
        resumed = apply_plan(plan, store, chunk_size=4, checkpoint=ApplyCheckpoint.from_dict(saved[-1]))
        assert resumed.complete and not resumed.issues
        assert b.dump(store) == expected


def test_R5_a_failure_while_reserving_gives_back_the_chunks_reservations(b):
    plan = b.first_sync_plan("d1", students=10)
    puts = {"n": 0}

    def fail_third_reservation(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        if op == "PutItem" and "reservations" in kwargs["TableName"]:
            puts["n"] += 1
            if puts["n"] == 7:  # the third of the second chunk
                raise Boom("killed while reserving")
        return send(op, kwargs)

    with b.fresh_store(interceptor=fail_third_reservation) as store:
        with pytest.raises(Boom):
            apply_plan(plan, store, chunk_size=4, threads=1)
        assert len(account_ids(store)) == 4
        assert orphans(store) == {}


def _orphan(store: Any, norm: str, account_id: str, district: str) -> None:
    """What an apply killed before this change left: a reservation whose account was never written."""
    store.calls.put(store.settings.reservations_table, reservation_item(norm, account_id, district))


def test_R5_orphan_reservation_of_the_district_is_released_by_the_next_sync(store, b):
    first = b.first_sync_plan("d1")
    apply_plan(first, store)
    _orphan(store, "gone.user", "d1-acc-gone", "d1")  # its user is no longer in ClassLink
    _orphan(store, "back.user", "d1-acc-back", "d1")  # its user comes back: adopted (planner R5)
    assert set(orphans(store)) == {"gone.user", "back.user"}

    view = DynamoRosterView(store)
    gather(view, "d1", RosterSnapshot())  # the next sync reads what the district holds
    back = dataclasses.replace(
        b.account("d1", 50, username="back.user"), account_id="d1-acc-back", username_norm="back.user"
    )
    nxt = Plan(district_id="d1", tenant_id="T1", today="2026-01-16", fetch_complete=True)
    nxt.accounts["create"] = [back]
    nxt.reservations["add"] = [ReservationChange("back.user", "d1-acc-back", "d1")]

    result = apply_plan(nxt, store, find_orphans=view.orphan_reservations)

    assert result.complete and not result.issues
    assert result.released_orphans == 1
    held = reservations(store)
    assert "gone.user" not in held
    assert held["back.user"] == ("d1-acc-back", "d1") and "d1-acc-back" in account_ids(store)
    assert orphans(store) == {}
    assert all(held[a.username_norm] == (a.account_id, "d1") for a in first.accounts["create"])
    # Nothing left to release: the sync after that writes nothing.
    again = apply_plan(
        Plan(district_id="d1", tenant_id="T1", today="2026-01-17", fetch_complete=True),
        store,
        find_orphans=DynamoRosterView(store).orphan_reservations,
    )
    assert again.released_orphans == 0 and again.total_roster_writes == 0


def test_R5_orphans_are_not_released_after_an_incomplete_fetch(store, b):
    apply_plan(b.first_sync_plan("d1"), store)
    _orphan(store, "unseen.user", "d1-acc-unseen", "d1")  # maybe its user was on a page not read
    view = DynamoRosterView(store)
    gather(view, "d1", RosterSnapshot())
    partial = Plan(district_id="d1", tenant_id="T1", today="2026-01-16", fetch_complete=False)
    result = apply_plan(partial, store, find_orphans=view.orphan_reservations)
    assert result.released_orphans == 0 and "unseen.user" in reservations(store)


def test_R5_a_failing_orphan_search_never_fails_the_apply(store, b):
    def broken(_district: str) -> list[Reservation]:
        raise validation_error("Scan")

    plan = b.first_sync_plan("d1")
    result = apply_plan(plan, store, find_orphans=broken)
    assert result.complete and not result.issues and result.released_orphans == 0
    assert result.orphan_error is not None and "ValidationException" in result.orphan_error
    assert len(account_ids(store)) == len(plan.accounts["create"])


def test_R5_other_districts_reservations_are_never_released(store, b):
    apply_plan(b.first_sync_plan("d1"), store)
    d2 = b.first_sync_plan("d2", tenant="T2", students=2)
    apply_plan(d2, store)
    _orphan(store, "d2.orphan", "d2-acc-gone", "d2")  # d2's own business, not d1's
    _orphan(store, "d1.orphan", "d1-acc-gone", "d1")
    before = {k: v for k, v in reservations(store).items() if v[1] == "d2"}

    view = DynamoRosterView(store)
    found = view.orphan_reservations("d1")
    assert [(r.username_norm, r.district_id) for r in found] == [("d1.orphan", "d1")]

    def forged(_district: str) -> list[Reservation]:
        # A finder that (wrongly) hands over other districts' reservations, orphan or not, and
        # one that names d1 but is held by d2 in the table.
        return [
            Reservation("d2.orphan", "d2-acc-gone", "d2"),
            Reservation(d2.accounts["create"][0].username_norm, d2.accounts["create"][0].account_id, "d2"),
            Reservation(d2.accounts["create"][1].username_norm, "d2-acc-gone", "d1"),
            *found,
        ]

    result = apply_plan(
        Plan(district_id="d1", tenant_id="T1", today="2026-01-16", fetch_complete=True), store, find_orphans=forged
    )
    assert result.released_orphans == 1
    assert {k: v for k, v in reservations(store).items() if v[1] == "d2"} == before
    assert "d1.orphan" not in reservations(store)
    gather(view, "d2", RosterSnapshot())
    assert [r.username_norm for r in view.orphan_reservations("d2")] == ["d2.orphan"]


# -- through the sync service: the tester's scenario ------------------------------------------------
def _onboard(store: Any, district: str, tenant: str) -> None:
    import datetime as dt

    from classlink_sync.store.districts import add_district

    day = dt.date(2026, 11, 28)
    add_district(
        district,
        tenant_id=tenant,
        oneroster_url="https://example.invalid/ims/oneroster/v1p1",
        client_id="k",
        client_secret="s",
        schools="all",
        enable_from=day,
        override_notice=True,
        today=day,
        store=store,
    )


def _sync(store: Any, snapshot: RosterSnapshot, district: str = "d1") -> Any:
    from classlink_sync.sync.messages import SyncRequest
    from classlink_sync.sync.service import run_sync

    request = SyncRequest(district_id=district, date="2026-11-28", trigger="manual")
    return run_sync(request, store=store, fetch=lambda _district, _store: snapshot, raise_on_failure=False)


@pytest.mark.parametrize(
    "changes",
    [{"family_name": "F" * 450_000}, {"username": "u" * 10_000}, {"username": "\ufdfa" * 120}],
    ids=["family name of 450 KB", "username of 10 KB", "username of 120 x U+FDFA"],
)
def test_R4_one_oversized_user_does_not_fail_the_sync(store, changes):
    from tests.unit.sync import roster

    _onboard(store, "d1", "7")
    snapshot = roster.snapshot(10)
    snapshot.users["s3"] = dataclasses.replace(snapshot.users["s3"], **changes)

    outcome = _sync(store, snapshot)

    assert outcome.status == "succeeded", outcome.report.error
    assert ("R4", "s3") in {(i.rule, i.sourced_id) for i in outcome.report.issues}
    view = DynamoRosterView(store)
    assert sorted(a.sourced_id or "" for a in view.held_accounts("d1")) == sorted(set(snapshot.users) - {"s3"})
    assert len(view.held_classes("d1")) == 1
    assert orphans(store) == {}


def test_R5_the_next_sync_releases_the_districts_orphans_and_records_them(store):
    from classlink_sync.store import runs
    from tests.unit.sync import roster

    _onboard(store, "d1", "7")
    _onboard(store, "d2", "8")
    assert _sync(store, roster.snapshot(3)).status == "succeeded"
    _orphan(store, "isd-gone", "d1-acc-gone", "d1")  # its user left ClassLink meanwhile
    _orphan(store, "isd-s3", "d1-acc-interrupted", "d1")  # s3 arrives now: the planner adopts it
    _orphan(store, "other-isd-x", "d2-acc-gone", "d2")
    runs.create_run("d1", "schedule", store)  # the run whose apply was killed: never finished
    before = reservations(store)

    outcome = _sync(store, roster.snapshot(4))

    assert outcome.status == "succeeded", outcome.report.error
    assert not [i for i in outcome.report.issues if i.rule == "R5"]
    report = runs.load_report(runs.get_run("d1", outcome.run_id, store), store)
    assert report["apply"]["released_orphans"] == 1
    after = reservations(store)
    assert "isd-gone" not in after
    assert after["isd-s3"] == ("d1-acc-interrupted", "d1")
    s3 = next(a for a in DynamoRosterView(store).held_accounts("d1") if a.sourced_id == "s3")
    assert s3.account_id == "d1-acc-interrupted"
    assert after["other-isd-x"] == before["other-isd-x"]  # another district's: never touched
    assert orphans(store) == {"other-isd-x": ("d2-acc-gone", "d2")}


def test_R5_orphan_search_runs_after_an_unfinished_run_or_once_a_week(store):
    """The search scans the whole Reservations table (no index on the district), so a sync after
    a clean one skips it until a week has passed; a run that did not finish makes the next one
    search at once."""
    from classlink_sync.store import locks, runs
    from tests.unit.sync import roster

    _onboard(store, "d1", "7")
    assert _sync(store, roster.snapshot(3)).status == "succeeded"  # first sync: searches, claims the week
    _orphan(store, "isd-gone", "d1-acc-gone", "d1")
    second = _sync(store, roster.snapshot(3))
    assert runs.load_report(runs.get_run("d1", second.run_id, store), store)["apply"]["released_orphans"] == 0
    assert "isd-gone" in reservations(store)  # clean run before it: no search this week
    week_later = time.time() + locks.ORPHAN_SCAN_SECONDS + 1
    assert locks.claim_orphan_scan("d1", store, after_unfinished_run=False, clock=lambda: week_later)
    assert not locks.claim_orphan_scan("d1", store, after_unfinished_run=False, clock=lambda: week_later)
    runs.create_run("d1", "schedule", store)  # killed
    third = _sync(store, roster.snapshot(3))
    assert runs.load_report(runs.get_run("d1", third.run_id, store), store)["apply"]["released_orphans"] == 1
    assert "isd-gone" not in reservations(store)


# -- the pure check ----------------------------------------------------------------------------------
def test_R4_check_item_knows_dynamodbs_limits(b):
    from classlink_sync.store.items import ACCOUNT_KEYS, RESERVATION_KEYS, SCHOOL_KEYS
    from classlink_sync.store.limits import EMPTY_KEY, ITEM_SIZE, KEY_SIZE, MISSING_KEY, check_item

    def kind(item: dict[str, Any], keys: Any) -> str | None:
        problem = check_item(item, keys)
        return None if problem is None else problem.kind

    item = account_item(b.account("d1", 1))
    assert check_item(item, ACCOUNT_KEYS) is None
    assert item_size({"ab": {"S": "é"}, "l": {"L": [{"S": "x"}, {"BOOL": True}]}}) == (2 + 2) + (1 + 3 + 2 + 2)
    # The sign-in index key: absent is fine (the index is sparse), empty or too long is not.
    assert check_item({k: v for k, v in item.items() if k != "sig"}, ACCOUNT_KEYS) is None
    assert kind({**item, "sig": {"S": ""}}, ACCOUNT_KEYS) == EMPTY_KEY
    assert kind({**item, "sig": {"S": "T#" + "s" * 2047}}, ACCOUNT_KEYS) == KEY_SIZE
    assert kind({"sk": {"S": "x"}}, SCHOOL_KEYS) == MISSING_KEY
    assert check_item({"pk": {"S": "d#0"}, "sk": {"S": "o" * 1024}}, SCHOOL_KEYS) is None
    assert kind({"pk": {"S": "d#0"}, "sk": {"S": "o" * 1025}}, SCHOOL_KEYS) == KEY_SIZE
    # NFKC turns each U+FDFA (3 bytes) into 18 characters (33 bytes): the reservation key is checked
    # after normalisation.
    norm = normalise("\ufdfa" * 120) or ""
    assert len(("\ufdfa" * 120).encode()) == 360 and len(norm.encode()) == 3960
    problem = check_item({"pk": {"S": norm}}, RESERVATION_KEYS)
    assert problem is not None and (problem.kind, problem.size, problem.limit) == (KEY_SIZE, 3960, 2048)
    big = {**item, "fn": {"S": "F" * 409_600}}
    problem = check_item(big, ACCOUNT_KEYS)
    assert problem is not None and (problem.kind, problem.attribute) == (ITEM_SIZE, "fn")
    assert problem.size == item_size(big) > MAX_ITEM_BYTES
