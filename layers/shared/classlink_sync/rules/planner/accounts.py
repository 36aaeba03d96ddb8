"""Users and their accounts: R3 scope (roles, schools, disabled users), R4 required fields, R9
removal (deactivation, never deletion), R13 managed states, R5 reservations following usernames,
and R2/R6 accounts recommended for removal.

R9 stale, not removed: a held live account whose record is unusable (a required field missing, a
value beyond the platform's limits, an unknown role), whose record the client rejected (a status
such as ``deleted``, ``enabledUser: "maybe"``, a lone surrogate, a repeated sourcedId), or whose
absence ClassLink did not confirm, keeps its last good state. The later stages read that state
(``state.standin``) instead of the record, so the user's classes and enrolments stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import attrgetter

from classlink_sync.oneroster.records import TOBEDELETED, EnrollmentRecord, UserRecord
from classlink_sync.rules.digest import ENC_FALSE, ENC_TRUE, digest_encoded, enc_opt, enc_strs
from classlink_sync.rules.holdings import HeldAccount
from classlink_sync.rules.normalise import normalise
from classlink_sync.rules.plan import AccountState, ReservationChange
from classlink_sync.rules.planner import messages
from classlink_sync.rules.planner.state import (
    CLASS_SYNCED,
    STUDENT,
    SYNCED_ROLES,
    TEACHER,
    Candidates,
    ClassInfo,
    ClassOutcome,
    EnrollmentGroups,
    Identity,
    PlanningState,
    Problem,
    SchoolScope,
    absence_unconfirmed,
    live,
    may_remove,
    standin,
    user_school,
)
from classlink_sync.rules.planner.vocabulary import KNOWN_ROLES

# What ``_classify`` decides about one user record.
_REMOVE, _UNUSABLE, _NO_SCHOOL, _CANDIDATE = range(4)


def classify_users(st: PlanningState, schools: SchoolScope) -> Candidates:
    """R3 scope, R4 required fields, R9 tobedeleted: who is a candidate teacher or student."""
    found = Candidates([], {})
    users = st.snapshot.users
    by_sid = st.accounts.by_sid
    bad = st.bad.get("user", {})
    keep_ghosts(st)
    for sid in sorted(users):
        user = users[sid]
        held = by_sid.get(sid)
        verdict, problem = _classify(user, schools.synced, bad.get(sid))
        if verdict == _REMOVE:
            remove_account(st, held, "user", absent=False)  # R9 tobedeleted, R3 other roles
        elif verdict == _UNUSABLE:
            if problem is None:  # _classify names the problem of every unusable user
                raise RuntimeError(f"planner: user {sid} is unusable but has no problem")
            user_unusable(st, user, held, problem)
        elif verdict == _NO_SCHOOL:
            _without_synced_school(st, user, held, schools)
        elif user.role == TEACHER:
            found.teachers.append(user)
        else:
            found.students[sid] = user
    return found


def _classify(user: UserRecord, scope: set[str], problem: Problem | None) -> tuple[int, Problem | None]:
    """R9 tobedeleted first; then what scope depends on (R4 role and malformed orgs, R3 role and
    schools); then the rest of R4 (screening problems, required fields)."""
    if user.status == TOBEDELETED:
        return _REMOVE, None
    role = user.role
    if role is None:
        return _UNUSABLE, Problem("role", "has no role", missing=True)
    if role not in KNOWN_ROLES:
        return _UNUSABLE, Problem("role", f"has the unknown role '{messages.shown(role)}'")
    if problem is not None and problem.field == "orgs":
        return _UNUSABLE, problem
    if role not in SYNCED_ROLES:
        return _REMOVE, None
    if not schools_of(user, scope):
        return _NO_SCHOOL, None
    if problem is not None:
        return _UNUSABLE, problem
    for field, value in (("username", user.username), ("givenName", user.given_name), ("familyName", user.family_name)):
        if not value or (field == "username" and normalise(value) is None):
            return _UNUSABLE, Problem(field, f"has no {field}", missing=True)
    return _CANDIDATE, None


def keep_ghosts(st: PlanningState) -> None:
    """R9: held live accounts of users ClassLink listed but the client rejected (counted ``stale`` by
    ``intake``), or whose absence ClassLink did not confirm (counted ``absent`` and ``withheld``),
    keep their last good state, as kept users (their enrolments and classes stay as they are)."""
    users = st.snapshot.users
    by_sid = st.accounts.by_sid
    for kind in ("rejected", "unconfirmed"):
        ids = (st.rejected if kind == "rejected" else st.unconfirmed).get("user", ())
        for sid in sorted(ids):
            held = by_sid.get(sid)
            if held is None or sid in users or held.account_id in st.accounts.handled:
                continue
            if not held.active:
                st.accounts.handled.add(held.account_id)  # deactivated already: it stays so
                continue
            if kind == "unconfirmed":
                if not st.complete:
                    continue  # an incomplete fetch removes nothing anyway (leftovers count it)
                st.report.count("user", "absent")
                absence_unconfirmed(st, "user", sid, user_school(st, held.school_ids))
            _keep(st, sid, held)


def _without_synced_school(st: PlanningState, user: UserRecord, held: HeldAccount | None, schools: SchoolScope) -> None:
    """R3: a user of unlicensed (or skipped) schools only is out of scope; R4: one with no school."""
    # Orgs that are known not to be schools (the district org) do not count.
    known = schools.known
    orgs = [o for o in user.org_ids if o in known or o not in st.snapshot.orgs]
    licensed = st.settings.licensed_schools
    if any(o in known for o in orgs) or (orgs and licensed is not None and not any(o in licensed for o in orgs)):
        remove_account(st, held, "user", absent=False)  # R3: school not licensed
    else:
        user_unusable(st, user, held, Problem("orgs", "is not enrolled in any school (orgs)", missing=True))


def schools_of(user: UserRecord, scope: set[str]) -> tuple[str, ...]:
    """R3: the user's licensed, synced schools, sorted (the record's own tuple when it already is)."""
    orgs = user.org_ids
    if len(orgs) == 1:
        return orgs if orgs[0] in scope else ()
    return tuple(sorted({o for o in orgs if o in scope}))


def user_unusable(st: PlanningState, user: UserRecord, held: HeldAccount | None, problem: Problem) -> None:
    """R4: skipped and reported (``problem``: the field, and what is wrong with it); a held live
    account keeps its last good state (R9 stale)."""
    field = problem.field
    stale = held is not None and held.active
    message = messages.user_unusable(user, field, problem.what, missing=problem.missing)
    school = user_school(st, user.org_ids)
    st.report.issue("R4", "user", user.sourced_id, message, field=field, stale=stale, school=school)
    if stale and held is not None:  # stale implies held
        keep_account(st, user.sourced_id, held)
    else:
        if held is not None:
            st.accounts.handled.add(held.account_id)  # deactivated already: it stays so
        st.report.count("user", "skipped")


def keep_account(st: PlanningState, user_sid: str, held: HeldAccount) -> None:
    _keep(st, user_sid, held)
    st.report.count("user", "stale")


def _keep(st: PlanningState, user_sid: str, held: HeldAccount) -> None:
    """R9: the account keeps its last good state, which the later stages read (``standin``)."""
    st.accounts.handled.add(held.account_id)
    st.accounts.kept[user_sid] = held.account_id
    st.accounts.standins[user_sid] = standin(held)


def remove_account(st: PlanningState, held: HeldAccount | None, entity: str, *, absent: bool) -> None:
    """R9: deactivation (never deletion); nothing is removed after an incomplete fetch."""
    if held is None:
        st.report.count(entity, "ignored")
        return
    st.accounts.handled.add(held.account_id)
    if absent:
        if not held.active:
            return  # deactivated by an earlier sync: nothing to do or count
        st.report.count(entity, "absent")
    if may_remove(
        st, entity, already_removed=not held.active, sourced_id=held.sourced_id, school=_first(held.school_ids)
    ):
        st.plan.accounts["deactivate"].append(_held_state(st, held, active=False))
        st.report.count(entity, "deactivate")


def _first(ids: tuple[str, ...]) -> str | None:
    return ids[0] if ids else None


def _held_state(st: PlanningState, held: HeldAccount, *, active: bool) -> AccountState:
    return AccountState(
        held.account_id,
        st.district,
        st.tenant,
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


def students_in_scope(
    st: PlanningState, candidates: Candidates, groups: EnrollmentGroups, classes: ClassOutcome
) -> set[str]:
    """R3: students with at least one live student enrolment in a synced (or stale-kept) class."""
    in_scope: set[str] = set()
    add = in_scope.add
    cands = candidates.students
    today = st.today
    by_class = groups.by_class
    for class_sid, info in classes.info.items():
        group = by_class.get(class_sid)
        if not group:
            continue
        if info.kind != CLASS_SYNCED:
            in_scope.update(_students_kept_in(st, info, group, cands))
            continue
        for enr in group:
            if (
                enr.role == STUDENT
                and enr.user_id in cands
                and enr.status != TOBEDELETED
                and (enr.end_date is None or enr.end_date >= today)
            ):
                add(enr.user_id)
    if st.enrollments.broken_sids or st.enrollments.broken_pairs:
        in_scope.update(_students_kept_by_enrolment(st, cands))
    if st.holdings.partial:
        in_scope.update(_students_held_live(st, cands))
    return in_scope


def _students_held_live(st: PlanningState, cands: dict[str, UserRecord]) -> Iterator[str]:
    """R3, R18 targeted delta: the holdings carry only the delta's enrolments, so a student we hold
    live (not removed, R9) stays in scope on the strength of the last full sync, which judged it on
    every enrolment; the next full sync judges it again (a delta never removes)."""
    by_sid = st.accounts.by_sid
    for user_sid in cands:
        held = by_sid.get(user_sid)
        if held is not None and (held.active or not held.enabled):
            yield user_sid


def _students_kept_by_enrolment(st: PlanningState, cands: dict[str, UserRecord]) -> Iterator[str]:
    """R3, R9: a student whose held live enrolment is kept because its record is unusable or was
    rejected (``broken_sids``) is still in a class: the student stays."""
    broken = st.enrollments.broken_sids
    pairs = st.enrollments.broken_pairs
    accounts = {
        e.account_id
        for e in st.holdings.enrollments
        if not e.archived and (e.sourced_id in broken or (e.class_sourced_id, e.user_sourced_id) in pairs)
    }
    by_sid = st.accounts.by_sid
    for user_sid in cands:
        held = by_sid.get(user_sid)
        if held is not None and held.account_id in accounts:
            yield user_sid


def _students_kept_in(
    st: PlanningState, info: ClassInfo, group: list[EnrollmentRecord], cands: dict[str, UserRecord]
) -> Iterator[str]:
    """R3, R9: a stale-kept class keeps in scope the students whose held enrolment in it is live."""
    held_here = st.enrollments.held.get(info.class_id, {})
    by_sid = st.accounts.by_sid
    today = st.today
    for enr in group:
        user_sid = enr.user_id
        if enr.role != STUDENT or user_sid not in cands or not live(enr, today):
            continue
        held_acct = by_sid.get(user_sid)
        kept = held_here.get(held_acct.account_id) if held_acct is not None else None
        if kept is not None and not kept.archived:
            yield user_sid


def plan_accounts(st: PlanningState, schools: SchoolScope) -> None:
    """The account states of synced users (in sourcedId order); records every user's account id."""
    users = st.snapshot.users
    scope = schools.synced
    acct_of = st.accounts.acct_of
    identity = st.accounts.identity
    for sid in sorted(identity):
        ident = identity.pop(sid)  # freed as we go (memory)
        _account_state(st, users[sid], ident, schools_of(users[sid], scope))
        acct_of[sid] = ident.account_id
    acct_of.update(st.accounts.kept)


