"""Issue 10, memory: apply keeps the plan's own lists and names chunks by slice bounds; the plan's
digest is streamed, state by state, and the same for a plan and its JSON round trip (a continued
sync, R20, reloads the plan and must find its checkpoint's digest)."""

from __future__ import annotations

from typing import Any

from classlink_sync.rules.plan import ClassState, EnrollmentState, Plan, SchoolState, StateRows
from classlink_sync.store.apply import _Applier, plan_digest


def _enrolment(i: int) -> EnrollmentState:
    return EnrollmentState(
        f"c{i % 7}", f"a{i}", "d1", f"e{i}", f"C{i % 7}", f"U{i}", "student", False, None, None, False, True, f"g{i}"
    )


def _plan(made: list[int], n: int = 23) -> Plan:
    def make(i: int) -> EnrollmentState:
        made.append(i)
        return _enrolment(i)

    plan = Plan(district_id="d1", tenant_id="42", today="2026-09-01", fetch_complete=True)
    plan.enrollments["create"] = StateRows(list(range(n)), make)
    plan.enrollments["archive"] = StateRows(list(range(n, n + 5)), make)
    plan.schools["create"] = [SchoolState(f"s{i}", "d1", f"School {i}", None, False, "x") for i in range(3)]
    plan.schools["update"] = [SchoolState("s9", "d1", "Nine", "009", False, "y")]
    plan.classes["update"] = [
        ClassState("c1", "d1", "C1", "Maths 1", None, "s1", None, "Maths", ("t1", "t2"), ("09",), False, True, "z")
    ]
    return plan


def test_chunks_are_slice_bounds_built_into_states_only_when_written():
    made: list[int] = []
    plan = _plan(made)
    applier: Any = _Applier.__new__(_Applier)
    applier.plan, applier.lone_adds = plan, []
    chunks = applier._chunks(10)
    assert made == []  # no state was built to cut the plan into chunks
    by_phase: dict[str, list[Any]] = {}
    for chunk in chunks:
        items = chunk.items
        assert 0 < len(items) <= 10
        by_phase.setdefault(chunk.phase, []).extend(items)
    assert by_phase["enrollments"] == [_enrolment(i) for i in range(28)]  # both lists, in order, spanning chunks
    assert [len(c.items) for c in chunks if c.phase == "enrollments"] == [10, 10, 8]
    assert by_phase["schools"] == plan.schools["create"] + plan.schools["update"]  # one chunk spans two lists
    assert [c.phase for c in chunks] == ["schools", "classes", "enrollments", "enrollments", "enrollments"]


def test_the_streamed_digest_survives_the_json_round_trip_and_tells_plans_apart():
    plan = _plan([])
    digest = plan_digest(plan)
    assert digest == plan_digest(Plan.from_dict(plan.to_dict()))
    assert digest == plan_digest(_plan([]))
    other = _plan([])
    other.classes["update"][0].term_ids = ("t1",)
    assert plan_digest(other) != digest
    moved = _plan([])  # the same states under another action are another plan
    moved.schools["create"], moved.schools["update"] = moved.schools["update"], moved.schools["create"]
    assert plan_digest(moved) != digest
    longer = _plan([], n=24)
    assert plan_digest(longer) != digest


def test_R20_a_kept_plan_loads_back_equal_with_its_enrolments_read_part_by_part(b):
    from classlink_sync.store import plandoc
    from classlink_sync.store.apply import apply_plan

    plan = b.first_sync_plan("d1", students=6, classes=3)  # 21 enrolments
    plan.enrollments["archive"] = plan.enrollments["create"][:2]
    digest = plan_digest(plan)
    head = "continuations/d1/r1/plan.json"
    with b.fresh_store() as store:
        parts = plandoc.keep_plan(store.settings, head, plan, digest=digest, part_rows=4)
        assert parts == 6 + 1  # 21 rows in parts of 4, then the 2 archives in their own part

        loaded, kept = plandoc.load_plan(store.settings, head)
        assert kept == digest
        assert isinstance(loaded.enrollments["create"], plandoc.PartRows)
        assert len(loaded.enrollments["create"]) == 21
        assert loaded.enrollments["create"][5:11] == plan.enrollments["create"][5:11]  # a slice across parts
        assert loaded.enrollments["create"][-1] == plan.enrollments["create"][-1]
        assert loaded.to_dict() == plan.to_dict()
        assert plan_digest(loaded) == digest

        reads: list[str] = []
        reader = loaded.enrollments["create"]._reader
        original = reader.rows

        def counted(part: Any) -> Any:
            if reader._key != part.key:
                reads.append(part.key)
            return original(part)

        reader.rows = counted
        assert apply_plan(loaded, store, chunk_size=5, digest=kept).complete
        assert reads == sorted(set(reads))  # each part read once, in order: one part held at a time
        from_parts = b.dump(store)
    with b.fresh_store() as other:
        apply_plan(plan, other, chunk_size=5)
        assert b.dump(other) == from_parts  # the same items as applying the plan itself
