"""R17 undo: the journal of a run and the plan that undoes it. Pure: no I/O.

**The journal** of a run is, for every roster record the run's plan changes (each state of every
action list: created, updated, linked, relinked, reactivated, deactivated, archived...), the
record's stored state just before the run: its ``Held*`` item from the holdings the planner read,
or ``None`` when the run creates it. It is built from ``(plan, holdings)`` at planning time, before
anything is written (``journal_entries``), so a run killed mid-apply is journaled too. Records are
keyed as the store keys them: an account by its account id, a class by its class id, an enrolment
by ``{class id}#{account id}``, a school by its sourcedId. Reservations need no entry of their own:
the username an account held before the run is in its before-state (R5).

**The inverse** (``inverse_plan``) is planned against what we hold *now*, never against what the run
wrote, so undoing a run whose apply stopped part-way, or undoing twice, changes only what differs:

- a record the run created: an account is deactivated, a class, enrolment or school archived;
  nothing is destroyed (R9);
- any other record: its whole before-state is written back (fields, active/archived, memberships,
  subject, links, the R13 mark of an account);
- an account whose before-state holds another username: the reservation moves back in the apply's
  R5 transaction, only if the old name is free or still this account's. When another account (of
  this district or another) holds it now, that account is reported (R5) and left as it is; the
  rest is undone.

Classes and enrolments are written back as managed by ClassLink (R13): the held items do not carry
the mark, and every class or enrolment a sync writes is managed (``rules.planner``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from classlink_sync.rules.holdings import (
    HeldAccount,
    HeldClass,
    HeldEnrollment,
    HeldSchool,
    Holdings,
    Reservation,
)
from classlink_sync.rules.plan import (
    AccountState,
    ClassState,
    EnrollmentState,
    Issue,
    Plan,
    ReservationChange,
    SchoolState,
)

JOURNAL_VERSION = 1
# The plan's entity lists, in the order a journal keeps them, and the run record's entity names.
ENTITIES = ("accounts", "classes", "enrollments", "schools")
ISSUE_ENTITY = {"accounts": "user", "classes": "class", "enrollments": "enrollment", "schools": "org"}
HELD_TYPES: dict[str, type] = {
    "accounts": HeldAccount,
    "classes": HeldClass,
    "enrollments": HeldEnrollment,
    "schools": HeldSchool,
}
HELD_FIELDS: dict[str, tuple[str, ...]] = {name: tuple(f.name for f in fields(t)) for name, t in HELD_TYPES.items()}
_TUPLE_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(f.name for f in fields(t) if "tuple" in str(f.type)) for name, t in HELD_TYPES.items()
}
R5_UNDO_ADVICE = (
    "Ask the other account's district or This is School support to free the username, then undo again; "
    "or leave this account as it is."
)

Held = HeldAccount | HeldClass | HeldEnrollment | HeldSchool


def record_key(entity: str, item: Any) -> str:
    """The store's key of a plan state or held item of ``entity`` (within its district)."""
    if entity == "accounts":
        return str(item.account_id)
    if entity == "classes":
        return str(item.class_id)
    if entity == "enrollments":
        return f"{item.class_id}#{item.account_id}"
    return str(item.sourced_id)


@dataclass
class Journal:
    """The before-state of every record one run changes (``None``: the run created it)."""

    district_id: str
    run_id: str
    before: dict[str, dict[str, Any]] = field(default_factory=lambda: {e: {} for e in ENTITIES})
    approves: str | None = None  # R10: the held run an approval applied (its undo is this run's)
    started: str | None = None  # when the journal was written (the run's planning time), ISO

    def keys(self) -> set[tuple[str, str]]:
        """Every record of the run, as ``(entity, key)``."""
        return {(entity, key) for entity in ENTITIES for key in self.before.get(entity, {})}

    def __len__(self) -> int:
        return sum(len(self.before.get(entity, {})) for entity in ENTITIES)

    def add(self, entity: str, key: str, held: Held | None) -> None:
        """Record ``key``'s before-state unless recorded already (a resumed run keeps the first)."""
        self.before.setdefault(entity, {}).setdefault(key, held)


# -- building (at planning time) -------------------------------------------------------------------
def _changed(plan: Plan, entity: str) -> Iterator[tuple[str, Any]]:
    for action, states in getattr(plan, entity).items():
        for state in states:
            yield action, state


