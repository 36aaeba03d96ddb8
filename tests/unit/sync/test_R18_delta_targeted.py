"""R18 targeted delta reads (``sync.delta_reads``): a delta reads, by key, only the held items
around its records, and plans the same writes as a delta planned over the whole district, except
where the whole-district plan froze a record whose removal it deferred (module docstring of
``sync.delta_reads``)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classlink_sync.oneroster.records import TOBEDELETED, ClassRecord, EnrollmentRecord, RosterSnapshot
from classlink_sync.rules.holdings import gather
from classlink_sync.rules.plan import REMOVAL_ACTIONS
from classlink_sync.store import districts, runs
from classlink_sync.store.accounts import export_district
from classlink_sync.store.dynamo import METER, roster_tables
from classlink_sync.store.view import DynamoRosterView
from classlink_sync.sync import delta, delta_reads
from classlink_sync.sync.service import run_sync

sys.path.insert(0, str(Path(__file__).parent))
import roster
from test_R18_delta import changes
from test_service import fetching, onboard, request

SCHOOL = roster.SCHOOL
TODAY = "2026-12-02"


def district_roster() -> RosterSnapshot:
    """Two classes: c1 French (t1, s0-s11), c2 Spanish (t2, s6-s17); s6-s11 are in both."""
    snap = roster.snapshot(12)
    snap.users["t2"] = roster.user("t2", "teacher", "ISD-t2")
    snap.classes["c2"] = ClassRecord("c2", "active", "Spanish 1", None, "scheduled", SCHOOL, None, (), (), ())
    snap.enrollments["e2-t2"] = EnrollmentRecord("e2-t2", "active", "t2", "c2", SCHOOL, "teacher", True, None, None)
    for n in range(6, 18):
        sid = f"s{n}"
        snap.users.setdefault(sid, roster.user(sid, "student", f"ISD-{sid}"))
        snap.enrollments[f"e2-{sid}"] = EnrollmentRecord(
            f"e2-{sid}", "active", sid, "c2", SCHOOL, "student", False, None, None
        )
    for name, records in (("users", snap.users), ("classes", snap.classes), ("enrollments", snap.enrollments)):
        snap.collections[name] = replace(snap.collections[name], received=len(records), total=len(records))
    return snap


def synced_district(store) -> RosterSnapshot:
    onboard(store)
    full = district_roster()
    outcome = run_sync(request(), store=store, fetch=fetching(full))
    assert outcome.status == "succeeded", outcome.report.error
    return full


def writes(plan) -> set[tuple[str, str, str]]:
    """Every write a plan makes: (collection, action, the state written)."""
    found = set()
    for name in ("accounts", "reservations", "classes", "enrollments", "schools"):
        for action, items in getattr(plan, name).items():
            found.update((name, action, repr(item)) for item in items)
    return found


def test_R18_targeted_delta_reads_only_the_records_around_its_changes(store) -> None:
    full = synced_district(store)
    whole_read = DynamoRosterView(store)
    gather(whole_read, "d1", full)
    renamed = replace(full.users["s3"], given_name="Renamed")
    moved = EnrollmentRecord("e2-s0", "active", "s0", "c2", SCHOOL, "student", False, None, None)
    METER.reset()
    outcome = run_sync(
        request(mode="delta"), store=store, fetch=fetching(changes(users=[renamed], enrollments=[moved]))
    )
    assert outcome.status == "succeeded" and outcome.report.deferred == []
    exported = {a["sourcedId"]: a for a in export_district("d1", store)["accounts"]}
    assert exported["s3"]["given_name"] == "Renamed"
    assert "e2-s0" in {e["sourcedId"] for e in export_district("d1", store)["enrollments"]}
    doc = runs.load_report(runs.get_run("d1", outcome.run_id, store), store)
    assert doc["delta"]["reads"]["targeted"] is True
    # s3's and s0's accounts, class c2, the school: the enrolment (c2, s0) is new, so none is found
    assert doc["store_reads"]["items"] == 4
    assert doc["store_reads"]["items"] < whole_read.stats.items / 10  # the whole district: 58 items
    # one account update, one enrolment created: nothing else is written
    assert METER.writes(roster_tables(store.settings)) == 2


def test_R18_targeted_delta_finds_a_relinked_account_through_the_signin_index(store) -> None:
    """An account whose id is not the deterministic one of its sourcedId (R11 relink: sourcedId
    replaced, account kept) is found through the ``signin`` index."""
    full = synced_district(store)
    relinked = dict(full.users)
    s5 = relinked.pop("s5")
    new_sid = replace(s5, sourced_id="s5-new")
    nightly = district_roster()
    del nightly.users["s5"]
    nightly.users["s5-new"] = new_sid
    for key in ("e-s5",):
        enr = nightly.enrollments.pop(key)
        nightly.enrollments["e-s5-new"] = replace(enr, sourced_id="e-s5-new", user_id="s5-new")
    assert run_sync(request(), store=store, fetch=fetching(nightly)).status == "succeeded"
    account_ids = {a["sourcedId"]: a["account_id"] for a in export_district("d1", store)["accounts"]}
    view = DynamoRosterView(store)
    district = districts.get_district("d1", store)
    basis = delta_reads.last_full_basis("d1", store)
    assert basis is not None
    held = delta_reads.gather_changes(
        view, district, changes(users=[replace(new_sid, given_name="Again")]), basis, today=TODAY
    )
    assert [(a.sourced_id, a.account_id) for a in held.accounts] == [("s5-new", account_ids["s5-new"])]

    # ClassLink gives the old sourcedId to a new student: its deterministic id is the relinked
    # account's, which the targeted read keeps, so the new account gets another id (never s5-new's).
    reused = roster.user("s5", "student", "ISD-s5-again")
    enrolment = EnrollmentRecord("e-s5-again", "active", "s5", "c1", SCHOOL, "student", False, None, None)
    outcome = run_sync(
        request(mode="delta"), store=store, fetch=fetching(changes(users=[reused], enrollments=[enrolment]))
    )
    assert outcome.status == "succeeded", outcome.report.error
    after = {a["sourcedId"]: a for a in export_district("d1", store)["accounts"]}
    assert after["s5-new"]["account_id"] == account_ids["s5-new"] and after["s5-new"]["username"] == "ISD-s5"
    assert after["s5"]["account_id"] != account_ids["s5-new"] and after["s5"]["username"] == "ISD-s5-again"


def test_R18_targeted_delta_guard_takes_its_shares_of_the_district(store) -> None:
    """R10 on a targeted delta: the shares are of the district's totals at its last full sync, not
    of the few items read (two renamed students of 20 accounts do not trip a 20% update threshold)."""
    full = synced_district(store)
    basis = delta_reads.last_full_basis("d1", store)
    assert basis is not None and basis.totals == {"accounts": 20, "classes": 2, "enrollments": 26}
    renamed = [replace(full.users[s], given_name="Renamed") for s in ("s1", "s2")]
    outcome = run_sync(request(mode="delta"), store=store, fetch=fetching(changes(users=renamed)))
    assert outcome.status == "succeeded" and outcome.report.guard_reasons == []


def test_R18_targeted_delta_new_user_claiming_a_held_username_is_an_R5_conflict(store) -> None:
    """R5: a new user whose username a held account of the district holds is refused, as on a
    full sync: the targeted read finds that account through its reservation (without it, the
    reservation would look unwritten and the new user would adopt, and overwrite, its account)."""
    full = synced_district(store)
    newcomer = roster.user("n0", "student", "ISD-s3")
    enrolment = EnrollmentRecord("e-n0", "active", "n0", "c1", SCHOOL, "student", False, None, None)
    METER.reset()
    outcome = run_sync(
        request(mode="delta"), store=store, fetch=fetching(changes(users=[newcomer], enrollments=[enrolment]))
    )
    assert outcome.status == "succeeded"
    assert METER.writes(roster_tables(store.settings)) == 0
    assert [(i.rule, i.sourced_id) for i in outcome.report.issues] == [("R5", "n0")]
    exported = {a["sourcedId"]: a for a in export_district("d1", store)["accounts"]}
    assert exported["s3"]["username"] == "ISD-s3" and "n0" not in exported
    assert full.users["s3"].username == "ISD-s3"


class HeldOnce:
    """A ``RosterView`` that reads the district's items once and the reservations every time (the
    property plans many deltas against one store that none of them writes to)."""

    def __init__(self, view: DynamoRosterView) -> None:
        self.view = view
        self.cache: dict[str, list] = {}

    def _once(self, kind: str, district_id: str) -> list:
        if kind not in self.cache:
            self.cache[kind] = list(getattr(self.view, kind)(district_id))
        return self.cache[kind]

    def held_accounts(self, district_id: str) -> list:
        return self._once("held_accounts", district_id)

    def held_classes(self, district_id: str) -> list:
        return self._once("held_classes", district_id)

    def held_enrollments(self, district_id: str) -> list:
        return self._once("held_enrollments", district_id)

    def held_schools(self, district_id: str) -> list:
        return self._once("held_schools", district_id)

    def reservations(self, usernames_norm):
        return self.view.reservations(usernames_norm)


_STUDENTS = [f"s{n}" for n in range(18)]


@st.composite
def deltas(draw, full: RosterSnapshot) -> RosterSnapshot:
    """A delta of random changes to the synced district."""
    users: dict = {}
    enrollments: dict = {}
    classes: dict = {}
    for sid in draw(st.lists(st.sampled_from([*_STUDENTS, "t1", "t2"]), max_size=3, unique=True)):
        user = full.users[sid]
        kind = draw(st.sampled_from(["rename", "tobedeleted", "username", "taken", "disabled"]))
        if kind == "rename":
            users[sid] = replace(user, given_name=draw(st.sampled_from(["Ana", "Bo", "Renée"])))
        elif kind == "tobedeleted":
            users[sid] = replace(user, status=TOBEDELETED)
        elif kind == "username":
            users[sid] = replace(user, username=f"ISD-new-{sid}")
        elif kind == "taken":
            users[sid] = replace(user, username=f"ISD-{draw(st.sampled_from(_STUDENTS))}")
        else:
            users[sid] = replace(user, enabled=False)
    for n in range(draw(st.integers(0, 3))):
        sid = f"n{n}"
        username = draw(st.sampled_from([f"ISD-{sid}", f"ISD-{draw(st.sampled_from(_STUDENTS))}"]))
        users[sid] = roster.user(sid, "student", username)  # a username of a held student: R5/R6
        for cid in draw(st.lists(st.sampled_from(["c1", "c2"]), max_size=2, unique=True)):
            enrollments[f"e-{cid}-{sid}"] = EnrollmentRecord(
                f"e-{cid}-{sid}", "active", sid, cid, SCHOOL, "student", False, None, None
            )
    for key in draw(st.lists(st.sampled_from(sorted(full.enrollments)), max_size=2, unique=True)):
        enrollments[key] = replace(full.enrollments[key], status=TOBEDELETED)
    for sid in draw(st.lists(st.sampled_from(_STUDENTS[:6]), max_size=2, unique=True)):
        enrollments[f"e2-{sid}"] = EnrollmentRecord(
            f"e2-{sid}", "active", sid, "c2", SCHOOL, "student", False, None, None
        )
    for cid in draw(st.lists(st.sampled_from(["c1", "c2"]), max_size=2, unique=True)):
        title = draw(st.sampled_from(["French 2", "Spanish 2", "Homeroom", "French and Spanish"]))
        classes[cid] = replace(full.classes[cid], title=title)
    return changes(users=users.values(), enrollments=enrollments.values(), classes=classes.values())


def test_R18_targeted_delta_plans_the_writes_of_a_whole_district_delta(store) -> None:
    """Property: for any delta, the targeted plan makes every write the whole-district plan makes;
    any more it makes are never removals, and only of records the whole-district plan froze:
    their removal (R9) deferred, their class without a teacher in the delta (R8, the teacher's
    own removal deferred), or a student the delta took out of a class (R3 scope, judged by the
    full sync). The targeted plan trips the guard (R10) only when the whole-district one does."""
    full = synced_district(store)
    district = districts.get_district("d1", store)
    basis = delta_reads.last_full_basis("d1", store)
    assert basis is not None
    settings_ = district.to_settings()

    whole_view = HeldOnce(DynamoRosterView(store))  # nothing is written: the district reads once

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(deltas(full))
    def check(snap: RosterSnapshot) -> None:
        whole_holdings = gather(whole_view, "d1", snap)
        targeted = delta_reads.gather_changes(DynamoRosterView(store), district, snap, basis, today=TODAY)
        plan_whole = delta.plan_changes(snap, whole_holdings, settings_, today=TODAY)
        plan_targeted = delta.plan_changes(snap, targeted, settings_, today=TODAY)
        w, t = writes(plan_whole), writes(plan_targeted)
        assert w <= t, f"targeted plan misses writes: {sorted(w - t)[:3]}"
        untaught = {i.sourced_id for i in plan_whole.issues if i.rule == "R8"}
        frozen = {d["sourced_id"] for d in plan_whole.deferred} | untaught
        frozen |= {e.user_id for e in snap.enrollments.values() if e.status == TOBEDELETED}
        frozen |= {e.user_id for e in snap.enrollments.values() if e.class_id in untaught}
        for name, action, state in t - w:
            assert action not in REMOVAL_ACTIONS, (name, action, state)  # a delta never removes (R9)
            assert any(f"sourced_id='{sid}'" in state for sid in frozen) or name == "reservations", state
        assert not plan_targeted.guard.tripped or plan_whole.guard.tripped

    check()
