"""Property-based tests of the planner over random districts and stores (R5, R6, R9, R11, §3 counts).

Random snapshots mix the cases the rules care about: colliding usernames (case, accents), emails
shared by several people, other districts' accounts, imported unlinked accounts (R2/R6), aides,
disabled users, unlicensed schools, classes without a subject or with two, teachers outside the
class's school, role mismatches, ended and deleted enrolments, incomplete fetches.
"""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classlink_sync.oneroster.records import RosterSnapshot
from classlink_sync.rules.holdings import Holdings
from classlink_sync.rules.plan import Plan
from classlink_sync.rules.planner import OUTCOME_TALLIES, plan
from tests.unit.rules.fakes import (
    DISTRICT,
    TODAY,
    FakeStore,
    enrol,
    klass,
    org,
    snapshot,
    user,
)
from tests.unit.rules.fakes import settings as district_settings

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

USERNAMES = ["pat", "PAT", "jose\u0301", "josé", "sam", "kim", "lee", "ExampleISD-1", "exampleisd-1 ", "max"]
EMAILS = [None, "a@school.org", "A@School.org", "b@school.org", "c@school.org"]
TITLES = ["Spanish 1", "Spanish 1", "French 2", "French/Spanish club", "Art", "AP Chinese", "German", None]
ROLES = ["teacher", "teacher", "student", "student", "student", "aide"]
SCHOOLS = ("sch1", "sch2", "sch3")
USUAL_SCHOOLS = ("sch1", "sch1", "sch1", "sch2", "sch3")
DATES = [None, None, "2026-01-01", "2026-03-02", "2026-09-01"]


@st.composite
def districts(draw: st.DrawFn) -> tuple[RosterSnapshot, FakeStore, frozenset[str] | None]:
    """A random snapshot, a random store (imports, other districts), and the licensed schools."""
    n_users = draw(st.integers(0, 10))
    p = draw(st.sampled_from(["", "", "n-"]))  # a district that replaced its sourcedIds (R11)
    users = []
    for i in range(n_users):
        users.append(
            user(
                f"{p}u{i}",
                draw(st.sampled_from([*ROLES, None]))
                if draw(st.integers(0, 12)) == 0
                else draw(st.sampled_from(ROLES)),
                username=draw(st.sampled_from(USERNAMES)) + ("" if draw(st.booleans()) else str(i)),
                email=draw(st.sampled_from(EMAILS)),
                given=None if draw(st.integers(0, 15)) == 0 else "Ada",
                orgs=tuple(draw(st.lists(st.sampled_from(SCHOOLS), min_size=0, max_size=2, unique=True)))
                if draw(st.integers(0, 10)) == 0
                else (draw(st.sampled_from(USUAL_SCHOOLS)),),
                enabled=draw(st.integers(0, 6)) != 0,
                status="tobedeleted" if draw(st.integers(0, 10)) == 0 else "active",
            )
        )
    classes = []
    for i in range(draw(st.integers(0, 5))):
        classes.append(
            klass(
                f"{p}c{i}",
                draw(st.sampled_from(TITLES)),
                school=draw(st.sampled_from(USUAL_SCHOOLS)),
                code=draw(st.sampled_from([None, "P1", "P2"])),
                status="tobedeleted" if draw(st.integers(0, 12)) == 0 else "active",
            )
        )
    enrollments = []
    teachers = [u for u in users if u.role == "teacher"]
    if teachers:
        for c in classes:
            if draw(st.integers(0, 4)):
                t = draw(st.sampled_from(teachers))
                enrollments.append(enrol(f"{p}et-{c.sourced_id}", t.sourced_id, c.sourced_id, "teacher"))
    if users and classes:
        for i in range(draw(st.integers(0, 20))):
            u = draw(st.sampled_from(users))
            c = draw(st.sampled_from(classes))
            role = u.role if draw(st.integers(0, 8)) else draw(st.sampled_from(["teacher", "student", "aide"]))
            enrollments.append(
                enrol(
                    f"{p}e{i}",
                    u.sourced_id,
                    c.sourced_id,
                    role,
                    primary=draw(st.booleans()),
                    end=draw(st.sampled_from(DATES)),
                    status="tobedeleted" if draw(st.integers(0, 12)) == 0 else "active",
                )
            )
    orgs = [
        org("sch1"),
        org("sch2", "Second"),
        org("sch3", "Third"),
        org("dist", "District", type="district"),
    ]
    snap = snapshot(orgs=orgs, users=users, classes=classes, enrollments=enrollments, complete=draw(st.booleans()))
    store = FakeStore()
    for i in range(draw(st.integers(0, 4))):
        store.add_account(
            f"imp{i}",
            draw(st.sampled_from(USERNAMES)) + str(i % 2),
            role=draw(st.sampled_from(["teacher", "student"])),
            email=draw(st.sampled_from(EMAILS)),
            active=draw(st.booleans()),
        )
    for i in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(USERNAMES))
        if name.strip().casefold() not in {a.username_norm for a in store.accounts.values()}:
            store.add_account(f"oth{i}", name, district_id="d-other", email=draw(st.sampled_from(EMAILS)))
    licensed = draw(st.sampled_from([None, frozenset({"sch1", "sch2"}), frozenset({"sch1"})]))
    return snap, store, licensed