def journal_entries(plan: Plan, holdings: Holdings) -> Iterator[tuple[str, str, Held | None]]:
    """``(entity, key, before)`` for every record ``plan`` changes, before anything is written.

    A created record is yielded as it is met (``None``: nothing before it; an item appears under
    one action only), so the millions of enrolments of a first sync are streamed, never collected;
    the keys of the other changes are collected and their held items found in one pass over the
    holdings of that entity."""
    for entity in ENTITIES:
        wanted: set[str] = set()
        for action, state in _changed(plan, entity):
            if action == "create":
                yield entity, record_key(entity, state), None
            else:
                wanted.add(record_key(entity, state))
        if not wanted:
            continue
        for held in getattr(holdings, entity):
            key = record_key(entity, held)
            if key in wanted:
                wanted.discard(key)
                yield entity, key, held
        for key in sorted(wanted):  # not held (a planner's state for an item it did not read)
            yield entity, key, None


def journal_of(plan: Plan, holdings: Holdings, *, run_id: str, approves: str | None = None) -> Journal:
    """The journal of a run about to apply ``plan`` against ``holdings`` (R17)."""
    journal = Journal(plan.district_id, run_id, approves=approves)
    for entity, key, held in journal_entries(plan, holdings):
        journal.add(entity, key, held)
    return journal


# -- rows (the stored form: positional, as ``Plan.to_dict``) ---------------------------------------
def held_row(held: Held | None) -> list[Any] | None:
    if held is None:
        return None
    return [getattr(held, name) for name in HELD_FIELDS[_entity_of(held)]]


def held_from_row(entity: str, row: list[Any] | None, names: Iterable[str] | None = None) -> Held | None:
    if row is None:
        return None
    kwargs = dict(zip(names or HELD_FIELDS[entity], row, strict=True))
    for name in _TUPLE_FIELDS[entity] & kwargs.keys():
        kwargs[name] = tuple(kwargs[name] or ())
    held: Held = HELD_TYPES[entity](**kwargs)
    return held


def _entity_of(held: Held) -> str:
    for entity, held_type in HELD_TYPES.items():
        if isinstance(held, held_type):
            return entity
    raise TypeError(f"not a held roster item: {type(held).__name__}")


# -- undoing ----------------------------------------------------------------------------------------
def names_to_restore(journal: Journal, holdings: Holdings) -> set[str]:
    """The usernames (normalised) the undo would give back to accounts: their reservations must be
    looked up before planning the inverse (R5)."""
    now = {a.account_id: a for a in holdings.accounts}
    names = set()
    for key, before in journal.before.get("accounts", {}).items():
        current = now.get(key)
        if before is not None and current is not None and before.username_norm != current.username_norm:
            names.add(before.username_norm)
    return names


def account_state(held: HeldAccount, district_id: str, tenant_id: str) -> AccountState:
    h = held
    return AccountState(
        h.account_id, district_id, tenant_id, h.sourced_id, h.username, h.username_norm, h.email, h.email_norm,
        h.given_name, h.family_name, h.role, h.active, h.enabled, tuple(h.school_ids), tuple(h.grades), h.managed,
        h.digest,
    )  # fmt: skip


def class_state(held: HeldClass, district_id: str) -> ClassState:
    h = held
    return ClassState(
        h.class_id, district_id, h.sourced_id, h.title, h.class_code, h.school_id, h.course_id,  # type: ignore[arg-type]
        h.subject, tuple(h.term_ids), tuple(h.grades), h.archived, True, h.digest,  # type: ignore[arg-type]
    )  # fmt: skip


def enrollment_state(held: HeldEnrollment, district_id: str) -> EnrollmentState:
    h = held
    return EnrollmentState(
        h.class_id, h.account_id, district_id, h.sourced_id, h.class_sourced_id, h.user_sourced_id, h.role,
        h.primary, h.begin_date, h.end_date, h.archived, True, h.digest,
    )  # fmt: skip


def school_state(held: HeldSchool, district_id: str) -> SchoolState:
    return SchoolState(held.sourced_id, district_id, held.name, held.identifier, held.archived, held.digest)


def _removed(held: Held) -> bool:
    """Deactivated (an account) or archived (anything else)."""
    return not held.active if isinstance(held, HeldAccount) else bool(held.archived)


def _action(before: Held | None, now: Held) -> str:
    """The plan action of writing ``before`` back over ``now`` (``None``: the run created it)."""
    if before is None:
        return "deactivate" if isinstance(now, HeldAccount) else "archive"
    if _removed(before) != _removed(now):
        if isinstance(now, HeldAccount):
            return "deactivate" if _removed(before) else "reactivate"
        return "archive" if _removed(before) else "restore"
    before_sid = getattr(before, "sourced_id", None)
    if before_sid != getattr(now, "sourced_id", None) and before_sid is not None and not isinstance(now, HeldSchool):
        return "relink"
    return "update"


