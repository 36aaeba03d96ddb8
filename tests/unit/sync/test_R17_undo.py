"""R17 undo a run, on the real store (in-process moto): the journal written before apply, the undo
as its own run under the lease, refusals naming the runs that block, R5 usernames given back only
when free, R9 created records deactivated/archived rather than destroyed, the sync queue's undo."""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from classlink_sync.errors import DistrictBusy
from classlink_sync.store import locks, runs
from classlink_sync.store.accounts import export_district
from classlink_sync.store.dynamo import METER, roster_tables
from classlink_sync.store.journal import journal_exists, journal_key, read_journal
from classlink_sync.store.view import DynamoRosterView
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync
from classlink_sync.sync.undo import UndoRefused, blocking_runs, check_undoable, resolve_target, undo_run

sys.path.insert(0, str(Path(__file__).parent))
import roster
from test_service import TODAY, onboard


def sync(store, snapshot, district: str = "d1", **kw):
    request = SyncRequest(district_id=district, date=TODAY, trigger=kw.pop("trigger", "manual"), **kw)
    return run_sync(request, store=store, fetch=lambda d, s: snapshot)


def renamed(snapshot, sid: str, **changes):
    snapshot.users[sid] = replace(snapshot.users[sid], **changes)
    return snapshot


def titled(students: int, title: str):
    return roster.snapshot(students, title=title)


def reservation_of(store, username_norm: str):
    return DynamoRosterView(store).reservations([username_norm]).get(username_norm)


def test_R17_a_run_journals_the_before_state_of_every_record_it_changes(store) -> None:
    onboard(store)
    first = sync(store, roster.snapshot(3))
    journal = read_journal("d1", first.run_id, store)
    assert len(journal.before["accounts"]) == 4 and all(v is None for v in journal.before["accounts"].values())
    second = sync(store, titled(3, "Spanish 2"))
    journal = read_journal("d1", second.run_id, store)
    assert next(iter(journal.before["classes"].values())).subject == "French"  # before the run
    assert journal.before["accounts"] == {}
    third = sync(store, titled(3, "Spanish 2"))  # nothing changes: nothing journaled
    assert third.report.roster_writes == 0 and not journal_exists("d1", third.run_id, store)
    assert runs.load_report(runs.get_run("d1", second.run_id, store), store)["journal"]["key"] == journal_key(
        "d1", second.run_id
    )


def test_R17_undo_after_an_approved_mass_removal_gives_back_the_export_before_it(store) -> None:
    onboard(store)
    sync(store, roster.snapshot(60))
    before = export_district("d1", store)
    held = sync(store, roster.snapshot(20))
    assert held.status == "held"
    approved = sync(store, roster.snapshot(20), trigger="approve", approve_run_id=held.run_id)
    assert approved.status == "succeeded" and export_district("d1", store) != before

    outcome = undo_run("d1", held.run_id, store)  # the held run's undo is its approving run's (R10)
    assert outcome.status == "succeeded" and outcome.target == approved.run_id
    assert export_district("d1", store) == before  # ids, usernames, active, subjects, memberships
    undo_record = runs.get_run("d1", outcome.run_id, store)
    assert (undo_record.trigger, undo_record.mode, undo_record.undoes) == ("undo", "undo", approved.run_id)
    assert runs.get_run("d1", approved.run_id, store).undone_by == outcome.run_id
    assert outcome.report.counts["user"]["reactivate"] == 40
    assert locks.lease_holder("d1", store) is None
    with pytest.raises(UndoRefused, match=f"already undone by run {outcome.run_id}"):
        undo_run("d1", approved.run_id, store)


def test_R17_undo_is_refused_while_a_later_run_changed_the_same_records(store) -> None:
    onboard(store)
    sync(store, titled(3, "French 1"))
    after_first = export_district("d1", store)
    second = sync(store, titled(3, "Spanish 1"))
    after_second = export_district("d1", store)
    third = sync(store, titled(3, "German 1"))
    with pytest.raises(UndoRefused, match=third.run_id) as refused:
        undo_run("d1", second.run_id, store)
    assert refused.value.blocking == [third.run_id]
    assert [r.trigger for r in runs.list_runs("d1", store)].count("undo") == 0  # refused: no run recorded

    assert undo_run("d1", third.run_id, store).status == "succeeded"
    assert export_district("d1", store) == after_second
    assert blocking_runs("d1", *resolve_target("d1", second.run_id, store), store) == []  # undone runs don't block
    assert undo_run("d1", second.run_id, store).status == "succeeded"
    assert export_district("d1", store) == after_first


