"""The content digest (stable, flags excluded) and the plan's JSON round trip (R10 held runs, R12)."""

import json

from classlink_sync.rules.digest import digest_of, digest_values
from classlink_sync.rules.plan import Plan
from tests.unit.rules.fakes import FakeStore, class_with_teacher, run, snapshot, user


def test_digest_is_stable_blake2b_hex_not_python_hash():
    value = digest_values("a", None, True, ("x", "y"))
    assert value == digest_values("a", None, True, ("x", "y"))
    assert len(value) == 16 and int(value, 16) >= 0
    assert isinstance(value, str)
    # Pinned so that a change of encoding (which would rewrite every stored item) is noticed.
    assert value == "f54b72944425fe6d"
    assert digest_values("a", "") != digest_values("a", None)
    assert digest_values(("a", "b")) != digest_values("a", "b")
    assert digest_values("ab", "c") != digest_values("a", "bc")


def test_digest_excludes_flags_and_matches_the_planner():
    members, c, enr = class_with_teacher(1)
    p = run(FakeStore(), snapshot(users=members, classes=[c], enrollments=enr))
    for states in (p.accounts["create"], p.classes["create"], p.enrollments["create"], p.schools["create"]):
        for state in states:
            assert state.digest == digest_of(state)
    account = p.accounts["create"][0]
    before = digest_of(account)
    account.active = not account.active
    assert digest_of(account) == before
    account.given_name = "Someone else"
    assert digest_of(account) != before


def test_plan_round_trips_through_json():
    store = FakeStore()
    store.add_account("other", "taken", district_id="d-other")
    members, c, enr = class_with_teacher(1)
    p = run(
        store,
        snapshot(users=[*members, user("x", "teacher", username="taken")], classes=[c], enrollments=enr),
    )
    assert p.issues
    data = json.loads(json.dumps(p.to_dict()))
    again = Plan.from_dict(data)
    assert again == p
    assert again.to_dict() == p.to_dict()


def test_enrolment_field_change_is_an_update_and_bare_store_items_compare_by_digest():
    from dataclasses import replace

    from classlink_sync.rules.planner import plan
    from tests.unit.rules.fakes import TODAY, enrol, settings

    store = FakeStore()
    members, c, enr = class_with_teacher(1, students=1)
    run(store, snapshot(users=members, classes=[c], enrollments=enr))
    changed = [replace(e, primary=not e.primary) if e.user_id == "s1-0" else e for e in enr]
    p = run(store, snapshot(users=members, classes=[c], enrollments=changed), apply=False)
    assert [(e.user_sourced_id, e.primary) for e in p.enrollments["update"]] == [("s1-0", True)]
    assert enrol("x", "u", "c").primary is False
    # A store that does not fill the held items' optional fields still plans nothing (digests equal).
    snap = snapshot(users=members, classes=[c], enrollments=enr)
    holdings = store.holdings(snap)
    holdings.enrollments = [
        replace(h, class_sourced_id="", user_sourced_id="", role="", begin_date=None, end_date=None)
        for h in holdings.enrollments
    ]
    assert plan(snap, holdings, settings(), today=TODAY).is_empty()
