"""R16 on the real store (in-process moto): a paused or blacked-out district's slot is recorded as a
``paused`` run and nothing is fetched or written; the first sync after a pause of more than 14 days
is held for review (R10) if it would remove anything; an additions-only range defers removals to
the first normal sync after it."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from classlink_sync.errors import OnboardingError
from classlink_sync.report import RunReport, render_text
from classlink_sync.store import districts as district_store
from classlink_sync.store import runs
from classlink_sync.store.accounts import export_district
from classlink_sync.store.dynamo import METER, roster_tables
from classlink_sync.sync import continuation
from classlink_sync.sync.dispatch import dispatch_due_districts
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import emit_run_metrics, run_sync

sys.path.insert(0, str(Path(__file__).parent))
import roster


def onboard(store, district: str = "d1", tenant: str = "16", timezone: str = "UTC") -> None:
    district_store.add_district(
        district,
        tenant_id=tenant,
        oneroster_url="https://example.invalid/ims/oneroster/v1p1",
        client_id="k",
        client_secret="s",
        schools="all",
        enable_from=dt.date(2026, 5, 1),
        override_notice=True,
        today=dt.date(2026, 5, 1),
        timezone=timezone,
        store=store,
    )


def request(date: str, district: str = "d1", **kw: Any) -> SyncRequest:
    return SyncRequest(district_id=district, date=date, trigger=kw.pop("trigger", "schedule"), **kw)


class FetchSpy:
    """A fetcher that counts its calls (R16: a paused slot must not fetch)."""

    def __init__(self, snapshot: Any) -> None:
        self.snapshot, self.calls = snapshot, 0

    def __call__(self, district: Any, store: Any) -> Any:
        self.calls += 1
        return self.snapshot


def sync(store, date: str, students: int, **kw: Any):
    return run_sync(request(date, **kw), store=store, fetch=FetchSpy(roster.snapshot(students)))


def queue(monkeypatch) -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="t-sync")["QueueUrl"]
    monkeypatch.setenv("SYNC_QUEUE_URL", url)
    return sqs, url


def messages(sqs, url) -> list[dict]:
    found = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def active_students(store, district: str = "d1") -> set[str]:
    return {a["sourcedId"] for a in export_district(district, store)["accounts"] if a["active"]} - {"t1"}


# -- a paused slot ---------------------------------------------------------------------------------


def test_R16_a_paused_districts_slot_is_recorded_and_nothing_is_fetched(store) -> None:
    onboard(store)
    assert sync(store, "2026-05-04", 5).status == "succeeded"
    district_store.set_pause("d1", "2026-05-05", None, "data audit", store)
    spy = FetchSpy(roster.snapshot(5))
    METER.reset()
    outcome = run_sync(request("2026-05-06"), store=store, fetch=spy)
    assert outcome.status == "paused" and spy.calls == 0
    assert METER.writes(roster_tables(store.settings)) == 0
    record = runs.get_run("d1", outcome.run_id, store)
    assert record is not None and record.status == "paused" and record.roster_writes == 0
    assert record.reason == "paused 2026-05-05..: data audit (slot 2026-05-06)"
    assert outcome.report.reason == record.reason
    assert "paused, nothing fetched or written (R16): paused 2026-05-05..: data audit" in render_text(outcome.report)
    assert district_store.get_district("d1", store).paused_since == "2026-05-06"
    # the first paused slot is kept; a staff sync is paused too
    assert sync(store, "2026-05-07", 5, trigger="manual").status == "paused"
    assert district_store.get_district("d1", store).paused_since == "2026-05-06"


def test_R16_dry_runs_and_approvals_are_not_paused(store) -> None:
    onboard(store)
    sync(store, "2026-05-04", 5)
    district_store.set_pause("d1", "2026-05-05", "2026-05-31", "audit", store)
    assert sync(store, "2026-05-06", 6, trigger="manual", dry_run=True).status == "dry_run"  # R12 preview
    assert district_store.get_district("d1", store).paused_since is None


def test_R16_resume_ends_the_pause_and_a_short_pause_holds_nothing(store) -> None:
    onboard(store)
    sync(store, "2026-05-04", 30)
    district_store.set_pause("d1", "2026-05-05", None, "audit", store)
    assert sync(store, "2026-05-05", 30).status == "paused"
    assert district_store.clear_pause("d1", store) == {"from": "2026-05-05", "until": None, "reason": "audit"}
    assert district_store.clear_pause("d1", store) is None
    after = sync(store, "2026-05-19", 29)  # 14 days after the first paused slot: not more than 14
    assert after.status == "succeeded" and after.report.counts["user"]["deactivate"] == 1
    assert district_store.get_district("d1", store).paused_since is None


def test_R16_the_dispatcher_records_a_paused_run_for_a_blacked_out_slot_and_sends_nothing(store, monkeypatch) -> None:
    sqs, url = queue(monkeypatch)
    onboard(store, "d1", "16")
    onboard(store, "d2", "17")
    district_store.add_window("d1", "blackouts", "2026-06-10", "2026-08-25", "summer", store)
    result = dispatch_due_districts(today="2026-06-10", store=store, sqs=sqs)
    assert result.sent == ["d2"] and result.due == ["d2"]
    assert result.paused == {"d1": "blackout 2026-06-10..2026-08-25: summer"}
    assert result.summary()["paused"] == result.paused
    assert [m["district_id"] for m in messages(sqs, url)] == ["d2"]
    [run] = runs.list_runs("d1", store)
    assert (run.status, run.trigger, run.reason) == (
        "paused",
        "schedule",
        "blackout 2026-06-10..2026-08-25: summer (slot 2026-06-10)",
    )
    # the slot is claimed: the schedule delivered twice records it once
    again = dispatch_due_districts(today="2026-06-10", store=store, sqs=sqs)
    assert again.paused == {} and "R14" in again.skipped["d1"]
    assert len(runs.list_runs("d1", store)) == 1


def test_R16_the_dispatcher_takes_each_districts_date_in_its_own_time_zone(store, monkeypatch) -> None:
    """One firing at 12:00 UTC on June 9 is June 10 in Auckland (blacked out from June 10) and still
    June 9 in UTC; the message carries the district's own date (R16, R9 end dates)."""
    sqs, url = queue(monkeypatch)
    onboard(store, "nz", "18", timezone="Pacific/Auckland")
    onboard(store, "utc", "19")
    onboard(store, "la", "20", timezone="America/Los_Angeles")
    for district in ("nz", "utc", "la"):
        district_store.add_window(district, "blackouts", "2026-06-10", "2026-08-25", "summer", store)
    moment = dt.datetime(2026, 6, 9, 12, 0, tzinfo=dt.UTC)
    result = dispatch_due_districts(today="2026-06-09", store=store, sqs=sqs, moment=moment)
    assert result.paused == {"nz": "blackout 2026-06-10..2026-08-25: summer"}
    assert {m["district_id"]: m["date"] for m in messages(sqs, url)} == {"la": "2026-06-09", "utc": "2026-06-09"}
    [run] = runs.list_runs("nz", store)
    assert run.reason == "blackout 2026-06-10..2026-08-25: summer (slot 2026-06-10)"
    # the next day's firing, 06:00 UTC on June 10, is still June 9 in Los Angeles: it syncs
    later = dispatch_due_districts(
        today="2026-06-10", store=store, sqs=sqs, moment=dt.datetime(2026, 6, 10, 6, 0, tzinfo=dt.UTC)
    )
    assert set(later.paused) == {"nz", "utc"} and later.sent == ["la"]
    assert [m["date"] for m in messages(sqs, url)] == ["2026-06-09"]