def test_R17_a_later_run_of_other_records_does_not_block(store) -> None:
    onboard(store)
    sync(store, roster.snapshot(3))
    second = sync(store, renamed(roster.snapshot(3), "s1", family_name="Martin"))
    sync(store, renamed(renamed(roster.snapshot(3), "s1", family_name="Martin"), "s2", family_name="Durand"))
    assert check_undoable("d1", second.run_id, store).run_id == second.run_id
    outcome = undo_run("d1", second.run_id, store)
    assert outcome.status == "succeeded"
    names = {a["sourcedId"]: a["family_name"] for a in export_district("d1", store)["accounts"]}
    assert names["s1"] == "S1" and names["s2"] == "Durand"


def test_R17_R5_undo_after_a_username_moved_to_another_district_reports_it_and_restores_the_rest(store) -> None:
    onboard(store)
    onboard(store, "d2", tenant="8")
    sync(store, roster.snapshot(3))
    after_first = export_district("d1", store)
    changed = renamed(roster.snapshot(3), "s1", username="ISD-s1-new")
    second = sync(store, renamed(changed, "s2", family_name="Durand"))
    assert reservation_of(store, "isd-s1") is None  # the move freed the old name (R5)
    other = renamed(roster.snapshot(0), "t1", username="D2-t1")
    other.users["x1"] = roster.user("x1", "student", "ISD-s1")
    other.enrollments["e-x1"] = replace(other.enrollments["e-t1"], sourced_id="e-x1", user_id="x1", role="student")
    assert sync(store, other, "d2").status == "succeeded"
    assert reservation_of(store, "isd-s1").district_id == "d2"

    outcome = undo_run("d1", second.run_id, store)
    assert outcome.status == "succeeded"
    [issue] = outcome.report.issues
    assert (issue.rule, issue.sourced_id, issue.field) == ("R5", "s1", "username")
    assert "ISD-s1" in issue.message and "another district" in issue.message
    accounts = {a["sourcedId"]: a for a in export_district("d1", store)["accounts"]}
    assert accounts["s1"]["username"] == "ISD-s1-new"  # left as it is
    assert accounts["s2"]["family_name"] == after_first["accounts"][2]["family_name"] == "S2"  # the rest is undone
    assert reservation_of(store, "isd-s1").district_id == "d2"  # never taken from the other district
    assert reservation_of(store, "isd-s1-new").district_id == "d1"
    record = runs.get_run("d1", outcome.run_id, store)
    assert record.issue_count == 1 and runs.get_run("d1", second.run_id, store).undone_by == outcome.run_id


def test_R17_R5_a_free_old_username_is_given_back_in_the_move_transaction(store) -> None:
    onboard(store)
    sync(store, roster.snapshot(2))
    second = sync(store, renamed(roster.snapshot(2), "s1", username="ISD-s1-new"))
    assert undo_run("d1", second.run_id, store).status == "succeeded"
    accounts = {a["sourcedId"]: a for a in export_district("d1", store)["accounts"]}
    assert accounts["s1"]["username"] == "ISD-s1"
    assert reservation_of(store, "isd-s1").account_id == accounts["s1"]["account_id"]
    assert reservation_of(store, "isd-s1-new") is None


def test_R17_R9_records_the_run_created_are_deactivated_and_archived_not_destroyed(store) -> None:
    onboard(store)
    sync(store, roster.snapshot(2))
    second = sync(store, roster.snapshot(4))  # s2, s3 and their enrolments are new
    outcome = undo_run("d1", second.run_id, store)
    assert outcome.report.counts["user"]["deactivate"] == 2
    assert outcome.report.counts["enrollment"]["archive"] == 2
    data = export_district("d1", store)
    accounts = {a["sourcedId"]: a for a in data["accounts"]}
    assert not accounts["s2"]["active"] and not accounts["s3"]["active"] and accounts["s1"]["active"]
    assert {e["sourcedId"] for e in data["enrollments"] if not e["active"]} == {"e-s2", "e-s3"}
    assert reservation_of(store, "isd-s3").account_id == accounts["s3"]["account_id"]  # R5: still its own
    # The next sync brings them back (R9: everything comes back with its history).
    assert sync(store, roster.snapshot(4)).report.counts["user"]["reactivate"] == 2


def test_R17_dry_run_plans_the_undo_and_writes_nothing(store) -> None:
    onboard(store)
    sync(store, roster.snapshot(2))
    second = sync(store, titled(2, "Spanish 1"))
    METER.reset()
    outcome = undo_run("d1", second.run_id, store, dry_run=True)
    assert outcome.status == "dry_run" and outcome.report.counts["class"]["update"] == 1
    assert METER.writes(roster_tables(store.settings)) == 0
    assert runs.get_run("d1", second.run_id, store).undone_by is None
    assert [r.trigger for r in runs.list_runs("d1", store)] == ["manual", "manual"]


