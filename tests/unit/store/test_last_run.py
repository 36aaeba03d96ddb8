"""``runs.last_run``: the newest run a test accepts, among the district's last ones (R18: where a
delta starts, and the full sync a targeted delta leans on)."""

from __future__ import annotations

import time

from classlink_sync.store import runs


def test_last_run_finds_the_newest_match_past_the_first_ten_and_not_past_within(store) -> None:
    found = runs.create_run("d1", "manual", store, run_id=runs.new_run_id())
    runs.finish_run("d1", found.run_id, "succeeded", store, counts={})
    time.sleep(0.002)
    failed = runs.create_run("d1", "manual", store, run_id=runs.new_run_id())  # newer, not a match
    runs.finish_run("d1", failed.run_id, "failed", store, counts={})
    for _ in range(14):  # later runs that do not match: the match is the 16th newest
        time.sleep(0.002)
        runs.record_paused("d1", "2026-12-02", "summer", store)
    succeeded = lambda r: r.status == "succeeded"  # noqa: E731
    assert [r.status for r in runs.list_runs("d1", store, limit=16)][-2:] == ["failed", "succeeded"]
    hit = runs.last_run("d1", succeeded, store)
    assert hit is not None and hit.run_id == found.run_id
    assert runs.last_run("d1", succeeded, store, within=12) is None
    assert runs.last_run("d1", succeeded, store, within=5) is None
    newest = runs.last_run("d1", lambda r: r.status == "paused", store)
    assert newest is not None and newest.run_id == runs.list_runs("d1", store, limit=1)[0].run_id
    assert runs.last_run("d2", succeeded, store) is None  # no runs at all
