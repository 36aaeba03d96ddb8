"""Enrolments: R4 (user, class, role), R8 (co-teachers, wrong school, role mismatch), R9 (end dates,
archiving), R11 (keyed by (class_id, account_id), so a new sourcedId relinks).

- Enrolments of a class that is skipped or out of scope are counted ``ignored`` (the class's issue
  explains); a held class that is stale keeps its live enrolments (counted ``stale``).
- An ended or deleted enrolment next to a live one of the same user in the same class removes nothing.
- R9 stale, not removed: an enrolment whose record is beyond the platform's limits (R4), was rejected
  by the client, or is absent without ClassLink confirming it keeps its held item as it is
  (``broken_sids``, ``state.absence_unconfirmed``); a kept user's enrolments are judged against the
  user's last good state (``state.standin``).
- R8: a teacher enrolment of a teacher who is not enrolled in the class's school is reported, also
  when that makes the teacher out of scope (enrolled only in unlicensed schools).

Memory and time (DESIGN.md): enrolments can number millions. They are grouped per class by reference;
the per-class pass caches what it reads in local variables and counts the common outcomes in bulk.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from classlink_sync.oneroster.records import TOBEDELETED, EnrollmentRecord, UserRecord
from classlink_sync.rules.holdings import HeldEnrollment
from classlink_sync.rules.planner import messages
from classlink_sync.rules.planner.enrolment_rows import enrollment_digest
from classlink_sync.rules.planner.state import (
    CLASS_STALE,
    SYNCED_ROLES,
    TEACHER,
    ClassInfo,
    ClassOutcome,
    EnrollmentGroups,
    PlanningState,
    Problem,
    SchoolScope,
    absence_unconfirmed,
    live,
    may_remove,
)


def group_enrollments(st: PlanningState) -> EnrollmentGroups:
    """Group enrolments per class by reference (no copies); R4 for those that name no class or user."""
    by_class: dict[str, list[EnrollmentRecord]] = {}
    teachers: dict[str, list[EnrollmentRecord]] = {}
    bad = st.bad.get("enrollment")
    if bad:
        _skip_invalid(st, bad)
    for sid, enr in st.snapshot.enrollments.items():
        if bad and sid in bad:
            continue
        class_id = enr.class_id
        if class_id is None or enr.user_id is None:
            field = "class" if class_id is None else "user"
            message = messages.enrollment_missing(field)
            st.report.issue("R4", "enrollment", sid, message, field=field, school=_school_of(st, enr))
            st.report.count("enrollment", "skipped")
            st.enrollments.broken_sids.add(sid)
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
    return EnrollmentGroups(by_class, teachers)


def _skip_invalid(st: PlanningState, bad: dict[str, Problem]) -> None:
    """R4: enrolments beyond the platform's limits are skipped and reported; a held one keeps its
    last good state (R9 stale: the leftovers count it, ``remove_enrollment``)."""
    held = {e.sourced_id for e in st.holdings.enrollments if not e.archived and e.sourced_id in bad}
    records = st.snapshot.enrollments
    for sid in sorted(bad):
        problem = bad[sid]
        enr = records[sid]
        if problem.field == "sourcedId" and enr.class_id is not None and enr.user_id is not None:
            # The held enrolment of the same class and user (under its old, valid id) is kept.
            st.enrollments.broken_pairs.add((enr.class_id, enr.user_id))
        message = messages.record_invalid("enrolment", problem.field, problem.what)
        school = _school_of(st, enr)
        st.report.issue("R4", "enrollment", sid, message, field=problem.field, stale=sid in held, school=school)
        st.report.count("enrollment", "skipped")
        st.enrollments.broken_sids.add(sid)


def plan_enrollments(st: PlanningState, schools: SchoolScope, groups: EnrollmentGroups, classes: ClassOutcome) -> None:
    """R8, R9, R11 for every grouped enrolment, class by class (accounts are planned already)."""
    by_class = groups.by_class
    info_of = classes.info
    for class_sid in sorted(by_class):
        group = by_class[class_sid]
        info = info_of.get(class_sid)
        if info is None:
            _enrollments_of_unsynced_class(st, class_sid, group, schools)
        elif info.kind == CLASS_STALE:
            _enrollments_of_stale_class(st, info, group)
        else:
            _enrollments_of_class(st, class_sid, info, group)


def _enrollments_of_unsynced_class(
    st: PlanningState, class_sid: str, group: list[EnrollmentRecord], schools: SchoolScope
) -> None:
    if class_sid in st.snapshot.classes:
        st.report.count("enrollment", "ignored", len(group))  # the class is skipped or out of scope
        return
    for enr in group:
        if enr.school_id is not None and enr.school_id in schools.known and (enr.school_id not in schools.synced):
            st.report.count("enrollment", "ignored")
        else:
            message = messages.enrollment_class_not_shared(class_sid)
            st.report.issue("R4", "enrollment", enr.sourced_id, message, field="class", school=enr.school_id)
            st.report.count("enrollment", "skipped")
            st.enrollments.broken_sids.add(enr.sourced_id)


def _enrollments_of_stale_class(st: PlanningState, info: ClassInfo, group: list[EnrollmentRecord]) -> None:
    """R9: a stale class keeps its enrolments as they are (the class issue explains why)."""
    held_here = st.enrollments.held.get(info.class_id, {})
    acct_get = st.accounts.acct_of.get
    count = st.report.count
    today = st.today
    for enr in group:
        account_id = acct_get(enr.user_id)  # type: ignore[arg-type]
        held = held_here.pop(account_id, None) if account_id is not None else None
        if held is not None and not held.archived and live(enr, today):
            count("enrollment", "stale")
        elif held is not None:
            if not held.archived:
                held_here[held.account_id] = held  # ended or tobedeleted: the leftovers archive it
            count("enrollment", "ignored")
        else:
            if account_id is None and enr.user_id not in st.snapshot.users and live(enr, today):
                st.enrollments.broken_sids.add(enr.sourced_id)  # R4 user not shared: a held one stays
            count("enrollment", "ignored")


def _enrollments_of_class(st: PlanningState, class_sid: str, info: ClassInfo, group: list[EnrollmentRecord]) -> None:
    """R8, R9, R11 for the enrolments of one synced class (the hot loop: kept lean)."""
    held_here = st.enrollments.held.get(info.class_id)
    if held_here is None:
        held_here = {}
    held_pop = held_here.pop
    user_of = _user_lookup(st)
    acct_get = st.accounts.acct_of.get
    class_id = info.class_id
    school = info.school_id
    district = st.district
    today = st.today
    count = st.report.count
    rows = st.enrollments.rows
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
                live_accounts = {acct_get(e.user_id or "") for e in group if live(e, today) and e.role in SYNCED_ROLES}
            if account_id in live_accounts:
                count("enrollment", "ignored")
            else:
                remove_enrollment(st, held_pop(account_id, None) if account_id is not None else None, absent=False)
            continue
        if account_id is None:
            _user_not_synced(st, enr, class_sid, school)
            continue
        user = user_of(user_sid)
        if role is None or role != user.role or account_id in seen or (role == TEACHER and school not in user.org_ids):
            _enrollment_problem(
                st, enr, user, class_sid=class_sid, school=school, account_id=account_id, seen=seen, held_here=held_here
            )
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
        count("enrollment", action)
    if created:
        count("enrollment", "create", created)
    if unchanged:
        count("enrollment", "unchanged", unchanged)


def _user_lookup(st: PlanningState) -> Callable[[str | None], UserRecord]:
    """The user of a synced or kept account as the enrolment pass reads it: a kept user's last good
    state (``state.standin``: its record may be unusable, or missing), else the record."""
    users = st.snapshot.users
    standins = st.accounts.standins
    if not standins:
        return users.__getitem__  # type: ignore[return-value]

    def lookup(user_sid: str | None) -> UserRecord:
        kept = standins.get(user_sid)  # type: ignore[arg-type]
        return kept if kept is not None else users[user_sid]  # type: ignore[index]

    return lookup


def _user_not_synced(st: PlanningState, enr: EnrollmentRecord, class_sid: str, school: str) -> None:
    """The enrolment's user has no account in this plan: out of scope or skipped (the user's own
    issue explains; R8 for a teacher not enrolled in the class's school, who may be out of scope
    because of it), or not shared at all (R4)."""
    user = st.snapshot.users.get(enr.user_id)  # type: ignore[arg-type]
    if user is not None:
        if (
            enr.role == TEACHER
            and user.role == TEACHER
            and user.status != TOBEDELETED
            and school not in user.org_ids
            and user.sourced_id not in st.bad.get("user", ())
        ):
            name = messages.shown(user.username or user.sourced_id)
            message = messages.teacher_outside_school(name, class_sid, school)
            st.report.issue("R8", "enrollment", enr.sourced_id, message, field="school", school=school)
            st.report.count("enrollment", "skipped")
        else:
            st.report.count("enrollment", "ignored")
        return
    if enr.user_id in st.rejected.get("user", ()):
        st.report.count("enrollment", "ignored")  # listed but unusable: the user's own issue explains
        return
    message = messages.enrollment_user_not_shared(class_sid, enr.user_id)
    st.report.issue("R4", "enrollment", enr.sourced_id, message, field="user", school=enr.school_id or school)
    st.report.count("enrollment", "skipped")
    st.enrollments.broken_sids.add(enr.sourced_id)  # R9: still shared, so a held one is kept, not archived


def _enrollment_problem(
    st: PlanningState,
    enr: EnrollmentRecord,
    user: UserRecord,
    *,
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
        rule, field, message = "R4", "role", messages.ENROLLMENT_WITHOUT_ROLE
    elif role != user.role:
        rule, field, message = "R8", "role", messages.enrollment_role_mismatch(name, user.role, class_sid, role)
    elif account_id in seen:
        rule, field, message = "R4", "user", messages.enrollment_duplicate(seen[account_id], class_sid)
    else:
        rule, field, message = "R8", "school", messages.teacher_outside_school(name, class_sid, school)
    # The issue names the enrolment's school (else its class's); an R8 wrong-school link, the class's.
    issue_school = school if field == "school" else (enr.school_id or school)
    held = held_here.get(account_id)
    # Stale only if the held item is this record's last good state (not another enrolment's).
    stale = held is not None and not held.archived and held.sourced_id == enr.sourced_id
    stale = stale and account_id not in seen
    if stale:
        del held_here[account_id]
    st.report.issue(rule, "enrollment", enr.sourced_id, message, field=field, stale=stale, school=issue_school)
    st.report.count("enrollment", "stale" if stale else "skipped")


def remove_enrollment(st: PlanningState, held: HeldEnrollment | None, *, absent: bool) -> None:
    """R9: archiving (never deletion); nothing is removed after an incomplete fetch."""
    if held is None:
        st.report.count("enrollment", "ignored")
        return
    if absent:
        if held.archived:
            return  # archived by an earlier sync: nothing to do or count
        st.report.count("enrollment", "absent")
        if _still_shared(st, held):
            st.report.count("enrollment", "stale")  # still shared but unusable: reported under R4
            return
        if st.complete and absence_unconfirmed(st, "enrollment", held.sourced_id, _held_school(st, held)):
            return
    if may_remove(
        st, "enrollment", already_removed=held.archived, sourced_id=held.sourced_id, school=_held_school(st, held)
    ):
        st.enrollments.rows["archive"].append(held)
        st.report.count("enrollment", "archive")


def _school_of(st: PlanningState, enr: EnrollmentRecord) -> str | None:
    """The school an issue about an enrolment names: its own, else its class's (if fetched)."""
    if enr.school_id is not None:
        return enr.school_id
    rec = st.snapshot.classes.get(enr.class_id) if enr.class_id is not None else None
    return rec.school_id if rec is not None else None


def _held_school(st: PlanningState, held: HeldEnrollment) -> str | None:
    """The school of a held enrolment's class: the fetched class's, else the held class's."""
    class_sid = held.class_sourced_id
    if not class_sid:
        return None
    rec = st.snapshot.classes.get(class_sid)
    if rec is not None:
        return rec.school_id
    held_class = st.classes.held.get(class_sid)  # the held classes no fetched record claimed
    return held_class.school_id if held_class is not None else None


def _still_shared(st: PlanningState, held: HeldEnrollment) -> bool:
    """R9: a held enrolment whose record (or a record of the same class and user) is listed but
    unusable is kept, not archived as absent."""
    book = st.enrollments
    return held.sourced_id in book.broken_sids or (
        bool(book.broken_pairs) and (held.class_sourced_id, held.user_sourced_id) in book.broken_pairs
    )


def leftover_enrollments(st: PlanningState) -> None:
    """R9: held enrolments no fetched record matched are archived (after a complete fetch)."""
    held = st.enrollments.held
    for class_id in sorted(held):
        held_here = held[class_id]
        for account_id in sorted(held_here):
            remove_enrollment(st, held_here[account_id], absent=True)
