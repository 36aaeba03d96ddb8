"""An in-memory store that implements ``RosterView`` and applies a ``Plan``, plus record builders.

The store keeps the full states the plan writes (as the real store does) and reservations as a dict
keyed by the normalised username. ``apply`` refuses what the real store's conditions would refuse
(a reservation taken by another account), so tests notice a plan the store could not write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from classlink_sync.oneroster.records import (
    ACTIVE,
    AcademicSessionRecord,
    ClassRecord,
    CollectionStatus,
    CourseRecord,
    EnrollmentRecord,
    OrgRecord,
    RosterSnapshot,
    UserRecord,
)
from classlink_sync.rules.district import DistrictSettings, GuardThresholds
from classlink_sync.rules.holdings import (
    HeldAccount,
    HeldClass,
    HeldEnrollment,
    HeldSchool,
    Holdings,
    Reservation,
    gather,
)
from classlink_sync.rules.normalise import normalise
from classlink_sync.rules.plan import (
    AccountState,
    ClassState,
    EnrollmentState,
    Plan,
    ReservationChange,
    SchoolState,
)
from classlink_sync.rules.planner import plan

DISTRICT = "d-example"
TENANT = "2001"
TODAY = "2026-03-02"


class ConditionFailed(Exception):
    """What a failed conditional write looks like in the fake."""


class FakeStore:
    """Every account on the platform (all districts), with reservations, classes, enrolments, schools."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountState] = {}
        self.table: dict[str, Reservation] = {}  # the reservations, by normalised username (R5)
        self.classes: dict[str, ClassState] = {}
        self.enrollments: dict[tuple[str, str], EnrollmentState] = {}
        self.schools: dict[tuple[str, str], SchoolState] = {}
        self.writes = 0

    # ---- seeding (imports, other districts)

    def add_account(
        self,
        account_id: str,
        username: str,
        *,
        district_id: str = DISTRICT,
        role: str = "student",
        email: str | None = None,
        active: bool = True,
        sourced_id: str | None = None,
        given_name: str = "Pat",
        family_name: str = "Doe",
    ) -> AccountState:
        """An account as a staff import (R2) or another district would leave it: not synced."""
        norm = normalise(username)
        assert norm is not None
        state = AccountState(
            account_id,
            district_id,
            "",
            sourced_id,
            username,
            norm,
            email,
            normalise(email),
            given_name,
            family_name,
            role,
            active,
            True,
            (),
            (),
            False,
            "",
        )
        self.accounts[account_id] = state
        self.table[norm] = Reservation(norm, account_id, district_id)
        return state

    # ---- RosterView

    def held_accounts(self, district_id: str) -> Iterable[HeldAccount]:
        for a in self.accounts.values():
            if a.district_id == district_id:
                yield a.as_held()

    def held_classes(self, district_id: str) -> Iterable[HeldClass]:
        for c in self.classes.values():
            if c.district_id == district_id:
                yield c.as_held()

    def held_enrollments(self, district_id: str) -> Iterable[HeldEnrollment]:
        for e in self.enrollments.values():
            if e.district_id == district_id:
                yield e.as_held()

    def held_schools(self, district_id: str) -> Iterable[HeldSchool]:
        for (district, _sid), s in self.schools.items():
            if district == district_id:
                yield s.as_held()

    def reservations(self, usernames_norm: Iterable[str]) -> Mapping[str, Reservation]:
        return {n: self.table[n] for n in usernames_norm if n in self.table}

    # ---- apply

    def apply(self, p: Plan) -> None:
        """Write exactly what the plan says, with the store's conditions (R5 reservations)."""
        for action, changes in p.reservations.items():
            for ch in changes:
                self._apply_reservation(action, ch)
        self._put_accounts(p.accounts.values())
        self._put_classes(p.classes.values())
        self._put_enrollments(p.enrollments.values())
        self._put_schools(p.schools.values())

    def _apply_reservation(self, action: str, ch: ReservationChange) -> None:
        """One reservation change: a release is a no-op unless the account holds it; a claim or
        a move fails when another account holds the username (R5); a move frees the previous one."""
        owner = self.table.get(ch.username_norm)
        if action == "release":
            if owner is not None and owner.account_id == ch.account_id:
                del self.table[ch.username_norm]
            return
        if owner is not None and owner.account_id != ch.account_id:
            raise ConditionFailed(f"username {ch.username_norm!r} is held by {owner.account_id}")
        if action == "move":
            previous = self.table.get(ch.previous_norm or "")
            if previous is not None and previous.account_id == ch.account_id:
                del self.table[ch.previous_norm or ""]
        self.table[ch.username_norm] = Reservation(ch.username_norm, ch.account_id, ch.district_id)
        self.writes += 1

    def _put_accounts(self, groups: Iterable[Iterable[AccountState]]) -> None:
        for states in groups:
            for a in states:
                self.accounts[a.account_id] = a
                self.writes += 1

    def _put_classes(self, groups: Iterable[Iterable[ClassState]]) -> None:
        for states in groups:
            for c in states:
                self.classes[c.class_id] = c
                self.writes += 1

    def _put_enrollments(self, groups: Iterable[Iterable[EnrollmentState]]) -> None:
        for states in groups:
            for e in states:
                self.enrollments[(e.class_id, e.account_id)] = e
                self.writes += 1

    def _put_schools(self, groups: Iterable[Iterable[SchoolState]]) -> None:
        for states in groups:
            for s in states:
                self.schools[(s.district_id, s.sourced_id)] = s
                self.writes += 1

    def holdings(self, snapshot: RosterSnapshot, district_id: str = DISTRICT) -> Holdings:
        return gather(self, district_id, snapshot)

    def account_by_sourced_id(self, sourced_id: str, district_id: str = DISTRICT) -> AccountState | None:
        for a in self.accounts.values():
            if a.district_id == district_id and a.sourced_id == sourced_id:
                return a
        return None

    def class_by_sourced_id(self, sourced_id: str, district_id: str = DISTRICT) -> ClassState | None:
        for c in self.classes.values():
            if c.district_id == district_id and c.sourced_id == sourced_id:
                return c
        return None