def _account_state(st: PlanningState, user: UserRecord, ident: Identity, schools: tuple[str, ...]) -> None:
    """Plan the account of a synced user (R3 disabled users are inactive; R13 managed)."""
    held = ident.held
    email_norm = ident.email_norm
    given = user.given_name or ""
    family = user.family_name or ""
    role = user.role or ""
    digest = digest_encoded(
        (
            ident.account_id,
            st.district,
            st.tenant,
            user.sourced_id,
            ident.username,
            ident.username_norm,
            enc_opt(ident.email),
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
        if held is None:  # identity: "existing" is an account we hold
            raise RuntimeError(f"planner: user {user.sourced_id} has an existing account that is not held")
        if not held.active and active:
            action = "reactivate"
        elif held.digest != digest or held.active != active:
            action = "update"
        else:
            st.report.count("user", "stale" if ident.stale_issue is not None else "unchanged")
            return
    st.plan.accounts[action].append(
        AccountState(
            ident.account_id,
            st.district,
            st.tenant,
            user.sourced_id,
            ident.username,
            ident.username_norm,
            ident.email,
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
    st.report.count("user", action)
    # R5: the reservation follows the username.
    if held is None or not held.username_norm:
        st.plan.reservations["add"].append(ReservationChange(ident.username_norm, ident.account_id, st.district))
    elif held.username_norm != ident.username_norm:
        st.plan.reservations["move"].append(
            ReservationChange(ident.username_norm, ident.account_id, st.district, held.username_norm)
        )


def leftover_accounts(st: PlanningState) -> None:
    """R9 (linked accounts absent from a complete fetch) and R2/R6 (recommended for removal)."""
    handled = st.accounts.handled
    for acct in sorted(st.holdings.accounts, key=attrgetter("account_id")):
        if acct.account_id in handled:
            continue
        if acct.sourced_id is None:
            st.plan.recommended_for_removal.append(acct.account_id)
            st.report.count("user", "absent")
            st.report.count("user", "recommended_for_removal")
        else:
            remove_account(st, acct, "user", absent=True)
