"""A killed run does not stay ``running`` forever (issue 9, R14): ``runs`` shows a run whose lease
expired as ``abandoned`` at once, and the next sync, taking over the expired lease, marks its record
``abandoned`` (a conditional update: only a record still ``running``)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from classlink_sync.cli import main
from classlink_sync.store import locks, runs
from classlink_sync.store.districts import add_district
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import LEASE_SECONDS, run_sync


def onboard(store, district: str = "d1") -> None:
    add_district(
        district,
        tenant_id="7",
        oneroster_url="https://example.invalid/ims/oneroster/v1p1",
        client_id="k",
        client_secret="s",
        schools="all",
        enable_from=dt.date(2026, 11, 28),
        override_notice=True,
        today=dt.date(2026, 11, 28),
        store=store,
    )


def killed_run(store, district: str = "d1", *, lease_expired_ago: float = 5.0) -> str:
    """What a sync leaves behind when its process is killed mid-way: its lease (taken as
    ``run_sync`` takes it, here at a clock set back so that it has expired by now) and its run
    record still ``running``."""
    run_id = runs.new_run_id()
    expired_at = time.time() - lease_expired_ago
    assert locks.acquire_lease(district, run_id, LEASE_SECONDS, store, clock=lambda: expired_at - LEASE_SECONDS)
    runs.create_run(district, "schedule", store, run_id=run_id)
    return run_id


def unreachable(district, store):
    raise ConnectionError("ClassLink unreachable")


def test_runs_shows_a_killed_run_abandoned_before_the_next_sync(store, capsys) -> None:
    onboard(store)
    run_id = killed_run(store)
    assert runs.get_run("d1", run_id, store).status == "running"  # as the killed process left it

    (seen,) = runs.list_runs_seen("d1", store, max_run_seconds=LEASE_SECONDS)
    assert seen.status == "abandoned" and "lease expired at" in (seen.error or "")
    assert main(["runs", "d1"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.split("\t")[:2] == [run_id, "abandoned"]
    assert runs.get_run("d1", run_id, store).status == "running"  # shown so; nothing written by `runs`


def test_the_next_sync_takes_over_the_expired_lease_and_marks_the_run_abandoned(store) -> None:
    onboard(store)
    run_id = killed_run(store)
    expired_at = locks.read_lease("d1", store).expires
    outcome = run_sync(
        SyncRequest(district_id="d1", date="2026-11-28", trigger="manual"),
        store=store,
        fetch=unreachable,
        raise_on_failure=False,
    )
    killed = runs.get_run("d1", run_id, store)
    assert killed.status == "abandoned" and killed.ended is not None
    when = dt.datetime.fromtimestamp(expired_at, dt.UTC).isoformat(timespec="seconds")
    assert f"lease expired at {when}" in (killed.error or "")
    assert outcome.report.status == "failed"  # the new run itself ran (and failed on its own)
    assert runs.get_run("d1", outcome.run_id, store).status == "failed"
    statuses = {r.run_id: r.status for r in runs.list_runs_seen("d1", store, max_run_seconds=LEASE_SECONDS)}
    assert statuses == {run_id: "abandoned", outcome.run_id: "failed"}


def test_a_live_run_stays_running_and_a_finished_one_is_never_marked(store) -> None:
    onboard(store)
    live = runs.new_run_id()
    assert locks.acquire_lease("d1", live, LEASE_SECONDS, store)
    runs.create_run("d1", "manual", store, run_id=live)
    (seen,) = runs.list_runs_seen("d1", store, max_run_seconds=LEASE_SECONDS)
    assert seen.status == "running"
    # A holder that is not a running run (it finished meanwhile, or an R2 reset): nothing marked.
    runs.finish_run("d1", live, "succeeded", store, counts={}, issues=[])
    assert not runs.mark_abandoned("d1", live, lease_expired_at=time.time(), store=store)
    assert runs.get_run("d1", live, store).status == "succeeded"
    assert not runs.mark_abandoned("d1", "reset-0a1b2c3d", lease_expired_at=None, store=store)
    assert runs.get_run("d1", "reset-0a1b2c3d", store) is None  # the conditional update created nothing


def test_take_lease_says_whose_expired_lease_it_took_over(store) -> None:
    now = 1_000_000.0
    assert locks.take_lease("d1", "run-a", 60, store, clock=lambda: now).taken_over is None  # free
    assert locks.take_lease("d1", "run-a", 60, store, clock=lambda: now + 1).taken_over is None  # ours
    assert locks.take_lease("d1", "run-b", 60, store, clock=lambda: now + 30) is None  # unexpired
    taken = locks.take_lease("d1", "run-b", 60, store, clock=lambda: now + 100)
    assert taken is not None and taken.taken_over == locks.Lease("run-a", now + 61)
    assert locks.read_lease("d1", store) == locks.Lease("run-b", now + 160)


@pytest.mark.parametrize(
    ("age", "lease", "status"),
    [
        (10, None, "running"),  # a dry run holds no lease: running while younger than any sync
        (LEASE_SECONDS + 60, None, "abandoned"),  # ...and abandoned once older than any sync runs
        (10, locks.Lease("r1", 1e12), "running"),  # holds its unexpired lease
        (10, locks.Lease("r1", 1.0), "abandoned"),  # its lease expired
        (10, locks.Lease("someone-else", 1e12), "running"),  # (a dry run next to a real run)
    ],
)
def test_seen_status(age, lease, status) -> None:
    now = time.time()
    started = dt.datetime.fromtimestamp(now - age, dt.UTC).isoformat(timespec="milliseconds")
    record = runs.RunRecord(district_id="d1", run_id="r1", started=started, trigger="manual", status="running")
    assert runs.seen_status(record, lease, now=now, max_run_seconds=LEASE_SECONDS).status == status
    finished = runs.RunRecord(district_id="d1", run_id="r1", started=started, trigger="manual", status="failed")
    assert runs.seen_status(finished, lease, now=now, max_run_seconds=LEASE_SECONDS) is finished
