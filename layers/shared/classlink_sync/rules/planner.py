"""The reconciliation planner: what ClassLink says + what we hold + settings -> ``Plan`` (SPEC §3).

``plan`` is pure (DESIGN.md "Flow"): no I/O, no clock (``today`` is passed), no randomness. New ids
are uuid5 of the district and the sourcedId (salted only if already taken), so planning again after
a killed apply gives the same ids. Records are visited in sourcedId order, so the plan does not
depend on the order in which ClassLink returned them.

The steps, each citing its rules:

1. rejected records -> skipped with an R4 issue;
2. schools (R3 licensed list, R4 name, R9);
3. users classified (R3 roles and schools, R4 required fields, R9 tobedeleted);
4. teachers' identities (R5, R6, R11, R2), then classes (R3, R4, R7, R8, R11), then which students
   are in scope (R3: at least one synced class), then students' identities;
5. enrolments per class (R8 co-teachers, wrong school, role mismatch; R9 end dates; R11 by key);
6. held items no record matched (R9 absence from a complete fetch; R6 "recommended for removal");
7. the mass-change guard (R10).

Every synced state has ``managed=True`` (R13) and only the fields of the states (R15). A held record
that is still shared but now breaks a rule keeps its last good state and is reported stale (R9).

Decisions worth knowing (where SPEC leaves room):

- Teachers are resolved before students, so a contested username goes to the teacher; among users of
  one role, to the smaller sourcedId. Every competing claim is reported under R5.
- A rename onto a taken username keeps the old one (R5) and is reported stale; other fields update.
  A username freed by a rename counts as taken until that plan is applied, so a user who wanted it is
  reported under R5 and gets it in the next sync. Hence the reservation changes of one plan never
  compete for a username, and the store may apply them in any order.
- An account involved in a refused match (R6 ambiguity or role change, R11 ambiguity) is linked to
  nobody in that plan, whoever comes first.
- R11 needs a complete fetch (absence is only known then). Classes are recognised by school, title
  (normalised) and terms, paired by class code when several share those; schools and terms must keep
  their sourcedIds. Relinks count as updates for the R10 guard: an unannounced replacement is held.
- A disabled user (R3) is an ``update`` to an inactive account, not a removal; re-enabling is
  ``reactivate``.
- Enrolments of a class that is skipped or out of scope are counted ``ignored`` (the class's issue
  explains); a held class that is stale keeps its live enrolments (counted ``stale``).
- An ended or deleted enrolment next to a live one of the same user in the same class removes nothing.

Memory (DESIGN.md): enrolments are grouped per class by reference, held enrolments are indexed per
class by account id, digests are computed from field values so an unchanged item builds no object,
states reuse the records' (interned) strings, and the plan keeps enrolments as ``StateRows`` (one
reference per item: the record itself) that build each state when read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from classlink_sync.oneroster.records import (
    TOBEDELETED,
    ClassRecord,
    EnrollmentRecord,
    Rejected,
    RosterSnapshot,
    UserRecord,
)
from classlink_sync.rules.digest import (
    ENC_FALSE,
    ENC_NONE,
    ENC_TRUE,
    digest_encoded,
    digest_values,
    enc_opt,
    enc_strs,
)
from classlink_sync.rules.district import DistrictSettings
from classlink_sync.rules.holdings import HeldAccount, HeldClass, HeldEnrollment, HeldSchool, Holdings
from classlink_sync.rules.normalise import normalise
from classlink_sync.rules.plan import (
    ENROLLMENT_ACTIONS,
    AccountState,
    ClassState,
    EnrollmentState,
    GuardResult,
    Issue,
    Plan,
    ReservationChange,
    SchoolState,
    StateRows,
)
from classlink_sync.rules.subjects import DEFAULT_CATALOGUE, SubjectCatalogue

TEACHER = "teacher"
STUDENT = "student"
SYNCED_ROLES = frozenset({TEACHER, STUDENT})

# Tallies in plan.counts[entity] that are not outcomes (see Plan.counts).
OUTCOME_TALLIES = frozenset({"fetched", "absent"})

# Fixed namespace for the uuid5 ids this planner issues (never change it: ids must be reproducible).
_ID_NAMESPACE = uuid.UUID("6f1d3c52-6a43-5b8e-9f57-2c1b7e0d4a10")

_ENTITY_OF_COLLECTION = {
    "users": "user",
    "teachers": "user",
    "students": "user",
    "classes": "class",
    "enrollments": "enrollment",
    "orgs": "org",
    "schools": "org",
    "courses": "course",
    "academicSessions": "academicSession",
    "terms": "academicSession",
}

_PREFIX_ADVICE = (
    "Usernames must be unique across the whole This is School platform: use school email addresses "
    "as usernames, or add a district prefix (for example ExampleISD-12345 rather than 12345)."
)
_STALE_NOTE = " This is School keeps the last good version of this {entity} until this is fixed."

# Class outcomes the enrolment pass needs.
_CLASS_SYNCED = 1
_CLASS_STALE = 2


@dataclass(slots=True)
class _ClassInfo:
    kind: int  # _CLASS_SYNCED | _CLASS_STALE
    class_id: str
    school_id: str


@dataclass(slots=True)
class _Identity:
    """What the planner decided about one in-scope user (R5, R6, R11)."""

    account_id: str
    action: str  # create | link | relink | existing
    held: HeldAccount | None
    username: str
    username_norm: str
    email_norm: str | None
    stale_issue: Issue | None = None


def plan(
    snapshot: RosterSnapshot,
    holdings: Holdings,
    settings: DistrictSettings,
    *,
    today: str,
    waive_guard: bool = False,
    catalogue: SubjectCatalogue = DEFAULT_CATALOGUE,
) -> Plan:
    """Plan one sync of ``settings.district_id`` (SPEC §3, R2-R15). Pure: see the module docstring.

    ``today`` is the ISO date the sync runs for (R9 enrolment end dates). ``waive_guard`` is set only
    by a staff ``approve`` (R10): the guard is still evaluated and its reasons kept, but not tripped.
    """
    if holdings.district_id != settings.district_id:
        raise ValueError(f"holdings are for district {holdings.district_id!r}, settings for {settings.district_id!r}")
    return _Planner(snapshot, holdings, settings, today, catalogue).run(waive_guard)


class _Planner:
    def __init__(
        self,
        snapshot: RosterSnapshot,
        holdings: Holdings,
        settings: DistrictSettings,
        today: str,
        catalogue: SubjectCatalogue,
    ) -> None:
        self.s = snapshot
        self.h = holdings
        self.settings = settings
        self.today = today
        self.catalogue = catalogue
        self.district = settings.district_id
        self.tenant = settings.tenant_id
        self.complete = snapshot.complete
        self.p = Plan(
            district_id=self.district,
            tenant_id=self.tenant,
            today=today,
            fetch_complete=self.complete,
            incomplete_reasons=sorted(snapshot.incomplete_reasons),
        )
        self.counts: dict[str, dict[str, int]] = {}
        self.issues: list[Issue] = []

        # Held accounts (R5, R6, R11).
        self.acct_by_sid: dict[str, HeldAccount] = {}
        self.acct_by_norm: dict[str, HeldAccount] = {}
        self.unlinked_by_norm: dict[str, list[HeldAccount]] = {}
        self.unlinked_by_email: dict[str, list[HeldAccount]] = {}
        self.orphan_by_norm: dict[str, HeldAccount] = {}
        self.orphan_by_email: dict[str, list[HeldAccount]] = {}
        self.taken_account_ids: set[str] = set()
        for acct in sorted(holdings.accounts, key=attrgetter("account_id")):
            self.taken_account_ids.add(acct.account_id)
            if acct.username_norm:
                self.acct_by_norm[acct.username_norm] = acct
            if acct.sourced_id is None:
                if acct.username_norm:
                    self.unlinked_by_norm.setdefault(acct.username_norm, []).append(acct)
                if acct.email_norm:
                    self.unlinked_by_email.setdefault(acct.email_norm, []).append(acct)
                continue
            self.acct_by_sid[acct.sourced_id] = acct
            # R11: a linked account whose sourcedId a complete fetch no longer has may be relinked.
            if self.complete and acct.sourced_id not in snapshot.users:
                if acct.username_norm:
                    self.orphan_by_norm[acct.username_norm] = acct
                if acct.email_norm:
                    self.orphan_by_email.setdefault(acct.email_norm, []).append(acct)
        # R5: a reservation of this district whose account was never written is what an apply
        # stopped between its reservation and account chunks leaves behind; the user who claims
        # that username adopts its account id, so the next run completes the create (the id is
        # the same deterministic one) instead of reporting a conflict with itself.
        held_ids = set(self.taken_account_ids)
        self.unwritten_reservations: dict[str, str] = {}  # username_norm -> account id
        for reservation in holdings.reservations.values():
            self.taken_account_ids.add(reservation.account_id)
            if reservation.district_id == self.district and reservation.account_id not in held_ids:
                self.unwritten_reservations[reservation.username_norm] = reservation.account_id
        self.handled_accounts: set[str] = set()  # account ids given an outcome in this plan
        self.blocked: dict[str, str] = {}  # account id -> the user whose match to it was refused (R6/R11)
        self.claimed_norms: dict[str, str] = {}  # username_norm -> account id, decided in this plan
        self.claimer_sid: dict[str, str] = {}  # username_norm -> ClassLink user that claimed it

        # Users decided so far.
        self.identity: dict[str, _Identity] = {}  # user sourcedId -> identity, for synced users
        self.kept_account: dict[str, str] = {}  # user sourcedId -> account id of a stale-kept account
        self.teacher_cands: list[UserRecord] = []
        self.student_cands: dict[str, UserRecord] = {}

        # Schools and classes.
        self.scope_schools: set[str] = set()
        self.known_schools: set[str] = set()
        self.held_classes: dict[str, HeldClass] = {}
        self.taken_class_ids: set[str] = set()
        for held_class in sorted(holdings.classes, key=attrgetter("class_id")):
            self.held_classes[held_class.sourced_id] = held_class
            self.taken_class_ids.add(held_class.class_id)
        self.class_info: dict[str, _ClassInfo] = {}
        self.used_courses: set[str] = set()
        self.used_sessions: set[str] = set()

        # Enrolments: held ones indexed per class by account id (R11: keyed by (class_id, account_id)).
        self.held_enr: dict[str, dict[str, HeldEnrollment]] = {}
        held_enr_index = self.held_enr
        self.held_enr_active = 0
        for held_enr in holdings.enrollments:
            per_class = held_enr_index.get(held_enr.class_id)
            if per_class is None:
                per_class = held_enr_index[held_enr.class_id] = {}
            per_class[held_enr.account_id] = held_enr
            if not held_enr.archived:
                self.held_enr_active += 1
        self.enr_by_class: dict[str, list[EnrollmentRecord]] = {}
        self.teacher_enr: dict[str, list[EnrollmentRecord]] = {}
        self.acct_of: dict[str, str] = {}  # user sourcedId -> account id, for every synced or kept user
        # Enrolment plan rows per action (plan.StateRows): the record, or the held item to archive.
        self.enr_rows: dict[str, list[EnrollmentRecord | HeldEnrollment]] = {a: [] for a in ENROLLMENT_ACTIONS}
        self.broken_enrollment_sids: set[str] = set()

    # ------------------------------------------------------------------ bookkeeping

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
        field: str | None = None,
        stale: bool = False,
    ) -> Issue:
        if stale:
            message += _STALE_NOTE.format(entity=entity)
        found = Issue(rule, entity, sourced_id, message, field, stale)
        self.issues.append(found)
        return found

    def new_id(self, kind: str, sourced_id: str, taken: set[str]) -> str:
        """A deterministic id: uuid5 of district, kind and sourcedId, salted only if taken."""
        salt = 0
        while True:
            name = f"{self.district}\x1f{kind}\x1f{sourced_id}" + (f"\x1f{salt}" if salt else "")
            new = str(uuid.uuid5(_ID_NAMESPACE, name))
            if new not in taken:
                taken.add(new)
                return new
            salt += 1

    # ------------------------------------------------------------------ the steps

    def run(self, waive_guard: bool) -> Plan:
        s = self.s
        self.count_fetched()
        self.rejected(s.rejected)
        self.schools()
        self.classify_users()
        for user in self.teacher_cands:
            self.resolve_user(user)
        self.group_enrollments()
        self.classes()
        self.resolve_students()
        self.enrollments()
        self.leftover_accounts()
        self.leftover_classes()
        self.leftover_enrollments()
        self.references()
        class_ids = {sid: info.class_id for sid, info in self.class_info.items() if info.kind == _CLASS_SYNCED}
        maker = EnrollmentMaker(self.district, class_ids, self.acct_of)
        self.p.enrollments = {action: StateRows(rows, maker) for action, rows in self.enr_rows.items()}
        self.guard(waive_guard)
        self.issues.sort(key=lambda i: (i.entity, i.sourced_id or "", i.rule, i.field or "", i.message))
        self.p.issues = self.issues
        self.p.counts = {entity: dict(sorted(c.items())) for entity, c in sorted(self.counts.items())}
        self.p.recommended_for_removal.sort()
        return self.p

    def count_fetched(self) -> None:
        s = self.s
        for entity, n in (
            ("org", len(s.orgs)),
            ("academicSession", len(s.academic_sessions)),
            ("course", len(s.courses)),
            ("class", len(s.classes)),
            ("user", len(s.users)),
            ("enrollment", len(s.enrollments)),
        ):
            self.count(entity, "fetched", n)

    def rejected(self, rejected: Iterable[Rejected]) -> None:
        """R4: records the client could not use at all are skipped and reported."""
        for rec in rejected:
            entity = _ENTITY_OF_COLLECTION.get(rec.collection, rec.collection)
            self.count(entity, "fetched")
            self.count(entity, "skipped")
            self.issue("R4", entity, rec.sourced_id, rec.message, rec.field)

    # ---- schools

    def schools(self) -> None:
        """R3 (licensed schools only), R4 (a school needs a name), R9 (removal = archive)."""
        held_schools = {school.sourced_id: school for school in self.h.schools}
        plan_schools = self.p.schools
        for sid in sorted(self.s.orgs):
            org = self.s.orgs[sid]
            if org.type != "school":
                self.count("org", "ignored")
                continue
            self.known_schools.add(sid)
            held = held_schools.pop(sid, None)
            if org.status == TOBEDELETED or not self.settings.school_licensed(sid):
                self.remove_school(held, absent=False)
                continue
            if not org.name:
                if held is not None and not held.archived:
                    self.scope_schools.add(sid)
                    self.count("org", "stale")
                    self.issue(
                        "R4",
                        "org",
                        sid,
                        "This school has no name in ClassLink. Fill in the school's name.",
                        "name",
                        stale=True,
                    )
                else:
                    self.count("org", "skipped")
                    self.issue(
                        "R4",
                        "org",
                        sid,
                        "This school has no name in ClassLink, so it and its "
                        "classes were not synced. Fill in the school's name.",
                        "name",
                    )
                continue
            self.scope_schools.add(sid)
            digest = digest_values(sid, self.district, org.name, org.identifier)
            if held is None:
                action = "create"
            elif held.archived:
                action = "restore"
            elif held.digest != digest:
                action = "update"
            else:
                self.count("org", "unchanged")
                continue
            plan_schools[action].append(SchoolState(sid, self.district, org.name, org.identifier, False, digest))
            self.count("org", action)
        for sid in sorted(held_schools):
            self.remove_school(held_schools[sid], absent=True)

    def may_remove(self, entity: str, *, already_removed: bool) -> bool:
        """R9: whether a removal is written now; counts why not (already removed, or withheld
        because the fetch was incomplete)."""
        if already_removed:
            self.count(entity, "unchanged")
            return False
        if not self.complete:
            self.count(entity, "withheld")
            return False
        return True

    def remove_school(self, held: HeldSchool | None, *, absent: bool) -> None:
        if held is None or (absent and held.archived):
            if not absent:
                self.count("org", "ignored")
            return
        if absent:
            self.count("org", "absent")
        if self.may_remove("org", already_removed=held.archived):
            self.p.schools["archive"].append(
                SchoolState(held.sourced_id, self.district, held.name, held.identifier, True, held.digest)
            )
            self.count("org", "archive")

    # ---- users

    def classify_users(self) -> None:
        """R3 scope, R4 required fields, R9 tobedeleted: who is a candidate teacher or student."""
        users = self.s.users
        for sid in sorted(users):
            user = users[sid]
            held = self.acct_by_sid.get(sid)
            if user.status == TOBEDELETED:
                self.remove_account(held, "user", absent=False)
                continue
            if user.role is None:
                self.user_unusable(user, held, "role", "has no role")
                continue
            if user.role not in SYNCED_ROLES:
                self.remove_account(held, "user", absent=False)  # R3: other roles are ignored
                continue
            schools = self.schools_of(user)
            if not schools:
                # Orgs that are known not to be schools (the district org) do not count.
                orgs = [o for o in user.org_ids if o in self.known_schools or o not in self.s.orgs]
                licensed = self.settings.licensed_schools
                if any(o in self.known_schools for o in orgs) or (
                    orgs and licensed is not None and not any(o in licensed for o in orgs)
                ):
                    self.remove_account(held, "user", absent=False)  # R3: school not licensed
                else:
                    self.user_unusable(user, held, "orgs", "is not enrolled in any school (orgs)")
                continue
            if not user.username or normalise(user.username) is None:
                missing: str | None = "username"
            elif not user.given_name:
                missing = "givenName"
            elif not user.family_name:
                missing = "familyName"
            else:
                missing = None
            if missing is not None:
                self.user_unusable(user, held, missing, f"has no {missing}")
                continue
            if user.role == TEACHER:
                self.teacher_cands.append(user)
            else:
                self.student_cands[sid] = user

    def schools_of(self, user: UserRecord) -> tuple[str, ...]:
        """R3: the user's licensed, synced schools, sorted (the record's own tuple when it already is)."""
        orgs = user.org_ids
        scope = self.scope_schools
        if len(orgs) == 1:
            return orgs if orgs[0] in scope else ()
        return tuple(sorted({o for o in orgs if o in scope}))

    def user_unusable(self, user: UserRecord, held: HeldAccount | None, field: str, what: str) -> None:
        """R4: skipped and reported; a held live account keeps its last good state (R9 stale)."""
        stale = held is not None and held.active
        message = (
            f"User {user.username or user.sourced_id} {what} in ClassLink, so this user was not "
            f"synced. Fill in the standard OneRoster field '{field}' in ClassLink (not metadata)."
        )
        self.issue("R4", "user", user.sourced_id, message, field, stale=stale)
        if stale:
            assert held is not None
            self.keep_account(user.sourced_id, held)
        else:
            if held is not None:
                self.handled_accounts.add(held.account_id)  # deactivated already: it stays so
            self.count("user", "skipped")

    def keep_account(self, user_sid: str, held: HeldAccount) -> None:
        self.handled_accounts.add(held.account_id)
        self.kept_account[user_sid] = held.account_id
        self.count("user", "stale")

    def remove_account(self, held: HeldAccount | None, entity: str, *, absent: bool) -> None:
        """R9: deactivation (never deletion); nothing is removed after an incomplete fetch."""
        if held is None:
            self.count(entity, "ignored")
            return
        self.handled_accounts.add(held.account_id)
        if absent:
            if not held.active:
                return  # deactivated by an earlier sync: nothing to do or count
            self.count(entity, "absent")
        if self.may_remove(entity, already_removed=not held.active):
            self.p.accounts["deactivate"].append(self.held_state(held, active=False))
            self.count(entity, "deactivate")

    def held_state(self, held: HeldAccount, *, active: bool) -> AccountState:
        return AccountState(
            held.account_id,
            self.district,
            self.tenant,
            held.sourced_id,
            held.username,
            held.username_norm,
            held.email,
            held.email_norm,
            held.given_name,
            held.family_name,
            held.role,
            active,
            held.enabled,
            held.school_ids,
            held.grades,
            held.managed,
            held.digest,
        )

    def resolve_user(self, user: UserRecord) -> None:
        """R5, R6, R11, R2: find or create the account of one in-scope user, then plan its state."""
        sid = user.sourced_id
        username = user.username
        assert username is not None
        held = self.acct_by_sid.get(sid)
        # The held account's normal forms are reused when the values did not change (a resync).
        norm = held.username_norm if held is not None and held.username == username else _norm(username)
        assert norm is not None
        email = user.email
        email_norm = held.email_norm if held is not None and held.email == email else _norm(email)
        action = "existing"
        if held is None:
            candidate, action = self.match_account(user, norm, email_norm)
            if action == "none":
                return  # reported
            held = candidate
        if held is not None:
            self.handled_accounts.add(held.account_id)
            account_id = held.account_id
        else:
            adopted = self.unwritten_reservations.pop(norm, None)
            account_id = adopted if adopted is not None else self.new_id("account", sid, self.taken_account_ids)
            action = "create"

        # R5: the username must be free platform-wide (or already this account's).
        stale_issue = None
        owner = self.username_owner(norm)
        if owner is not None and owner != account_id:
            message = self.conflict_message(user, norm, held)
            if held is None or not held.username_norm:
                if held is not None and action == "link":
                    self.handled_accounts.discard(held.account_id)  # not linked: stays as it was
                self.issue("R5", "user", sid, message, "username")
                self.count("user", "skipped")
                return
            # The account keeps its old username; the conflict is reported (R5, R9 stale).
            stale_issue = self.issue("R5", "user", sid, message, "username", stale=True)
            username, norm = held.username, held.username_norm
        self.claimed_norms[norm] = account_id
        self.claimer_sid.setdefault(norm, sid)
        self.identity[sid] = _Identity(account_id, action, held, username, norm, email_norm, stale_issue)

    def match_account(self, user: UserRecord, norm: str, email_norm: str | None) -> tuple[HeldAccount | None, str]:
        """R11 relink (same district, sourcedId gone), else R6 link of an unlinked account.

        An account involved in a refused match (ambiguous, or a teacher/student role change) is
        linked to nobody in this plan, so the outcome does not depend on which user came first and a
        second plan after applying this one decides the same (idempotence).
        """
        sid = user.sourced_id
        free = self.handled_accounts
        # R11: a linked account whose sourcedId disappeared, with the same username, else email.
        orphan = self.orphan_by_norm.get(norm)
        candidates = [orphan] if orphan is not None and orphan.account_id not in free else []
        rule, action, by = "R11", "relink", "username"
        if not candidates and email_norm is not None:
            candidates = [a for a in self.orphan_by_email.get(email_norm, ()) if a.account_id not in free]
            by = "email"
        if not candidates:
            # R6: an unlinked account of this district, by username, else by email.
            rule, action, by = "R6", "link", "username"
            candidates = [a for a in self.unlinked_by_norm.get(norm, ()) if a.account_id not in free]
            if not candidates and email_norm is not None:
                by = "email"
                candidates = [a for a in self.unlinked_by_email.get(email_norm, ()) if a.account_id not in free]
        if not candidates:
            return None, "create"
        value = user.username if by == "username" else user.email
        contested = [a for a in candidates if a.account_id in self.blocked]
        if contested:
            other = self.blocked[contested[0].account_id]
            self.issue(
                rule,
                "user",
                sid,
                f"This user matches the existing This is School account "
                f"'{contested[0].username}' by {by} ('{value}'), but so does ClassLink user {other}, "
                "so it was not linked and this user was not synced. Make usernames and emails "
                "unique in ClassLink, or contact This is School.",
                by,
            )
            self.count("user", "skipped")
            return None, "none"
        if len(candidates) > 1:
            self.block(candidates, sid)
            what = (
                "accounts whose ClassLink sourcedIds disappeared"
                if rule == "R11"
                else ("existing This is School accounts in your district")
            )
            self.issue(
                rule,
                "user",
                sid,
                f"{len(candidates)} {what} match this user by {by} ('{value}'), so "
                f"none was linked and the user was not synced. Make the {by} unique, or ask This is "
                "School to remove the duplicate accounts.",
                by,
            )
            self.count("user", "skipped")
            return None, "none"
        if self.role_flip(candidates[0].role, user.role):
            self.block(candidates, sid)
            self.role_issue(user, candidates[0], rule)
            return None, "none"
        return candidates[0], action

    def block(self, accounts: list[HeldAccount], user_sid: str) -> None:
        for account in accounts:
            self.blocked.setdefault(account.account_id, user_sid)

    @staticmethod
    def role_flip(held_role: str, new_role: str | None) -> bool:
        return {held_role, new_role} == SYNCED_ROLES

    def role_issue(self, user: UserRecord, held: HeldAccount, rule: str) -> None:
        self.issue(
            rule,
            "user",
            user.sourced_id,
            f"This user matches the existing This is School account "
            f"'{held.username}', which is a {held.role}, but ClassLink says {user.role}; it was not "
            f"linked and the user was not synced. Check the user's role in ClassLink, or contact "
            "This is School.",
            "role",
        )
        self.count("user", "skipped")

    def username_owner(self, norm: str) -> str | None:
        """The account id that holds (or has claimed in this plan) a normalised username (R5)."""
        owner = self.claimed_norms.get(norm)
        if owner is not None:
            return owner
        held = self.acct_by_norm.get(norm)
        if held is not None:
            return held.account_id
        reservation = self.h.reservations.get(norm)
        return reservation.account_id if reservation is not None else None

    def conflict_message(self, user: UserRecord, norm: str, held: HeldAccount | None) -> str:
        username = user.username
        other_sid = self.claimer_sid.get(norm)
        if other_sid is not None and other_sid != user.sourced_id:
            where = f"by ClassLink user {other_sid} of your district in this same sync"
        elif norm in self.acct_by_norm:
            where = (
                "by another This is School account of your district that cannot be linked to this "
                "user (it belongs to another ClassLink user, or its role differs)"
            )
        else:
            where = "by an account of another district on This is School"
        if held is not None and held.username_norm and held.username_norm != norm:
            return (
                f"The username changed to '{username}' in ClassLink, but '{username}' is already used "
                f"{where}; the account keeps its username '{held.username}'. {_PREFIX_ADVICE}"
            )
        return f"The username '{username}' is already used {where}, so this user was not synced. " + (_PREFIX_ADVICE)

    def account_state(self, user: UserRecord, ident: _Identity) -> None:
        """Plan the account of a synced user (R3 disabled users are inactive; R13 managed)."""
        held = ident.held
        schools = self.schools_of(user)
        email_norm = ident.email_norm
        given = user.given_name or ""
        family = user.family_name or ""
        role = user.role or ""
        digest = digest_encoded(
            (
                ident.account_id,
                self.district,
                self.tenant,
                user.sourced_id,
                ident.username,
                ident.username_norm,
                enc_opt(user.email),
                enc_opt(email_norm),
                given,
                family,
                role,
                ENC_TRUE if user.enabled else ENC_FALSE,
                enc_strs(schools),
                enc_strs(user.grades),
                ENC_TRUE,
            )
        )
        active = user.enabled
        action = ident.action
        if action == "existing":
            assert held is not None
            if not held.active and active:
                action = "reactivate"
            elif held.digest != digest or held.active != active:
                action = "update"
            else:
                self.count("user", "stale" if ident.stale_issue is not None else "unchanged")
                return
        self.p.accounts[action].append(
            AccountState(
                ident.account_id,
                self.district,
                self.tenant,
                user.sourced_id,
                ident.username,
                ident.username_norm,
                user.email,
                email_norm,
                given,
                family,
                role,
                active,
                user.enabled,
                schools,
                user.grades,
                True,
                digest,
            )
        )
        self.count("user", action)
        # R5: the reservation follows the username.
        if held is None or not held.username_norm:
            self.p.reservations["add"].append(ReservationChange(ident.username_norm, ident.account_id, self.district))
        elif held.username_norm != ident.username_norm:
            self.p.reservations["move"].append(
                ReservationChange(ident.username_norm, ident.account_id, self.district, held.username_norm)
            )

    def resolve_students(self) -> None:
        """R3: a student is synced only with at least one synced class (computed by ``classes``)."""
        in_scope = self.students_in_scope
        for sid in sorted(self.student_cands):
            user = self.student_cands[sid]
            if sid in in_scope:
                self.resolve_user(user)
            else:
                self.remove_account(self.acct_by_sid.get(sid), "user", absent=False)

    # ---- classes

    def group_enrollments(self) -> None:
        """Group enrolments per class by reference (no copies); R4 for those that name no class."""
        by_class = self.enr_by_class
        teachers = self.teacher_enr
        for sid, enr in self.s.enrollments.items():
            class_id = enr.class_id
            if class_id is None or enr.user_id is None:
                field = "class" if class_id is None else "user"
                self.issue(
                    "R4",
                    "enrollment",
                    sid,
                    f"This enrolment has no {field}, so it was not synced. "
                    f"Fill in the enrolment's {field} in ClassLink.",
                    field,
                )
                self.count("enrollment", "skipped")
                self.broken_enrollment_sids.add(sid)
                continue
            group = by_class.get(class_id)
            if group is None:
                by_class[class_id] = [enr]
            else:
                group.append(enr)
            if enr.role == TEACHER:
                teachers.setdefault(class_id, []).append(enr)
        by_sid = attrgetter("sourced_id")
        for group in by_class.values():
            group.sort(key=by_sid)  # records are then visited in sourcedId order, whatever the fetch order
        for group in teachers.values():
            group.sort(key=by_sid)

    def live(self, enr: EnrollmentRecord) -> bool:
        """R9: an enrolment counts while active and not past its end date."""
        return enr.status != TOBEDELETED and (enr.end_date is None or enr.end_date >= self.today)

    def teacher_ok(self, enr: EnrollmentRecord, school_id: str) -> bool:
        """R8: an active teacher enrolment of a synced teacher who is enrolled in the class's school."""
        if enr.role != TEACHER or not self.live(enr):
            return False
        user_sid = enr.user_id
        assert user_sid is not None
        if user_sid not in self.identity and user_sid not in self.kept_account:
            return False
        user = self.s.users[user_sid]
        return user.role == TEACHER and school_id in user.org_ids

    def teacher_problems(self, group: Iterable[EnrollmentRecord], school_id: str) -> str:
        """R8: why each teacher enrolment of a class does not count, for the class's issue."""
        found = []
        for enr in group:
            if enr.role != TEACHER:
                continue
            user = self.s.users.get(enr.user_id or "")
            name = (user.username if user is not None else None) or enr.user_id
            if not self.live(enr):
                found.append(f"{name}'s enrolment has ended or is to be deleted")
            elif user is None:
                found.append(f"teacher {name} was not shared")
            elif user.role != TEACHER:
                found.append(f"{name} is a {user.role} in ClassLink, not a teacher")
            elif enr.user_id not in self.identity and enr.user_id not in self.kept_account:
                found.append(f"teacher {name} is not synced (see that user's issue)")
            elif school_id not in user.org_ids:
                found.append(f"teacher {name} is not enrolled in school {school_id}")
        if not found:
            return " (it has no teacher enrolment)"
        more = f"; and {len(found) - 3} more" if len(found) > 3 else ""
        return " (" + "; ".join(found[:3]) + more + ")"

    def classes(self) -> None:
        """R3, R4, R7, R8, R9, R11 for every fetched class; then which students are in scope."""
        classes = self.s.classes
        desired: list[tuple[ClassRecord, str, HeldClass | None]] = []  # (record, subject, held)
        for sid in sorted(classes):
            rec = classes[sid]
            held = self.held_classes.pop(sid, None)
            school = rec.school_id
            if rec.status == TOBEDELETED or (
                school is not None
                and (
                    not self.settings.school_licensed(school)
                    or (school in self.known_schools and school not in self.scope_schools)
                )
            ):
                self.remove_class(held, absent=False)
                continue
            course = self.s.courses.get(rec.course_id) if rec.course_id is not None else None
            course_title = course.title if course is not None else None
            label = f"Class '{rec.title or sid}'"
            problem: tuple[str, str | None, str] | None = None  # (rule, field, message)
            if school is None:
                problem = ("R4", "school", f"{label} has no school. Set the class's school in ClassLink.")
            elif school not in self.scope_schools:
                problem = (
                    "R4",
                    "school",
                    f"{label} belongs to school {school}, which ClassLink did not "
                    "share (or which was skipped). Share the school with This is School.",
                )
            elif not rec.title:
                problem = ("R4", "title", f"{label} has no title. Fill in the class title in ClassLink.")
            match = self.catalogue.match(rec.title, course_title, self.settings.subject_overrides, sid, rec.course_id)
            if problem is None and match.subject is None:
                names = ", ".join(self.catalogue.names[:5])
                if match.ambiguous:
                    problem = (
                        "R7",
                        "title",
                        f"{label} names more than one This is School subject "
                        f"({', '.join(match.candidates)}) in its {match.source}. Rename it in "
                        "ClassLink so that it names one subject, or ask This is School to map this "
                        "class to its subject.",
                    )
                else:
                    problem = (
                        "R7",
                        "title",
                        f"{label} does not name a This is School subject ({names}, ...)"
                        + (f", and neither does its course '{course_title}'" if course_title else "")
                        + ", so it was not synced. If the class should use This is School, add the "
                        "subject to the class or course name in ClassLink.",
                    )
            if problem is None:
                assert school is not None
                group = self.teacher_enr.get(sid, ())
                if not any(self.teacher_ok(enr, school) for enr in group):
                    problem = (
                        "R8",
                        None,
                        f"{label} has no active teacher enrolment whose teacher is "
                        "synced to This is School and enrolled in the class's school"
                        f"{self.teacher_problems(group, school)}. Enrol its teacher (role teacher) "
                        "in ClassLink.",
                    )
            if problem is not None:
                rule, field, message = problem
                stale = held is not None and not held.archived
                self.issue(rule, "class", sid, message, field, stale=stale)
                if stale:
                    assert held is not None
                    self.class_info[sid] = _ClassInfo(_CLASS_STALE, held.class_id, held.school_id or "")
                    self.count("class", "stale")
                else:
                    self.count("class", "skipped")  # a held class here is archived already: it stays so
                continue
            assert match.subject is not None
            desired.append((rec, match.subject, held))
        self.class_identities(desired)
        self.students_in_scope = self.find_students_in_scope()

    def class_identities(self, desired: list[tuple[ClassRecord, str, HeldClass | None]]) -> None:
        """R11: a new class with the same school, title and terms as a vanished one is relinked."""
        orphans: dict[tuple[str | None, str | None, tuple[str, ...]], list[HeldClass]] = {}
        if self.complete:
            for orphan in self.held_classes.values():  # those no fetched record claimed by sourcedId
                orphans.setdefault(_class_key(orphan.school_id, orphan.title, orphan.term_ids), []).append(orphan)
        newcomers: dict[tuple[str | None, str | None, tuple[str, ...]], list[ClassRecord]] = {}
        for rec, _subject, known in desired:
            if known is None:
                newcomers.setdefault(_class_key(rec.school_id, rec.title, rec.term_ids), []).append(rec)
        relinks: dict[str, HeldClass] = {}
        for key, recs in newcomers.items():
            olds = orphans.get(key)
            if not olds:
                continue
            if len(recs) == 1 and len(olds) == 1:
                relinks[recs[0].sourced_id] = olds[0]
                continue
            # Several classes share school, title and terms: pair them by class code if that is unique.
            by_code = {o.class_code: o for o in olds if o.class_code}
            for rec in recs:
                old = by_code.get(rec.class_code) if rec.class_code else None
                if (
                    old is not None
                    and sum(1 for r in recs if r.class_code == rec.class_code) == 1
                    and sum(1 for o in olds if o.class_code == rec.class_code) == 1
                ):
                    relinks[rec.sourced_id] = old
                else:
                    self.issue(
                        "R11",
                        "class",
                        rec.sourced_id,
                        f"Class '{rec.title}' has a new sourcedId and "
                        "several vanished classes have the same school, title and terms, so it could "
                        "not be matched to its history and was created as a new class. Give classes "
                        "distinct titles or class codes in ClassLink before replacing sourcedIds.",
                    )
        for rec, subject, held in desired:
            action = "existing"
            if held is None:
                held = relinks.get(rec.sourced_id)
                if held is not None:
                    action = "relink"
                    del self.held_classes[held.sourced_id]
            if held is None:
                class_id = self.new_id("class", rec.sourced_id, self.taken_class_ids)
                action = "create"
            else:
                class_id = held.class_id
            school = rec.school_id
            assert school is not None and rec.title is not None
            self.class_info[rec.sourced_id] = _ClassInfo(_CLASS_SYNCED, class_id, school)
            if rec.course_id is not None:
                self.used_courses.add(rec.course_id)
            self.used_sessions.update(rec.term_ids)
            digest = digest_values(
                class_id,
                self.district,
                rec.sourced_id,
                rec.title,
                rec.class_code,
                school,
                rec.course_id,
                subject,
                rec.term_ids,
                rec.grades,
                True,
            )
            if action == "existing":
                assert held is not None
                if held.archived:
                    action = "restore"
                elif held.digest != digest:
                    action = "update"
                else:
                    self.count("class", "unchanged")
                    continue
            self.p.classes[action].append(
                ClassState(
                    class_id,
                    self.district,
                    rec.sourced_id,
                    rec.title,
                    rec.class_code,
                    school,
                    rec.course_id,
                    subject,
                    rec.term_ids,
                    rec.grades,
                    False,
                    True,
                    digest,
                )
            )
            self.count("class", action)

    def remove_class(self, held: HeldClass | None, *, absent: bool) -> None:
        """R9: archiving (never deletion); nothing is removed after an incomplete fetch."""
        if held is None:
            self.count("class", "ignored")
            return
        if absent:
            self.count("class", "absent")
        if self.may_remove("class", already_removed=held.archived):
            self.p.classes["archive"].append(
                ClassState(
                    held.class_id,
                    self.district,
                    held.sourced_id,
                    held.title,
                    held.class_code,
                    held.school_id or "",
                    held.course_id,
                    held.subject or "",
                    held.term_ids,
                    held.grades,
                    True,
                    True,
                    held.digest,
                )
            )
            self.count("class", "archive")

    def find_students_in_scope(self) -> set[str]:
        """R3: students with at least one live student enrolment in a synced (or stale-kept) class."""
        in_scope: set[str] = set()
        add = in_scope.add
        cands = self.student_cands
        today = self.today
        for class_sid, info in self.class_info.items():
            group = self.enr_by_class.get(class_sid)
            if not group:
                continue
            if info.kind == _CLASS_SYNCED:
                for enr in group:
                    if (
                        enr.role == STUDENT
                        and enr.user_id in cands
                        and enr.status != TOBEDELETED
                        and (enr.end_date is None or enr.end_date >= today)
                    ):
                        add(enr.user_id)
                continue
            held_here = self.held_enr.get(info.class_id, {})
            for enr in group:
                user_sid = enr.user_id
                if enr.role != STUDENT or user_sid not in cands or not self.live(enr):
                    continue
                held_acct = self.acct_by_sid.get(user_sid)
                kept = held_here.get(held_acct.account_id) if held_acct is not None else None
                if kept is not None and not kept.archived:
                    add(user_sid)
        return in_scope

    # ---- enrolments

    def enrollments(self) -> None:
        """R8, R9, R11 for every grouped enrolment; accounts are planned first (they are needed)."""
        users = self.s.users
        acct_of = self.acct_of
        # What only identity resolution needed can go before the biggest pass (memory).
        self.claimed_norms.clear()
        self.claimer_sid.clear()
        self.student_cands.clear()
        self.taken_account_ids.clear()
        identity = self.identity
        for sid in sorted(identity):
            ident = identity.pop(sid)  # freed as we go (memory)
            self.account_state(users[sid], ident)
            acct_of[sid] = ident.account_id
        acct_of.update(self.kept_account)
        for class_sid in sorted(self.enr_by_class):
            group = self.enr_by_class[class_sid]
            info = self.class_info.get(class_sid)
            if info is None:
                self.enrollments_of_unsynced_class(class_sid, group)
            elif info.kind == _CLASS_STALE:
                self.enrollments_of_stale_class(info, group)
            else:
                self.enrollments_of_class(class_sid, info, group)

    def enrollments_of_unsynced_class(self, class_sid: str, group: list[EnrollmentRecord]) -> None:
        if class_sid in self.s.classes:
            self.count("enrollment", "ignored", len(group))  # the class is skipped or out of scope
            return
        for enr in group:
            if (
                enr.school_id is not None
                and enr.school_id in self.known_schools
                and (enr.school_id not in self.scope_schools)
            ):
                self.count("enrollment", "ignored")
            else:
                self.issue(
                    "R4",
                    "enrollment",
                    enr.sourced_id,
                    f"This enrolment refers to class {class_sid}, "
                    "which ClassLink did not share. Share the class, or remove the enrolment.",
                    "class",
                )
                self.count("enrollment", "skipped")
                self.broken_enrollment_sids.add(enr.sourced_id)

    def enrollments_of_stale_class(self, info: _ClassInfo, group: list[EnrollmentRecord]) -> None:
        """R9: a stale class keeps its enrolments as they are (the class issue explains why)."""
        held_here = self.held_enr.get(info.class_id, {})
        for enr in group:
            account_id = self.acct_of.get(enr.user_id)  # type: ignore[arg-type]
            held = held_here.pop(account_id, None) if account_id is not None else None
            if held is not None and not held.archived and self.live(enr):
                self.count("enrollment", "stale")
            elif held is not None:
                if not held.archived:
                    held_here[held.account_id] = held  # ended or tobedeleted: the leftovers archive it
                self.count("enrollment", "ignored")
            else:
                self.count("enrollment", "ignored")

    def enrollments_of_class(self, class_sid: str, info: _ClassInfo, group: list[EnrollmentRecord]) -> None:
        """R8, R9, R11 for the enrolments of one synced class (the hot loop: kept lean)."""
        held_here = self.held_enr.get(info.class_id)
        if held_here is None:
            held_here = {}
        held_pop = held_here.pop
        users = self.s.users
        acct_get = self.acct_of.get
        class_id = info.class_id
        school = info.school_id
        district = self.district
        today = self.today
        rows = self.enr_rows
        create = rows["create"].append
        seen: dict[str, str] = {}  # account id -> enrolment sourcedId (duplicates are reported)
        live_accounts: set[str | None] | None = None
        created = unchanged = 0
        for enr in group:
            sid = enr.sourced_id
            user_sid = enr.user_id
            account_id = acct_get(user_sid)  # type: ignore[arg-type]
            role = enr.role
            end = enr.end_date
            if (
                enr.status == TOBEDELETED
                or (end is not None and end < today)
                or (role is not None and role not in SYNCED_ROLES)
            ):
                # R9: tobedeleted, ended, or a role we do not sync. A user with a live enrolment in
                # this class (a re-enrolment) keeps it: their ended duplicate removes nothing.
                if live_accounts is None:
                    live_accounts = {
                        acct_get(e.user_id or "") for e in group if self.live(e) and e.role in SYNCED_ROLES
                    }
                if account_id in live_accounts:
                    self.count("enrollment", "ignored")
                else:
                    self.remove_enrollment(held_pop(account_id, None) if account_id is not None else None, absent=False)
                continue
            if account_id is None:
                if user_sid in users:
                    self.count("enrollment", "ignored")  # the user is out of scope or skipped (own issue)
                else:
                    self.issue(
                        "R4",
                        "enrollment",
                        sid,
                        f"This enrolment in class {class_sid} refers to user "
                        f"{user_sid}, which ClassLink did not share. Share the user, or remove the "
                        "enrolment.",
                        "user",
                    )
                    self.count("enrollment", "skipped")
                continue
            user = users[user_sid]  # type: ignore[index]
            if (
                role is None
                or role != user.role
                or account_id in seen
                or (role == TEACHER and school not in user.org_ids)
            ):
                self.enrollment_problem(enr, user, class_sid, school, account_id, seen, held_here)
                continue
            seen[account_id] = sid
            held = held_pop(account_id, None)
            if held is None:
                create(enr)
                created += 1
                continue
            if held.sourced_id != sid:
                action = "relink"  # R11: same (class_id, account_id), new sourcedId
            elif held.archived:
                action = "restore"
            elif (
                # Fast path: the held item's fields equal the record's, so its digest does too; a store
                # item without those fields falls back to comparing digests.
                held.end_date == end
                and held.role == role
                and held.primary == enr.primary
                and held.begin_date == enr.begin_date
                and held.user_sourced_id == user_sid
                and held.class_sourced_id == class_sid
            ) or held.digest == enrollment_digest(class_id, account_id, district, enr):
                unchanged += 1
                continue
            else:
                action = "update"
            rows[action].append(enr)
            self.count("enrollment", action)
        if created:
            self.count("enrollment", "create", created)
        if unchanged:
            self.count("enrollment", "unchanged", unchanged)

    def enrollment_problem(
        self,
        enr: EnrollmentRecord,
        user: UserRecord,
        class_sid: str,
        school: str,
        account_id: str,
        seen: dict[str, str],
        held_here: dict[str, HeldEnrollment],
    ) -> None:
        """R4/R8: an enrolment that cannot be synced; a held live one is kept and reported stale (R9)."""
        role = enr.role
        name = user.username or user.sourced_id
        if role is None:
            rule, field, message = (
                "R4",
                "role",
                "This enrolment has no role. Fill in the enrolment's role (teacher or student) in ClassLink.",
            )
        elif role != user.role:
            rule, field, message = (
                "R8",
                "role",
                f"User {name} is a {user.role} but is enrolled in class "
                f"{class_sid} as a {role}, so this enrolment was not synced. Correct the "
                "enrolment's role or the user's role in ClassLink.",
            )
        elif account_id in seen:
            rule, field, message = (
                "R4",
                "user",
                f"This enrolment duplicates enrolment {seen[account_id]} "
                f"(same user and class {class_sid}); only that one is synced. Remove the "
                "duplicate in ClassLink.",
            )
        else:
            rule, field, message = (
                "R8",
                "school",
                f"Teacher {name} teaches class {class_sid} in school "
                f"{school} but is not enrolled in that school, so this teacher is not "
                "linked to the class. Add the school to the teacher's orgs in ClassLink.",
            )
        held = held_here.get(account_id)
        # Stale only if the held item is this record's last good state (not another enrolment's).
        stale = held is not None and not held.archived and held.sourced_id == enr.sourced_id
        stale = stale and account_id not in seen
        if stale:
            del held_here[account_id]
        self.issue(rule, "enrollment", enr.sourced_id, message, field, stale=stale)
        self.count("enrollment", "stale" if stale else "skipped")

    def remove_enrollment(self, held: HeldEnrollment | None, *, absent: bool) -> None:
        """R9: archiving (never deletion); nothing is removed after an incomplete fetch."""
        if held is None:
            self.count("enrollment", "ignored")
            return
        if absent:
            if held.archived:
                return  # archived by an earlier sync: nothing to do or count
            self.count("enrollment", "absent")
            if held.sourced_id in self.broken_enrollment_sids:
                self.count("enrollment", "stale")  # still shared but unusable: reported under R4
                return
        if self.may_remove("enrollment", already_removed=held.archived):
            self.enr_rows["archive"].append(held)
            self.count("enrollment", "archive")

    # ---- held items nobody mentioned

    def leftover_accounts(self) -> None:
        """R9 (linked accounts absent from a complete fetch) and R2/R6 (recommended for removal)."""
        for acct in sorted(self.h.accounts, key=attrgetter("account_id")):
            if acct.account_id in self.handled_accounts:
                continue
            if acct.sourced_id is None:
                self.p.recommended_for_removal.append(acct.account_id)
                self.count("user", "absent")
                self.count("user", "recommended_for_removal")
            else:
                self.remove_account(acct, "user", absent=True)

    def leftover_classes(self) -> None:
        for sid in sorted(self.held_classes):
            held = self.held_classes[sid]
            if held.archived:
                continue
            self.remove_class(held, absent=True)

    def leftover_enrollments(self) -> None:
        for class_id in sorted(self.held_enr):
            held_here = self.held_enr[class_id]
            for account_id in sorted(held_here):
                self.remove_enrollment(held_here[account_id], absent=True)

    def references(self) -> None:
        """Courses and sessions are references: counted as referenced by a synced class, or ignored."""
        for entity, records, used in (
            ("course", self.s.courses, self.used_courses),
            ("academicSession", self.s.academic_sessions, self.used_sessions),
        ):
            referenced = sum(1 for sid in records if sid in used)
            if referenced:
                self.count(entity, "referenced", referenced)
            if len(records) - referenced:
                self.count(entity, "ignored", len(records) - referenced)

    # ---- R10

    def guard(self, waive: bool) -> None:
        """R10: hold the run if it removes or updates too much of one entity type."""
        t = self.settings.thresholds
        held_active = {
            "accounts": sum(1 for a in self.h.accounts if a.active),
            "classes": sum(1 for c in self.h.classes if not c.archived),
            "enrollments": self.held_enr_active,
        }
        reasons = []
        for name, removal in (("accounts", "deactivate"), ("classes", "archive"), ("enrollments", "archive")):
            actions = getattr(self.p, name)
            base = held_active[name]
            removed = len(actions[removal])
            updated = len(actions["update"]) + len(actions["relink"])
            if removed >= t.remove_minimum and removed > t.remove_fraction * base:
                reasons.append(
                    f"{name}: {removed} of {base} active would be removed "
                    f"({_pct(removed, base)}; limit more than {t.remove_fraction:.0%} and at least "
                    f"{t.remove_minimum})"
                )
            if updated >= t.update_minimum and updated > t.update_fraction * base:
                reasons.append(
                    f"{name}: {updated} of {base} active would be updated or relinked "
                    f"({_pct(updated, base)}; limit more than {t.update_fraction:.0%} and at least "
                    f"{t.update_minimum})"
                )
        self.p.guard = GuardResult(tripped=bool(reasons) and not waive, reasons=reasons, waived=waive and bool(reasons))


