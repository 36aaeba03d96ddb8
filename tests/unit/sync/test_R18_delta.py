"""R18 delta syncs through the sync service on the real store (in-process moto): ClassLink's changes
only, planned over what we hold, never a removal (R9), ``deferred`` reported; zero roster writes
when nothing changed; T = the last successful start less the overlap; a delta whose data changes
mid-pull is abandoned and retried; the next full sync removes."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from classlink_sync.errors import DeltaAbandoned
from classlink_sync.oneroster.records import TOBEDELETED, CollectionStatus, EnrollmentRecord, RosterSnapshot
from classlink_sync.store import runs
from classlink_sync.store.accounts import export_district
from classlink_sync.store.dynamo import METER, roster_tables
from classlink_sync.sync import delta
from classlink_sync.sync.service import SyncFailed, run_sync

sys.path.insert(0, str(Path(__file__).parent))
import roster
from test_service import fetching, onboard, request

SCHOOL = roster.SCHOOL


def changes(**collections) -> RosterSnapshot:
    """A delta as the client returns it: only these records, every collection never complete (R9)."""
    snap = RosterSnapshot()
    for name, attribute in (
        ("orgs", "orgs"),
        ("academicSessions", "academic_sessions"),
        ("courses", "courses"),
        ("classes", "classes"),
        ("users", "users"),
        ("enrollments", "enrollments"),
    ):
        records = {r.sourced_id: r for r in collections.get(attribute, ())}
        setattr(snap, attribute, records)
        reason = "delta fetch (dateLastModified>'...'): a delta never proves absence (R9)"
        snap.collections[name] = CollectionStatus(name, False, len(records), len(records), reason)
    return snap


def accounts(store) -> dict[str, dict]:
    return {a["sourcedId"]: a for a in export_district("d1", store)["accounts"] if a.get("sourcedId")}


def enrolments(store) -> dict[str, dict]:
    return {e["sourcedId"]: e for e in export_district("d1", store)["enrollments"]}


@pytest.fixture
def synced(store):
    """d1 after one successful full sync of the roster (a teacher, 10 students, one class)."""
    onboard(store)
    full = run_sync(request(), store=store, fetch=fetching(roster.snapshot(10)))
    assert full.status == "succeeded"
    return store


def test_R18_delta_with_no_changes_makes_zero_roster_writes(synced) -> None:
    METER.reset()
    outcome = run_sync(request(mode="delta"), store=synced, fetch=fetching(changes()))
    assert outcome.status == "succeeded"
    assert METER.writes(roster_tables(synced.settings)) == 0
    assert outcome.report.roster_writes == 0
    counts = outcome.report.counts
    # a targeted delta reads nothing of what it was not sent (the schools aside): no stand-ins
    assert set(counts) == {"org"} and counts["org"] == {"from_store": 1, "unchanged": 1}
    record = runs.get_run("d1", outcome.run_id, synced)
    assert record is not None and record.mode == "delta" and outcome.report.mode == "delta"
    doc = runs.load_report(record, synced)
    assert doc["delta"]["reads"]["targeted"] is True
    assert doc["store_reads"]["items"] == 1  # the school


def test_R18_delta_without_a_full_sync_basis_reads_the_whole_district(synced, monkeypatch) -> None:
    """A delta after a full sync whose report does not carry the district's totals (R10's base)
    reads the whole district: every held record is planned unchanged, nothing written."""
    from classlink_sync.sync import delta_reads

    monkeypatch.setattr(delta_reads, "last_full_basis", lambda district_id, store: None)
    METER.reset()
    outcome = run_sync(request(mode="delta"), store=synced, fetch=fetching(changes()))
    assert outcome.status == "succeeded"
    assert METER.writes(roster_tables(synced.settings)) == 0
    counts = outcome.report.counts
    assert counts["user"] == {"from_store": 11, "unchanged": 11}  # every held record planned unchanged
    assert counts["enrollment"] == {"from_store": 11, "unchanged": 11}
    doc = runs.load_report(runs.get_run("d1", outcome.run_id, synced), synced)
    assert doc["delta"]["reads"] == {"targeted": False, "why": "no successful full sync recorded the district's totals"}


def test_R18_delta_picks_up_a_changed_name_and_a_new_enrolment_and_removes_nothing(synced) -> None:
    full = roster.snapshot(10)
    renamed = replace(full.users["s1"], given_name="Renamed")
    newcomer = roster.user("s99", "student", "ISD-s99")
    new_enrolment = EnrollmentRecord("e-s99", "active", "s99", "c1", SCHOOL, "student", False, None, None)
    gone = replace(full.users["s2"], status=TOBEDELETED)  # tobedeleted: waits for the full sync (R9)
    METER.reset()
    outcome = run_sync(
        request(mode="delta"),
        store=synced,
        fetch=fetching(changes(users=[renamed, newcomer, gone], enrollments=[new_enrolment])),
    )
    assert outcome.status == "succeeded"
    held = accounts(synced)
    assert held["s1"]["given_name"] == "Renamed"
    assert held["s99"]["active"] and "e-s99" in enrolments(synced)
    assert held["s2"]["active"], "a delta never removes (R9)"
    assert all(e["active"] for e in enrolments(synced).values())
    deferred = outcome.report.deferred
    assert {"entity": "user", "sourced_id": "s2", "school_id": SCHOOL, "why": delta.DEFER_WHY} in deferred
    assert outcome.report.counts["user"]["deferred"] == 1
    record = runs.get_run("d1", outcome.run_id, synced)
    assert record is not None and record.deferred == len(deferred) and record.mode == "delta"
    # one update, one create (+ its reservation), one enrolment: nothing else is written
    assert METER.writes(roster_tables(synced.settings)) == 4

    # The nightly full sync stays the source of truth: s2 (tobedeleted) and s3 (absent) go now.
    nightly = roster.snapshot(10)
    nightly.users["s1"] = renamed
    nightly.users["s99"], nightly.enrollments["e-s99"] = newcomer, new_enrolment
    nightly.users["s2"] = gone
    del nightly.users["s3"], nightly.enrollments["e-s3"]
    after = run_sync(request(), store=synced, fetch=fetching(nightly))
    assert after.status == "succeeded" and after.report.deferred == []
    held = accounts(synced)
    assert not held["s2"]["active"] and not held["s3"]["active"]
    assert held["s1"]["given_name"] == "Renamed" and held["s99"]["active"]


def test_R18_an_enrolment_whose_user_we_do_not_hold_is_deferred_not_written(synced) -> None:
    orphan = EnrollmentRecord("e-ghost", "active", "ghost", "c1", SCHOOL, "student", False, None, None)
    METER.reset()
    outcome = run_sync(request(mode="delta"), store=synced, fetch=fetching(changes(enrollments=[orphan])))
    assert outcome.status == "succeeded"
    assert METER.writes(roster_tables(synced.settings)) == 0
    [entry] = outcome.report.deferred
    assert entry["entity"] == "enrollment" and entry["sourced_id"] == "e-ghost"
    assert "its user ghost is neither in the delta nor held" in entry["why"]


def test_R18_an_absent_user_is_not_removed_by_a_delta(synced) -> None:
    """Absence from a delta says nothing (R9): held users the delta does not list stay as they are."""
    outcome = run_sync(request(mode="delta"), store=synced, fetch=fetching(changes(users=[])))
    assert outcome.status == "succeeded" and outcome.report.deferred == []
    assert all(a["active"] for a in accounts(synced).values())


def test_R18_delta_abandoned_mid_pull_is_recorded_failed_and_raised_for_a_retry(synced) -> None:
    def abandoned(district, store):
        raise DeltaAbandoned("users", "x-perm-rev", ["r1", "r2"])

    METER.reset()
    with pytest.raises(SyncFailed) as caught:
        run_sync(request(mode="delta"), store=synced, fetch=abandoned)
    report = caught.value.report
    assert report.status == "failed" and report.mode == "delta"
    assert "DeltaAbandoned" in (report.error or "") and "x-perm-rev" in (report.error or "")
    assert METER.writes(roster_tables(synced.settings)) == 0
    record = runs.get_run("d1", report.run_id, synced)
    assert record is not None and record.status == "failed" and record.mode == "delta"
    # counted as DeltaAbandoned, not SyncFailed (the alarm that pages): SQS retries it
    from aws_lambda_powertools import Metrics

    from classlink_sync.sync.service import emit_run_metrics

    metrics = Metrics(namespace="test")
    emit_run_metrics(metrics, report)
    counted = dict(metrics.metric_set)
    metrics.clear_metrics()
    assert "DeltaAbandoned" in counted and "SyncFailed" not in counted


def test_R18_delta_starts_at_the_last_successful_start_less_the_overlap(synced) -> None:
    last = runs.list_runs("d1", synced)[0]
    started = dt.datetime.fromisoformat(last.started.replace("Z", "+00:00"))
    assert delta.delta_since("d1", synced) == started - dt.timedelta(minutes=15)
    assert delta.delta_since("d1", synced, overlap=dt.timedelta(0)) == started


def test_R18_an_undo_run_does_not_move_where_a_delta_starts(synced) -> None:
    """An undo (R17) read nothing from ClassLink: a change made in ClassLink before it would be
    missed by every delta after it if T came from the undo run."""
    from classlink_sync.sync.undo import undo_run

    last = runs.list_runs("d1", synced)[0]
    assert undo_run("d1", last.run_id, synced).status == "succeeded"
    assert runs.list_runs("d1", synced)[0].mode == "undo"
    started = dt.datetime.fromisoformat(last.started.replace("Z", "+00:00"))
    assert delta.delta_since("d1", synced) == started - dt.timedelta(minutes=15)


def test_R18_delta_without_a_successful_sync_is_refused(store) -> None:
    onboard(store)
    with pytest.raises(delta.DeltaRefused, match="no successful sync"):
        delta.delta_since("d1", store)
    with pytest.raises(SyncFailed) as caught:
        run_sync(request(mode="delta"), store=store)  # the production fetcher refuses before any request
    assert "a delta sync is refused until a full sync has succeeded" in (caught.value.report.error or "")


def test_R18_delta_that_could_not_read_everything_fails_after_applying_what_it_read(synced) -> None:
    snap = changes(users=[replace(roster.snapshot(10).users["s4"], family_name="Later")])
    snap.collections["enrollments"].reason += "; fetch failed: HTTP 503"
    with pytest.raises(SyncFailed) as caught:
        run_sync(request(mode="delta"), store=synced, fetch=fetching(snap))
    assert "enrollments: fetch failed: HTTP 503" in (caught.value.report.error or "")
    assert accounts(synced)["s4"]["family_name"] == "Later"  # what was read was applied (R9)


def test_R18_a_new_student_whose_enrolments_are_not_in_the_delta_waits_and_is_deferred(synced) -> None:
    """R3: a student is synced through a class; a delta that carries the user but none of its
    enrolments (they did not change) cannot judge its scope, so it waits for the full sync."""
    newcomer = roster.user("s77", "student", "ISD-s77")
    METER.reset()
    outcome = run_sync(request(mode="delta"), store=synced, fetch=fetching(changes(users=[newcomer])))
    assert outcome.status == "succeeded" and METER.writes(roster_tables(synced.settings)) == 0
    [entry] = outcome.report.deferred
    assert entry["entity"] == "user" and entry["sourced_id"] == "s77" and "R3 scope" in entry["why"]
    assert "s77" not in accounts(synced)