def test_R16_a_blackout_spanning_the_summer_gives_paused_runs_then_holds_the_first_sync_that_removes(
    store, monkeypatch
) -> None:
    sqs, url = queue(monkeypatch)
    onboard(store)
    assert sync(store, "2026-06-09", 30).status == "succeeded"
    district_store.add_window("d1", "blackouts", "2026-06-10", "2026-08-25", "summer", store)
    for day in ("2026-06-10", "2026-07-15", "2026-08-25"):
        assert dispatch_due_districts(today=day, store=store, sqs=sqs).paused == {
            "d1": "blackout 2026-06-10..2026-08-25: summer"
        }
    assert messages(sqs, url) == []
    assert [r.status for r in runs.list_runs("d1", store)] == ["paused", "paused", "paused", "succeeded"]
    kept = district_store.get_district("d1", store)
    assert (kept.paused_since, kept.paused_last) == ("2026-06-10", "2026-08-25")  # the pause: first..last slot

    # After the summer the district's data shrank by one student: under R10's thresholds, but the
    # first sync after a blackout of more than 14 days is held if it would remove anything.
    before = export_district("d1", store)
    METER.reset()
    held = sync(store, "2026-08-26", 29)
    assert held.status == "held"
    assert METER.writes(roster_tables(store.settings)) == 0 and export_district("d1", store) == before
    assert any("a pause of 77 days (2026-06-10..2026-08-25)" in r and "R16" in r for r in held.report.guard_reasons)

    approved = sync(store, "2026-08-26", 29, trigger="approve", approve_run_id=held.run_id)
    assert approved.status == "succeeded" and approved.report.counts["user"]["deactivate"] == 1
    assert runs.get_run("d1", held.run_id, store).status == "approved"
    assert district_store.get_district("d1", store).paused_since is None
    nxt = sync(store, "2026-08-27", 28)  # the pause is over: R10 as usual
    assert nxt.status == "succeeded" and nxt.report.counts["user"]["deactivate"] == 1


