"""R18 delta syncs: read only what ClassLink changed since the last successful sync, plan it over
what we hold, and never remove.

The pieces the sync service calls when ``SyncRequest.mode == "delta"`` (``sync.service``):

* ``fetch_changes`` (the delta ``Fetcher``): T = the start of the district's last successful
  run (full or delta) less ``OVERLAP`` (ClassLink's clock is not ours); every collection is read
  with ``dateLastModified>'T'``, and the pull is abandoned (``DeltaAbandoned``, so SQS retries the
  message) if ClassLink signals a change while it pages (``X-Total-Count`` or ``x-perm-rev``
  changing). A district without a successful run is refused (``DeltaRefused``): run a full sync
  first.
* ``note_fetch``: the run record says what was read (``delta``: since, filter, records per
  collection) and whether every collection was read to the end of its filtered set.
* ``plan_changes`` (in place of ``planner.plan``): the planner needs the whole district (students
  are in scope through their enrolments, classes need a synced teacher, R3/R8), so it plans a
  *merged* snapshot: what we hold, turned back into OneRoster records (stand-ins), overlaid with
  the delta's records, with ``defer_removals``. A stand-in reproduces the held item's digest, so
  what did not change plans ``unchanged`` and costs no write; every removal the plan would make
  (a ``tobedeleted`` record, a user leaving scope) is ``deferred`` to the next full sync (R9).

Stand-ins: a live held item is an ``active`` record of its stored state; a removed one (an
archived class, school or enrolment, a deactivated account that was not merely disabled) a
``tobedeleted`` record, so the planner leaves it as it is and R11 never sees it as an orphan. A
course that no delta record carries is given, as its title, the subject of a held class whose own
title names none (R7 reads the course title only then). An enrolment of the delta whose user or
class is neither in the delta nor held cannot be judged: it is left out and listed ``deferred``
(it waits for the full sync); so is a new class whose subject would come from a course we know
nothing about (R7).

Counts: in the plan of a delta, ``fetched`` counts the delta's records and ``from_store`` the stand-ins
(together, every record the planner gave an outcome).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from classlink_sync.errors import ClassLinkSyncError
from classlink_sync.oneroster.records import (
    ACTIVE,
    TOBEDELETED,
    ClassRecord,
    CollectionStatus,
    CourseRecord,
    EnrollmentRecord,
    OrgRecord,
    RosterSnapshot,
    UserRecord,
)
from classlink_sync.rules.district import DistrictSettings
from classlink_sync.rules.holdings import HeldAccount, HeldClass, HeldEnrollment, HeldSchool, Holdings
from classlink_sync.rules.plan import Plan
from classlink_sync.rules.planner import plan as make_plan
from classlink_sync.rules.planner.state import standin
from classlink_sync.rules.subjects import DEFAULT_CATALOGUE, SubjectCatalogue

if TYPE_CHECKING:
    from classlink_sync.report import RunReport
    from classlink_sync.store.context import Store
    from classlink_sync.store.districts import District
    from classlink_sync.store.view import DynamoRosterView
    from classlink_sync.sync.messages import SyncRequest

# R18: ClassLink's clock is not ours: a delta reads from this long before the last good start.
OVERLAP = dt.timedelta(minutes=15)
# How far back the run history is searched for the last successful run.
RUNS_SEARCHED = 100
# The ``why`` of every removal a delta defers (plan.deferred, the run record, the report).
DEFER_WHY = "R18 delta sync: removals need a complete fetch (R9); they wait for the next full sync"

_COLLECTIONS = (
    ("orgs", "orgs", "org"),
    ("academicSessions", "academic_sessions", "academicSession"),
    ("courses", "courses", "course"),
    ("classes", "classes", "class"),
    ("users", "users", "user"),
    ("enrollments", "enrollments", "enrollment"),
)


class DeltaRefused(ClassLinkSyncError, RuntimeError):
    """R18: a delta sync cannot start: the district has no successful sync to read changes from.
    The run is recorded as failed with this message; run a full sync first."""


# ---- T: where a delta starts reading ---------------------------------------------------------


def last_success(district_id: str, store: Store) -> tuple[dt.datetime, str] | None:
    """The start and id of the district's last successful run that read ClassLink (full or delta,
    R18), or None. An undo run (R17) read nothing from ClassLink: it never moves T."""
    from classlink_sync.report import SUCCEEDED
    from classlink_sync.store import runs

    run = runs.last_run(
        district_id,
        lambda r: r.status == SUCCEEDED and bool(r.started) and r.mode in ("full", "delta"),
        store,
        within=RUNS_SEARCHED,
    )
    if run is None:
        return None
    started = dt.datetime.fromisoformat(run.started.replace("Z", "+00:00"))
    return (started if started.tzinfo else started.replace(tzinfo=dt.UTC)), run.run_id


def delta_since(district_id: str, store: Store, *, overlap: dt.timedelta = OVERLAP) -> dt.datetime:
    """R18: T = the start of the last successful run less ``overlap``; ``DeltaRefused`` without one."""
    found = last_success(district_id, store)
    if found is None:
        raise DeltaRefused(
            f"R18: district {district_id} has no successful sync to read changes from; "
            "a delta sync is refused until a full sync has succeeded"
        )
    return found[0] - overlap


# ---- fetch ------------------------------------------------------------------------------------


@dataclass(slots=True)
class DeltaRoster(RosterSnapshot):
    """A delta's snapshot (never complete, R9) and what the run record says about the pull."""

    since: str = ""
    filter: str = ""
    problems: list[str] = field(default_factory=list)  # why a collection was not read to its end
    revs: dict[str, str] = field(default_factory=dict)  # x-perm-rev per collection
    pull_s: float | None = None  # the client's pull alone (fetch_s also counts T's lookup and the secret)


