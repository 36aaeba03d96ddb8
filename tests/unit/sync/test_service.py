"""The sync service: lease -> fetch -> plan -> hold|apply -> run record (R2, R9, R10, R12, R14)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from classlink_sync.store import locks, runs
from classlink_sync.store.accounts import export_district
from classlink_sync.store.districts import add_district
from classlink_sync.store.dynamo import METER, roster_tables
from classlink_sync.store.view import DynamoRosterView
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import DistrictBusy, SyncFailed, run_sync

sys.path.insert(0, str(Path(__file__).parent))
import roster

TODAY = "2026-11-28"


def onboard(store, district: str = "d1", tenant: str = "7") -> None:
    add_district(
        district,
        tenant_id=tenant,
        oneroster_url="https://example.invalid/ims/oneroster/v1p1",
        client_id="k",
        client_secret="s",
        schools="all",
        enable_from=dt.date(2026, 11, 28),
        override_notice=True,
        today=dt.date(2026, 11, 28),
        store=store,
    )


def request(district: str = "d1", **kw) -> SyncRequest:
    return SyncRequest(district_id=district, date=TODAY, trigger=kw.pop("trigger", "manual"), **kw)


def fetching(snapshot):
    return lambda district, store: snapshot


def test_first_sync_applies_and_records_the_run(store) -> None:
    onboard(store)
    outcome = run_sync(request(), store=store, fetch=fetching(roster.snapshot(5)))
    assert outcome.status == "succeeded"
    assert outcome.report.counts["user"]["create"] == 6
    record = runs.get_run("d1", outcome.run_id, store)
    assert record is not None and record.status == "succeeded" and record.roster_writes == outcome.report.roster_writes
    exported = export_district("d1", store)
    assert len(exported["accounts"]) == 6
    assert locks.lease_holder("d1", store) is None  # released


def test_R12_dry_run_writes_no_roster_data_and_says_what_it_would_do(store) -> None:
    onboard(store)
    METER.reset()
    outcome = run_sync(request(dry_run=True), store=store, fetch=fetching(roster.snapshot(5)))
    assert outcome.status == "dry_run"
    assert outcome.report.counts["user"]["create"] == 6
    assert METER.writes(roster_tables(store.settings)) == 0
    assert export_district("d1", store)["accounts"] == []


def test_R10_mass_removal_holds_the_run_and_approve_applies_it(store) -> None:
    onboard(store)
    run_sync(request(), store=store, fetch=fetching(roster.snapshot(60)))
    METER.reset()
    held = run_sync(request(), store=store, fetch=fetching(roster.snapshot(20)))
    assert held.status == "held"
    assert METER.writes(roster_tables(store.settings)) == 0
    assert held.report.guard_reasons
    assert runs.load_held_plan(runs.get_run("d1", held.run_id, store), store).accounts["deactivate"]

    approved = run_sync(
        request(trigger="approve", approve_run_id=held.run_id), store=store, fetch=fetching(roster.snapshot(20))
    )
    assert approved.status == "succeeded"
    assert approved.report.counts["account"]["deactivate"] == 40 if "account" in approved.report.counts else True
    assert runs.get_run("d1", held.run_id, store).status == "approved"
    active = [a for a in export_district("d1", store)["accounts"] if a["active"]]
    assert len(active) == 21


def test_R10_only_a_held_run_can_be_approved(store) -> None:
    onboard(store)
    done = run_sync(request(), store=store, fetch=fetching(roster.snapshot(3)))
    with pytest.raises(ValueError, match="not held"):
        run_sync(
            request(trigger="approve", approve_run_id=done.run_id), store=store, fetch=fetching(roster.snapshot(3))
        )


def test_R9_incomplete_fetch_removes_nothing_and_fails_the_run(store) -> None:
    onboard(store)
    run_sync(request(), store=store, fetch=fetching(roster.snapshot(10)))
    with pytest.raises(SyncFailed) as failed:
        run_sync(request(), store=store, fetch=fetching(roster.snapshot(4, complete=False)))
    report = failed.value.report
    assert report.status == "failed" and "nothing was removed (R9)" in (report.error or "")
    assert all(a["active"] for a in export_district("d1", store)["accounts"])
    assert runs.get_run("d1", report.run_id, store).status == "failed"


def test_R14_a_second_sync_of_a_district_waits_for_the_lease(store) -> None:
    onboard(store)
    assert locks.acquire_lease("d1", "someone-else", 600, store)
    with pytest.raises(DistrictBusy, match="R14"):
        run_sync(request(), store=store, fetch=fetching(roster.snapshot(3)))
    assert runs.list_runs("d1", store) == []


def test_a_fetch_error_is_recorded_as_a_failed_run_and_raised_for_a_retry(store) -> None:
    onboard(store)

    def broken(district, store):
        raise ConnectionError("ClassLink unreachable")

    with pytest.raises(SyncFailed, match="ClassLink unreachable"):
        run_sync(request(), store=store, fetch=broken)
    (record,) = runs.list_runs("d1", store)
    assert record.status == "failed" and "ClassLink unreachable" in (record.error or "")
    assert locks.lease_holder("d1", store) is None


def test_R2_first_real_sync_resets_the_district_and_relinks_matches(store, tmp_path) -> None:
    from classlink_sync.store.accounts import import_accounts
    from classlink_sync.store.districts import get_district

    onboard(store)
    csv = tmp_path / "old.csv"
    csv.write_text(
        "username,email,given_name,family_name,role\nisd-T1,,Old,Teacher,teacher\ngone.user,,Gone,User,student\n"
    )
    import_accounts("d1", csv, store)
    outcome = run_sync(request(), store=store, fetch=fetching(roster.snapshot(2)))
    assert get_district("d1", store).reset_done
    held = {a.username_norm: a for a in DynamoRosterView(store).held_accounts("d1")}
    assert outcome.report.counts["user"].get("link") == 1
    assert held["isd-t1"].active and held["isd-t1"].sourced_id == "t1"  # R6: linked and reactivated
    assert not held["gone.user"].active and held["gone.user"].sourced_id is None  # R2: stays deactivated
    assert outcome.report.recommended_for_removal == [held["gone.user"].account_id]
