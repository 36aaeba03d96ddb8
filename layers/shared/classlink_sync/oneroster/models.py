"""Pydantic v2 models of OneRoster 1.1 records, tolerant of real servers (SPEC §1), and their
conversion to the compact records of ``records.py``.

Quirks accepted: booleans as ``"true"``/``"TRUE"``/``"false"``/bool; empty or blank strings as
null; ``subjects``/``grades`` as a list or a comma-separated string; enumerations in any case;
unknown fields ignored; status ``inactive`` -> ``tobedeleted`` and blank -> ``active``; references
as ``{href, sourcedId, type}`` or a bare id; dates as date or date-time (kept as ``YYYY-MM-DD``);
numbers where strings are meant. ``metadata`` is never read (R4); password, phone, sms and
demographics are never modelled, so never kept (R15).

``parse_page`` builds each record of the common, well-formed shape directly (the fast path, ~2.7x
cheaper in CPU than pydantic, same results: tests/unit/oneroster/test_models_fast_path.py)
and sends any other record through its pydantic model, which stays the source of truth for
quirks, so one bad record becomes a ``Rejected`` naming its sourcedId and field and never fails
its page.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
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
        return OrgRecord(_intern(self.sourced_id), self.status, self.name, self.type, self.identifier, self.parent)


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


# -- the fast path ------------------------------------------------------------------------------
# Nearly every record of a real page has the common, well-formed shape: plain strings without edge
# whitespace, GUIDRef objects, ``"true"``/``"false"`` booleans, ``YYYY-MM-DD`` dates. For those,
# ``_fast_*`` below build the compact record directly, field by field, and give exactly what the
# model would. Anything else (a number where a string is meant, a string with edge whitespace or
# an invalid code point, a comma-separated list, a bare-href reference, an unknown spelling of a
# status or boolean, an impossible date, a missing sourcedId...) raises ``_Slow`` and the whole
# record goes through its pydantic model, which stays the one source of truth for quirks and for
# the ``Rejected`` naming sourcedId and field. Like the models, the fast path reads only the
# standard fields: never ``metadata`` (R4), never password, phone or sms (R15).


class _Slow(Exception):
    """The record is not of the common shape: validate it with its model instead."""


def _no_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False  # lone surrogates: pydantic rejects them as "not a valid string"
    return True


def _text(value: Any) -> str | None:
    """An optional string field: the value as is, or None when missing, null or blank."""
    if value.__class__ is str:
        if value.strip() == value:  # no edge whitespace, so pydantic's strip changes nothing
            if value.isascii() or _no_surrogates(value):
                return value or None
        elif not value.strip():
            return None  # blank means null (_drop_blanks)
    elif value is None:
        return None
    raise _Slow


def _shared_text(value: Any) -> str | None:
    """An optional string that repeats across records (names, titles, course codes): interned, so
    equal values share one object, as pydantic's string cache made them share before."""
    text = _text(value)
    return None if text is None else _intern(text)


def _own_id(value: Any) -> str:
    """The record's own sourcedId: a clean, non-empty string."""
    if value.__class__ is str and value and value.strip() == value and (value.isascii() or _no_surrogates(value)):
        return value
    raise _Slow


def _enumeration(value: Any) -> str | None:
    """An enumeration (role, type, classType): lower case, interned; the few spellings are cached."""
    if value.__class__ is str:
        lower = _LOWER_CASE.get(value)
        if lower is not None:
            return lower
    text = _text(value)
    if text is None:
        return None
    lower = _intern(text.lower())
    if len(_LOWER_CASE) < 1_000:
        _LOWER_CASE[text] = lower
    return lower


_LOWER_CASE: dict[str, str] = {}  # clean spelling -> lower case, interned (bounded)