# ---------------------------------------------------------------------------- record builders


def org(
    sid: str = "sch1", name: str | None = "Lincoln High", *, type: str = "school", status: str = ACTIVE
) -> OrgRecord:
    return OrgRecord(sid, status, name, type, None, None)


def user(
    sid: str,
    role: str | None = "student",
    *,
    username: str | None = None,
    email: str | None = None,
    given: str | None = "Ada",
    family: str | None = "Lovelace",
    orgs: tuple[str, ...] = ("sch1",),
    enabled: bool = True,
    status: str = ACTIVE,
    grades: tuple[str, ...] = (),
) -> UserRecord:
    if username is None:
        username = f"ExampleISD-{sid}"
    return UserRecord(sid, status, username, enabled, given, family, role, email, None, orgs, grades)


def klass(
    sid: str,
    title: str | None = "Spanish 1",
    *,
    school: str | None = "sch1",
    course: str | None = None,
    terms: tuple[str, ...] = ("t1",),
    code: str | None = None,
    status: str = ACTIVE,
) -> ClassRecord:
    return ClassRecord(sid, status, title, code, "scheduled", school, course, terms, (), ())


def course(sid: str, title: str | None) -> CourseRecord:
    return CourseRecord(sid, ACTIVE, title, None, None, "sch1", ())


def term(sid: str = "t1") -> AcademicSessionRecord:
    return AcademicSessionRecord(sid, ACTIVE, "Spring", "term", "2026-01-05", "2026-06-12", None, "2026")


