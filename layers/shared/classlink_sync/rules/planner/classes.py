"""Classes: R3 (licensed, synced schools), R4 (school and title), R7 (one subject), R8 (an active,
synced teacher enrolled in the class's school), R9 (removal = archive, stale classes kept), R11
(relinking a class whose sourcedId changed), R13 (managed states).

R9 stale, not removed: a held live class whose record breaks a rule (R4 limits, R7, R8), was rejected
by the client (listed, but unusable or repeated), or is absent without ClassLink confirming it keeps
its last good state and its enrolments (``CLASS_STALE``). A malformed school reference is an R4 issue
before scope is judged, so it never archives a class as "not licensed".

R11 needs a complete fetch (absence is only known then). Classes are recognised by school, title
(normalised) and terms, paired by class code when several share those; schools and terms must keep
their sourcedIds. Relinks count as updates for the R10 guard: an unannounced replacement is held.
"""

from __future__ import annotations

from collections.abc import Iterable

from classlink_sync.oneroster.records import TOBEDELETED, ClassRecord, EnrollmentRecord
from classlink_sync.rules.digest import digest_values
from classlink_sync.rules.holdings import HeldClass
from classlink_sync.rules.normalise import normalise
from classlink_sync.rules.plan import ClassState
from classlink_sync.rules.planner import messages
from classlink_sync.rules.planner.state import (
    CLASS_STALE,
    CLASS_SYNCED,
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
    new_id,
    user_record,
)

_Problem = tuple[str, str | None, str]  # (rule, field, message)
_Desired = tuple[ClassRecord, str, HeldClass | None]  # (record, subject, held by sourcedId)
_ClassKey = tuple[str | None, str | None, tuple[str, ...]]


def plan_classes(st: PlanningState, schools: SchoolScope, groups: EnrollmentGroups) -> ClassOutcome:
    """R3, R4, R7, R8, R9, R11 for every fetched class (in sourcedId order)."""
    outcome = ClassOutcome({}, set(), set())
    classes = st.snapshot.classes
    held_classes = st.classes.held
    bad = st.bad.get("class", {})
    _keep_ghosts(st, outcome)
    desired: list[_Desired] = []
    for sid in sorted(classes):
        rec = classes[sid]
        held = held_classes.pop(sid, None)
        invalid = bad.get(sid)
        if _removed(st, rec, schools, invalid):
            remove_class(st, held, absent=False)
            continue
        subject, problem = _check_class(st, rec, schools, groups, invalid, held)
        if problem is not None:
            info = _class_problem(st, sid, held, problem, rec.school_id)
            if info is not None:
                outcome.info[sid] = info
            continue
        if subject is None:  # _check_class gives a subject or a problem
            raise RuntimeError(f"planner: class {sid} has neither a subject nor a problem")
        desired.append((rec, subject, held))
    _plan_synced(st, desired, _find_relinks(st, desired), outcome)
    return outcome


def _keep_ghosts(st: PlanningState, outcome: ClassOutcome) -> None:
    """R9: held live classes ClassLink listed but the client rejected (counted ``stale`` by
    ``intake``), or whose absence it did not confirm (counted ``absent`` and ``withheld``), keep
    their last good state and their enrolments; neither is an R11 orphan."""
    held_classes = st.classes.held
    listed = st.snapshot.classes
    for kind in ("rejected", "unconfirmed"):
        ids = (st.rejected if kind == "rejected" else st.unconfirmed).get("class", ())
        for sid in sorted(ids):
            held = held_classes.get(sid)
            if held is None or sid in listed or held.archived or (kind == "unconfirmed" and not st.complete):
                continue
            del held_classes[sid]
            if kind == "unconfirmed":
                st.report.count("class", "absent")
                absence_unconfirmed(st, "class", sid, held.school_id)
            outcome.info[sid] = ClassInfo(CLASS_STALE, held.class_id, held.school_id or "")


def _removed(st: PlanningState, rec: ClassRecord, schools: SchoolScope, invalid: Problem | None) -> bool:
    """R9 tobedeleted; R3 a class of an unlicensed school, or of a school that is not synced (unless
    the school reference itself is malformed: R4, judged by ``_check_class``)."""
    school = rec.school_id
    return rec.status == TOBEDELETED or (
        school is not None
        and (invalid is None or invalid.field != "school")
        and (not st.settings.school_licensed(school) or (school in schools.known and school not in schools.synced))
    )


