"""What This is School already holds for a district: the planner's read interface (the contract
between the planner and the store).

The store implements ``RosterView``; tests fake it. ``gather`` calls the view once per kind of item
and does the single batch lookup of username reservations; ``planner.plan`` then works on the
resulting ``Holdings`` without any I/O (DESIGN.md "Flow").

Each held item carries its identity, its flags, its digest and the rest of its stored state (the
fields of the matching ``plan`` state), so that a removal (R9) is planned as a full state without a
read. The extra fields have defaults so that a store item written before them still loads.

Digests: every held item carries ``digest``, the stable content digest (``rules.digest``) of the
synced fields as last written, excluding the ``active``/``archived`` flags, which are compared on
their own. A never-synced account (imported, R2/R6) has ``digest == ""``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from classlink_sync.oneroster.records import RosterSnapshot
from classlink_sync.rules.limits import username_problem
from classlink_sync.rules.normalise import normalise


@dataclass(slots=True)
class HeldAccount:
    account_id: str  # never changes once issued; learning history hangs off it
    district_id: str
    username: str  # as displayed
    username_norm: str  # the reservation key this account holds (R5)
    email_norm: str | None
    role: str  # teacher | student (imported accounts may carry other roles)
    active: bool  # can sign in
    sourced_id: str | None  # linked ClassLink identity; None = not linked (R6)
    digest: str  # "" for an account never synced from ClassLink
    managed: bool  # R13: managed by ClassLink
    # The rest of the stored state, so that a removal (R9) can be planned as a full state.
    given_name: str = ""
    family_name: str = ""
    email: str | None = None
    enabled: bool = True
    school_ids: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()


@dataclass(slots=True)
class HeldClass:
    class_id: str  # our stable id (survives R11 relinks)
    sourced_id: str
    school_id: str | None
    title: str
    term_ids: tuple[str, ...]
    subject: str | None
    archived: bool
    digest: str
    # The rest of the stored state (a removal, R9, is planned as a full state).
    class_code: str | None = None
    course_id: str | None = None
    grades: tuple[str, ...] = ()


@dataclass(slots=True)
class HeldEnrollment:
    class_id: str  # with account_id, the enrolment's identity (survives R11 relinks)
    account_id: str
    sourced_id: str
    archived: bool
    digest: str
    # The rest of the stored state (a removal, R9, is planned as a full state).
    class_sourced_id: str = ""
    user_sourced_id: str = ""
    role: str = ""
    primary: bool = False
    begin_date: str | None = None
    end_date: str | None = None


@dataclass(slots=True)
class HeldSchool:
    sourced_id: str
    archived: bool
    digest: str
    name: str = ""
    identifier: str | None = None


@dataclass(slots=True, frozen=True)
class Reservation:
    """The item that makes a normalised username unique platform-wide (R5)."""

    username_norm: str
    account_id: str
    district_id: str


class RosterView(Protocol):
    """Read access to what we hold. District-scoped reads; one batch lookup of reservations."""

    def held_accounts(self, district_id: str) -> Iterable[HeldAccount]: ...

    def held_classes(self, district_id: str) -> Iterable[HeldClass]: ...

    def held_enrollments(self, district_id: str) -> Iterable[HeldEnrollment]: ...

    def held_schools(self, district_id: str) -> Iterable[HeldSchool]: ...

    def reservations(self, usernames_norm: Iterable[str]) -> Mapping[str, Reservation]:
        """The reservations that exist for these normalised usernames (absent = free)."""
        ...


@dataclass(slots=True)
class Holdings:
    district_id: str
    accounts: list[HeldAccount] = field(default_factory=list)
    classes: list[HeldClass] = field(default_factory=list)
    enrollments: list[HeldEnrollment] = field(default_factory=list)
    schools: list[HeldSchool] = field(default_factory=list)
    # Reservations of usernames in the snapshot that this district's accounts do not hold.
    reservations: dict[str, Reservation] = field(default_factory=dict)
    # R18 targeted delta (``sync.delta_reads``): the items around the delta's records, read by key,
    # not the whole district. The planner then keeps a held live student in scope (R3) and a held
    # live class's teacher (R8) on the strength of the last full sync, which judged them on every
    # enrolment (these holdings have only the delta's), and the guard (R10) compares with
    # ``totals``: the district's active accounts, classes and enrolments at its last full sync.
    partial: bool = False
    totals: dict[str, int] = field(default_factory=dict)
    # R18 targeted delta: sourcedIds of the delta's enrolments found held, live and unchanged (their
    # digest): they plan ``unchanged`` without their user and class being read.
    settled: frozenset[str] = frozenset()


def gather(view: RosterView, district_id: str, snapshot: RosterSnapshot) -> Holdings:
    """Read what the planner needs: the district's items and one batch lookup of reservations.

    A username beyond the platform's limits (R4, ``rules.limits``) is not looked up: the planner
    skips its user, and a 10 KB key (or one DynamoDB cannot encode) would fail the whole batch."""
    holdings = Holdings(
        district_id=district_id,
        accounts=list(view.held_accounts(district_id)),
        classes=list(view.held_classes(district_id)),
        enrollments=list(view.held_enrollments(district_id)),
        schools=list(view.held_schools(district_id)),
    )
    wanted = usernames_to_look_up(snapshot, {a.username_norm for a in holdings.accounts})
    if wanted:
        holdings.reservations = dict(view.reservations(wanted))
    return holdings


def usernames_to_look_up(snapshot: RosterSnapshot, own: set[str]) -> set[str]:
    """The normalised usernames of the snapshot's users whose reservation (R5) is to be read: not
    those the accounts read already hold (``own``), nor one beyond the platform's limits (R4: the
    planner skips its user, and a 10 KB key, or one DynamoDB cannot encode, would fail the batch)."""
    wanted = set()
    for user in snapshot.users.values():
        username = user.username
        if username is None or username_problem(username) is not None:
            continue
        norm = normalise(username)
        if norm is not None and norm not in own:
            wanted.add(norm)
    return wanted
