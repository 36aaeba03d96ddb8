"""Proven absence in the sync service (R9): before a held record absent from a complete fetch may be
removed, the fetcher's confirmer looks it up; records found still shared are put back into the
snapshot, records it cannot vouch for are listed in ``snapshot.unconfirmed_absent``, and the cost
is recorded in the run record (``absence_checks``)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from classlink_sync.oneroster.client import AbsenceCheck
from classlink_sync.report import render_text
from classlink_sync.store import runs
from classlink_sync.store.accounts import export_district
from classlink_sync.store.districts import add_district
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import Fetched, run_sync

sys.path.insert(0, str(Path(__file__).parent))
import roster

TODAY = "2026-11-28"


def onboard(store, url: str = "https://example.invalid/ims/oneroster/v1p1", key: str = "k", secret: str = "s"):
    add_district(
        "d1",
        tenant_id="7",
        oneroster_url=url,
        client_id=key,
        client_secret=secret,
        schools="all",
        enable_from=dt.date(2026, 11, 28),
        override_notice=True,
        today=dt.date(2026, 11, 28),
        store=store,
    )


def request() -> SyncRequest:
    return SyncRequest(district_id="d1", date=TODAY, trigger="manual")


def fetching(snapshot):
    return lambda district, store: snapshot


class Confirmer:
    """A fake ``confirm_absent``: ``found`` ids are still shared, ``unconfirmed`` cannot be vouched
    for, the rest are confirmed gone. One request per id."""

    def __init__(self, found: dict | None = None, unconfirmed: Iterable[str] = ()) -> None:
        self.found = found or {}
        self.unconfirmed = set(unconfirmed)
        self.calls: list[tuple[str, set[str]]] = []

    def __call__(self, collection: str, sourced_ids: Iterable[str]) -> AbsenceCheck:
        ids = set(sourced_ids)
        self.calls.append((collection, ids))
        check = AbsenceCheck(collection, checked=len(ids), requests=len(ids))
        for sid in ids:
            if sid in self.found:
                check.found[sid] = self.found[sid]
            elif sid in self.unconfirmed:
                check.unconfirmed[sid] = "HTTP 503 after 6 attempts"
            else:
                check.confirmed.add(sid)
        return check


def without_user(snapshot, sid: str):
    snapshot.users.pop(sid)
    status = snapshot.collections["users"]
    status.received = status.total = len(snapshot.users)
    return snapshot


def run_record(store, run_id: str) -> dict:
    """The full run record (the report JSON the store keeps)."""
    record = runs.get_run("d1", run_id, store)
    assert record is not None
    return runs.load_report(record, store)


def active_accounts(store) -> set[str]:
    return {a["sourcedId"] for a in export_district("d1", store)["accounts"] if a["active"] and a["sourcedId"]}


def test_R9_a_user_found_still_shared_is_put_back_and_not_deactivated(store) -> None:
    onboard(store)
    run_sync(request(), store=store, fetch=fetching(roster.snapshot(5)))
    assert "s3" in active_accounts(store)
    full = roster.snapshot(5)
    confirmer = Confirmer(found={"s3": full.users["s3"]})
    outcome = run_sync(
        request(), store=store, fetch=lambda d, s: Fetched(without_user(roster.snapshot(5), "s3"), confirmer)
    )
    assert outcome.status == "succeeded"
    assert confirmer.calls == [("users", {"s3"})]  # only held, active records absent from the fetch
    assert "s3" in active_accounts(store)
    assert not outcome.report.counts.get("user", {}).get("deactivate")
    report = run_record(store, outcome.run_id)
    checks = report["absence_checks"]
    assert (checks["checked"], checks["found"], checks["confirmed"], checks["unconfirmed"]) == (1, 1, 0, 0)
    assert checks["requests"] == 1 and checks["rereads"] == []
    assert checks["collections"]["users"]["found"] == 1
    assert "R9" in render_text(outcome.report) and "found still shared 1" in render_text(outcome.report)


def test_R9_confirmed_absence_still_removes(store) -> None:
    onboard(store)
    run_sync(request(), store=store, fetch=fetching(roster.snapshot(5)))
    confirmer = Confirmer()
    outcome = run_sync(
        request(), store=store, fetch=lambda d, s: Fetched(without_user(roster.snapshot(5), "s3"), confirmer)
    )
    assert outcome.report.counts["user"]["deactivate"] == 1 and "s3" not in active_accounts(store)
    report = run_record(store, outcome.run_id)
    assert report["absence_checks"]["confirmed"] == 1


def test_R9_unconfirmed_absence_is_recorded_in_the_snapshot_and_the_run(store) -> None:
    onboard(store)
    run_sync(request(), store=store, fetch=fetching(roster.snapshot(5)))
    snapshot = without_user(roster.snapshot(5), "s3")
    outcome = run_sync(request(), store=store, fetch=lambda d, s: Fetched(snapshot, Confirmer(unconfirmed={"s3"})))
    assert snapshot.unconfirmed_absent == {"users": {"s3"}}  # the planner withholds removal of these (R9)
    report = run_record(store, outcome.run_id)
    assert report["absence_checks"]["unconfirmed"] == 1
    assert report["absence_checks"]["collections"]["users"]["unconfirmed_ids"] == ["s3"]


def test_R9_a_confirmer_that_fails_leaves_every_absence_unconfirmed(store) -> None:
    onboard(store)
    run_sync(request(), store=store, fetch=fetching(roster.snapshot(5)))
    snapshot = without_user(roster.snapshot(5), "s3")

    def broken(collection: str, ids: Iterable[str]) -> AbsenceCheck:
        raise ConnectionError("ClassLink unreachable")

    outcome = run_sync(request(), store=store, fetch=lambda d, s: Fetched(snapshot, broken))
    assert snapshot.unconfirmed_absent == {"users": {"s3"}}
    report = run_record(store, outcome.run_id)
    assert "ClassLink unreachable" in report["absence_checks"]["collections"]["users"]["error"]


def test_R9_a_fetcher_without_a_confirmer_skips_the_check_explicitly(store) -> None:
    onboard(store)
    run_sync(request(), store=store, fetch=fetching(roster.snapshot(5)))
    outcome = run_sync(request(), store=store, fetch=fetching(without_user(roster.snapshot(5), "s3")))
    report = run_record(store, outcome.run_id)
    assert "no confirmer" in report["absence_checks"]["skipped"]


def test_R9_an_incomplete_fetch_checks_nothing(store) -> None:
    onboard(store)
    run_sync(request(), store=store, fetch=fetching(roster.snapshot(5)))
    confirmer = Confirmer()
    outcome = run_sync(
        request(),
        store=store,
        fetch=lambda d, s: Fetched(roster.snapshot(3, complete=False), confirmer),
        raise_on_failure=False,
    )
    assert confirmer.calls == [] and outcome.status == "failed"
    report = run_record(store, outcome.run_id)
    assert "incomplete" in report["absence_checks"]["skipped"]


# -- end to end: the emulator's delete-and-insert shift through run_sync and the real client ------


@pytest.fixture
def one_page_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages in order (R14 page concurrency 1), so the shift below misses a known user."""
    monkeypatch.setenv("PAGE_CONCURRENCY", "1")