def fetcher(request: SyncRequest, store: Store) -> Callable[[District, Store], DeltaRoster]:
    """The delta ``Fetcher`` for ``run_sync`` with T looked up now, before the sync's store reads
    start (they run while the fetch runs); a refusal is raised when the fetch starts, so the run
    records it. A follow-up of a continued run (R20) fetches nothing: T is not looked up."""
    if request.continuation is not None:
        return fetch_changes
    try:
        since: dt.datetime | None = delta_since(request.district_id, store)
    except DeltaRefused as exc:
        refused = exc

        def refuse(district: District, store: Store) -> DeltaRoster:
            raise refused

        return refuse
    return lambda district, store: fetch_changes(district, store, since=since)


def fetch_changes(district: District, store: Store, *, since: dt.datetime | None = None) -> DeltaRoster:
    """The delta ``Fetcher`` (R18): ClassLink's changes since T (looked up unless given), from the
    district's Roster Server. Raises ``DeltaRefused`` (no successful sync yet) or
    ``DeltaAbandoned`` (data changed mid-pull)."""
    from classlink_sync.oneroster.client import OneRosterClient
    from classlink_sync.oneroster.filters import format_timestamp
    from classlink_sync.sync.credentials import roster_auth

    since = since if since is not None else delta_since(district.district_id, store)
    auth = roster_auth(district, store.settings)
    started = time.perf_counter()
    with OneRosterClient(district.oneroster_url, auth, concurrency=store.settings.page_concurrency) as client:
        pulled = client.fetch_delta(since)
    roster = DeltaRoster(since=format_timestamp(since), filter=pulled.filter, problems=list(pulled.problems))
    roster.pull_s = round(time.perf_counter() - started, 3)
    for name in RosterSnapshot.__dataclass_fields__:
        setattr(roster, name, getattr(pulled.snapshot, name))
    roster.revs = dict(pulled.revs)
    return roster


def note_fetch(report: RunReport, extra: dict[str, Any], snapshot: RosterSnapshot) -> None:
    """R18: the run record's view of a delta pull. ``fetch_complete`` means here that every
    collection was read to the end of its filtered set (a delta never proves absence, R9, and
    removes nothing anyway); otherwise the run fails after applying what it read, as a full one."""
    problems = list(snapshot.problems) if isinstance(snapshot, DeltaRoster) else _problems(snapshot)
    missing = [name for name, _attr, _entity in _COLLECTIONS if name not in snapshot.collections]
    problems.extend(f"{name}: not fetched" for name in missing)
    report.fetch_complete = not problems
    report.incomplete_reasons = problems
    extra["delta"] = {
        "since": snapshot.since if isinstance(snapshot, DeltaRoster) else None,
        "filter": snapshot.filter if isinstance(snapshot, DeltaRoster) else None,
        "fetched": {entity: len(getattr(snapshot, attr)) for _name, attr, entity in _COLLECTIONS},
        "revs": dict(snapshot.revs) if isinstance(snapshot, DeltaRoster) else {},
        "pull_s": snapshot.pull_s if isinstance(snapshot, DeltaRoster) else None,
        "removals": "deferred to the next full sync (R9)",
    }