def _plan(store: FakeStore, snap: RosterSnapshot, licensed: frozenset[str] | None) -> Plan:
    cfg = district_settings(licensed=licensed)
    return plan(snap, store.holdings(snap), cfg, today=TODAY, waive_guard=True)


def _changes(p: Plan) -> dict[str, list[object]]:
    """The non-empty action lists of a plan (for failure messages)."""
    found: dict[str, list[object]] = {}
    for name in ("accounts", "reservations", "classes", "enrollments", "schools"):
        for action, items in getattr(p, name).items():
            if len(items):
                found[f"{name}.{action}"] = list(items)
    return found


def _complete(snap: RosterSnapshot) -> RosterSnapshot:
    for status in snap.collections.values():
        status.complete = True
        status.reason = None
    return snap


@PROPERTY
@given(districts(), districts())
def test_applying_a_plan_then_planning_again_is_empty(first, second):
    """Idempotence: after apply, the same snapshot plans no roster write (§3 "no-change sync").

    One documented exception (R5, planner docstring): a username freed by a rename in a plan was
    still taken when that plan was made, so a user who wanted it gets it one sync later.
    """
    snap1, store, licensed = first
    snap2 = second[0]
    store.apply(_plan(store, snap1, licensed))
    for snap in (snap1, snap2):
        applied = _plan(store, snap, licensed)
        store.apply(applied)
        again = _plan(store, snap, licensed)
        if not again.is_empty() and applied.reservations["move"]:
            freed = {m.previous_norm for m in applied.reservations["move"]}
            waiting = {i.sourced_id for i in applied.issues if i.rule == "R5"}
            changed = {a.sourced_id for states in again.accounts.values() for a in states}
            assert changed <= waiting, _changes(again)
            assert {r.username_norm for r in again.reservations["add"]} <= freed, _changes(again)
            store.apply(again)
            again = _plan(store, snap, licensed)
        assert again.is_empty(), _changes(again)


@PROPERTY
@given(districts(), districts())
def test_no_removal_after_an_incomplete_fetch(first, second):
    """R9: a sync that could not read everything removes nothing."""
    snap1, store, licensed = first
    store.apply(_plan(store, _complete(snap1), licensed))
    snap2 = second[0]
    snap2.collections["users"].complete = False
    p = _plan(store, snap2, licensed)
    assert not p.fetch_complete
    assert not p.accounts["deactivate"]
    assert not p.classes["archive"] and not p.enrollments["archive"] and not p.schools["archive"]


@PROPERTY
@given(districts())
def test_never_links_or_touches_another_districts_accounts(district):
    """R6: never link across districts; R5: other districts' usernames are never taken over."""
    snap, store, licensed = district
    others = {a.account_id for a in store.accounts.values() if a.district_id != DISTRICT}
    before = dict(store.table)
    p = _plan(store, snap, licensed)
    for states in p.accounts.values():
        for state in states:
            assert state.district_id == DISTRICT and state.account_id not in others
    for changes in p.reservations.values():
        for change in changes:
            holder = before.get(change.username_norm)
            assert holder is None or holder.account_id not in others
    store.apply(p)  # the fake refuses a reservation taken by another account


