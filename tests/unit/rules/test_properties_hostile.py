"""Hostile data never costs a good record (R4, R9): arbitrary JSON in any field of any record type.

A small district is synced from well-formed OneRoster JSON. Then some of its raw records get arbitrary
JSON in a field (a known field, ``sourcedId``, ``status``, an unknown one), are replaced whole by
arbitrary JSON, are dropped (absent; sometimes without ClassLink confirming the absence), or repeated;
every collection goes through the client's real models (``parse_page``, so the client's leniency and
its rejections are included) and is planned against the holdings of the good sync. Then:

- the plan never raises, and the fake store (with the real store's conditions) accepts it;
- every state the plan writes is within the platform's limits (rules/limits.py);
- every fetched record is synced, reported or ignored by scope: exactly one outcome each (§3);
- issues are bounded, valid UTF-8 and name short ids (a report can store and show them);
- nothing held is removed except by R9's triggers: absence from a complete fetch (not rejected, not
  unconfirmed), status ``tobedeleted``, leaving scope (school not licensed or no longer a school, role
  no longer teacher or student, a student left without a live class), an enrolment whose endDate has
  passed (or whose class or user left).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classlink_sync.oneroster.records import TOBEDELETED, RosterSnapshot
from classlink_sync.rules.limits import email_problem, id_problem, text_problem, username_problem
from classlink_sync.rules.plan import Plan
from classlink_sync.rules.planner import OUTCOME_TALLIES, SYNCED_ROLES, plan
from classlink_sync.rules.planner.vocabulary import KNOWN_ROLES
from tests.unit.rules.fakes import TODAY, FakeStore
from tests.unit.rules.fakes import settings as district_settings
from tests.unit.rules.raw import raw_district, raw_school, raw_user, ref, snapshot_of

HOSTILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NASTY = [
    "", "  ", "\x00", "a\ud800b", "\udc80", "\u202eadmin", "\u200b", "\u3164", "\u115f", "\ufeff", "x" * 10_240,
    "\ufdfa" * 120, "deleted", "gone", "tobedeleted", "inactive", "ACTIVE", "maybe", "true", "FALSE", "2026-02-30",
    "2025-01-01", "2027-01-01T00:00:00Z", "aide", "teacher", "student", "Administrator", "school", "district",
    "sch1", "sch2", "c0", "t0", "s0-0", "ExampleISD-t0", "exampleisd-t0", "\u0430dmin", "a@b@c", "Spanish 1",
    "Art", "French/Spanish", "e0-0",
]  # fmt: skip
# Values beyond the platform's limits (rules/limits.py) for a text field, and the text fields.
BEYOND = ["\x00", "ad\u202emin", "a\u200bb", "\u3164", "x" * 10_240, "\ufdfa" * 120, "tab\there", "L" * 300]
TEXT_FIELDS = {
    "users": ["sourcedId", "username", "givenName", "familyName", "grades"],
    "classes": ["sourcedId", "title", "classCode", "grades"],
    "enrollments": ["sourcedId"],
    "orgs": ["sourcedId", "name", "identifier"],
    "academicSessions": ["sourcedId", "title"],
    "courses": ["sourcedId", "title"],
}
FIELDS = {
    "users": ["sourcedId", "status", "username", "enabledUser", "givenName", "familyName", "role", "email", "orgs",
              "grades", "metadata", "userIds"],
    "classes": ["sourcedId", "status", "title", "classCode", "classType", "school", "course", "terms", "grades",
                "subjects"],
    "enrollments": ["sourcedId", "status", "user", "class", "school", "role", "primary", "beginDate", "endDate"],
    "orgs": ["sourcedId", "status", "name", "type", "identifier", "parent"],
    "academicSessions": ["sourcedId", "status", "title", "type", "startDate", "endDate"],
    "courses": ["sourcedId", "status", "title", "org"],
}  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(NASTY)
)
arbitrary = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["sourcedId", "href", "type", "x"]) | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
json_values = st.sampled_from(NASTY) | st.sampled_from(NASTY).map(lambda v: [v]) | arbitrary
references = st.sampled_from(["sch1", "sch2", "c0", "c1", "t0", "s0-0", "t1", "zz"]).map(lambda s: ref(s, "x"))


def _base() -> dict[str, list[Any]]:
    data = raw_district(n_classes=3, students=2)
    data["orgs"] += [
        raw_school("sch2", "Unlicensed Middle"),
        {"sourcedId": "dist", "name": "District", "type": "district"},
    ]
    data["users"].append(raw_user("t-other", "teacher", school="sch2"))
    data["courses"] = [{"sourcedId": "co1", "title": "Spanish", "org": ref("sch1", "org")}]
    return data


@st.composite
def hostile(draw: st.DrawFn) -> tuple[dict[str, list[Any]], dict[str, set[str]], frozenset[str] | None]:
    data = copy.deepcopy(_base())
    unconfirmed: dict[str, set[str]] = {}
    for _ in range(draw(st.integers(1, 6))):
        collection = draw(st.sampled_from(sorted(FIELDS)))
        records = data[collection]
        if not records:
            continue
        i = draw(st.integers(0, len(records) - 1))
        kind = draw(st.sampled_from(["field", "field", "field", "text", "reference", "whole", "drop", "repeat"]))
        record = records[i]
        if kind == "whole":
            records[i] = draw(json_values)
        elif kind == "drop":
            del records[i]
            if isinstance(record, dict) and isinstance(record.get("sourcedId"), str) and draw(st.booleans()):
                unconfirmed.setdefault(collection, set()).add(record["sourcedId"])
        elif kind == "repeat":
            records.append(copy.deepcopy(record))
        elif kind == "text" and isinstance(record, dict):
            record[draw(st.sampled_from(TEXT_FIELDS[collection]))] = draw(st.sampled_from(BEYOND))
        elif isinstance(record, dict):
            key = draw(st.sampled_from(FIELDS[collection]) | st.text(max_size=5))
            record[key] = draw(references if kind == "reference" else json_values)
    licensed = draw(st.sampled_from([None, frozenset({"sch1"})]))
    return data, unconfirmed, licensed


def _plan(store: FakeStore, snap: RosterSnapshot, licensed: frozenset[str] | None) -> Plan:
    return plan(snap, store.holdings(snap), district_settings(licensed=licensed), today=TODAY)


@HOSTILE
@given(hostile())
def test_hostile_json_never_costs_a_good_record(case):
    data, unconfirmed, licensed = case
    store = FakeStore()
    good = snapshot_of(_base())
    store.apply(_plan(store, good, licensed))
    held_accounts = {a.account_id: a for a in store.accounts.values()}

    snap = snapshot_of(data)
    snap.unconfirmed_absent = {
        c: ids for c, ids in unconfirmed.items() if c in ("users", "classes", "enrollments", "orgs")
    }
    p = _plan(store, snap, licensed)  # never raises
    _check_accounting(p, snap)
    _check_issues(p)
    _check_states_within_limits(p)
    store.apply(p)  # the store's conditions accept it
    _check_removals(p, snap, store, held_accounts, licensed)


def _check_accounting(p: Plan, snap: RosterSnapshot) -> None:
    """§3: every fetched record (rejected ones included) and every absent held item: one outcome."""
    for entity in ("user", "class", "enrollment", "org", "course", "academicSession"):
        counts = p.counts.get(entity, {})
        outcomes = sum(v for k, v in counts.items() if k not in OUTCOME_TALLIES)
        assert outcomes == counts.get("fetched", 0) + counts.get("absent", 0), (entity, counts)
    assert sum(c.get("fetched", 0) for c in p.counts.values()) == sum(
        len(getattr(snap, a)) for a in ("orgs", "academic_sessions", "courses", "classes", "users", "enrollments")
    ) + len(snap.rejected)


def _check_issues(p: Plan) -> None:
    for issue in p.issues:
        assert len(issue.message) <= 2000
        issue.message.encode("utf-8")  # no lone surrogate reaches a report
        if issue.sourced_id is not None:
            issue.sourced_id.encode("utf-8")
            assert len(issue.sourced_id) <= 256


def _check_states_within_limits(p: Plan) -> None:
    """Hostile values never reach a stored state (R4): screened before the plan."""
    for states in p.accounts.values():
        for a in states:
            sid = a.sourced_id
            assert sid is None or id_problem(sid) is None, "account sourcedId"
            assert username_problem(a.username) is None, f"username of {sid}"
            assert a.email is None or email_problem(a.email) is None, f"email of {sid}"
            assert text_problem(a.given_name) is None and text_problem(a.family_name) is None, f"names of {sid}"
            assert all(id_problem(s) is None for s in a.school_ids), f"schools of {sid}"
            assert all(text_problem(g) is None for g in a.grades), f"grades of {sid}"
    for states in p.classes.values():
        for c in states:
            assert id_problem(c.sourced_id) is None and text_problem(c.title) is None, f"class {c.class_id}"
            assert c.class_code is None or text_problem(c.class_code) is None, f"class {c.sourced_id}"
            assert all(id_problem(t) is None for t in c.term_ids), f"terms of {c.sourced_id}"
            assert all(text_problem(g) is None for g in c.grades), f"grades of {c.sourced_id}"
            assert c.course_id is None or id_problem(c.course_id) is None, f"course of {c.sourced_id}"
    for estates in p.enrollments.values():
        for e in estates:
            assert id_problem(e.sourced_id) is None, "enrolment sourcedId"
    for states in p.schools.values():
        for school in states:
            assert id_problem(school.sourced_id) is None and text_problem(school.name) is None, "school"


def _rejected_or_unconfirmed(snap: RosterSnapshot, collections: tuple[str, ...], sid: str) -> bool:
    if any(r.sourced_id == sid and r.collection in collections for r in snap.rejected):
        return True
    return any(sid in snap.unconfirmed_absent.get(c, ()) for c in collections)


def _check_removals(
    p: Plan, snap: RosterSnapshot, store: FakeStore, held_accounts: dict[str, Any], licensed: frozenset[str] | None
) -> None:
    live_schools = {s.sourced_id for (_d, _sid), s in store.schools.items() if not s.archived}
    in_scope = {s for s in live_schools if licensed is None or s in licensed}
    live_classes = {c.class_id for c in store.classes.values() if not c.archived}
    live_class_sids = {c.sourced_id for c in store.classes.values() if not c.archived}
    active = {a.account_id for a in store.accounts.values() if a.active}

    for state in p.accounts["deactivate"]:
        sid = state.sourced_id
        assert sid is not None
        rec = snap.users.get(sid)
        if rec is None:
            assert not _rejected_or_unconfirmed(snap, ("users",), sid), f"user {sid}: listed or unconfirmed, removed"
            continue
        left = (
            rec.status == TOBEDELETED
            or (rec.role in KNOWN_ROLES and rec.role not in SYNCED_ROLES)
            or not set(rec.org_ids) & in_scope
            or (rec.role == "student" and not _live_student(snap, sid, live_class_sids))
        )
        assert left, f"user {sid} deactivated without an R9 trigger: {rec}"

    for state in p.classes["archive"]:
        rec = snap.classes.get(state.sourced_id)
        if rec is None:
            assert not _rejected_or_unconfirmed(snap, ("classes",), state.sourced_id), state.sourced_id
            continue
        left = rec.status == TOBEDELETED or rec.school_id not in in_scope
        assert left, f"class {state.sourced_id} archived without an R9 trigger: {rec}"

    for state in p.enrollments["archive"]:
        rec = snap.enrollments.get(state.sourced_id)
        if rec is None:
            assert not _rejected_or_unconfirmed(snap, ("enrollments",), state.sourced_id), state.sourced_id
            continue
        left = (
            rec.status == TOBEDELETED
            or (rec.end_date is not None and rec.end_date < TODAY)
            or (rec.role in KNOWN_ROLES and rec.role not in SYNCED_ROLES)
            or (rec.class_id, rec.user_id) != (state.class_sourced_id, state.user_sourced_id)
            or state.class_id not in live_classes
            or state.account_id not in active
        )
        assert left, f"enrolment {state.sourced_id} archived without an R9 trigger: {rec}"
        assert state.account_id in held_accounts

    for school in p.schools["archive"]:
        rec = snap.orgs.get(school.sourced_id)
        if rec is None:
            assert not _rejected_or_unconfirmed(snap, ("orgs",), school.sourced_id), school.sourced_id
            continue
        left = (
            rec.status == TOBEDELETED
            or (licensed is not None and school.sourced_id not in licensed)
            or (rec.type is not None and rec.type != "school")
        )
        assert left, f"school {school.sourced_id} archived without an R9 trigger: {rec}"


def _live_student(snap: RosterSnapshot, user_sid: str, live_class_sids: set[str]) -> bool:
    """Whether the snapshot still has a live student enrolment of this user in a class that is live."""
    return any(
        e.user_id == user_sid
        and e.role == "student"
        and e.status != TOBEDELETED
        and (e.end_date is None or e.end_date >= TODAY)
        and e.class_id in live_class_sids
        for e in snap.enrollments.values()
    )