def _problems(snapshot: RosterSnapshot) -> list[str]:
    """A plain snapshot handed in as a delta (tests, a recorded pull): its collections' reasons
    other than the delta's own note."""
    found = []
    for status in snapshot.collections.values():
        reason = status.reason or ""
        rest = [part for part in reason.split("; ") if part and "a delta never proves absence" not in part]
        if rest and not status.complete:
            found.append(f"{status.name}: {'; '.join(rest)}")
    return found


# ---- read what we hold ---------------------------------------------------------------------------


def gather_holdings(
    view: DynamoRosterView,
    district: District,
    snapshot: RosterSnapshot,
    store: Store,
    extra: dict[str, Any],
    *,
    today: str,
) -> Holdings:
    """R18: the held items around the delta's records, read by key (``sync.delta_reads``), or the
    whole district when no full sync left the totals a targeted delta needs; the run record's
    ``delta.reads`` says which."""
    from classlink_sync.rules.holdings import gather
    from classlink_sync.sync import delta_reads

    basis = delta_reads.last_full_basis(district.district_id, store)
    note = extra.setdefault("delta", {})
    if basis is None:
        note["reads"] = {"targeted": False, "why": "no successful full sync recorded the district's totals"}
        return gather(view, district.district_id, snapshot)
    holdings = delta_reads.gather_changes(view, district, snapshot, basis, today=today)
    note["reads"] = {"targeted": True, "basis_run": basis.run_id, "settled_enrollments": len(holdings.settled)}
    return holdings


# ---- plan -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Merged:
    """The snapshot the planner reads for a delta, and what the merge itself decided."""

    snapshot: RosterSnapshot
    fetched: dict[str, int]  # entity -> records the delta carried
    held: dict[str, int]  # entity -> stand-ins made from what we hold
    deferred: list[dict[str, Any]]  # delta records that wait for the full sync


def plan_changes(
    snapshot: RosterSnapshot,
    holdings: Holdings,
    settings: DistrictSettings,
    *,
    today: str,
    waive_guard: bool = False,
    catalogue: SubjectCatalogue = DEFAULT_CATALOGUE,
) -> Plan:
    """R18: plan a delta (in place of ``planner.plan``, same arguments): the merged snapshot,
    planned with every removal deferred; then the plan's counts and fetch status are the delta's."""
    merged = merge(snapshot, holdings, settings, catalogue=catalogue)
    plan = make_plan(
        merged.snapshot,
        holdings,
        settings,
        today=today,
        waive_guard=waive_guard,
        catalogue=catalogue,
        defer_removals=DEFER_WHY,
    )
    plan.deferred.extend(merged.deferred)
    for entity in set(merged.fetched) | set(merged.held):
        counts = plan.counts.setdefault(entity, {})
        counts.pop("fetched", None)
        if merged.fetched.get(entity):
            counts["fetched"] = merged.fetched[entity]
        if merged.held.get(entity):
            counts["from_store"] = merged.held[entity]
    if holdings.settled:  # planned unchanged without a read of their user and class
        counts = plan.counts.setdefault("enrollment", {})
        counts["unchanged"] = counts.get("unchanged", 0) + len(holdings.settled)
    for entry in merged.deferred:
        counts = plan.counts.setdefault(entry["entity"], {})
        counts["deferred"] = counts.get("deferred", 0) + 1
    plan.counts = {entity: dict(sorted(c.items())) for entity, c in sorted(plan.counts.items()) if c}
    plan.fetch_complete = False  # R9: a delta never proves absence
    plan.incomplete_reasons = sorted(snapshot.incomplete_reasons)
    return plan