def test_R17_only_runs_that_wrote_within_the_retention_can_be_undone(store) -> None:
    onboard(store)
    first = sync(store, roster.snapshot(60))
    held = sync(store, roster.snapshot(20))
    with pytest.raises(UndoRefused, match="is held"):
        undo_run("d1", held.run_id, store)
    dry = sync(store, roster.snapshot(60), dry_run=True)
    with pytest.raises(UndoRefused, match="is dry_run"):
        undo_run("d1", dry.run_id, store)
    with pytest.raises(UndoRefused, match="has no run nope"):
        undo_run("d1", "nope", store)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    with pytest.raises(UndoRefused, match="30 days"):
        resolve_target("d1", first.run_id, store, now=later)
    quiet = sync(store, roster.snapshot(60))  # changed nothing: no journal
    with pytest.raises(UndoRefused, match="no journal"):
        undo_run("d1", quiet.run_id, store)
    undo = undo_run("d1", first.run_id, store)
    with pytest.raises(UndoRefused, match="undo runs are not undone"):
        undo_run("d1", undo.run_id, store)


def test_R17_R14_undo_waits_for_the_district_lease(store) -> None:
    onboard(store)
    first = sync(store, roster.snapshot(2))
    assert locks.acquire_lease("d1", "someone-else", 600, store)
    with pytest.raises(DistrictBusy, match="R14"):
        undo_run("d1", first.run_id, store)
    assert runs.get_run("d1", first.run_id, store).undone_by is None


def test_R17_the_sync_queue_message_undoes_a_run(store) -> None:
    onboard(store)
    sync(store, roster.snapshot(2))
    second = sync(store, titled(2, "Spanish 1"))
    request = SyncRequest.parse(
        SyncRequest(district_id="d1", date=TODAY, trigger="undo", undo_run_id=second.run_id).to_json()
    )
    outcome = run_sync(request, store=store)
    assert outcome.status == "succeeded" and outcome.report.undoes == second.run_id
    assert {c["subject"] for c in export_district("d1", store)["classes"]} == {"French"}
    with pytest.raises(ValueError, match="undo_run_id"):
        SyncRequest(district_id="d1", date=TODAY, trigger="undo")
    with pytest.raises(ValueError, match="only valid with trigger 'undo'"):
        SyncRequest(district_id="d1", date=TODAY, trigger="manual", undo_run_id="x")