def _target(before: Held | None, now: Held) -> Held | None:
    """What the undo writes: the before-state, or ``now`` removed for a record the run created
    (R9: deactivated or archived, never destroyed); None when that is already what we hold."""
    if before is None:
        if _removed(now):
            return None
        return replace(now, active=False) if isinstance(now, HeldAccount) else replace(now, archived=True)
    return None if before == now else before


@dataclass
class _Inverse:
    journal: Journal
    holdings: Holdings
    tenant_id: str
    plan: Plan
    reservations: Mapping[str, Reservation]
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, entity: str, outcome: str) -> None:
        self.counts.setdefault(ISSUE_ENTITY[entity], Counter())[outcome] += 1

    def state(self, entity: str, held: Held) -> Any:
        district = self.journal.district_id
        if entity == "accounts":
            return account_state(held, district, self.tenant_id)  # type: ignore[arg-type]
        if entity == "classes":
            return class_state(held, district)  # type: ignore[arg-type]
        if entity == "enrollments":
            return enrollment_state(held, district)  # type: ignore[arg-type]
        return school_state(held, district)  # type: ignore[arg-type]

    def username_taken(self, before: HeldAccount, now: HeldAccount) -> Reservation | None:
        """R5: the reservation that stops giving ``before``'s username back, if any."""
        if before.username_norm == now.username_norm:
            return None
        holder = self.reservations.get(before.username_norm)
        if holder is None or (holder.account_id == now.account_id and holder.district_id == self.journal.district_id):
            return None
        return holder

    def conflict(self, before: HeldAccount, now: HeldAccount, holder: Reservation) -> None:
        whose = "another district's account" if holder.district_id != self.journal.district_id else "another account"
        self.plan.issues.append(
            Issue(
                rule="R5",
                entity="user",
                sourced_id=now.sourced_id or before.sourced_id,
                field="username",
                message=(
                    f"R17: this account's username before the run, '{before.username}', is now held by {whose} "
                    f"on This is School, so this account was not put back and keeps '{now.username}'. "
                    f"{R5_UNDO_ADVICE}"
                ),
                school_id=(now.school_ids or before.school_ids or (None,))[0],
            )
        )
        self.count("accounts", "skipped")

    def entity(self, entity: str) -> None:
        now_by_key = {record_key(entity, h): h for h in getattr(self.holdings, entity)}
        for key, before in self.journal.before.get(entity, {}).items():
            now = now_by_key.get(key)
            if now is None:  # nothing to put back (never destroyed by a sync; kept for completeness)
                self.count(entity, "missing")
                continue
            target = _target(before, now)
            if target is None:
                self.count(entity, "unchanged")
                continue
            if entity == "accounts" and before is not None:
                holder = self.username_taken(before, now)
                if holder is not None:
                    self.conflict(before, now, holder)
                    continue
                if before.username_norm != now.username_norm:
                    self.plan.reservations["move"].append(
                        ReservationChange(
                            before.username_norm, now.account_id, self.journal.district_id, now.username_norm
                        )
                    )
            action = _action(before, now)
            plan_list: list[Any] = getattr(self.plan, entity)[action]
            plan_list.append(self.state(entity, target))
            self.count(entity, action)


def inverse_plan(
    journal: Journal,
    holdings: Holdings,
    *,
    tenant_id: str,
    today: str,
    reservations: Mapping[str, Reservation] | None = None,
) -> tuple[Plan, list[Issue]]:
    """The plan that undoes the run of ``journal`` against what we hold now (R17; R5, R9).

    ``holdings`` are the district's items now; ``reservations`` the current reservations of
    ``names_to_restore(journal, holdings)`` (absent: free), by default ``holdings.reservations``.
    Returns the plan (``store.apply.apply_plan`` writes it) and its R5 issues (also in
    ``plan.issues``): accounts left as they are because their old username is held by another
    account. ``plan.counts`` counts, per entity, each action and ``unchanged`` (already as before),
    ``skipped`` (left as is, R5) and ``missing`` (no longer held)."""
    if holdings.district_id != journal.district_id:
        raise ValueError(
            f"R17: the journal of district {journal.district_id!r} cannot undo holdings of {holdings.district_id!r}"
        )
    plan = Plan(district_id=journal.district_id, tenant_id=tenant_id, today=today, fetch_complete=True)
    inverse = _Inverse(
        journal, holdings, tenant_id, plan, holdings.reservations if reservations is None else reservations
    )
    for entity in ("schools", "accounts", "classes", "enrollments"):
        inverse.entity(entity)
    plan.counts = {entity: dict(sorted(counter.items())) for entity, counter in inverse.counts.items()}
    return plan, list(plan.issues)