def _record_status(value: Any) -> str:
    """``status``: the usual spellings of active, tobedeleted and inactive (SPEC §1), or blank."""
    if value is None:
        return ACTIVE
    if value.__class__ is str:
        status = _STATUS_EXACT.get(value)
        if status is not None:
            return status
        if not value.strip():
            return ACTIVE  # blank: the default
    raise _Slow


_STATUS_EXACT = {
    spelling: status
    for word, status in _STATUS.items()
    for spelling in {word, word.upper(), word.capitalize(), {"tobedeleted": "toBeDeleted"}.get(word, word)}
}


def _boolean(value: Any) -> bool | None:
    """``enabledUser``, ``primary``: a bool or ``"true"``/``"TRUE"``/``"false"``...; None if missing."""
    if value is True or value is False:
        return value
    if value.__class__ is str:
        flag = _BOOLEANS.get(value)
        if flag is not None:
            return flag
        if not value.strip():
            return None
    elif value is None:
        return None
    raise _Slow


_BOOLEANS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


def _iso_date(value: Any) -> str | None:
    """A ``YYYY-MM-DD`` date or a date-time string -> the date, interned; None if missing or blank."""
    if value.__class__ is str:
        text = _DATES.get(value)  # the common case: a plain date seen before
        if text is not None:
            return text
        if len(value) == 10 or (len(value) > 10 and value[10] in "T "):
            text = _DATES.get(value[:10])
            if text is not None:
                return text
            text = value[:10]
            if _PLAIN_DATE.fullmatch(text):
                try:
                    date.fromisoformat(text)
                except ValueError:
                    raise _Slow from None
                text = _intern(text)
                if len(_DATES) < 10_000:
                    _DATES[text] = text
                return text
        elif not value.strip():
            return None
    elif value is None:
        return None
    raise _Slow


_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATES: dict[str, str] = {}  # valid dates seen, interned (bounded)


def _one_ref(value: Any) -> str:
    """A GUIDRef object whose sourcedId is a clean string -> that id, interned."""
    if value.__class__ is dict:
        sourced_id = value.get("sourcedId")
        if (
            sourced_id.__class__ is str
            and sourced_id
            and sourced_id.strip() == sourced_id
            and (sourced_id.isascii() or _no_surrogates(sourced_id))
        ):
            return _intern(sourced_id)
    raise _Slow


def _ref_id(value: Any) -> str | None:
    """An optional reference: a GUIDRef object or a bare id -> the id, interned; None if missing."""
    if value.__class__ is dict:  # _one_ref, inlined: three of these a record on enrollments
        sourced_id = value.get("sourcedId")
        if (
            sourced_id.__class__ is str
            and sourced_id
            and sourced_id.strip() == sourced_id
            and (sourced_id.isascii() or _no_surrogates(sourced_id))
        ):
            return _intern(sourced_id)
        raise _Slow
    text = _text(value)  # a bare id, or missing/null/blank
    return None if text is None else _intern(text)


def _ref_ids(value: Any) -> tuple[str, ...]:
    """A list of GUIDRef objects -> their ids, in order; () if missing."""
    if value.__class__ is list:
        if len(value) == 1:  # the usual case (a user's one school, a class's one term)
            return (_one_ref(value[0]),)
        return tuple([_one_ref(item) for item in value])
    if value is None or value == "":
        return ()
    raise _Slow


def _string_list(value: Any) -> tuple[str, ...]:
    """``subjects``, ``grades``: a list of clean strings, or one string without a comma."""
    if value.__class__ is list:
        out = []
        for item in value:
            if item.__class__ is not str or not item or item.strip() != item:
                raise _Slow
            if not item.isascii() and not _no_surrogates(item):
                raise _Slow
            out.append(_intern(item))
        return tuple(out)
    if value.__class__ is str and "," not in value:
        text = _text(value)
        return () if text is None else (_intern(text),)
    if value is None:
        return ()
    raise _Slow


Tuples = Callable[[tuple[str, ...]], tuple[str, ...]]


