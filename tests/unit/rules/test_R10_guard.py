"""R10: the mass-change guard, per entity type, on removals and on updates."""

from classlink_sync.rules.district import GuardThresholds
from tests.unit.rules.fakes import FakeStore, run, settings, snapshot, user


def _teachers(n, given="Ada"):
    return [user(f"t{i:04d}", "teacher", given=given) for i in range(n)]


def _store_with_teachers(n):
    store = FakeStore()
    run(store, snapshot(users=_teachers(n)))
    return store


def test_R10_9_percent_of_users_unshared_is_not_held():
    store = _store_with_teachers(300)
    p = run(store, snapshot(users=_teachers(300)[27:]), apply=False)  # 27 = 9%
    assert len(p.accounts["deactivate"]) == 27
    assert not p.guard.tripped and not p.guard.reasons


def test_R10_11_percent_of_users_unshared_is_held_with_the_full_plan():
    store = _store_with_teachers(300)
    p = run(store, snapshot(users=_teachers(300)[33:]), apply=False)  # 33 = 11%
    assert p.guard.tripped and "accounts: 33 of 300" in p.guard.reasons[0]
    assert len(p.accounts["deactivate"]) == 33  # the full plan is kept for review


def test_R10_minimum_count_applies():
    store = _store_with_teachers(100)
    p = run(store, snapshot(users=_teachers(100)[24:]), apply=False)  # 24% but fewer than 25
    assert not p.guard.tripped


def test_R10_80_percent_of_users_updated_is_held():
    store = _store_with_teachers(100)
    users = _teachers(100, given="Changed")[:80] + _teachers(100)[80:]
    p = run(store, snapshot(users=users), apply=False)
    assert len(p.accounts["update"]) == 80
    assert p.guard.tripped and "updated" in p.guard.reasons[0]
    users = _teachers(100, given="Changed")[:70] + _teachers(100)[70:]
    assert not run(store, snapshot(users=users), apply=False).guard.tripped


def test_R10_waived_by_staff_approval_for_one_run():
    store = _store_with_teachers(100)
    p = run(store, snapshot(users=[]), apply=False, waive_guard=True)
    assert not p.guard.tripped and p.guard.waived and p.guard.reasons
    assert len(p.accounts["deactivate"]) == 100


def test_R10_thresholds_come_from_the_district_settings():
    store = _store_with_teachers(100)
    cfg = settings(thresholds=GuardThresholds(remove_fraction=0.5, remove_minimum=5))
    assert not run(store, snapshot(users=_teachers(100)[40:]), cfg, apply=False).guard.tripped
    assert run(store, snapshot(users=_teachers(100)[60:]), cfg, apply=False).guard.tripped
