"""What arrived: the fetched tallies (SPEC §3 counts), the records the client rejected (R4, R9), and
the screening of every record against the platform's limits (R4, ``rules.limits``).

Record-level checks that skip a record before any planning belong here.

- ``skip_rejected``: a record the client could not use is an R4 issue naming its sourcedId and field.
  When that sourcedId is one we hold (live), the record was *listed*: it is neither created, updated
  nor removed; the held item keeps its last good state and the issue says so (R9 stale). The stages
  keep those items (``accounts.keep_ghosts``, ``classes``, ``schools``; enrolments through
  ``EnrollmentBook.broken_sids``). A sourcedId the client listed more than once arrives here as one
  such rejection (field ``sourcedId``): the same rule makes it neither created nor removed.
- ``screen_records``: every record is checked against the platform's limits (lengths after NFKC,
  UTF-8 bytes of ids, DynamoDB's item size, allowed characters); one that fails gets a ``Problem``
  in ``st.bad``, and the stage that would use it reports it (R4, field named) at the point where its
  scope is known: a record of an unlicensed school or with an uninteresting role stays ignored
  (R3), a ``tobedeleted`` one is still removed (R9), and one we hold is kept stale (R9), never
  removed and never a failed sync. Problems with the fields scope depends on (a user's ``role`` and
  ``orgs``, a class's ``school``) come before scope, so a malformed reference never removes anything.

Cost (DESIGN.md): screening visits every record, so each check starts with a fast path for plain
ASCII strings under the limits (``str.isascii`` and ``len`` before any normalisation); enrolments,
the millions, are checked in bulk (their sourcedIds joined in chunks, their roles as a set), and
their references need no check: only references that resolve to screened records are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from classlink_sync.oneroster.records import (
    TOBEDELETED,
    AcademicSessionRecord,
    ClassRecord,
    CourseRecord,
    EnrollmentRecord,
    OrgRecord,
    UserRecord,
)
from classlink_sync.rules.limits import (
    MAX_ID_BYTES,
    MAX_ITEM_BYTES,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    id_problem,
    item_bytes,
    printable_ascii,
    text_problem,
    username_problem,
)
from classlink_sync.rules.planner import messages
from classlink_sync.rules.planner.state import PlanningState, Problem, user_school
from classlink_sync.rules.planner.vocabulary import ENTITY_OF_COLLECTION, KNOWN_ROLES

_CHUNK = 4096  # sourcedIds checked together (one join) on the enrolments' fast path


def count_fetched(st: PlanningState) -> None:
    """§3: every fetched record is tallied ``fetched`` (and later gets exactly one outcome)."""
    s = st.snapshot
    for entity, n in (
        ("org", len(s.orgs)),
        ("academicSession", len(s.academic_sessions)),
        ("course", len(s.courses)),
        ("class", len(s.classes)),
        ("user", len(s.users)),
        ("enrollment", len(s.enrollments)),
    ):
        st.report.count(entity, "fetched", n)


def skip_rejected(st: PlanningState) -> None:
    """R4: records the client could not use at all are skipped and reported; R9: one whose sourcedId
    we hold keeps its last good state (counted ``stale``; an enrolment's held item is counted when
    the leftovers reach it)."""
    report = st.report
    live = _live_held(st)
    kept: set[tuple[str, str]] = set()
    for rec in st.snapshot.rejected:
        entity = ENTITY_OF_COLLECTION.get(rec.collection, rec.collection)
        sid = rec.sourced_id
        stale = sid is not None and sid in live.get(entity, ()) and not _listed(st, entity, sid)
        report.count(entity, "fetched")
        if sid is not None and stale and entity != "enrollment" and (entity, sid) not in kept:
            kept.add((entity, sid))
            report.count(entity, "stale")
        else:
            report.count(entity, "skipped")
        if sid is not None and entity == "enrollment":
            st.enrollments.broken_sids.add(sid)
        message = messages.rejected_record(rec.message, stale=stale)
        report.issue("R4", entity, sid, message, field=rec.field, stale=stale, school=_held_school(st, entity, sid))


def _held_school(st: PlanningState, entity: str, sid: str | None) -> str | None:
    """The school of a rejected record, as far as we know it: a school's own id, else the school of
    the item we hold under that sourcedId (a rejected record's own values cannot be read)."""
    if sid is None:
        return None
    if entity == "org":
        return sid
    if entity == "user":
        account = st.accounts.by_sid.get(sid)
        return user_school(st, account.school_ids) if account is not None else None
    if entity == "class":
        held = st.classes.held.get(sid)
        return held.school_id if held is not None else None
    return None


def _listed(st: PlanningState, entity: str, sid: str) -> bool:
    """Whether a record with this sourcedId is in the snapshot too (it then wins)."""
    s = st.snapshot
    records: dict[str, Any] = {"user": s.users, "class": s.classes, "org": s.orgs, "enrollment": s.enrollments}
    return sid in records.get(entity, ())


def _live_held(st: PlanningState) -> dict[str, set[str]]:
    """Per entity, the rejected sourcedIds that name a live item we hold (looked up only for the
    entities that have rejections)."""
    wanted = st.rejected
    live: dict[str, set[str]] = {}
    if "user" in wanted:
        live["user"] = {sid for sid in wanted["user"] if (a := st.accounts.by_sid.get(sid)) is not None and a.active}
    if "class" in wanted:
        live["class"] = {
            sid for sid in wanted["class"] if (c := st.classes.held.get(sid)) is not None and not c.archived
        }
    if "org" in wanted:
        live["org"] = {
            s.sourced_id
            for s in st.holdings.schools
            if not s.archived and s.sourced_id in wanted["org"] and st.settings.school_licensed(s.sourced_id)
        }
    if "enrollment" in wanted:
        ids = wanted["enrollment"]
        live["enrollment"] = {e.sourced_id for e in st.holdings.enrollments if not e.archived and e.sourced_id in ids}
    return live


# ---- screening against the platform's limits (rules.limits)


def screen_records(st: PlanningState) -> None:
    """R4: every record of the snapshot against the platform's limits; failures go to ``st.bad``."""
    s = st.snapshot
    bad = st.bad
    checks: tuple[tuple[str, dict[str, Any], Callable[[Any], Problem | None]], ...] = (
        ("org", s.orgs, _org_problem),
        ("academicSession", s.academic_sessions, _session_problem),
        ("course", s.courses, _course_problem),
        ("class", s.classes, _class_problem),
        ("user", s.users, _user_problem),
    )
    for entity, records, check in checks:
        found = _screen(records.values(), check)
        if found:
            bad[entity] = found
    found = _screen_enrollments(s.enrollments)
    if found:
        bad["enrollment"] = found


def _screen(records: Iterable[Any], check: Callable[[Any], Problem | None]) -> dict[str, Problem]:
    found: dict[str, Problem] = {}
    for rec in records:
        problem = check(rec)
        if problem is not None:
            found[rec.sourced_id] = problem
    return found


def _fault(field: str, what: str | None) -> Problem | None:
    return None if what is None else Problem(field, messages.invalid(field, what))


def _id_fault(field: str, value: str | None) -> Problem | None:
    """A sourcedId (the fast path inlined: this runs for every reference of every record)."""
    if value is None or (len(value) <= MAX_ID_BYTES and value.isascii() and value.isprintable()):
        return None
    return _fault(field, id_problem(value))


def _text_fault(field: str, value: str | None) -> Problem | None:
    if value is None or (len(value) <= MAX_NAME_CHARS and value.isascii() and value.isprintable()):
        return None
    return _fault(field, text_problem(value))


def _list_fault(field: str, values: tuple[str, ...], *, ids: bool) -> Problem | None:
    if len(values) > MAX_LIST_ITEMS:
        return Problem(field, f"has {len(values):,} {field} (at most {MAX_LIST_ITEMS:,})")
    check = _id_fault if ids else _text_fault
    for value in values:
        problem = check(field, value)
        if problem is not None:
            return problem
    return None


def _user_problem(user: UserRecord) -> Problem | None:
    if user.status == TOBEDELETED:
        return None  # R9: removed, whatever else it says
    username = user.username
    orgs, grades = user.org_ids, user.grades
    if len(orgs) + len(grades) < 8:
        # Fast path: all of it printable ASCII and 256 characters together (so each is within its limit).
        joined = "".join(
            (user.sourced_id, username or "", user.given_name or "", user.family_name or "", *orgs, *grades)
        )
        if len(joined) <= MAX_NAME_CHARS and joined.isascii() and joined.isprintable():
            return None
    problem = (
        _id_fault("sourcedId", user.sourced_id)
        or _list_fault("orgs", user.org_ids, ids=True)
        or (None if username is None else _fault("username", username_problem(username)))
        or _text_fault("givenName", user.given_name)
        or _text_fault("familyName", user.family_name)
        or _list_fault("grades", user.grades, ids=False)
    )
    if problem is None and len(user.org_ids) + len(user.grades) > 64:
        problem = _item_fault((user.sourced_id, user.sourced_id, username, username, user.email, user.email,
                               user.given_name, user.family_name), user.org_ids, user.grades)  # fmt: skip
    return problem


def _item_fault(strings: tuple[str | None, ...], *lists: tuple[str, ...]) -> Problem | None:
    """DynamoDB's item size (400 KB): only records with long lists can come near it."""
    size = item_bytes(strings, *lists)
    if size <= MAX_ITEM_BYTES:
        return None
    return Problem("record", f"is too large to store ({size:,} bytes; at most {MAX_ITEM_BYTES:,})")


def _class_problem(rec: ClassRecord) -> Problem | None:
    if rec.status == TOBEDELETED:
        return None
    problem = (
        _id_fault("sourcedId", rec.sourced_id)
        or _id_fault("school", rec.school_id)
        or _text_fault("title", rec.title)
        or _text_fault("classCode", rec.class_code)
        or _id_fault("course", rec.course_id)
        or _list_fault("terms", rec.term_ids, ids=True)
        or _list_fault("grades", rec.grades, ids=False)
    )
    if problem is None and len(rec.term_ids) + len(rec.grades) > 64:
        problem = _item_fault((rec.sourced_id, rec.title, rec.class_code, rec.school_id, rec.course_id),
                              rec.term_ids, rec.grades)  # fmt: skip
    return problem


def _org_problem(rec: OrgRecord) -> Problem | None:
    if rec.status == TOBEDELETED:
        return None
    return (
        _id_fault("sourcedId", rec.sourced_id)
        or _text_fault("name", rec.name)
        or _text_fault("identifier", rec.identifier)
    )


def _course_problem(rec: CourseRecord) -> Problem | None:
    return _id_fault("sourcedId", rec.sourced_id) or _text_fault("title", rec.title)


def _session_problem(rec: AcademicSessionRecord) -> Problem | None:
    return _id_fault("sourcedId", rec.sourced_id) or _text_fault("title", rec.title)


def _screen_enrollments(enrollments: dict[str, EnrollmentRecord]) -> dict[str, Problem]:
    """Enrolments in bulk: their sourcedIds in chunks (one join, ``isascii``, ``isprintable`` and the
    longest length per chunk), their roles as a set; only a chunk or a role that fails is looked at
    record by record."""
    found: dict[str, Problem] = {}
    ids = list(enrollments)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        if printable_ascii("".join(chunk)) and max(map(len, chunk)) <= MAX_ID_BYTES:
            continue
        for sid in chunk:
            problem = _id_fault("sourcedId", sid)
            if problem is not None:
                found[sid] = problem
    roles = {enr.role for enr in enrollments.values()}
    unknown = {r for r in roles if r is not None and r not in KNOWN_ROLES}
    if unknown:
        for sid, enr in enrollments.items():
            if enr.role in unknown and sid not in found:
                found[sid] = Problem("role", f"has the unknown role '{messages.shown(enr.role)}'")
    return found
