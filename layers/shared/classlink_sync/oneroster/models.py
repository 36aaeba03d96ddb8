"""Pydantic v2 models of OneRoster 1.1 records, tolerant of real servers (SPEC §1), and their
conversion to the compact records of ``records.py``.

Quirks accepted: booleans as ``"true"``/``"TRUE"``/``"false"``/bool; empty or blank strings as
null; ``subjects``/``grades`` as a list or a comma-separated string; enumerations in any case;
unknown fields ignored; status ``inactive`` -> ``tobedeleted`` and blank -> ``active``; references
as ``{href, sourcedId, type}`` or a bare id; dates as date or date-time (kept as ``YYYY-MM-DD``);
numbers where strings are meant. ``metadata`` is never read (R4); password, phone, sms and
demographics are never modelled, so never kept (R15).

``parse_page`` validates a whole page in one call and, only when that fails, record by record, so
one bad record becomes a ``Rejected`` naming its sourcedId and field and never fails its page.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from .records import (
    ACTIVE,
    TOBEDELETED,
    AcademicSessionRecord,
    ClassRecord,
    CourseRecord,
    EnrollmentRecord,
    OrgRecord,
    Record,
    Rejected,
    UserRecord,
)

_intern = sys.intern
_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:$|[T ])")
_STATUS = {"active": ACTIVE, "tobedeleted": TOBEDELETED, "inactive": TOBEDELETED}


def _status(value: Any) -> str:
    if value is None:
        return ACTIVE
    if not isinstance(value, str):
        raise ValueError(f"status must be a string, got {type(value).__name__}")
    status = _STATUS.get(value.strip().lower())
    if status is None:
        raise ValueError(f"status must be active or tobedeleted (or inactive), not {value!r}")
    return status


def _lower(value: str | None) -> str | None:
    return None if value is None else _intern(value.strip().lower())


def _intern_opt(value: str | None) -> str | None:
    return None if value is None else _intern(value)


def _date(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _intern(value.date().isoformat())
    if isinstance(value, date):
        return _intern(value.isoformat())
    if isinstance(value, str):
        match = _DATE.match(value)
        if match:
            text = match.group(1)
            date.fromisoformat(text)  # a real calendar date, or ValueError
            return _intern(text)
    raise ValueError(f"expected a date (YYYY-MM-DD) or a date-time, got {value!r}")


def _id_text(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return _intern(value) if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return _intern(str(value))
    raise ValueError(f"expected a sourcedId string, got {type(value).__name__}")


def _ref(value: Any) -> str | None:
    """A GUIDRef ``{href, sourcedId, type}`` (or a bare id) -> the referenced sourcedId."""
    if value is None:
        return None
    if isinstance(value, dict):
        sourced_id = value.get("sourcedId")
        if sourced_id is not None and sourced_id != "":
            return _id_text(sourced_id)
        href = value.get("href")
        if isinstance(href, str) and href.strip("/ "):
            return _id_text(href.rstrip("/ ").rsplit("/", 1)[-1])
        return None
    return _id_text(value)


def _refs(value: Any) -> tuple[str, ...]:
    """A list of GUIDRefs (or one, or a comma-separated string of ids) -> ids, in order."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    elif not isinstance(value, list):
        value = [value]
    ids = (_ref(item) for item in value)
    return tuple(i for i in ids if i is not None)


def _strings(value: Any) -> tuple[str, ...]:
    """A list of strings or a comma-separated string (``"09,10"``, ``"Science, Physics"``)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    elif not isinstance(value, list):
        raise ValueError(f"expected a list or a comma-separated string, got {type(value).__name__}")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValueError(f"expected strings in the list, got {type(item).__name__}")
        text = str(item).strip()
        if text:
            out.append(_intern(text))
    return tuple(out)


Status = Annotated[str, BeforeValidator(_status)]
Lower = Annotated[str | None, AfterValidator(_lower)]
Date = Annotated[str | None, BeforeValidator(_date)]
Ref = Annotated[str | None, BeforeValidator(_ref)]
Refs = Annotated[tuple[str, ...], BeforeValidator(_refs)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]


def _drop_blanks(data: Any) -> Any:
    """Empty or blank strings mean null (SPEC §1): drop them so defaults apply."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
    return data


class _Base(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        alias_generator=to_camel,
        coerce_numbers_to_str=True,
        str_strip_whitespace=True,
    )
    collection: ClassVar[str]

    sourced_id: str  # interned by to_record for the kinds others refer to (not enrollments)
    status: Status = ACTIVE

    _blanks_are_null = model_validator(mode="before")(staticmethod(_drop_blanks))

    def to_record(self, tuples: Callable[[tuple[str, ...]], tuple[str, ...]]) -> Record:
        raise NotImplementedError


class OrgModel(_Base):
    collection: ClassVar[str] = "orgs"
    name: str | None = None
    type: Lower = None
    identifier: str | None = None
    parent: Ref = None

    def to_record(self, tuples: Callable[[tuple[str, ...]], tuple[str, ...]]) -> OrgRecord:
        return OrgRecord(
            _intern(self.sourced_id), self.status, self.name, self.type, self.identifier, self.parent
        )


class AcademicSessionModel(_Base):
    collection: ClassVar[str] = "academicSessions"
    title: str | None = None
    type: Lower = None
    start_date: Date = None
    end_date: Date = None
    parent: Ref = None
    school_year: Annotated[str | None, AfterValidator(_intern_opt)] = None  # "2023"

    def to_record(self, tuples: Callable[[tuple[str, ...]], tuple[str, ...]]) -> AcademicSessionRecord:
        return AcademicSessionRecord(
            _intern(self.sourced_id),
            self.status,
            self.title,
            self.type,
            self.start_date,
            self.end_date,
            self.parent,
            self.school_year,
        )