# The records are frozen dataclasses (nothing downstream may change what ClassLink said), and a
# frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``: about
# 1 µs a record, a fifth of the fast path. So ``_fast_*`` fill a *draft* instead, a plain class
# with exactly the record's slots whose attributes Python sets directly, then make it the record by
# assigning ``__class__`` (Python allows it between classes of the same slot layout). What comes
# out is an ordinary record of ``records.py``: ``type(r) is UserRecord``, equal to and hashing like
# ``UserRecord(...)`` with the same values, and frozen. A field a ``_fast_*`` left unset would be
# an empty slot; the fast-path tests compare every field with the model's record.


def _draft_class(record_class: type[Any]) -> Any:
    """A mutable class with the slots of ``record_class``, a frozen, slotted dataclass without
    ``__post_init__`` (nothing to skip by not calling ``__init__``); checked at import."""
    names = tuple(f.name for f in fields(record_class))
    if getattr(record_class, "__slots__", None) != names or hasattr(record_class, "__post_init__"):
        raise TypeError(f"{record_class.__name__} must be a slotted dataclass without __post_init__")
    draft = type(f"{record_class.__name__}Draft", (), {"__slots__": names, "__module__": __name__})
    trial = draft()
    trial.__class__ = record_class  # TypeError here if the layouts ever differ
    return draft


_OrgDraft = _draft_class(OrgRecord)
_SessionDraft = _draft_class(AcademicSessionRecord)
_CourseDraft = _draft_class(CourseRecord)
_ClassDraft = _draft_class(ClassRecord)
_UserDraft = _draft_class(UserRecord)
_EnrollmentDraft = _draft_class(EnrollmentRecord)


def _fast_org(raw: dict[str, Any], tuples: Tuples) -> OrgRecord:
    get = raw.get
    org = _OrgDraft()
    org.sourced_id = _intern(_own_id(get("sourcedId")))
    org.status = _record_status(get("status"))
    org.name = _text(get("name"))
    org.type = _enumeration(get("type"))
    org.identifier = _text(get("identifier"))
    org.parent_id = _ref_id(get("parent"))
    org.__class__ = OrgRecord
    return org


def _fast_session(raw: dict[str, Any], tuples: Tuples) -> AcademicSessionRecord:
    get = raw.get
    session = _SessionDraft()
    session.sourced_id = _intern(_own_id(get("sourcedId")))
    session.status = _record_status(get("status"))
    session.title = _text(get("title"))
    session.type = _enumeration(get("type"))
    session.start_date = _iso_date(get("startDate"))
    session.end_date = _iso_date(get("endDate"))
    session.parent_id = _ref_id(get("parent"))
    session.school_year = _shared_text(get("schoolYear"))  # "2026"
    session.__class__ = AcademicSessionRecord
    return session


def _fast_course(raw: dict[str, Any], tuples: Tuples) -> CourseRecord:
    get = raw.get
    course = _CourseDraft()
    course.sourced_id = _intern(_own_id(get("sourcedId")))
    course.status = _record_status(get("status"))
    course.title = _shared_text(get("title"))
    course.course_code = _shared_text(get("courseCode"))
    course.school_year = _ref_id(get("schoolYear"))
    course.org_id = _ref_id(get("org"))
    course.subjects = tuples(_string_list(get("subjects")))
    course.__class__ = CourseRecord
    return course


def _fast_class(raw: dict[str, Any], tuples: Tuples) -> ClassRecord:
    get = raw.get
    class_ = _ClassDraft()
    class_.sourced_id = _intern(_own_id(get("sourcedId")))
    class_.status = _record_status(get("status"))
    class_.title = _shared_text(get("title"))
    class_.class_code = _text(get("classCode"))
    class_.class_type = _enumeration(get("classType"))
    class_.school_id = _ref_id(get("school"))
    class_.course_id = _ref_id(get("course"))
    class_.term_ids = tuples(_ref_ids(get("terms")))
    class_.subjects = tuples(_string_list(get("subjects")))
    class_.grades = tuples(_string_list(get("grades")))
    class_.__class__ = ClassRecord
    return class_