def _norm(value: str | None) -> str | None:
    """``normalise``, returning the value itself when it is already normal (saves a string)."""
    norm = normalise(value)
    return value if norm == value else norm


def enrollment_digest(class_id: str, account_id: str, district_id: str, enr: EnrollmentRecord) -> str:
    """The digest of the ``EnrollmentState`` a synced enrolment record gives (``digest_of`` fast path)."""
    begin = enr.begin_date
    end = enr.end_date
    return digest_encoded(
        (
            class_id,
            account_id,
            district_id,
            enr.sourced_id,
            enr.class_id,
            enr.user_id,
            enr.role,  # type: ignore[arg-type]
            ENC_TRUE if enr.primary else ENC_FALSE,
            ENC_NONE if begin is None else begin,
            ENC_NONE if end is None else end,
            ENC_TRUE,
        )
    )


class EnrollmentMaker:
    """Builds an ``EnrollmentState`` from a plan row (``plan.StateRows``): a synced enrolment record
    (its class and account ids looked up), or a held enrolment to archive (R9)."""

    __slots__ = ("account_ids", "class_ids", "district_id")

    def __init__(self, district_id: str, class_ids: dict[str, str], account_ids: dict[str, str]) -> None:
        self.district_id = district_id
        self.class_ids = class_ids
        self.account_ids = account_ids

    def __call__(self, row: EnrollmentRecord | HeldEnrollment) -> EnrollmentState:
        district = self.district_id
        if isinstance(row, HeldEnrollment):
            return EnrollmentState(
                row.class_id,
                row.account_id,
                district,
                row.sourced_id,
                row.class_sourced_id,
                row.user_sourced_id,
                row.role,
                row.primary,
                row.begin_date,
                row.end_date,
                True,
                True,
                row.digest,
            )
        class_id = self.class_ids[row.class_id]  # type: ignore[index]
        account_id = self.account_ids[row.user_id]  # type: ignore[index]
        return EnrollmentState(
            class_id,
            account_id,
            district,
            row.sourced_id,
            row.class_id or "",
            row.user_id or "",
            row.role or "",
            row.primary,
            row.begin_date,
            row.end_date,
            False,
            True,
            enrollment_digest(class_id, account_id, district, row),
        )


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "all"


def _class_key(
    school_id: str | None, title: str | None, term_ids: tuple[str, ...]
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """R11: a class is recognised by its school, title (normalised) and terms."""
    return school_id, normalise(title), tuple(sorted(term_ids))