def test_R17_cli_undo_refuses_in_one_line_naming_the_blocking_run_then_undoes(store, capsys) -> None:
    from classlink_sync.cli import main

    onboard(store)
    sync(store, titled(2, "French 1"))
    second = sync(store, titled(2, "Spanish 1"))
    third = sync(store, titled(2, "German 1"))
    capsys.readouterr()
    assert main(["undo", "d1", second.run_id]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and third.run_id in err and "R17" in err
    assert main(["undo", "d1", third.run_id, "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["status"] == "dry_run" and dry["undoes"] == third.run_id
    assert main(["undo", "d1", third.run_id, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["status"], done["mode"], done["trigger"]) == ("succeeded", "undo", "undo")
    assert done["undoes"] == third.run_id
    assert main(["undo", "d1", third.run_id, "--json"]) == 2
    assert "already undone" in json.loads(capsys.readouterr().out)["error"]
    assert main(["runs", "d1"]) == 0
    listed = capsys.readouterr().out
    assert f"undoes {third.run_id}" in listed and f"undone by {done['run_id']}" in listed


def test_R17_the_undo_reads_the_runs_records_by_key_not_the_district(store) -> None:
    onboard(store)
    sync(store, roster.snapshot(40))
    second = sync(store, titled(40, "Spanish 1"))  # one class changed in a district of 83 records
    METER.reset()
    outcome = undo_run("d1", second.run_id, store)
    items, requests = METER.reads(roster_tables(store.settings))
    assert outcome.report.counts["class"] == {"update": 1}
    assert items == 1 and requests == 1  # one BatchGetItem of one key (no reservation to look up)
    assert outcome.report.roster_writes == 1


def test_R17_R20_a_run_planned_again_keeps_the_before_state_it_journaled_first(store) -> None:
    """A message delivered again after a crash plans again under the same run record: the store
    then holds part of the run's writes, so the first journal's before-states are the ones kept."""
    from classlink_sync.rules.holdings import HeldSchool
    from classlink_sync.store.journal import write_journal

    first = HeldSchool("sch-1", False, "d1", "Lycée One")
    written = HeldSchool("sch-1", False, "d2", "Lycée Renamed")  # what the crashed attempt wrote
    write_journal("d1", "r1", [("schools", "sch-1", first)], store)
    info = write_journal("d1", "r1", [("schools", "sch-1", written), ("schools", "sch-2", None)], store)
    journal = read_journal("d1", "r1", store)
    assert info["records"] == 2 and journal.before["schools"] == {"sch-1": first, "sch-2": None}


def test_R17_a_queued_undo_refused_meanwhile_is_a_failed_undo_run_naming_the_blocker_not_a_retry(store) -> None:
    """The portal checked the run could be undone; a later run then touched the same records before
    the queued undo ran: the refusal is a ``failed`` undo run in the history, nothing written, and
    nothing raised (SQS would only deliver it again, to be refused again, and then dead-letter it)."""
    onboard(store)
    sync(store, titled(3, "French 1"))
    second = sync(store, titled(3, "Spanish 1"))
    third = sync(store, titled(3, "German 1"))
    before = export_district("d1", store)
    request = SyncRequest(district_id="d1", date=TODAY, trigger="undo", undo_run_id=second.run_id)
    outcome = run_sync(request, store=store)
    assert outcome.status == "failed" and third.run_id in (outcome.report.error or "")
    assert outcome.refused  # the worker takes the message as done: no SQS retry, no DLQ
    record = runs.get_run("d1", outcome.run_id, store)
    assert (record.trigger, record.mode, record.undoes, record.status) == ("undo", "undo", second.run_id, "failed")
    assert record.roster_writes == 0 and third.run_id in (record.error or "")
    assert runs.get_run("d1", second.run_id, store).undone_by is None
    assert export_district("d1", store) == before
    assert undo_run("d1", third.run_id, store).status == "succeeded"  # the failed undo run blocks nothing
    assert undo_run("d1", second.run_id, store).status == "succeeded"


def test_R17_a_blocking_run_behind_a_thousand_later_runs_still_blocks(store) -> None:
    """Every later run is checked, however many (a district with deltas every 15 minutes makes about
    a hundred runs a day): the run that touched the same records is found behind 1,001 others."""
    onboard(store)
    sync(store, titled(3, "French 1"))
    second = sync(store, titled(3, "Spanish 1"))
    third = sync(store, titled(3, "German 1"))
    for n in range(1001):
        runs.record_paused("d1", TODAY, f"filler {n}", store)
    assert len(runs.list_runs_since("d1", second.report.started_at, store)) == 1003
    with pytest.raises(UndoRefused, match=third.run_id) as refused:
        undo_run("d1", second.run_id, store)
    assert refused.value.blocking == [third.run_id]


def test_R17_a_killed_run_is_still_running_until_its_lease_expires_then_undone_as_abandoned(store, monkeypatch) -> None:
    """A run killed mid-apply stays ``running`` on its record until a sync takes its lease over; an
    undo says it is still running while its lease may still be live, and undoes it (its journal
    names what it may have written) once the lease has expired (R14)."""
    import time

    onboard(store)
    sync(store, titled(3, "French 1"))
    before = export_district("d1", store)

    def killed(op: str, kwargs: dict, send):  # the process dies at its first roster batch
        if op == "BatchWriteItem":
            raise KeyboardInterrupt
        return send(op, kwargs)

    store.calls.interceptor = killed
    with pytest.raises(KeyboardInterrupt):
        sync(store, titled(3, "Spanish 1"))
    store.calls.interceptor = None
    run = runs.list_runs("d1", store)[0]
    assert run.status == "running"
    with pytest.raises(UndoRefused, match="still running"):
        undo_run("d1", run.run_id, store)
    later = time.time() + 2000  # past any sync's lease
    monkeypatch.setattr(time, "time", lambda: later)
    outcome = undo_run("d1", run.run_id, store)
    assert outcome.status == "succeeded" and outcome.target == run.run_id
    assert export_district("d1", store) == before


def test_R17_later_runs_that_wrote_nothing_cost_no_journal_read(store, monkeypatch) -> None:
    """The portal checks an undo within one page load: a month of later runs that changed nothing
    (paused slots, no-change syncs) is judged from their run records, not by looking for journals."""
    import classlink_sync.sync.undo as undo_module

    onboard(store)
    first = sync(store, titled(3, "French 1"))
    for _ in range(3):
        assert sync(store, titled(3, "French 1")).report.roster_writes == 0
    for n in range(5):
        runs.record_paused("d1", TODAY, f"slot {n}", store)
    reads: list[str] = []
    real = undo_module.read_journal
    monkeypatch.setattr(undo_module, "read_journal", lambda d, r, s: reads.append(r) or real(d, r, s))
    assert undo_module.check_undoable("d1", first.run_id, store).run_id == first.run_id
    assert reads == [first.run_id]  # the target's own journal only
