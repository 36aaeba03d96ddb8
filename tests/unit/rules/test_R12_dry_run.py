"""R12 (dry run) and the planner's read interface: planning reads, never writes, and is repeatable."""

import copy

from classlink_sync.rules.holdings import gather
from tests.unit.rules.fakes import FakeStore, class_with_teacher, run, snapshot, user


def test_R12_planning_writes_nothing_and_reports_what_a_real_run_would_do():
    store = FakeStore()
    store.add_account("acc-1", "ExampleISD-t1", role="teacher")
    members, c, enr = class_with_teacher(1)
    snap = snapshot(users=members, classes=[c], enrollments=enr)
    before = copy.deepcopy((store.accounts, store.table, store.classes, store.enrollments, store.schools))
    dry = run(store, snap, apply=False)
    assert (store.accounts, store.table, store.classes, store.enrollments, store.schools) == before
    assert store.writes == 0
    real = run(store, snap)
    assert dry == real  # same ids, same actions: what the dry run said is what happened
    assert real.accounts["link"][0].account_id == "acc-1"


def test_gather_makes_one_batch_lookup_of_reservations_for_usernames_not_held_by_the_district():
    store = FakeStore()
    store.add_account("acc-1", "Mine", role="teacher")
    store.add_account("oth-1", "theirs", district_id="d-other")
    calls = []
    original = store.reservations

    def counting(usernames):
        names = sorted(usernames)
        calls.append(names)
        return original(names)

    store.reservations = counting  # type: ignore[method-assign]
    snap = snapshot(
        users=[user("a", "teacher", username="MINE"), user("b", username="Theirs"), user("c", username="free")]
    )
    holdings = gather(store, "d-example", snap)
    assert calls == [["free", "theirs"]]
    assert set(holdings.reservations) == {"theirs"}
    assert [a.account_id for a in holdings.accounts] == ["acc-1"]