def _check_class(
    st: PlanningState,
    rec: ClassRecord,
    schools: SchoolScope,
    groups: EnrollmentGroups,
    invalid: Problem | None,
    held: HeldClass | None,
) -> tuple[str | None, _Problem | None]:
    """R4 limits, school and title, R7 subject, R8 teacher: the class's subject, or why it is not
    synced."""
    sid = rec.sourced_id
    school = rec.school_id
    label = messages.class_label(rec.title, sid)
    if invalid is not None:
        return None, ("R4", invalid.field, messages.class_invalid(label, invalid.field, invalid.what))
    course = st.snapshot.courses.get(rec.course_id) if rec.course_id is not None else None
    if course is not None and course.sourced_id in st.bad.get("course", ()):
        course = None  # R4: a course beyond the limits is not read (its own issue says so)
    course_title = course.title if course is not None else None
    problem: _Problem | None = None
    if school is None:
        problem = ("R4", "school", messages.class_without_school(label))
    elif school not in schools.synced:
        problem = ("R4", "school", messages.class_school_not_shared(label, school))
    elif not rec.title:
        problem = ("R4", "title", messages.class_without_title(label))
    match = st.catalogue.match(rec.title, course_title, st.settings.subject_overrides, sid, rec.course_id)
    if problem is not None or school is None:  # a class without a school has a problem (R4)
        return None, problem
    if match.subject is None:
        if match.ambiguous:
            return None, ("R7", "title", messages.class_subjects_ambiguous(label, match.candidates, match.source))
        return None, ("R7", "title", messages.class_without_subject(label, st.catalogue.names, course_title))
    group = groups.teachers.get(sid, ())
    if not any(_teacher_ok(st, enr, school) for enr in group) and not _teachers_unread(st, held):
        return None, ("R8", None, messages.class_without_teacher(label, _teacher_problems(st, group, school)))
    return match.subject, None


def _class_problem(
    st: PlanningState, sid: str, held: HeldClass | None, problem: _Problem, school: str | None
) -> ClassInfo | None:
    """The class is not synced and reported; a held live class keeps its last good state (R9 stale).
    ``school``: the record's school, for the issue (else the held class's)."""
    rule, field, message = problem
    stale = held is not None and not held.archived
    if school is None and held is not None:
        school = held.school_id
    st.report.issue(rule, "class", sid, message, field=field, stale=stale, school=school)
    if stale and held is not None:  # stale implies held
        st.report.count("class", "stale")
        return ClassInfo(CLASS_STALE, held.class_id, held.school_id or "")
    st.report.count("class", "skipped")  # a held class here is archived already: it stays so
    return None


def _teachers_unread(st: PlanningState, held: HeldClass | None) -> bool:
    """R8, R18 targeted delta: the holdings carry only the delta's enrolments, so a class we hold
    live keeps the teacher the last full sync found (judged again by the next full sync)."""
    return st.holdings.partial and held is not None and not held.archived


def _teacher_ok(st: PlanningState, enr: EnrollmentRecord, school_id: str) -> bool:
    """R8: an active teacher enrolment of a synced teacher who is enrolled in the class's school."""
    if enr.role != TEACHER or not live(enr, st.today):
        return False
    user_sid = enr.user_id
    if user_sid is None:  # group_enrollments skips enrolments without a user (R4)
        raise RuntimeError(f"planner: enrolment {enr.sourced_id} has no user")
    if user_sid not in st.accounts.identity and user_sid not in st.accounts.kept:
        return False
    user = user_record(st, user_sid)
    return user is not None and user.role == TEACHER and school_id in user.org_ids


def _teacher_problems(st: PlanningState, group: Iterable[EnrollmentRecord], school_id: str) -> str:
    """R8: why each teacher enrolment of a class does not count, for the class's issue."""
    found = []
    for enr in group:
        if enr.role == TEACHER:
            problem = _teacher_problem(st, enr, school_id)
            if problem is not None:
                found.append(problem)
    return messages.teacher_problems(found)


def _teacher_problem(st: PlanningState, enr: EnrollmentRecord, school_id: str) -> str | None:
    user = user_record(st, enr.user_id or "")
    name = messages.shown((user.username if user is not None else None) or enr.user_id)
    if not live(enr, st.today):
        return f"{name}'s enrolment has ended or is to be deleted"
    if user is None:
        return f"teacher {name} was not shared"
    if user.role != TEACHER:
        return f"{name} is a {messages.shown(user.role)} in ClassLink, not a teacher"
    if school_id not in user.org_ids:
        return f"teacher {name} is not enrolled in school {school_id}"  # R8 (whatever their scope)
    if enr.user_id not in st.accounts.identity and enr.user_id not in st.accounts.kept:
        return f"teacher {name} is not synced (see that user's issue)"
    return None