def _fast_user(raw: dict[str, Any], tuples: Tuples) -> UserRecord:
    get = raw.get
    user = _UserDraft()
    user.sourced_id = _intern(_own_id(get("sourcedId")))
    user.status = _record_status(get("status"))
    user.username = _text(get("username"))
    enabled = _boolean(get("enabledUser"))
    user.enabled = True if enabled is None else enabled
    user.given_name = _shared_text(get("givenName"))
    user.family_name = _shared_text(get("familyName"))
    user.role = _enumeration(get("role"))
    user.email = _text(get("email"))
    user.identifier = _text(get("identifier"))
    user.org_ids = tuples(_ref_ids(get("orgs")))
    user.grades = tuples(_string_list(get("grades")))
    user.__class__ = UserRecord
    return user


def _fast_enrollment(raw: dict[str, Any], tuples: Tuples) -> EnrollmentRecord:
    get = raw.get
    enrollment = _EnrollmentDraft()
    enrollment.sourced_id = _own_id(get("sourcedId"))  # not interned: nothing refers to an enrollment
    enrollment.status = _record_status(get("status"))
    enrollment.user_id = _ref_id(get("user"))
    enrollment.class_id = _ref_id(get("class"))
    enrollment.school_id = _ref_id(get("school"))
    enrollment.role = _enumeration(get("role"))
    enrollment.primary = bool(_boolean(get("primary")))
    enrollment.begin_date = _iso_date(get("beginDate"))
    enrollment.end_date = _iso_date(get("endDate"))
    enrollment.__class__ = EnrollmentRecord
    return enrollment


_FAST: dict[type[_Base], Callable[[dict[str, Any], Tuples], Record]] = {
    OrgModel: _fast_org,
    AcademicSessionModel: _fast_session,
    CourseModel: _fast_course,
    ClassModel: _fast_class,
    UserModel: _fast_user,
    EnrollmentModel: _fast_enrollment,
}


def _slow_record(model: type[_Base], collection: str, item: Any, tuples: Tuples) -> Record | Rejected:
    """One record through its pydantic model: the compact record, or why it was rejected."""
    try:
        return model.model_validate(item).to_record(tuples)
    except ValidationError as exc:
        return _rejection(collection, item, exc)


def _rejection(collection: str, item: Any, error: ValidationError) -> Rejected:
    sourced_id = None
    if isinstance(item, dict):
        raw = item.get("sourcedId")
        # The id as the model reads it (numbers as text, as ``coerce_numbers_to_str`` makes them),
        # so a rejected record we hold is recognised and kept (R9), not taken for absent.
        if isinstance(raw, str | int | float) and not isinstance(raw, bool) and str(raw).strip():
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
    tuples: Tuples | None = None,
    *,
    fast: bool = True,
) -> tuple[list[Record], list[Rejected]]:
    """Validate one page of raw records into compact records and rejections (SPEC §1, R4, R15).

    Each record takes the fast path when it has the common shape, else its pydantic model (which
    names the sourcedId and field of a record it rejects). ``fast=False`` sends every record
    through its model: the reference the fast path is tested against.
    """
    model, collection = collection_info(path)
    tuples = tuples or TupleInterner()
    build = _FAST[model] if fast else None
    records: list[Record] = []
    rejected: list[Rejected] = []
    keep = records.append
    for item in items:
        if build is not None and item.__class__ is dict:
            try:
                keep(build(item, tuples))
                continue
            except Exception:  # nosec B110 # _Slow, or any surprise: the model below decides (and names the field)
                pass
        result = _slow_record(model, collection, item, tuples)
        if isinstance(result, Rejected):
            rejected.append(result)
        else:
            keep(result)
    return records, rejected
