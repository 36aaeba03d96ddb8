"""R17 end to end, on the local stack through the real handlers: an approved mass removal undone
gives back the export from before it (ids, usernames, active/archived, subjects, memberships); an
undo is refused while a later run changed the same records and allowed once that run is undone;
the staff command and the queued undo (what the portal sends) run the same core."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from classlink_local.queue_runner import drain_queue
from classlink_local.stack import LocalStack
from classlink_sync.cli import main
from classlink_sync.store import runs
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync

from .conftest import District, day, send_sync, sync_via_queue

pytestmark = pytest.mark.e2e


def _undo_via_queue(stack: LocalStack, district: District, run_id: str) -> runs.RunRecord:
    """The undo the portal queues, delivered to the real district-sync handler."""
    before = {r.run_id for r in district.runs()}
    send_sync(stack, SyncRequest(district_id=district.district_id, date=day(1), trigger="undo", undo_run_id=run_id))
    drained = drain_queue(stack.client("sqs"), stack.queue_url)
    assert drained.invocations == 1, drained
    [new] = [r for r in district.runs() if r.run_id not in before]
    return new


def test_R17_undo_of_an_approved_mass_removal_gives_back_the_export_from_before(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    district = make_district("undo-removal", tenant_id="3271", seed=71, users=90, problem_share=0)
    assert sync_via_queue(stack, district, day(0)).status == "succeeded"
    before = district.export()
    students = sorted(a["sourcedId"] for a in before["accounts"] if a["role"] == "student" and a["active"])
    district.dataset.drop("users", *students[::2])
    held = sync_via_queue(stack, district, day(1))
    assert held.status == "held"
    approved = run_sync(
        SyncRequest(district_id=district.district_id, date=day(1), trigger="approve", approve_run_id=held.run_id)
    )
    assert approved.status == "succeeded" and district.export() != before

    undo = _undo_via_queue(stack, district, held.run_id)  # an approved run: its approving run is undone
    assert (undo.status, undo.trigger, undo.mode, undo.undoes) == ("succeeded", "undo", "undo", approved.run_id)
    assert district.export() == before
    assert runs.get_run(district.district_id, approved.run_id).undone_by == undo.run_id
    assert district.report(undo)["run"]["undoes"] == approved.run_id


def test_R17_undo_is_refused_while_a_later_run_changed_the_same_records_then_allowed(
    stack: LocalStack, make_district: Callable[..., District], capsys: pytest.CaptureFixture[str]
) -> None:
    district = make_district("undo-order", tenant_id="3272", seed=72, users=40, problem_share=0)
    assert sync_via_queue(stack, district, day(0)).status == "succeeded"
    first = district.export()
    student = next(a["sourcedId"] for a in first["accounts"] if a["role"] == "student" and a["active"])
    district.dataset.update("users", student, familyName="Renamed-Once")
    second = sync_via_queue(stack, district, day(1))
    after_second = district.export()
    district.dataset.update("users", student, familyName="Renamed-Twice")
    third = sync_via_queue(stack, district, day(2))
    assert second.roster_writes and third.roster_writes
    after_third = district.export()

    capsys.readouterr()
    assert main(["undo", district.district_id, second.run_id]) == 2
    refused = capsys.readouterr().err.strip()
    assert len(refused.splitlines()) == 1 and third.run_id in refused and "R17" in refused
    assert district.export() == after_third  # refused: nothing written
    assert runs.get_run(district.district_id, second.run_id).undone_by is None

    assert main(["undo", district.district_id, third.run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"
    assert district.export() == after_second
    assert main(["undo", district.district_id, second.run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["undoes"] == second.run_id
    assert district.export() == first


def test_R17_R5_undo_after_a_username_moved_to_another_district_reports_it_and_restores_the_rest(
    stack: LocalStack, make_district: Callable[..., District], capsys: pytest.CaptureFixture[str]
) -> None:
    mine = make_district("undo-moved-a", tenant_id="3273", seed=73, users=40, problem_share=0)
    other = make_district("undo-moved-b", tenant_id="3274", seed=74, users=40, problem_share=0)
    assert sync_via_queue(stack, mine, day(0)).status == "succeeded"
    assert sync_via_queue(stack, other, day(0)).status == "succeeded"
    first = {a["sourcedId"]: a for a in mine.export()["accounts"]}
    moved, renamed = sorted(sid for sid, a in first.items() if a["role"] == "student" and a["active"])[:2]
    old_username = first[moved]["username"]
    mine.dataset.update("users", moved, username=old_username + "-new")
    mine.dataset.update("users", renamed, familyName="Changed")
    second = sync_via_queue(stack, mine, day(1))
    assert second.status == "succeeded"
    # The freed username is taken by a new user of the other district (R5: it is free, so it is theirs).
    cls = next(c for c in other.export()["classes"] if c["active"])
    other.dataset.add_user(school_ids=[cls["school"]], class_ids=[cls["sourcedId"]], username=old_username)
    assert sync_via_queue(stack, other, day(1)).status == "succeeded"
    assert old_username in {a["username"] for a in other.export()["accounts"] if a["active"]}

    capsys.readouterr()
    assert main(["undo", mine.district_id, second.run_id, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["status"] == "succeeded"
    [issue] = done["issues"]
    assert (issue["rule"], issue["sourcedId"], issue["field"]) == ("R5", moved, "username")
    after = {a["sourcedId"]: a for a in mine.export()["accounts"]}
    assert after[moved]["username"] == old_username + "-new"  # reported and left as it is
    assert after[renamed] == first[renamed]  # the rest is undone
    assert old_username in {a["username"] for a in other.export()["accounts"] if a["active"]}