def test_R16_a_long_pause_with_nothing_to_remove_syncs_and_ends_the_count(store) -> None:
    onboard(store)
    sync(store, "2026-05-04", 10)
    district_store.set_pause("d1", "2026-05-05", "2026-05-31", "audit", store)
    assert sync(store, "2026-05-05", 10).status == "paused"
    grown = sync(store, "2026-06-01", 12)
    assert grown.status == "succeeded" and grown.report.counts["user"]["create"] == 2
    assert district_store.get_district("d1", store).paused_since is None


def test_R16_additions_only_creates_but_defers_removals_to_the_first_normal_sync(store) -> None:
    onboard(store)
    sync(store, "2026-08-31", 30)
    district_store.add_window("d1", "additions_only", "2026-09-01", "2026-09-10", "term start", store)
    # s28 and s29 leave ClassLink; s30 and s31 arrive
    snapshot = roster.snapshot(32)
    for sid in ("s28", "s29"):
        del snapshot.users[sid], snapshot.enrollments[f"e-{sid}"]
    for name, records in (("users", snapshot.users), ("enrollments", snapshot.enrollments)):
        status = snapshot.collections[name]
        snapshot.collections[name] = type(status)(name, True, len(records), len(records), None)
    during = run_sync(request("2026-09-05"), store=store, fetch=FetchSpy(snapshot))
    assert during.status == "succeeded"
    assert during.report.counts["user"]["create"] == 2 and during.report.counts["user"]["deferred"] == 2
    why = "additions-only window 2026-09-01..2026-09-10: term start"
    deferred = {(d["entity"], d["sourced_id"], d["why"]) for d in during.report.deferred}
    assert {("user", "s28", why), ("user", "s29", why)} <= deferred
    assert ("enrollment", "e-s28", why) in deferred
    assert {"s28", "s29", "s30", "s31"} <= active_students(store)  # created, nothing removed
    record = runs.get_run("d1", during.run_id, store)
    assert record is not None and record.deferred == len(during.report.deferred)
    assert runs.load_report(record, store)["deferred"] == during.report.deferred
    assert "Removals deferred to the next normal full sync (R16/R18): " in render_text(during.report)

    after = run_sync(request("2026-09-11"), store=store, fetch=FetchSpy(snapshot))  # the first normal sync
    assert after.status == "succeeded" and after.report.deferred == []
    assert after.report.counts["user"]["deactivate"] == 2
    assert not {"s28", "s29"} & active_students(store)


