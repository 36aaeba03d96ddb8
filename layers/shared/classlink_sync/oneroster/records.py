"""Compact OneRoster records: what the client hands on and the planner reads.

The client validates each page with pydantic (``oneroster.models``) and keeps only these slotted,
immutable records, with ids interned, so a district of millions of enrolments fits in memory
(DESIGN.md "Memory matters"). Only fields the platform needs are kept (SPEC R15): no passwords,
phone numbers, sms, demographics or metadata.

Conventions, applied by the client so the planner never has to:
- ``status`` is ``"active"`` or ``"tobedeleted"`` (``inactive`` and blank map as SPEC §1 says:
  ``inactive`` -> ``tobedeleted``, blank -> ``active``).
- Empty strings become ``None``; enumerations (``role``, ``type``, ``class_type``) are lower case.
- Dates are ISO ``YYYY-MM-DD`` strings (a date-time is cut to its date) or ``None``.
- References are kept as the referenced sourcedId.
- Required-by-our-rules fields (username, names, role, school...) may be ``None`` here: the
  planner reports them under R4. The client rejects only records it cannot use at all
  (no sourcedId, a field of an impossible type), see ``Rejected``.

The six record classes stay ``@dataclass(slots=True, frozen=True)`` with no ``__post_init__``: the
fast path of ``models.parse_page`` fills a mutable class of the same slots and then gives it the
record's class, without calling ``__init__`` (``models._draft_class`` checks this at import).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIVE = "active"
TOBEDELETED = "tobedeleted"


@dataclass(slots=True, frozen=True)
class OrgRecord:
    sourced_id: str
    status: str
    name: str | None
    type: str | None  # district, school, department, ... (lower case)
    identifier: str | None
    parent_id: str | None


@dataclass(slots=True, frozen=True)
class AcademicSessionRecord:
    sourced_id: str
    status: str
    title: str | None
    type: str | None  # term, semester, schoolyear, gradingperiod (lower case)
    start_date: str | None
    end_date: str | None
    parent_id: str | None
    school_year: str | None


@dataclass(slots=True, frozen=True)
class CourseRecord:
    sourced_id: str
    status: str
    title: str | None
    course_code: str | None
    school_year: str | None  # sourcedId of the school-year session
    org_id: str | None
    subjects: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class ClassRecord:
    sourced_id: str
    status: str
    title: str | None
    class_code: str | None
    class_type: str | None  # homeroom | scheduled (lower case)
    school_id: str | None
    course_id: str | None
    term_ids: tuple[str, ...]
    subjects: tuple[str, ...]
    grades: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class UserRecord:
    sourced_id: str
    status: str
    username: str | None
    enabled: bool  # enabledUser; "true"/"TRUE"/true -> True; missing -> True
    given_name: str | None
    family_name: str | None
    role: str | None  # administrator, aide, guardian, parent, proctor, relative, student, teacher
    email: str | None
    identifier: str | None
    org_ids: tuple[str, ...]
    grades: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class EnrollmentRecord:
    sourced_id: str
    status: str
    user_id: str | None
    class_id: str | None
    school_id: str | None
    role: str | None  # student, teacher, administrator, ... (lower case)
    primary: bool
    begin_date: str | None
    end_date: str | None


Record = OrgRecord | AcademicSessionRecord | CourseRecord | ClassRecord | UserRecord | EnrollmentRecord


@dataclass(slots=True, frozen=True)
class Rejected:
    """A fetched record that could not be used at all; the report shows it (SPEC R4)."""

    collection: str  # "users", "classes", ...
    sourced_id: str | None  # None when the record had none
    field: str  # the offending field ("sourcedId", "enabledUser", ...) or "record"
    message: str  # what is wrong, for a district administrator


@dataclass(slots=True)
class CollectionStatus:
    """How one collection's fetch went (SPEC §1 paging; R9 depends on ``complete``)."""

    name: str
    complete: bool
    received: int  # distinct sourcedIds received (valid and rejected)
    total: int | None  # X-Total-Count, when the server sent one
    reason: str | None = None  # why it is incomplete


@dataclass(slots=True)
class RosterSnapshot:
    """Everything ClassLink said about one district in one fetch, keyed by sourcedId."""

    orgs: dict[str, OrgRecord] = field(default_factory=dict)
    academic_sessions: dict[str, AcademicSessionRecord] = field(default_factory=dict)
    courses: dict[str, CourseRecord] = field(default_factory=dict)
    classes: dict[str, ClassRecord] = field(default_factory=dict)
    users: dict[str, UserRecord] = field(default_factory=dict)
    enrollments: dict[str, EnrollmentRecord] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    collections: dict[str, CollectionStatus] = field(default_factory=dict)
    # R9 proven absence: collection ("users", "classes", "enrollments", "orgs") -> held sourcedIds
    # absent from this complete fetch whose absence could not be confirmed by id (or re-read): the
    # planner withholds their removal and reports them. Filled by the sync service.
    unconfirmed_absent: dict[str, set[str]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True only if every collection was read completely: removals depend on it (R9)."""
        return bool(self.collections) and all(c.complete for c in self.collections.values())

    @property
    def incomplete_reasons(self) -> list[str]:
        return [f"{c.name}: {c.reason}" for c in self.collections.values() if not c.complete]
