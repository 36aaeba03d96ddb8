"""The reconciliation planner: what ClassLink says + what we hold + settings -> ``Plan`` (SPEC §3).

``plan`` is pure (DESIGN.md "Flow"): no I/O, no clock (``today`` is passed), no randomness. New ids
are uuid5 of the district and the sourcedId (salted only if already taken), so planning again after
a killed apply gives the same ids. Records are visited in sourcedId order, so the plan does not
depend on the order in which ClassLink returned them.

``plan`` is the list of stages in order; each is a function of this package over the explicit
``state.PlanningState`` (inputs, held items indexed, counts, issues, the plan under construction),
and hands what later stages need on as a typed result:

1. rejected records -> skipped with an R4 issue, or kept stale when we hold them (R9); every record
   screened against the platform's limits (``rules.limits``: lengths after NFKC, key and item sizes,
   allowed characters) (``intake``);
2. schools (R3 licensed list, R4 name, R9) (``schools``);
3. users classified (R3 roles and schools, R4 required fields, R9 tobedeleted) (``accounts``);
4. teachers' identities (R5, R6, R11, R2) (``identity``), then classes (R3, R4, R7, R8, R11)
   (``classes``), then which students are in scope (R3: at least one synced class), then students'
   identities;
5. account states (R3, R5 reservations, R13), then enrolments per class (R8 co-teachers, wrong school,
   role mismatch; R9 end dates; R11 by key) (``enrolments``);
6. held items no record matched (R9 absence from a complete fetch; R6 "recommended for removal");
7. the mass-change guard (R10) (``guard``).

Every synced state has ``managed=True`` (R13) and only the fields of the states (R15). A held record
that is still shared but now breaks a rule keeps its last good state and is reported stale (R9): a
rule of ours (R4 limits, R5, R7, R8), or the client's (a record it rejected, a repeated sourcedId);
so does one absent from the list whose absence ClassLink did not confirm
(``snapshot.unconfirmed_absent``). Only R9's triggers remove. A
disabled user (R3) is an ``update`` to an inactive account, not a removal; re-enabling is
``reactivate``. The decisions SPEC leaves open are explained in the stage modules.

Memory (DESIGN.md): enrolments are grouped per class by reference, held enrolments are indexed per
class by account id, digests are computed from field values so an unchanged item builds no object,
states reuse the records' (interned) strings, and the plan keeps enrolments as ``StateRows`` (one
reference per item: the record itself) that build each state when read.
"""

from __future__ import annotations

from classlink_sync.oneroster.records import RosterSnapshot
from classlink_sync.rules.district import DistrictSettings
from classlink_sync.rules.holdings import Holdings
from classlink_sync.rules.plan import Plan
from classlink_sync.rules.planner.accounts import classify_users, leftover_accounts, plan_accounts, students_in_scope
from classlink_sync.rules.planner.classes import count_references, leftover_classes, plan_classes
from classlink_sync.rules.planner.enrolment_rows import EnrollmentMaker, enrollment_digest, enrollment_rows
from classlink_sync.rules.planner.enrolments import group_enrollments, leftover_enrollments, plan_enrollments
from classlink_sync.rules.planner.guard import check_guard
from classlink_sync.rules.planner.identity import resolve_students, resolve_users
from classlink_sync.rules.planner.intake import count_fetched, screen_records, skip_rejected
from classlink_sync.rules.planner.schools import plan_schools
from classlink_sync.rules.planner.start import new_state
from classlink_sync.rules.planner.state import (
    OUTCOME_TALLIES,
    STUDENT,
    SYNCED_ROLES,
    TEACHER,
    finished_plan,
)
from classlink_sync.rules.subjects import DEFAULT_CATALOGUE, SubjectCatalogue

__all__ = [
    "OUTCOME_TALLIES",
    "STUDENT",
    "SYNCED_ROLES",
    "TEACHER",
    "EnrollmentMaker",
    "enrollment_digest",
    "plan",
]


def plan(
    snapshot: RosterSnapshot,
    holdings: Holdings,
    settings: DistrictSettings,
    *,
    today: str,
    waive_guard: bool = False,
    catalogue: SubjectCatalogue = DEFAULT_CATALOGUE,
    defer_removals: str | None = None,
    hold_removals: str | None = None,
) -> Plan:
    """Plan one sync of ``settings.district_id`` (SPEC §3, R2-R16). Pure: see the module docstring.

    ``today`` is the ISO date the sync runs for (R9 enrolment end dates). ``waive_guard`` is set only
    by a staff ``approve`` (R10): the guard is still evaluated and its reasons kept, but not tripped.
    ``defer_removals`` (why: an R16 additions-only window, an R18 delta sync) makes every removal a
    ``deferred`` outcome listed in ``plan.deferred``; ``hold_removals`` (why: R16, the first sync
    after a long pause or blackout) trips the guard on any removal.
    """
    if holdings.district_id != settings.district_id:
        raise ValueError(f"holdings are for district {holdings.district_id!r}, settings for {settings.district_id!r}")
    st = new_state(snapshot, holdings, settings, today=today, catalogue=catalogue)
    st.defer_removals, st.hold_removals = defer_removals, hold_removals
    count_fetched(st)
    skip_rejected(st)  # R4, R9
    screen_records(st)  # R4
    schools = plan_schools(st)  # R3, R4, R9
    candidates = classify_users(st, schools)  # R3, R4, R9
    resolve_users(st, candidates.teachers)  # R5, R6, R11, R2: teachers first
    groups = group_enrollments(st)  # R4
    classes = plan_classes(st, schools, groups)  # R3, R4, R7, R8, R9, R11
    in_scope = students_in_scope(st, candidates, groups, classes)  # R3
    resolve_students(st, candidates, in_scope)  # R3, R5, R6, R11, R2
    plan_accounts(st, schools)  # R3, R5, R13
    plan_enrollments(st, schools, groups, classes)  # R4, R8, R9, R11
    leftover_accounts(st)  # R9, R2/R6
    leftover_classes(st)  # R9
    leftover_enrollments(st)  # R9
    count_references(st, classes)
    st.plan.enrollments = enrollment_rows(st, classes)
    st.plan.guard = check_guard(st, waive=waive_guard)  # R10
    return finished_plan(st)