def test_R16_paused_runs_count_as_SyncPaused_not_as_failures() -> None:
    class Metrics:
        def __init__(self) -> None:
            self.names: list[str] = []

        def add_metric(self, name: str, unit: Any, value: float) -> None:
            if value:
                self.names.append(name)

    metrics = Metrics()
    emit_run_metrics(metrics, RunReport("d1", "r1", "schedule", "2026-06-10T06:00:00Z", status="paused"))  # type: ignore[arg-type]
    assert "SyncPaused" in metrics.names and "SyncFailed" not in metrics.names


def test_R16_a_continued_run_keeps_its_deferred_removals() -> None:
    """R20: the checkpoint's report keeps ``deferred`` for the run's last hop (``report_state``)."""
    deferred = [{"entity": "user", "sourced_id": "s1", "school_id": "sch-1", "why": "additions-only window x"}]
    report = RunReport("d1", "r1", "schedule", "2026-09-05T06:00:00Z", deferred=deferred)
    state = continuation.report_state(report)
    assert RunReport(**{**state, "issues": []}).deferred == deferred


def test_R16_store_changes_are_checked_and_need_a_district(store) -> None:
    onboard(store, timezone="America/Chicago")
    shown = district_store.show_district("d1", store)
    assert shown["timezone"] == "America/Chicago" and shown["pause"] is None and shown["blackouts"] == ()
    with pytest.raises(OnboardingError, match="--timezone"):
        onboard(store, "d9", "99", timezone="Mars/Base")
    with pytest.raises(district_store.DistrictNotFound):
        district_store.get_district("d9", store)  # refused before anything was written
    with pytest.raises(OnboardingError, match="before --from"):
        district_store.add_window("d1", "blackouts", "2026-06-10", "2026-06-01", None, store)
    with pytest.raises(district_store.DistrictNotFound):
        district_store.set_pause("nope", "2026-06-10", None, "x", store)
    district_store.add_window("d1", "additions_only", "2026-09-01", "2026-09-10", None, store)
    with pytest.raises(OnboardingError, match="overlaps"):
        district_store.add_window("d1", "additions_only", "2026-09-10", "2026-09-12", None, store)
    assert district_store.remove_window("d1", "additions_only", "2026-09-01", "2026-09-10", store) == []
    assert district_store.get_district("d1", store).additions_only == ()


def test_R16_a_sync_dated_before_the_latest_paused_slot_does_not_end_the_pause(store) -> None:
    """A staff sync dated before the pause's latest slot (``--date``) applies, but the pause goes on:
    the first sync after it is still held if it removes anything."""
    onboard(store)
    assert sync(store, "2026-06-01", 30).status == "succeeded"
    for day in ("2026-06-10", "2026-06-20", "2026-06-30"):
        district_store.mark_paused_since("d1", day, store)
    assert sync(store, "2026-06-05", 30).status == "succeeded"  # dated before the pause ended
    kept = district_store.get_district("d1", store)
    assert (kept.paused_since, kept.paused_last) == ("2026-06-10", "2026-06-30")
    held = sync(store, "2026-07-01", 29)
    assert held.status == "held" and any("a pause of 21 days" in r for r in held.report.guard_reasons)
    approved = sync(store, "2026-07-01", 29, trigger="approve", approve_run_id=held.run_id)
    assert approved.status == "succeeded"
    kept = district_store.get_district("d1", store)
    assert (kept.paused_since, kept.paused_last) == (None, None)  # the sync after the pause ended it
