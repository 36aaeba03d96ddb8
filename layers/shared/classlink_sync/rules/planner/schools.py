"""Schools: R3 (licensed schools only), R4 (a school needs a name, and values within the platform's
limits), R9 (removal = archive; a school we hold whose record is unusable, was rejected by the client,
or is absent without ClassLink confirming it, is kept and stays in scope)."""

from __future__ import annotations

from classlink_sync.oneroster.records import TOBEDELETED, OrgRecord
from classlink_sync.rules.digest import digest_values
from classlink_sync.rules.holdings import HeldSchool
from classlink_sync.rules.plan import SchoolState
from classlink_sync.rules.planner import messages
from classlink_sync.rules.planner.state import (
    PlanningState,
    Problem,
    SchoolScope,
    absence_unconfirmed,
    may_remove,
)
from classlink_sync.rules.planner.vocabulary import ORG_TYPES


def plan_schools(st: PlanningState) -> SchoolScope:
    """R3, R4, R9 for every fetched org; returns the known schools and those in scope."""
    scope = SchoolScope(known=set(), synced=set())
    held_schools = {school.sourced_id: school for school in st.holdings.schools}
    orgs = st.snapshot.orgs
    bad = st.bad.get("org", {})
    for sid in sorted(orgs):
        org = orgs[sid]
        problem = bad.get(sid)
        if org.type != "school":
            held = held_schools.get(sid)
            if held is None or held.archived or org.type in ORG_TYPES:
                st.report.count("org", "ignored")
                continue
            # R4: a school we hold whose type is now missing or not a OneRoster org type.
            problem = Problem("type", f"has the type '{messages.shown(org.type)}' rather than school")
        scope.known.add(sid)
        held = held_schools.pop(sid, None)
        if org.status == TOBEDELETED or not st.settings.school_licensed(sid):
            remove_school(st, held, absent=False)
            continue
        if problem is not None or not org.name:
            _school_unusable(st, sid, held, scope, problem)
            continue
        scope.synced.add(sid)
        _plan_school(st, sid, org, held)
    _leftover_schools(st, held_schools, scope)
    return scope


def _leftover_schools(st: PlanningState, held_schools: dict[str, HeldSchool], scope: SchoolScope) -> None:
    """R9: held schools no fetched record matched are archived (after a complete fetch), except those
    the client rejected (listed, but unusable: intake reported them) and those whose absence ClassLink
    did not confirm; those are kept and stay in scope."""
    rejected = st.rejected.get("org", ())
    for sid in sorted(held_schools):
        held = held_schools[sid]
        keep = not held.archived and st.settings.school_licensed(sid)
        if keep and sid in rejected:
            scope.known.add(sid)
            scope.synced.add(sid)
            continue
        if keep and st.complete and sid in st.unconfirmed.get("org", ()):
            st.report.count("org", "absent")
            absence_unconfirmed(st, "org", sid, sid)
            scope.known.add(sid)
            scope.synced.add(sid)
            continue
        remove_school(st, held, absent=True)


def _school_unusable(
    st: PlanningState, sid: str, held: HeldSchool | None, scope: SchoolScope, problem: Problem | None
) -> None:
    """R4 (no name, or a value beyond the platform's limits): skipped; a held live school keeps its
    last good state (R9 stale) and stays in scope."""
    stale = held is not None and not held.archived
    if stale:
        scope.synced.add(sid)
    st.report.count("org", "stale" if stale else "skipped")
    if problem is None:
        field, message = "name", messages.school_without_name(stale=stale)
    else:
        field, message = problem.field, messages.school_invalid(problem.field, problem.what)
    st.report.issue("R4", "org", sid, message, field=field, stale=stale, school=sid)


def _plan_school(st: PlanningState, sid: str, org: OrgRecord, held: HeldSchool | None) -> None:
    if org.name is None:  # plan_schools: a school without a name is unusable (R4)
        raise RuntimeError(f"planner: school {sid} has no name")
    digest = digest_values(sid, st.district, org.name, org.identifier)
    if held is None:
        action = "create"
    elif held.archived:
        action = "restore"
    elif held.digest != digest:
        action = "update"
    else:
        st.report.count("org", "unchanged")
        return
    st.plan.schools[action].append(SchoolState(sid, st.district, org.name, org.identifier, False, digest))
    st.report.count("org", action)


def remove_school(st: PlanningState, held: HeldSchool | None, *, absent: bool) -> None:
    """R9: archiving (never deletion); nothing is removed after an incomplete fetch."""
    if held is None or (absent and held.archived):
        if not absent:
            st.report.count("org", "ignored")
        return
    if absent:
        st.report.count("org", "absent")
    if may_remove(st, "org", already_removed=held.archived, sourced_id=held.sourced_id, school=held.sourced_id):
        st.plan.schools["archive"].append(
            SchoolState(held.sourced_id, st.district, held.name, held.identifier, True, held.digest)
        )
        st.report.count("org", "archive")