def test_R9_delete_and_insert_shift_through_run_sync_deactivates_nobody_still_active(
    one_page_at_a_time, store, emulator_factory
) -> None:
    emulator = emulator_factory(users=120, problem_share=0.0)
    onboard(store, emulator.base_url, emulator.client_id, emulator.client_secret)
    first = run_sync(request(), store=store)
    assert first.status == "succeeded", first.report.error
    users = emulator.dataset.users
    active = active_accounts(store)
    # The user at the page boundary is an active account: the shift makes the fetch miss it.
    boundary = next(i for i, sid in enumerate(users.ids()) if i >= 10 and sid in active)
    missed = users.ids()[boundary]
    emulator.oneroster.max_limit = boundary
    emulator.faults.add("shift", after=1, limit=1, path="/users", mode="replace")

    outcome = run_sync(request(), store=store)
    assert outcome.status == "succeeded", outcome.report.error
    still_shared = set(users.ids())
    assert missed in still_shared and missed in active_accounts(store)
    assert (active & still_shared) <= active_accounts(store)  # nobody still in ClassLink deactivated
    assert not outcome.report.counts.get("user", {}).get("deactivate")
    report = run_record(store, outcome.run_id)
    checks = report["absence_checks"]
    assert (checks["checked"], checks["found"], checks["confirmed"], checks["unconfirmed"]) == (1, 1, 0, 0)
    assert checks["requests"] == 1 and checks["rereads"] == []
