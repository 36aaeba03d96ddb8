"""Benchmark of R17 undo (``make bench``): the undo of a run that changed 10,000 records, against
that run itself.

Set-up: the store on moto's in-process backend (``classlink_local.inprocess``) with the partition
Query adapter (``classlink_local.moto_query``: a Query reads its partition, as DynamoDB does), no
ClassLink: the roster is built in memory (one school, ``BENCH_UNDO_CLASSES`` French classes with a
teacher each, ``BENCH_UNDO_STUDENTS`` students, each enrolled in one class). Then:

(a) a first sync creates everything (not compared);
(b) ClassLink stops sharing every student: the sync is held by the mass-change guard (R10) and
    approved, so it deactivates every student and archives every student enrolment: 2 x students
    records changed (10,000 by default), each journaled before the apply (R17);
(c) the undo of that run (``sync.undo.undo_run``): its phases (resolving the run and its journal,
    the blocking check, reading the run's records by key and planning the inverse, journaling the
    undo run's own before-state, the apply), its roster writes counted at the DynamoDB API (``store.dynamo.METER``),
    its S3 requests, the journal's size, and the export after it compared with the export before (b).

Printed: wall time and roster writes of (b)'s apply against (c)'s, roster writes per undone record,
the journal's bytes per record, peak RSS. moto is far slower than DynamoDB per request: the times
are moto's; the writes and reads are what DynamoDB would count. It decides nothing (no pass/fail).

Environment: ``BENCH_UNDO_STUDENTS`` (default 5,000: 10,000 records changed), ``BENCH_UNDO_CLASSES``
(default 50), ``BENCH_QUICK=1`` (1,000 students when ``BENCH_UNDO_STUDENTS`` is not set). Run:
``.venv/bin/python -m bench.undo_bench``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.measure import cpu_s, env_int, load, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "layers" / "shared", ROOT / "local"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

DISTRICT = "undo-bench"
SCHOOL = "sch-1"
TODAY = "2026-03-02"


def roster(students: int, classes: int) -> Any:
    """One school, ``classes`` French classes with a teacher each, ``students`` students spread
    over them (each in one class), as ClassLink would send them."""
    from classlink_sync.oneroster.records import (
        ClassRecord,
        CollectionStatus,
        EnrollmentRecord,
        OrgRecord,
        RosterSnapshot,
        UserRecord,
    )

    def user(sid: str, role: str) -> UserRecord:
        return UserRecord(sid, "active", f"UB-{sid}", True, "Given", sid.title(), role, None, None, (SCHOOL,), ("07",))

    snap = RosterSnapshot()
    snap.orgs[SCHOOL] = OrgRecord(SCHOOL, "active", "Bench High", "school", None, None)
    for c in range(classes):
        cid, tid = f"c{c}", f"t{c}"
        snap.classes[cid] = ClassRecord(cid, "active", f"French {c}", None, "scheduled", SCHOOL, None, (), (), ())
        snap.users[tid] = user(tid, "teacher")
        snap.enrollments[f"e-{tid}"] = EnrollmentRecord(
            f"e-{tid}", "active", tid, cid, SCHOOL, "teacher", True, None, None
        )
    for n in range(students):
        sid = f"s{n}"
        snap.users[sid] = user(sid, "student")
        snap.enrollments[f"e-{sid}"] = EnrollmentRecord(
            f"e-{sid}", "active", sid, f"c{n % classes}", SCHOOL, "student", False, None, None
        )
    for name, records in (("orgs", snap.orgs), ("classes", snap.classes), ("users", snap.users),
                          ("enrollments", snap.enrollments), ("academicSessions", {}), ("courses", {})):  # fmt: skip
        snap.collections[name] = CollectionStatus(name, True, len(records), len(records), None)
    return snap


def without_students(snap: Any) -> Any:
    """The same roster with every student (and their enrolments) gone."""
    snap.users = {k: v for k, v in snap.users.items() if v.role == "teacher"}
    snap.enrollments = {k: v for k, v in snap.enrollments.items() if v.role == "teacher"}
    for name, records in (("users", snap.users), ("enrollments", snap.enrollments)):
        snap.collections[name] = snap.collections[name].__class__(name, True, len(records), len(records), None)
    return snap


class S3Count:
    """S3 requests and bytes put, by operation (a botocore event hook)."""

    def __init__(self, client: Any) -> None:
        self.calls: dict[str, int] = {}
        client.meta.events.register("after-call.s3", self._after)

    def _after(self, model: Any, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1

    def take(self) -> dict[str, int]:
        calls, self.calls = self.calls, {}
        return calls


@contextmanager
def timed(phases: dict[str, float], name: str) -> Any:
    started = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - started


def _instrument(phases: dict[str, float]) -> None:
    """Time the undo's phases by wrapping the functions ``sync.undo`` calls (the bench only)."""
    from classlink_sync.sync import service, undo

    def wrap(module: Any, name: str, phase: str) -> None:
        original = getattr(module, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with timed(phases, phase):
                return original(*args, **kwargs)

        setattr(module, name, wrapped)

    wrap(undo, "resolve_target", "run and journal")
    wrap(undo, "blocking_runs", "blocking check")
    wrap(undo, "plan_undo", "read records + plan inverse")
    wrap(undo, "apply_plan", "apply")
    wrap(service, "write_run_journal", "journal the undo")


def bench(students: int, classes: int) -> dict[str, Any]:
    from classlink_local import moto_query
    from classlink_local.inprocess import in_process_store, set_in_process_env
    from classlink_sync.store import runs
    from classlink_sync.store.accounts import export_district
    from classlink_sync.store.districts import add_district
    from classlink_sync.store.dynamo import METER, roster_tables
    from classlink_sync.store.journal import journal_key
    from classlink_sync.store.reports import s3_client
    from classlink_sync.sync.messages import SyncRequest
    from classlink_sync.sync.service import run_sync
    from classlink_sync.sync.undo import undo_run

    set_in_process_env()
    moto_query.install()
    with in_process_store() as store:
        s3 = S3Count(s3_client(store.settings))
        today = dt.date.fromisoformat(TODAY)
        add_district(
            DISTRICT, tenant_id="4242", oneroster_url="https://example.invalid/ims/oneroster/v1p1",
            client_id="k", client_secret="s", schools="all", enable_from=today, override_notice=True,
            today=today, store=store,
        )  # fmt: skip

        def sync(snap: Any, **kw: Any) -> Any:
            request = SyncRequest(district_id=DISTRICT, date=TODAY, trigger=kw.pop("trigger", "manual"), **kw)
            return run_sync(request, store=store, fetch=lambda d, s: snap, raise_on_failure=False)

        started = time.perf_counter()
        first = sync(roster(students, classes))
        print(
            f"  (a) first sync: {first.report.roster_writes:,} roster writes in {time.perf_counter() - started:.1f} s"
        )
        before = export_district(DISTRICT, store)
        held = sync(without_students(roster(students, classes)))
        assert held.status == "held", held.status
        METER.reset()
        s3.take()
        started = time.perf_counter()
        approved = sync(without_students(roster(students, classes)), trigger="approve", approve_run_id=held.run_id)
        removal_wall = time.perf_counter() - started
        removal_writes = METER.writes(roster_tables(store.settings))
        removal_s3 = s3.take()
        journal = runs.load_report(runs.get_run(DISTRICT, approved.run_id, store), store)["journal"]
        assert journal["key"] == journal_key(DISTRICT, approved.run_id)

        phases: dict[str, float] = {}
        _instrument(phases)
        METER.reset()
        cpu0 = cpu_s()
        started = time.perf_counter()
        outcome = undo_run(DISTRICT, held.run_id, store, today=TODAY)
        undo_wall = time.perf_counter() - started
        undo_cpu = cpu_s() - cpu0
        undo_writes = METER.writes(roster_tables(store.settings))
        undo_reads = METER.reads(roster_tables(store.settings))
        undo_s3 = s3.take()
        same = export_district(DISTRICT, store) == before
    changed = sum(
        v for per in approved.report.counts.values() for k, v in per.items() if k in ("deactivate", "archive")
    )
    return {
        "students": students,
        "changed": changed,
        "removal": {
            "status": approved.status,
            "wall_s": removal_wall,
            "apply_s": approved.report.timings.get("apply_s", 0.0),
            "roster_writes": removal_writes,
            "s3": removal_s3,
        },
        "journal": journal,
        "undo": {
            "status": outcome.status,
            "wall_s": undo_wall,
            "cpu_s": undo_cpu,
            "phases": phases,
            "roster_writes": undo_writes,
            "reads": undo_reads,
            "s3": undo_s3,
            "counts": outcome.report.counts,
            "issues": len(outcome.report.issues),
        },
        "export_identical": same,
    }


def _print(result: dict[str, Any]) -> None:
    removal, undo, journal = result["removal"], result["undo"], result["journal"]
    changed = result["changed"] or 1
    print(f"  (b) approved mass removal ({removal['status']}): {result['changed']:,} records changed, "
          f"{removal['roster_writes']:,} roster writes, {removal['wall_s']:.1f} s (apply {removal['apply_s']:.1f} s); "
          f"S3 requests {removal['s3']}")  # fmt: skip
    print(f"      its journal: {journal['records']:,} records, {journal['bytes']:,} bytes gzip "
          f"({journal['bytes'] / max(journal['records'], 1):.1f} bytes a record)")  # fmt: skip
    print(f"  (c) undo ({undo['status']}): {undo['roster_writes']:,} roster writes "
          f"({undo['roster_writes'] / changed:.2f} a changed record), {undo['wall_s']:.1f} s wall, "
          f"{undo['cpu_s']:.1f} s CPU (this process: moto included); reads {undo['reads'][0]:,} items in "
          f"{undo['reads'][1]:,} requests; S3 requests {undo['s3']}; issues {undo['issues']}")  # fmt: skip
    for phase, seconds in undo["phases"].items():
        print(f"      {phase:<30} {seconds:7.2f} s")
    print(f"      counts {undo['counts']}")
    ratio = undo["wall_s"] / removal["wall_s"] if removal["wall_s"] else float("nan")
    print(f"  undo / removal: wall {ratio:.2f}x, roster writes "
          f"{undo['roster_writes'] / max(removal['roster_writes'], 1):.2f}x")  # fmt: skip
    print(f"  export after the undo identical to the one before the removal: {result['export_identical']}")
    print(f"  peak RSS {peak_rss_mb():.0f} MB")


def main() -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    students = env_int("BENCH_UNDO_STUDENTS", 1000 if quick else 5000)
    classes = env_int("BENCH_UNDO_CLASSES", 50)
    print(f"undo bench (R17): {students:,} students in {classes} classes, in-process moto; "
          f"{os.cpu_count()} CPUs, load average {load()}", flush=True)  # fmt: skip
    _print(bench(students, classes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
