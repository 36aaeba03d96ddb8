"""The explicit planning state: the inputs, what is held (indexed for lookup), the plan under
construction with its counts and issues, and the typed results one stage hands on to later ones.

Stages (the other modules of this package) are functions over a ``PlanningState``; ``plan`` in
``__init__`` calls them in order. This module imports no stage.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from classlink_sync.oneroster.records import ACTIVE, TOBEDELETED, EnrollmentRecord, RosterSnapshot, UserRecord
from classlink_sync.rules.district import DistrictSettings
from classlink_sync.rules.holdings import HeldAccount, HeldClass, HeldEnrollment, Holdings
from classlink_sync.rules.limits import MAX_ID_BYTES
from classlink_sync.rules.plan import ENROLLMENT_ACTIONS, Issue, Plan
from classlink_sync.rules.planner import messages
from classlink_sync.rules.subjects import SubjectCatalogue

TEACHER = "teacher"
STUDENT = "student"
SYNCED_ROLES = frozenset({TEACHER, STUDENT})

# Tallies in plan.counts[entity] that are not outcomes (see Plan.counts).
OUTCOME_TALLIES = frozenset({"fetched", "absent"})

# Fixed namespace for the uuid5 ids this planner issues (never change it: ids must be reproducible).
_ID_NAMESPACE = uuid.UUID("6f1d3c52-6a43-5b8e-9f57-2c1b7e0d4a10")

# Issue texts are bounded (a report of thousands of issues must stay readable and storable).
MAX_MESSAGE_CHARS = 2000

# Class outcomes the enrolment pass needs.
CLASS_SYNCED = 1
CLASS_STALE = 2


@dataclass(slots=True)
class ClassInfo:
    kind: int  # CLASS_SYNCED | CLASS_STALE
    class_id: str
    school_id: str


@dataclass(slots=True, kw_only=True)
class Identity:
    """What the planner decided about one in-scope user (R5, R6, R11)."""

    account_id: str
    action: str  # create | link | relink | existing
    held: HeldAccount | None
    username: str
    username_norm: str
    email_norm: str | None
    email: str | None = None  # the email synced (None when ClassLink's is malformed, R4/R6)
    stale_issue: Issue | None = None


@dataclass(slots=True, frozen=True)
class Problem:
    """Why a record cannot be used (R4): the field, and what is wrong with it, completing a sentence
    such as "User 12345 ..." ("has no givenName", "has a username that is longer than ...")."""

    field: str
    what: str
    missing: bool = False  # the field is empty (the advice is to fill it in, not to correct it)


@dataclass(slots=True)
class Report:
    """The plan's counts (per entity and outcome, see ``Plan.counts``) and issues."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    def count(self, entity: str, outcome: str, n: int = 1) -> None:
        per_entity = self.counts.get(entity)
        if per_entity is None:
            per_entity = self.counts[entity] = {}
        per_entity[outcome] = per_entity.get(outcome, 0) + n

    def issue(
        self,
        rule: str,
        entity: str,
        sourced_id: str | None,
        message: str,
        *,
        field: str | None = None,
        stale: bool = False,
        level: str = "error",
        school: str | None = None,
    ) -> Issue:
        """``school``: the sourcedId of the record's school (``Issue.school_id``), if known."""
        if stale:
            message += messages.stale_note(entity)
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "\u2026"
        if sourced_id is not None and (len(sourced_id) > MAX_ID_BYTES or not sourced_id.isascii()):
            sourced_id = messages.shown_id(sourced_id)
        if school is not None and (len(school) > MAX_ID_BYTES or not school.isascii()):
            school = messages.shown_id(school)
        found = Issue(rule, entity, sourced_id, message, field, stale, level, school or None)
        self.issues.append(found)
        return found


