"""R17 property (hypothesis, real store on in-process moto): for any sequence of syncs of a tiny
district, undoing the last run returns every record to its state after the one before (fields,
active/archived, memberships, subject, links, usernames and their R5 reservations), and what the
last run created is deactivated or archived, not destroyed (R9). Small on purpose: a few students,
a few runs, a dozen examples."""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classlink_sync.rules.journal import record_key
from classlink_sync.store.districts import add_district
from classlink_sync.store.journal import journal_exists
from classlink_sync.store.view import DynamoRosterView
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync
from classlink_sync.sync.undo import undo_run

sys.path.insert(0, str(Path(__file__).parent))
import roster

_districts = itertools.count()
TITLES = ("French 1", "Spanish 1", "German 2", "Art 1")  # Art: no subject (R7, the class stays stale)
# A student: absent, or present with a username variant and a family-name variant.
STUDENT = st.none() | st.tuples(st.booleans(), st.booleans())
ROSTER = st.tuples(st.sampled_from(TITLES), st.lists(STUDENT, min_size=3, max_size=3))


def snapshot(district: str, title: str, students: list[tuple[bool, bool] | None]):
    snap = roster.snapshot(len(students), title=title)
    snap.users["t1"] = replace(snap.users["t1"], username=f"{district}-t1")
    for n, student in enumerate(students):
        sid = f"s{n}"
        if student is None:
            del snap.users[sid], snap.enrollments[f"e-{sid}"]
            continue
        renamed, family = student
        snap.users[sid] = replace(
            snap.users[sid],
            username=f"{district}-{sid}" + ("-b" if renamed else ""),
            family_name="Martin" if family else sid.title(),
        )
    return snap


def held_state(store, district: str) -> dict[str, Any]:
    """Every item of the district (as the planner reads it) and the reservations its accounts hold."""
    view = DynamoRosterView(store)
    state: dict[str, Any] = {
        entity: {record_key(entity, h): h for h in getattr(view, f"held_{entity}")(district)}
        for entity in ("accounts", "classes", "enrollments", "schools")
    }
    names = {a.username_norm for a in state["accounts"].values()}
    names |= {f"{district}-s{n}{suffix}" for n in range(3) for suffix in ("", "-b")}
    state["reservations"] = {
        n: (r.account_id, r.district_id) for n, r in view.reservations(names).items() if r.district_id == district
    }
    return state


def removed(entity: str, held: Any) -> bool:
    return not held.active if entity == "accounts" else held.archived


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(ROSTER, min_size=1, max_size=3))
def test_R17_undoing_the_last_run_returns_the_store_to_its_state_after_the_one_before(store, history) -> None:
    n = next(_districts)
    district = f"prop{n}"
    add_district(
        district, tenant_id=str(9000 + n), oneroster_url="https://example.invalid/ims/oneroster/v1p1",
        client_id="k", client_secret="s", schools="all", enable_from=dt.date(2026, 11, 28),
        override_notice=True, today=dt.date(2026, 11, 28), store=store,
    )  # fmt: skip
    request = SyncRequest(district_id=district, date="2026-11-28", trigger="manual")
    last = None
    before: dict[str, Any] = {}
    for title, students in history:
        before = held_state(store, district)
        snap = snapshot(district, title, students)
        last = run_sync(request, store=store, fetch=lambda d, s, snap=snap: snap)
        assert last.status == "succeeded"
    assert last is not None
    if not journal_exists(district, last.run_id, store):
        assert last.report.roster_writes == 0  # nothing changed, nothing to undo
        return
    outcome = undo_run(district, last.run_id, store)
    assert outcome.status == "succeeded" and outcome.report.issues == []  # no conflict in one district
    after = held_state(store, district)
    for entity in ("accounts", "classes", "enrollments", "schools"):
        for key, held in after[entity].items():
            if key in before[entity]:
                assert held == before[entity][key], (entity, key)
            else:  # created by the undone run: kept, deactivated or archived (R9)
                assert removed(entity, held), (entity, key)
        assert before[entity].keys() <= after[entity].keys()  # nothing destroyed
    created = {after["accounts"][k].username_norm for k in after["accounts"].keys() - before["accounts"].keys()}
    assert {n: r for n, r in after["reservations"].items() if n not in created} == before["reservations"]