def merge(
    delta: RosterSnapshot,
    holdings: Holdings,
    settings: DistrictSettings,
    *,
    catalogue: SubjectCatalogue = DEFAULT_CATALOGUE,
) -> Merged:
    """What we hold as stand-in records, overlaid with the delta's records (module docstring)."""
    out = RosterSnapshot(rejected=list(delta.rejected))
    held: dict[str, int] = {}
    deferred: list[dict[str, Any]] = []
    out.orgs = dict(delta.orgs)
    out.academic_sessions = dict(delta.academic_sessions)
    out.courses = dict(delta.courses)
    out.classes = dict(delta.classes)
    out.users = dict(delta.users)
    listed = _listed(delta)
    held["org"] = _put(out.orgs, (_school(s) for s in holdings.schools), listed.get("org"))
    held["class"] = _put(out.classes, (_class(c) for c in holdings.classes), listed.get("class"))
    held["course"] = _put(out.courses, _courses(holdings.classes, catalogue), listed.get("course"))
    linked = [a for a in holdings.accounts if a.sourced_id]
    held["user"] = _put(out.users, (_user(a) for a in linked), listed.get("user"))
    class_school = {c.sourced_id: c.school_id for c in holdings.classes}
    for klass in delta.classes.values():
        class_school[klass.sourced_id] = klass.school_id
    _defer_unjudgeable_classes(out, delta, holdings, settings, catalogue, deferred)
    out.enrollments = _enrollments(delta, out, class_school, deferred, holdings.settled)
    standins = (_enrollment(e, class_school) for e in holdings.enrollments if e.sourced_id)
    held["enrollment"] = _put(out.enrollments, standins, listed.get("enrollment"))
    _defer_students_without_classes(out, delta, linked, deferred)
    fetched = {entity: len(getattr(delta, attr)) for _name, attr, entity in _COLLECTIONS}
    for name, attr, _entity in _COLLECTIONS:
        n = len(getattr(out, attr))
        out.collections[name] = CollectionStatus(name, True, n, n)  # whole-district context only
    return Merged(out, fetched, held, deferred)


def _listed(delta: RosterSnapshot) -> dict[str, set[str]]:
    """sourcedIds the delta listed but the client rejected (R4): no stand-in replaces them."""
    entity_of = {name: entity for name, _attr, entity in _COLLECTIONS}
    entity_of.update(schools="org", terms="academicSession", teachers="user", students="user")
    found: dict[str, set[str]] = {}
    for rejection in delta.rejected:
        if rejection.sourced_id is not None:
            found.setdefault(entity_of.get(rejection.collection, rejection.collection), set()).add(rejection.sourced_id)
    return found


def _put(target: dict[str, Any], records: Iterable[Any], skip: set[str] | None) -> int:
    """Add stand-ins for what the delta did not carry; how many were added."""
    added = 0
    for record in records:
        sid = record.sourced_id
        if sid in target or (skip and sid in skip):
            continue
        target[sid] = record
        added += 1
    return added


def _school(held: HeldSchool) -> OrgRecord:
    return OrgRecord(
        held.sourced_id, TOBEDELETED if held.archived else ACTIVE, held.name, "school", held.identifier, None
    )


def _class(held: HeldClass) -> ClassRecord:
    status = TOBEDELETED if held.archived else ACTIVE
    return ClassRecord(
        held.sourced_id,
        status,
        held.title,
        held.class_code,
        None,
        held.school_id,
        held.course_id,
        held.term_ids,
        (),
        held.grades,
    )


def _courses(classes: list[HeldClass], catalogue: SubjectCatalogue) -> Iterable[CourseRecord]:
    """R7: a held class whose title names no subject took it from its course's title: the course's
    stand-in carries that subject as its title, so the class plans the same subject again."""
    titles: dict[str, str | None] = {}
    for held in classes:
        if held.course_id is None:
            continue
        if held.subject and not catalogue.subjects_in(held.title):
            titles[held.course_id] = held.subject
        else:
            titles.setdefault(held.course_id, None)
    for course_id, title in titles.items():
        yield CourseRecord(course_id, ACTIVE, title, None, None, None, ())