@dataclass(slots=True, kw_only=True)
class AccountBook:
    """Held accounts indexed for identity resolution (R5, R6, R11), and what this plan decided."""

    by_sid: dict[str, HeldAccount] = field(default_factory=dict)
    by_norm: dict[str, HeldAccount] = field(default_factory=dict)
    unlinked_by_norm: dict[str, list[HeldAccount]] = field(default_factory=dict)
    unlinked_by_email: dict[str, list[HeldAccount]] = field(default_factory=dict)
    orphan_by_norm: dict[str, HeldAccount] = field(default_factory=dict)  # R11: sourcedId gone
    orphan_by_email: dict[str, list[HeldAccount]] = field(default_factory=dict)
    taken_ids: set[str] = field(default_factory=set)  # account ids held or reserved (new ids avoid them)
    unwritten_reservations: dict[str, str] = field(default_factory=dict)  # username_norm -> account id
    handled: set[str] = field(default_factory=set)  # account ids given an outcome in this plan
    blocked: dict[str, str] = field(default_factory=dict)  # account id -> user whose match was refused
    claimed_norms: dict[str, str] = field(default_factory=dict)  # username_norm -> account id, this plan
    claimer_sid: dict[str, str] = field(default_factory=dict)  # username_norm -> user that claimed it
    identity: dict[str, Identity] = field(default_factory=dict)  # user sourcedId -> synced identity
    kept: dict[str, str] = field(default_factory=dict)  # user sourcedId -> account id kept stale (R9)
    # R9: the last good state of each kept user, read instead of its record (which is unusable, or
    # was rejected by the client, or is absent without ClassLink confirming it).
    standins: dict[str, UserRecord] = field(default_factory=dict)
    # R5 confusables (TR39 skeleton of the normal form -> normal forms), built when first needed.
    held_keys: dict[str, list[tuple[str, str, str]]] | None = None  # (account id, norm, username)
    claimed_keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (norm, username)
    acct_of: dict[str, str] = field(default_factory=dict)  # user sourcedId -> account id, synced or kept


@dataclass(slots=True)
class ClassBook:
    """Held classes by sourcedId (a fetched record claims its own; the rest are leftovers)."""

    held: dict[str, HeldClass]
    taken_ids: set[str]


@dataclass(slots=True)
class EnrollmentBook:
    """Held enrolments per class by account id (R11: keyed by (class_id, account_id)), and the plan
    rows per action (``plan.StateRows``): the record, or the held item to archive."""

    held: dict[str, dict[str, HeldEnrollment]]
    held_active: int
    rows: dict[str, list[EnrollmentRecord | HeldEnrollment]] = field(
        default_factory=lambda: {a: [] for a in ENROLLMENT_ACTIONS}
    )
    broken_sids: set[str] = field(default_factory=set)  # shared but unusable (R4): never archived
    # (class sourcedId, user sourcedId) of enrolments listed with an unusable sourcedId (R4): the held
    # enrolment of that class and user is never archived either.
    broken_pairs: set[tuple[str, str]] = field(default_factory=set)


@dataclass(slots=True, kw_only=True)
class PlanningState:
    snapshot: RosterSnapshot
    holdings: Holdings
    settings: DistrictSettings
    today: str
    catalogue: SubjectCatalogue
    district: str
    tenant: str
    complete: bool  # R9/R11: a complete fetch, so absence means removal
    # R4: records in the snapshot that break the platform's limits (``intake.screen_records``):
    # entity -> sourcedId -> problem. The stages skip them, keeping what we hold (R9 stale).
    bad: dict[str, dict[str, Problem]]
    # R4/R9: sourcedIds the client rejected (unusable, or repeated): listed, so not absent.
    rejected: dict[str, set[str]]
    # R9: held sourcedIds absent from this complete fetch whose absence ClassLink did not confirm.
    unconfirmed: dict[str, set[str]]
    plan: Plan
    report: Report
    accounts: AccountBook
    classes: ClassBook
    enrollments: EnrollmentBook
    # R16 additions-only window / R18 delta sync: removals are not written but listed as deferred
    # (the reason, for the run record); None: removals as R9 says.
    defer_removals: str | None = None
    # R16: the first sync after a long pause or blackout is held (R10) if it removes anything.
    hold_removals: str | None = None


# ---- typed results handed from one stage to the next


@dataclass(slots=True)
class SchoolScope:
    known: set[str]  # every fetched org of type school
    synced: set[str]  # R3: licensed schools that are synced (or kept stale)


@dataclass(slots=True)
class Candidates:
    """R3/R4: users who may be synced; students only if they are in a synced class."""

    teachers: list[UserRecord]
    students: dict[str, UserRecord]