def enrol(
    sid: str,
    user_sid: str | None,
    class_sid: str | None,
    role: str | None = "student",
    *,
    primary: bool = False,
    school: str | None = "sch1",
    end: str | None = None,
    status: str = ACTIVE,
) -> EnrollmentRecord:
    return EnrollmentRecord(sid, status, user_sid, class_sid, school, role, primary, None, end)


def snapshot(
    *,
    orgs: Iterable[OrgRecord] = (),
    users: Iterable[UserRecord] = (),
    classes: Iterable[ClassRecord] = (),
    enrollments: Iterable[EnrollmentRecord] = (),
    courses: Iterable[CourseRecord] = (),
    sessions: Iterable[AcademicSessionRecord] = (),
    complete: bool = True,
) -> RosterSnapshot:
    orgs = list(orgs) or [org()]
    snap = RosterSnapshot(
        orgs={o.sourced_id: o for o in orgs},
        academic_sessions={s.sourced_id: s for s in sessions},
        courses={c.sourced_id: c for c in courses},
        classes={c.sourced_id: c for c in classes},
        users={u.sourced_id: u for u in users},
        enrollments={e.sourced_id: e for e in enrollments},
    )
    for name, records in (
        ("orgs", snap.orgs),
        ("users", snap.users),
        ("classes", snap.classes),
        ("enrollments", snap.enrollments),
    ):
        snap.collections[name] = CollectionStatus(name, True, len(records), len(records))
    if not complete:
        status = snap.collections["enrollments"]
        status.complete = False
        status.reason = "X-Total-Count changed during paging"
    return snap


def settings(
    *,
    licensed: Iterable[str] | None = None,
    overrides: dict[str, str] | None = None,
    thresholds: GuardThresholds | None = None,
    district_id: str = DISTRICT,
) -> DistrictSettings:
    return DistrictSettings(
        district_id=district_id,
        tenant_id=TENANT,
        licensed_schools=frozenset(licensed) if licensed is not None else None,
        subject_overrides=overrides or {},
        thresholds=thresholds or GuardThresholds(),
    )


def run(
    store: FakeStore,
    snap: RosterSnapshot,
    cfg: DistrictSettings | None = None,
    *,
    apply: bool = True,
    today: str = TODAY,
    waive_guard: bool = False,
) -> Plan:
    """Plan against the store (through gather) and, unless told not to, apply the plan."""
    cfg = cfg or settings()
    result = plan(snap, store.holdings(snap, cfg.district_id), cfg, today=today, waive_guard=waive_guard)
    if apply:
        store.apply(result)
    return result


def class_with_teacher(
    n: int, title: str = "Spanish 1", *, students: int = 2, school: str = "sch1"
) -> tuple[list[UserRecord], ClassRecord, list[EnrollmentRecord]]:
    """A class, its teacher, and ``students`` students, all enrolled (ids derived from ``n``)."""
    teacher = user(f"t{n}", "teacher", orgs=(school,))
    kids = [user(f"s{n}-{i}", orgs=(school,)) for i in range(students)]
    c = klass(f"c{n}", title, school=school)
    enrolments = [enrol(f"e{n}-t", teacher.sourced_id, c.sourced_id, "teacher", primary=True, school=school)]
    enrolments += [enrol(f"e{n}-{i}", k.sourced_id, c.sourced_id, school=school) for i, k in enumerate(kids)]
    return [teacher, *kids], c, enrolments


def replaced(record: Any, **changes: Any) -> Any:
    """A copy of a frozen record with some fields changed."""
    return replace(record, **changes)


def no_account_changes(p: Plan) -> bool:
    """No account and no reservation in the plan (schools and classes may still change)."""
    return not any(p.accounts.values()) and not any(p.reservations.values())


def store_with(*accounts: tuple[str, str, str]) -> FakeStore:
    """A store holding (account_id, username, district_id) accounts, e.g. another district's."""
    store = FakeStore()
    for account_id, username, district_id in accounts:
        store.add_account(account_id, username, district_id=district_id)
    return store
