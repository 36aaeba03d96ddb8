"""The plan: every change one sync would make and every data-quality issue it found.

``planner.plan`` returns it; ``store.apply`` writes exactly what it says; a dry run (R12) stops
before apply; a held run (R10) keeps it; a long apply resumes from it. It is therefore plain data
and round-trips through JSON (``to_dict`` / ``from_dict``).

Each entity has one list per action, holding the full desired state of every changed item (the
store writes whole items, R13 mark and digest included). Unchanged items are only counted.

Enrolments can number millions, so the planner hands them over as ``StateRows``: a read-only
sequence that keeps one reference per item (the OneRoster record, or the held item for an archive)
and builds each ``EnrollmentState`` when it is read. Iterate, index, slice and ``len`` it like a
list; a state read from it is a fresh object (edit a copy, not the sequence). ``from_dict`` gives
plain lists, which behave the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, overload

from classlink_sync.rules.holdings import HeldAccount, HeldClass, HeldEnrollment, HeldSchool

# Actions per entity. An item appears under exactly one action in one plan.
ACCOUNT_ACTIONS = ("create", "link", "relink", "reactivate", "update", "deactivate")
RESERVATION_ACTIONS = ("add", "move", "release")
CLASS_ACTIONS = ("create", "relink", "restore", "update", "archive")
ENROLLMENT_ACTIONS = ("create", "relink", "restore", "update", "archive")
SCHOOL_ACTIONS = ("create", "restore", "update", "archive")
REMOVAL_ACTIONS = frozenset({"deactivate", "archive"})


@dataclass(slots=True)
class AccountState:
    account_id: str
    district_id: str
    tenant_id: str
    sourced_id: str | None
    username: str
    username_norm: str
    email: str | None
    email_norm: str | None
    given_name: str
    family_name: str
    role: str  # teacher | student
    active: bool  # can sign in: in scope, not tobedeleted, enabledUser true (R3, R9)
    enabled: bool  # ClassLink's enabledUser
    school_ids: tuple[str, ...]
    grades: tuple[str, ...]
    managed: bool  # R13: managed by ClassLink
    digest: str

    def as_held(self) -> HeldAccount:
        """What the store holds once this state is written (the planner's view of it)."""
        return HeldAccount(
            self.account_id, self.district_id, self.username, self.username_norm, self.email_norm, self.role,
            self.active, self.sourced_id, self.digest, self.managed, self.given_name, self.family_name,
            self.email, self.enabled, self.school_ids, self.grades,
        )  # fmt: skip


@dataclass(slots=True)
class ReservationChange:
    """add: reserve ``username_norm``; move: from ``previous_norm`` to ``username_norm`` in one
    transaction (R5); release: free ``username_norm``."""

    username_norm: str
    account_id: str
    district_id: str
    previous_norm: str | None = None


@dataclass(slots=True)
class ClassState:
    class_id: str
    district_id: str
    sourced_id: str
    title: str
    class_code: str | None
    school_id: str
    course_id: str | None
    subject: str
    term_ids: tuple[str, ...]
    grades: tuple[str, ...]
    archived: bool
    managed: bool
    digest: str

    def as_held(self) -> HeldClass:
        """What the store holds once this state is written."""
        return HeldClass(
            self.class_id, self.sourced_id, self.school_id, self.title, self.term_ids, self.subject,
            self.archived, self.digest, self.class_code, self.course_id, self.grades,
        )  # fmt: skip


@dataclass(slots=True)
class EnrollmentState:
    class_id: str
    account_id: str
    district_id: str
    sourced_id: str
    class_sourced_id: str
    user_sourced_id: str
    role: str  # teacher | student
    primary: bool
    begin_date: str | None
    end_date: str | None
    archived: bool
    managed: bool
    digest: str

    def as_held(self) -> HeldEnrollment:
        """What the store holds once this state is written."""
        return HeldEnrollment(
            self.class_id, self.account_id, self.sourced_id, self.archived, self.digest, self.class_sourced_id,
            self.user_sourced_id, self.role, self.primary, self.begin_date, self.end_date,
        )  # fmt: skip


class LazyStates(Sequence[Any]):
    """Base of the read-only sequences of states built when read (``StateRows``; a kept plan's
    ``store.plandoc.PartRows``): equal to any sequence holding equal states in the same order (a
    plain list included), and unhashable, as a list is."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]


class StateRows(LazyStates):
    """A read-only sequence of states kept as compact rows, each state built when read (memory).

    ``make`` turns one row into its state; it must be deterministic and cheap. Equal to any sequence
    holding equal states in the same order (a plain list included).
    """

    __slots__ = ("_make", "_rows")

    def __init__(self, rows: list[Any], make: Callable[[Any], Any]) -> None:
        self._rows = rows
        self._make = make

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._make(row) for row in self._rows[index]]
        return self._make(self._rows[index])

    def __iter__(self) -> Iterator[Any]:
        return map(self._make, self._rows)

    def __repr__(self) -> str:
        return f"StateRows({list(self)!r})"


@dataclass(slots=True)
class SchoolState:
    sourced_id: str
    district_id: str
    name: str
    identifier: str | None
    archived: bool
    digest: str

    def as_held(self) -> HeldSchool:
        """What the store holds once this state is written."""
        return HeldSchool(self.sourced_id, self.archived, self.digest, self.name, self.identifier)


@dataclass(slots=True)
class Issue:
    """A data-quality issue, for the district administrator (SPEC §3 run record)."""

    rule: str  # "R3" .. "R15"
    entity: str  # user | class | enrollment | org | course | academicSession
    sourced_id: str | None
    message: str  # what is wrong and what to change in ClassLink
    field: str | None = None
    stale: bool = False  # we hold an older good version that we keep (R9)
    level: str = "error"  # "warning": an optional value was dropped, the record itself synced (R4 email)
    # S7: the sourcedId of the school the record belongs to, for the portal's school filter and CSV
    # (a class's school; an enrolment's, else its class's; a user's first licensed school, or the
    # school in question for an R8 wrong-school link; a school's own). None when not known. Plans and
    # reports written before it existed read back with None.
    school_id: str | None = None


@dataclass(slots=True)
class GuardResult:
    """R10: whether the mass-change guard tripped, and why."""

    tripped: bool = False
    reasons: list[str] = field(default_factory=list)
    waived: bool = False  # staff approved this one run
    # The active held items the shares were taken of (accounts, classes, enrollments): what a
    # targeted delta (R18) compares with until the next full sync.
    held: dict[str, int] = field(default_factory=dict)


# R10's base after a plan (``Plan.totals_after``): the actions that make an item active, and the one that removes it.
_GAINED = {
    "accounts": ("create", "link", "reactivate"),
    "classes": ("create", "restore"),
    "enrollments": ("create", "restore"),
}
_REMOVAL_OF = {"accounts": "deactivate", "classes": "archive", "enrollments": "archive"}


def _empty(actions: tuple[str, ...]) -> dict[str, list[Any]]:
    return {action: [] for action in actions}


@dataclass
class Plan:
    district_id: str
    tenant_id: str
    today: str  # the date the plan was made for (ISO), used for enrolment end dates (R9)
    fetch_complete: bool
    incomplete_reasons: list[str] = field(default_factory=list)
    accounts: dict[str, list[AccountState]] = field(default_factory=lambda: _empty(ACCOUNT_ACTIONS))
    reservations: dict[str, list[ReservationChange]] = field(default_factory=lambda: _empty(RESERVATION_ACTIONS))
    classes: dict[str, list[ClassState]] = field(default_factory=lambda: _empty(CLASS_ACTIONS))
    enrollments: dict[str, Sequence[EnrollmentState]] = field(
        default_factory=lambda: dict(_empty(ENROLLMENT_ACTIONS).items())
    )
    schools: dict[str, list[SchoolState]] = field(default_factory=lambda: _empty(SCHOOL_ACTIONS))
    issues: list[Issue] = field(default_factory=list)
    # counts[entity][outcome] (entity as in Issue.entity): outcomes are the actions above plus
    # unchanged, skipped, stale, ignored, withheld (a removal not made after an incomplete fetch, R9),
    # referenced (courses and sessions a synced class uses) and recommended_for_removal (R6); and two
    # tallies that are not outcomes: "fetched" (records received, rejected ones included) and "absent"
    # (held items no fetched record matched that got an outcome). Every fetched record and every such
    # held item has exactly one outcome: sum(outcomes) == fetched + absent (planner.OUTCOME_TALLIES).
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    # R2/R6: accounts of the district that ClassLink does not mention (account ids).
    recommended_for_removal: list[str] = field(default_factory=list)
    guard: GuardResult = field(default_factory=GuardResult)
    # R16 additions-only / R18 delta: removals this plan would have made but did not, each
    # ``{"entity", "sourced_id", "school_id", "why"}``; they happen on the next normal full sync.
    deferred: list[dict[str, Any]] = field(default_factory=list)

    _STATE_TYPES: ClassVar[dict[str, type]] = {
        "accounts": AccountState,
        "reservations": ReservationChange,
        "classes": ClassState,
        "enrollments": EnrollmentState,
        "schools": SchoolState,
    }

    def totals_after(self) -> dict[str, int]:
        """R10's base once this plan is applied: the active accounts, classes and enrollments it
        was planned against (``guard.held``), plus what it creates, links, reactivates or restores,
        less what it removes. What a targeted delta (R18) compares with until the next full sync."""
        if not self.guard.held:
            return {}
        totals = {}
        for name, gained in _GAINED.items():
            actions = getattr(self, name)
            change = sum(len(actions[a]) for a in gained) - len(actions[_REMOVAL_OF[name]])
            totals[name] = max(0, self.guard.held.get(name, 0) + change)
        return totals

    def roster_writes_planned(self) -> int:
        """How many items the plan changes (each costs at least one roster write)."""
        return sum(len(items) for name in self._STATE_TYPES for items in getattr(self, name).values())

    def is_empty(self) -> bool:
        return self.roster_writes_planned() == 0

    @classmethod
    def state_fields(cls) -> dict[str, list[str]]:
        """The field names of each entity's states, in ``to_dict``'s row order."""
        return {name: [f.name for f in fields(state_cls)] for name, state_cls in cls._STATE_TYPES.items()}

    def to_dict_head(self) -> dict[str, Any]:
        """``to_dict`` without the state lists (the small parts of the plan)."""
        return {
            "district_id": self.district_id,
            "tenant_id": self.tenant_id,
            "today": self.today,
            "fetch_complete": self.fetch_complete,
            "incomplete_reasons": list(self.incomplete_reasons),
            "issues": [asdict(i) for i in self.issues],
            "counts": self.counts,
            "recommended_for_removal": list(self.recommended_for_removal),
            "guard": asdict(self.guard),
            "deferred": list(self.deferred),
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.to_dict_head()
        for name, names in self.state_fields().items():
            out[name] = {
                action: [[getattr(item, n) for n in names] for item in items]
                for action, items in getattr(self, name).items()
            }
            out[name + "_fields"] = names
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        plan = cls(
            district_id=data["district_id"],
            tenant_id=data["tenant_id"],
            today=data["today"],
            fetch_complete=data["fetch_complete"],
            incomplete_reasons=list(data.get("incomplete_reasons", [])),
            issues=[Issue(**i) for i in data.get("issues", [])],
            counts=data.get("counts", {}),
            recommended_for_removal=list(data.get("recommended_for_removal", [])),
            guard=GuardResult(**data.get("guard", {})),
            deferred=list(data.get("deferred", [])),
        )
        for name, state_cls in cls._STATE_TYPES.items():
            names = data.get(name + "_fields", [f.name for f in fields(state_cls)])
            tuple_fields = {f.name for f in fields(state_cls) if "tuple" in str(f.type)}
            target = getattr(plan, name)
            for action, rows in data.get(name, {}).items():
                items = []
                for row in rows:
                    kwargs = dict(zip(names, row, strict=True))
                    for key in tuple_fields & kwargs.keys():
                        kwargs[key] = tuple(kwargs[key])
                    items.append(state_cls(**kwargs))
                target[action] = items
        return plan