@dataclass(slots=True)
class EnrollmentGroups:
    """Enrolments per class by reference, in sourcedId order; teacher enrolments also on their own."""

    by_class: dict[str, list[EnrollmentRecord]]
    teachers: dict[str, list[EnrollmentRecord]]


@dataclass(slots=True)
class ClassOutcome:
    info: dict[str, ClassInfo]  # class sourcedId -> synced or stale-kept class
    used_courses: set[str]
    used_sessions: set[str]


# ---- building the state and the plan


def new_id(district: str, kind: str, sourced_id: str, taken: set[str]) -> str:
    """A deterministic id: uuid5 of district, kind and sourcedId, salted only if taken."""
    salt = 0
    while True:
        name = f"{district}\x1f{kind}\x1f{sourced_id}" + (f"\x1f{salt}" if salt else "")
        new = str(uuid.uuid5(_ID_NAMESPACE, name))
        if new not in taken:
            taken.add(new)
            return new
        salt += 1


def may_remove(
    st: PlanningState, entity: str, *, already_removed: bool, sourced_id: str | None = None, school: str | None = None
) -> bool:
    """R9: whether a removal is written now; counts why not (already removed, withheld because the
    fetch was incomplete, or deferred: R16 additions-only window, R18 delta sync, listed in
    ``plan.deferred`` with the record's sourcedId and school)."""
    if already_removed:
        st.report.count(entity, "unchanged")
        return False
    if not st.complete:
        st.report.count(entity, "withheld")
        return False
    if st.defer_removals is not None:
        st.report.count(entity, "deferred")
        st.plan.deferred.append(
            {"entity": entity, "sourced_id": sourced_id, "school_id": school, "why": st.defer_removals}
        )
        return False
    return True


def absence_unconfirmed(st: PlanningState, entity: str, sourced_id: str, school: str | None = None) -> bool:
    """R9: a held item absent from a complete fetch whose absence ClassLink did not confirm (the sync
    service asked for it by id and got no clear answer): its removal is withheld and reported
    (``school``: the held item's, for the issue)."""
    ids = st.unconfirmed.get(entity)
    if not ids or sourced_id not in ids:
        return False
    st.report.count(entity, "withheld")
    st.report.issue("R9", entity, sourced_id, messages.absence_unconfirmed(entity), school=school)
    return True


def user_school(st: PlanningState, org_ids: tuple[str, ...]) -> str | None:
    """The school an issue about a user names (``Issue.school_id``): the first of the user's orgs
    that is a licensed school (an org the fetch did not list counts when licensed), else None."""
    orgs = st.snapshot.orgs
    licensed = st.settings.school_licensed
    for org_id in org_ids:
        org = orgs.get(org_id)
        if (org is None or org.type == "school") and licensed(org_id):
            return org_id
    return None


def standin(held: HeldAccount, status: str = ACTIVE) -> UserRecord:
    """R9: a kept user's last good state, as the record the later stages read (role, schools...);
    also an R18 delta's stand-in for a user it did not carry (``status`` tobedeleted if removed)."""
    return UserRecord(
        held.sourced_id or "",
        status,
        held.username,
        held.enabled,
        held.given_name,
        held.family_name,
        held.role,
        held.email,
        None,
        held.school_ids,
        held.grades,
    )


def user_record(st: PlanningState, sourced_id: str) -> UserRecord | None:
    """The user as the later stages see it: a kept user's last good state, else its record."""
    kept = st.accounts.standins.get(sourced_id)
    return kept if kept is not None else st.snapshot.users.get(sourced_id)


def live(enr: EnrollmentRecord, today: str) -> bool:
    """R9: an enrolment counts while active and not past its end date."""
    return enr.status != TOBEDELETED and (enr.end_date is None or enr.end_date >= today)


def finished_plan(st: PlanningState) -> Plan:
    """The plan with its issues and counts in a stable order (the last step)."""
    p = st.plan
    issues = st.report.issues
    issues.sort(key=lambda i: (i.entity, i.sourced_id or "", i.rule, i.field or "", i.message))
    p.issues = issues
    p.counts = {entity: dict(sorted(c.items())) for entity, c in sorted(st.report.counts.items())}
    p.recommended_for_removal.sort()
    return p