class CourseModel(_Base):
    collection: ClassVar[str] = "courses"
    title: str | None = None
    course_code: str | None = None
    school_year: Ref = None  # a GUIDRef to the school-year session in 1.1
    org: Ref = None
    subjects: Strings = ()

    def to_record(self, tuples: Callable[[tuple[str, ...]], tuple[str, ...]]) -> CourseRecord:
        return CourseRecord(
            _intern(self.sourced_id),
            self.status,
            self.title,
            self.course_code,
            self.school_year,
            self.org,
            tuples(self.subjects),
        )


class ClassModel(_Base):
    collection: ClassVar[str] = "classes"
    title: str | None = None
    class_code: str | None = None
    class_type: Lower = None
    school: Ref = None
    course: Ref = None
    terms: Refs = ()
    subjects: Strings = ()
    grades: Strings = ()

    def to_record(self, tuples: Callable[[tuple[str, ...]], tuple[str, ...]]) -> ClassRecord:
        return ClassRecord(
            _intern(self.sourced_id),
            self.status,
            self.title,
            self.class_code,
            self.class_type,
            self.school,
            self.course,
            tuples(self.terms),
            tuples(self.subjects),
            tuples(self.grades),
        )


class UserModel(_Base):
    collection: ClassVar[str] = "users"
    username: str | None = None
    enabled_user: bool | None = None
    given_name: str | None = None
    family_name: str | None = None
    role: Lower = None
    email: str | None = None
    identifier: str | None = None
    orgs: Refs = ()
    grades: Strings = ()

    def to_record(self, tuples: Callable[[tuple[str, ...]], tuple[str, ...]]) -> UserRecord:
        return UserRecord(
            _intern(self.sourced_id),
            self.status,
            self.username,
            True if self.enabled_user is None else self.enabled_user,
            self.given_name,
            self.family_name,
            self.role,
            self.email,
            self.identifier,
            tuples(self.orgs),
            tuples(self.grades),
        )


class EnrollmentModel(_Base):
    collection: ClassVar[str] = "enrollments"
    user: Ref = None
    class_: Ref = Field(default=None, alias="class")
    school: Ref = None
    role: Lower = None
    primary: bool | None = None
    begin_date: Date = None
    end_date: Date = None

    def to_record(self, tuples: Callable[[tuple[str, ...]], tuple[str, ...]]) -> EnrollmentRecord:
        return EnrollmentRecord(
            self.sourced_id,
            self.status,
            self.user,
            self.class_,
            self.school,
            self.role,
            bool(self.primary),
            self.begin_date,
            self.end_date,
        )


# Collection path (last segment) -> (model, the envelope key servers normally use).
COLLECTIONS: dict[str, tuple[type[_Base], str]] = {
    "orgs": (OrgModel, "orgs"),
    "schools": (OrgModel, "orgs"),
    "academicSessions": (AcademicSessionModel, "academicSessions"),
    "terms": (AcademicSessionModel, "academicSessions"),
    "gradingPeriods": (AcademicSessionModel, "academicSessions"),
    "courses": (CourseModel, "courses"),
    "classes": (ClassModel, "classes"),
    "users": (UserModel, "users"),
    "teachers": (UserModel, "users"),
    "students": (UserModel, "users"),
    "enrollments": (EnrollmentModel, "enrollments"),
}


def collection_info(path: str) -> tuple[type[_Base], str]:
    """The model and envelope key for a collection path such as ``users`` or ``schools/7/classes``."""
    last = path.strip("/").rsplit("/", 1)[-1]
    try:
        return COLLECTIONS[last]
    except KeyError:
        raise ValueError(
            f"unsupported OneRoster collection {path!r}; supported: {', '.join(COLLECTIONS)}"
            " (demographics are never read, SPEC R15)"
        ) from None


class TupleInterner:
    """Shares equal tuples of ids (a class's terms, a user's orgs and grades) between records."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, ...], tuple[str, ...]] = {(): ()}

    def __call__(self, value: tuple[str, ...]) -> tuple[str, ...]:
        return self._seen.setdefault(value, value)


_ADAPTERS: dict[type[_Base], TypeAdapter[list[Any]]] = {}


def _adapter(model: type[_Base]) -> TypeAdapter[list[Any]]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return adapter


def _rejection(collection: str, item: Any, error: ValidationError) -> Rejected:
    sourced_id = None
    if isinstance(item, dict):
        raw = item.get("sourcedId")
        if isinstance(raw, str | int) and not isinstance(raw, bool) and str(raw).strip():
            sourced_id = str(raw).strip()
    first = error.errors(include_url=False)[0]
    loc = first.get("loc") or ()
    field = str(loc[0]) if loc else "record"
    if first.get("type") == "model_type":
        field = "record"
    message = "missing or empty" if first.get("type") == "missing" else first.get("msg", "invalid")
    return Rejected(collection, sourced_id, field, f"{field}: {message}")


def parse_page(
    path: str,
    items: Iterable[Any],
    tuples: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
) -> tuple[list[Record], list[Rejected]]:
    """Validate one page of raw records into compact records and rejections (SPEC §1, R4, R15)."""
    model, collection = collection_info(path)
    tuples = tuples or TupleInterner()
    items = list(items)
    try:
        models = _adapter(model).validate_python(items)
    except ValidationError:
        records: list[Record] = []
        rejected: list[Rejected] = []
        for item in items:
            try:
                records.append(model.model_validate(item).to_record(tuples))
            except ValidationError as exc:
                rejected.append(_rejection(collection, item, exc))
        return records, rejected
    return [m.to_record(tuples) for m in models], []