def _user(held: HeldAccount) -> UserRecord:
    """A linked account's stored state as its user record; a deactivated account that is not merely
    disabled (R3) was removed (R9) and stays so (``tobedeleted``)."""
    removed = not held.active and held.enabled
    return standin(held, TOBEDELETED if removed else ACTIVE)


def _enrollment(held: HeldEnrollment, class_school: dict[str, str | None]) -> EnrollmentRecord:
    return EnrollmentRecord(
        held.sourced_id,
        TOBEDELETED if held.archived else ACTIVE,
        held.user_sourced_id or None,
        held.class_sourced_id or None,
        class_school.get(held.class_sourced_id),
        held.role or None,
        held.primary,
        held.begin_date,
        held.end_date,
    )


def _defer_unjudgeable_classes(
    out: RosterSnapshot,
    delta: RosterSnapshot,
    holdings: Holdings,
    settings: DistrictSettings,
    catalogue: SubjectCatalogue,
    deferred: list[dict[str, Any]],
) -> None:
    """R7/R18: a new class whose title names no subject takes it from its course; a course neither
    in the delta nor behind a held class cannot be read, so the class waits for the full sync."""
    held_ids = {c.sourced_id for c in holdings.classes}
    for sid in sorted(delta.classes):
        klass = delta.classes[sid]
        if sid in held_ids or klass.course_id is None or klass.course_id in delta.courses:
            continue
        course = out.courses.get(klass.course_id)
        if course is not None and course.title:
            continue
        overrides = settings.subject_overrides
        if catalogue.match(klass.title, None, overrides, sid, klass.course_id).subject is not None:
            continue
        del out.classes[sid]
        deferred.append(
            {
                "entity": "class",
                "sourced_id": sid,
                "school_id": klass.school_id,
                "why": f"R18 delta sync: its course {klass.course_id} (R7 subject) is not in the delta"
                " and not held; it waits for the next full sync",
            }
        )


def _defer_students_without_classes(
    out: RosterSnapshot, delta: RosterSnapshot, linked: list[HeldAccount], deferred: list[dict[str, Any]]
) -> None:
    """R3/R18: a student we do not hold is synced only with a class (through an enrolment); one whose
    enrolments are neither in the delta nor held cannot be judged, so it waits for the full sync
    (for example a user whose record just became usable, enrolled long ago)."""
    held_ids = {a.sourced_id for a in linked}
    enrolled = {e.user_id for e in out.enrollments.values()}
    for sid in sorted(delta.users):
        user = delta.users[sid]
        if sid in held_ids or sid in enrolled or user.role != "student" or user.status != ACTIVE:
            continue
        del out.users[sid]
        deferred.append(
            {
                "entity": "user",
                "sourced_id": sid,
                "school_id": user.org_ids[0] if user.org_ids else None,
                "why": "R18 delta sync: a student we do not hold whose enrolments are not in the delta (R3 scope);"
                " it waits for the next full sync",
            }
        )


def _enrollments(
    delta: RosterSnapshot,
    out: RosterSnapshot,
    class_school: dict[str, str | None],
    deferred: list[dict[str, Any]],
    settled: frozenset[str] = frozenset(),
) -> dict[str, EnrollmentRecord]:
    """The delta's enrolments whose user and class are known (in the delta or held); the others
    wait for the full sync (R18 ``deferred``). An enrolment without a user or class reference is
    kept: the planner reports it (R4)."""
    kept: dict[str, EnrollmentRecord] = {}
    for sid in sorted(delta.enrollments):
        if sid in settled:  # a targeted delta found it held and unchanged (sync.delta_reads)
            continue
        enr = delta.enrollments[sid]
        missing = []
        if enr.user_id is not None and enr.user_id not in out.users:
            missing.append(f"its user {enr.user_id}")
        if enr.class_id is not None and enr.class_id not in out.classes:
            missing.append(f"its class {enr.class_id}")
        if not missing:
            kept[sid] = enr
            continue
        deferred.append(
            {
                "entity": "enrollment",
                "sourced_id": sid,
                "school_id": enr.school_id or class_school.get(enr.class_id or ""),
                "why": f"R18 delta sync: {' and '.join(missing)} is neither in the delta nor held;"
                " it waits for the next full sync",
            }
        )
    return kept