@PROPERTY
@given(districts())
def test_every_fetched_record_is_accounted_for(district):
    """§3: every fetched record is synced, unchanged, stale, skipped or ignored; nothing twice."""
    snap, store, licensed = district
    held = Holdings(
        DISTRICT,
        *[
            list(x)
            for x in (
                store.held_accounts(DISTRICT),
                store.held_classes(DISTRICT),
                store.held_enrollments(DISTRICT),
                store.held_schools(DISTRICT),
            )
        ],
    )
    p = _plan(store, snap, licensed)
    fetched = {
        "user": len(snap.users),
        "class": len(snap.classes),
        "enrollment": len(snap.enrollments),
        "org": len(snap.orgs),
        "course": len(snap.courses),
        "academicSession": len(snap.academic_sessions),
    }
    held_counts = {
        "user": len(held.accounts),
        "class": len(held.classes),
        "enrollment": len(held.enrollments),
        "org": len(held.schools),
    }
    for entity, n in fetched.items():
        counts = p.counts.get(entity, {})
        assert counts.get("fetched", 0) == n
        outcomes = sum(v for k, v in counts.items() if k not in OUTCOME_TALLIES)
        assert outcomes == n + counts.get("absent", 0), (entity, counts)
        assert counts.get("absent", 0) <= held_counts.get(entity, 0)
    # Every skipped record has an issue naming it (rejected records included).
    for entity in ("user", "class", "org"):
        assert p.counts.get(entity, {}).get("skipped", 0) <= sum(1 for i in p.issues if i.entity == entity)
    # Each item appears under one action only.
    keys = [(s.class_id, s.account_id) for states in p.enrollments.values() for s in states]
    assert len(keys) == len(set(keys))
    ids = [s.account_id for states in p.accounts.values() for s in states]
    assert len(ids) == len(set(ids))


@PROPERTY
@given(districts())
def test_a_relink_never_changes_the_account_id(district):
    """R11: replacing every sourcedId keeps every account id (and class id) of the synced records."""
    snap, store, licensed = district
    snap = _complete(snap)
    store.apply(_plan(store, snap, licensed))
    before_accounts = {a.username_norm: a.account_id for a in store.accounts.values() if a.district_id == DISTRICT}
    before_sids = {a.account_id: a.sourced_id for a in store.accounts.values()}

    renamed = RosterSnapshot(
        orgs=snap.orgs,
        users={f"n-{k}": replace(u, sourced_id=f"n-{k}") for k, u in snap.users.items()},
        classes={f"n-{k}": replace(c, sourced_id=f"n-{k}") for k, c in snap.classes.items()},
        enrollments={
            f"n-{k}": replace(e, sourced_id=f"n-{k}", user_id=f"n-{e.user_id}", class_id=f"n-{e.class_id}")
            for k, e in snap.enrollments.items()
        },
        collections=snap.collections,
    )
    p = _plan(store, renamed, licensed)
    for state in p.accounts["relink"]:
        assert state.account_id in before_sids and before_sids[state.account_id] != state.sourced_id
        assert before_accounts.get(state.username_norm, state.account_id) == state.account_id
    for states in p.accounts.values():
        for state in states:
            if state.username_norm in before_accounts and state.sourced_id and state.sourced_id.startswith("n-"):
                assert state.account_id == before_accounts[state.username_norm]
    assert not p.accounts["create"] or all(a.username_norm not in before_accounts for a in p.accounts["create"])


def _shuffled(snap: RosterSnapshot, rng: random.Random) -> RosterSnapshot:
    def mix(d):  # type: ignore[no-untyped-def]
        items = list(d.items())
        rng.shuffle(items)
        return dict(items)

    return RosterSnapshot(
        orgs=mix(snap.orgs),
        academic_sessions=mix(snap.academic_sessions),
        courses=mix(snap.courses),
        classes=mix(snap.classes),
        users=mix(snap.users),
        enrollments=mix(snap.enrollments),
        rejected=list(snap.rejected),
        collections=mix(snap.collections),
    )


@PROPERTY
@given(districts(), districts(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_record_order(first, second, rng):
    """Records (and held items) in any order give the same plan, ids included."""
    snap1, store, licensed = first
    store.apply(_plan(store, snap1, licensed))
    snap2 = second[0]
    cfg = district_settings(licensed=licensed)
    holdings = store.holdings(snap2)
    expected = plan(snap2, holdings, cfg, today=TODAY).to_dict()
    for _ in range(2):
        mixed = Holdings(
            holdings.district_id,
            rng.sample(holdings.accounts, len(holdings.accounts)),
            rng.sample(holdings.classes, len(holdings.classes)),
            rng.sample(holdings.enrollments, len(holdings.enrollments)),
            rng.sample(holdings.schools, len(holdings.schools)),
            dict(rng.sample(list(holdings.reservations.items()), len(holdings.reservations))),
        )
        got = plan(_shuffled(snap2, rng), mixed, cfg, today=TODAY).to_dict()
        assert got == expected, [(k, expected[k], got[k]) for k in expected if expected[k] != got[k]]