def _class_key(school_id: str | None, title: str | None, term_ids: tuple[str, ...]) -> _ClassKey:
    """R11: a class is recognised by its school, title (normalised) and terms."""
    return school_id, normalise(title), tuple(sorted(term_ids))


def _find_relinks(st: PlanningState, desired: list[_Desired]) -> dict[str, HeldClass]:
    """R11: a new class with the same school, title and terms as a vanished one is relinked."""
    orphans: dict[_ClassKey, list[HeldClass]] = {}
    if st.complete:
        for orphan in st.classes.held.values():  # those no fetched record claimed by sourcedId
            orphans.setdefault(_class_key(orphan.school_id, orphan.title, orphan.term_ids), []).append(orphan)
    newcomers: dict[_ClassKey, list[ClassRecord]] = {}
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
        else:
            _pair_by_code(st, recs, olds, relinks)
    return relinks


def _pair_by_code(
    st: PlanningState, recs: list[ClassRecord], olds: list[HeldClass], relinks: dict[str, HeldClass]
) -> None:
    """R11: several classes share school, title and terms: pair them by class code if that is unique."""
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
            message = messages.class_relink_ambiguous(rec.title)
            st.report.issue("R11", "class", rec.sourced_id, message, school=rec.school_id)


def _plan_synced(
    st: PlanningState, desired: list[_Desired], relinks: dict[str, HeldClass], outcome: ClassOutcome
) -> None:
    """The states of the synced classes (R11 relinks, R13 managed); records their ids and references."""
    held_classes = st.classes.held
    district = st.district
    for rec, subject, held in desired:
        action = "existing"
        if held is None:
            held = relinks.get(rec.sourced_id)
            if held is not None:
                action = "relink"
                del held_classes[held.sourced_id]
        if held is None:
            class_id = new_id(district, "class", rec.sourced_id, st.classes.taken_ids)
            action = "create"
        else:
            class_id = held.class_id
        school = rec.school_id
        if school is None or rec.title is None:  # _check_class: a synced class has both (R4)
            raise RuntimeError(f"planner: synced class {rec.sourced_id} has no school or title")
        outcome.info[rec.sourced_id] = ClassInfo(CLASS_SYNCED, class_id, school)
        if rec.course_id is not None:
            outcome.used_courses.add(rec.course_id)
        outcome.used_sessions.update(rec.term_ids)
        digest = digest_values(
            class_id,
            district,
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
            if held is None:  # "existing": the held class of this sourcedId
                raise RuntimeError(f"planner: class {rec.sourced_id} is existing but not held")
            if held.archived:
                action = "restore"
            elif held.digest != digest:
                action = "update"
            else:
                st.report.count("class", "unchanged")
                continue
        st.plan.classes[action].append(
            ClassState(
                class_id,
                district,
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
        st.report.count("class", action)


def remove_class(st: PlanningState, held: HeldClass | None, *, absent: bool) -> None:
    """R9: archiving (never deletion); nothing is removed after an incomplete fetch."""
    if held is None:
        st.report.count("class", "ignored")
        return
    if absent:
        st.report.count("class", "absent")
        if st.complete and absence_unconfirmed(st, "class", held.sourced_id, held.school_id):
            return
    if may_remove(st, "class", already_removed=held.archived, sourced_id=held.sourced_id, school=held.school_id):
        st.plan.classes["archive"].append(
            ClassState(
                held.class_id,
                st.district,
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
        st.report.count("class", "archive")


def leftover_classes(st: PlanningState) -> None:
    """R9: held classes no fetched record matched are archived (after a complete fetch)."""
    held_classes = st.classes.held
    for sid in sorted(held_classes):
        held = held_classes[sid]
        if held.archived:
            continue
        remove_class(st, held, absent=True)


def count_references(st: PlanningState, classes: ClassOutcome) -> None:
    """Courses and sessions are references: counted as referenced by a synced class, or ignored."""
    for entity, records, used in (
        ("course", st.snapshot.courses, classes.used_courses),
        ("academicSession", st.snapshot.academic_sessions, classes.used_sessions),
    ):
        bad = st.bad.get(entity, {})
        for sid in sorted(bad):  # R4: beyond the platform's limits, never read
            problem = bad[sid]
            message = messages.record_invalid("course" if entity == "course" else "term", problem.field, problem.what)
            st.report.issue("R4", entity, sid, message, field=problem.field)
        if bad:
            st.report.count(entity, "skipped", len(bad))
        referenced = sum(1 for sid in records if sid in used and sid not in bad)
        if referenced:
            st.report.count(entity, "referenced", referenced)
        if len(records) - referenced - len(bad):
            st.report.count(entity, "ignored", len(records) - referenced - len(bad))
