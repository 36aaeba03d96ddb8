"""Record models: real-world quirks (SPEC §1), R4 (no metadata), R15 (no passwords), rejections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from classlink_sync.oneroster.models import UserModel, parse_page
from classlink_sync.oneroster.records import (
    ACTIVE,
    TOBEDELETED,
    ClassRecord,
    CourseRecord,
    EnrollmentRecord,
    OrgRecord,
    UserRecord,
)

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "oneroster-json"
REF = {"href": "https://x/ims/oneroster/v1p1/orgs/sch-1", "sourcedId": "sch-1", "type": "org"}


def one(collection: str, raw: dict) -> object:
    records, rejected = parse_page(collection, [raw])
    assert not rejected, rejected
    return records[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        (True, True),
        ("false", False),
        ("FALSE", False),
        (False, False),
        ("", True),
        (None, True),
    ],
)
def test_enabled_user_accepts_strings_and_bools(raw: object, expected: bool) -> None:
    record = one("users", {"sourcedId": "u1", "enabledUser": raw})
    assert isinstance(record, UserRecord) and record.enabled is expected


def test_enabled_user_missing_means_enabled() -> None:
    assert one("users", {"sourcedId": "u1"}).enabled is True


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False), (True, True), ("", False)])
def test_primary_accepts_strings_and_bools(raw: object, expected: bool) -> None:
    record = one("enrollments", {"sourcedId": "e1", "primary": raw})
    assert isinstance(record, EnrollmentRecord) and record.primary is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("active", ACTIVE),
        ("ACTIVE", ACTIVE),
        ("tobedeleted", TOBEDELETED),
        ("toBeDeleted", TOBEDELETED),
        ("inactive", TOBEDELETED),
        ("", ACTIVE),
        ("  ", ACTIVE),
        (None, ACTIVE),
    ],
)
def test_R9_status_inactive_means_tobedeleted_and_blank_means_active(raw: object, expected: str) -> None:
    assert one("classes", {"sourcedId": "c1", "status": raw}).status == expected


def test_unknown_status_is_rejected_naming_the_field() -> None:
    records, rejected = parse_page("users", [{"sourcedId": "u1", "status": "deleted"}])
    assert records == []
    assert (rejected[0].sourced_id, rejected[0].field) == ("u1", "status")


def test_empty_strings_are_null() -> None:
    record = one("users", {"sourcedId": "u1", "username": "", "email": " ", "givenName": "", "orgs": ""})
    assert (record.username, record.email, record.given_name, record.org_ids) == (None, None, None, ())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["French", "Spanish"], ("French", "Spanish")),
        ("Science, Physics, Biology", ("Science", "Physics", "Biology")),
        ("French", ("French",)),
        ([], ()),
        (None, ()),
    ],
)
def test_subjects_as_list_or_comma_separated_string(raw: object, expected: tuple) -> None:
    record = one("classes", {"sourcedId": "c1", "subjects": raw, "grades": "09,10,11"})
    assert isinstance(record, ClassRecord)
    assert record.subjects == expected
    assert record.grades == ("09", "10", "11")


@pytest.mark.parametrize("raw", ["Homeroom", "HOMEROOM", "homeroom", " homeRoom "])
def test_class_type_any_case(raw: str) -> None:
    assert one("classes", {"sourcedId": "c1", "classType": raw}).class_type == "homeroom"


@pytest.mark.parametrize(("role", "org_type"), [("Teacher", "School"), ("TEACHER", "SCHOOL"), ("teacher", "school")])
def test_role_and_org_type_any_case(role: str, org_type: str) -> None:
    assert one("users", {"sourcedId": "u1", "role": role}).role == "teacher"
    assert one("enrollments", {"sourcedId": "e1", "role": role}).role == "teacher"
    assert one("orgs", {"sourcedId": "o1", "type": org_type}).type == "school"


def test_unknown_fields_are_ignored() -> None:
    record = one("users", {"sourcedId": "u1", "username": "a", "favouriteColour": {"x": [1]}, "extra": None})
    assert record.username == "a"


def test_references_as_guidref_objects_or_bare_ids() -> None:
    record = one(
        "enrollments",
        {
            "sourcedId": "e1",
            "user": {"href": "/users/u1", "sourcedId": "u1", "type": "user"},
            "class": "c1",
            "school": {"href": "https://x/orgs/sch-1", "type": "org"},
        },
    )
    assert (record.user_id, record.class_id, record.school_id) == ("u1", "c1", "sch-1")
    user = one("users", {"sourcedId": "u1", "orgs": [REF, "sch-2", {"sourcedId": 3}]})
    assert user.org_ids == ("sch-1", "sch-2", "3")
    klass = one(
        "classes",
        {
            "sourcedId": "c1",
            "terms": [{"sourcedId": "t1"}, {"sourcedId": "t2"}],
            "course": {"sourcedId": "co1"},
            "school": REF,
        },
    )
    assert (klass.term_ids, klass.course_id, klass.school_id) == (("t1", "t2"), "co1", "sch-1")
    course = one("courses", {"sourcedId": "co1", "org": REF, "schoolYear": {"sourcedId": "sy-2026"}})
    assert isinstance(course, CourseRecord) and (course.org_id, course.school_year) == ("sch-1", "sy-2026")
    org = one("orgs", {"sourcedId": "sch-1", "type": "school", "parent": {"sourcedId": "dist-1"}})
    assert isinstance(org, OrgRecord) and org.parent_id == "dist-1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-09-01", "2026-09-01"),
        ("2026-09-01T00:00:00Z", "2026-09-01"),
        ("2026-09-01T18:25:43.511Z", "2026-09-01"),
        ("", None),
        (None, None),
    ],
)
def test_dates_as_date_or_date_time(raw: object, expected: str | None) -> None:
    assert one("enrollments", {"sourcedId": "e1", "beginDate": raw, "endDate": raw}).begin_date == expected
    assert one("academicSessions", {"sourcedId": "t1", "startDate": raw}).start_date == expected


@pytest.mark.parametrize("raw", ["next monday", "2026-13-01", 20260901, ["2026-09-01"]])
def test_impossible_dates_are_rejected_naming_the_field(raw: object) -> None:
    _, rejected = parse_page("enrollments", [{"sourcedId": "e1", "endDate": raw}])
    assert (rejected[0].sourced_id, rejected[0].field) == ("e1", "endDate")


def test_numbers_where_strings_are_meant() -> None:
    record = one("users", {"sourcedId": 18125, "identifier": 17580, "grades": [11], "orgs": [{"sourcedId": 2}]})
    assert (record.sourced_id, record.identifier, record.grades, record.org_ids) == (
        "18125",
        "17580",
        ("11",),
        ("2",),
    )


def test_R4_metadata_is_never_read() -> None:
    record = one("users", {"sourcedId": "u1", "metadata": {"username": "from-metadata", "role": "teacher"}})
    assert record.username is None and record.role is None
    assert "metadata" not in UserModel.model_fields


def test_R15_password_phone_sms_never_kept() -> None:
    raw = {
        "sourcedId": "u1",
        "username": "a",
        "password": "pw-123",
        "phone": "5551234567",
        "sms": "5557654321",
        "demographics": {"birthDate": "2010-01-01"},
    }
    record = one("users", raw)
    kept = {name: getattr(record, name) for name in record.__slots__}
    assert not {"password", "phone", "sms", "demographics"} & set(kept)
    assert not any(value in {"pw-123", "5551234567", "5557654321"} for value in kept.values())
    model = UserModel.model_validate(raw)
    assert not {"password", "phone", "sms"} & set(model.model_dump())


def test_demographics_collection_is_never_read() -> None:
    with pytest.raises(ValueError, match="R15"):
        parse_page("demographics", [])


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"username": "no-id"}, "sourcedId"),
        ({"sourcedId": ""}, "sourcedId"),
        ({"sourcedId": {"a": 1}}, "sourcedId"),
        ({"sourcedId": "u9", "enabledUser": "perhaps"}, "enabledUser"),
        ({"sourcedId": "u9", "orgs": 3.5}, "orgs"),
        ({"sourcedId": "u9", "givenName": {"first": "A"}}, "givenName"),
        ({"sourcedId": "u9", "grades": {"g": 1}}, "grades"),
        ("not an object", "record"),
        (None, "record"),
    ],
)
def test_R4_unusable_record_is_rejected_alone_naming_id_and_field(raw: object, field: str) -> None:
    good = [{"sourcedId": "u1"}, {"sourcedId": "u2"}]
    records, rejected = parse_page("users", [good[0], raw, good[1]])
    assert [r.sourced_id for r in records] == ["u1", "u2"]
    assert len(rejected) == 1
    assert rejected[0].collection == "users" and rejected[0].field == field
    expected_id = raw.get("sourcedId") if isinstance(raw, dict) and isinstance(raw.get("sourcedId"), str) else None
    assert rejected[0].sourced_id == (expected_id or None)
    assert rejected[0].message.startswith(field)


def test_reference_ids_are_interned_and_tuples_shared() -> None:
    page = [
        {"sourcedId": f"e{i}", "user": {"sourcedId": "u" + "1"}, "class": {"sourcedId": "".join(["c", "1"])}}
        for i in range(3)
    ]
    records, _ = parse_page("enrollments", json.loads(json.dumps(page)))
    assert records[0].user_id is records[1].user_id is records[2].user_id
    assert records[0].class_id is records[2].class_id
    users, _ = parse_page(
        "users",
        json.loads(
            json.dumps(
                [
                    {"sourcedId": "a", "orgs": [REF], "grades": ["09"]},
                    {"sourcedId": "b", "orgs": [REF], "grades": ["09"]},
                ]
            )
        ),
    )
    assert users[0].org_ids is users[1].org_ids and users[0].grades is users[1].grades


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_every_json_fixture_parses_each_record_or_rejects_it_with_a_reason(path: Path) -> None:
    data = json.loads(path.read_text())
    assert data, path
    for collection, items in data.items():
        records, rejected = parse_page(collection, items)
        assert len(records) + len(rejected) == len(items)
        assert all(r.field and r.message for r in rejected)
        if path.name == "classlink-users-sample.json":
            assert rejected == []
            by_id = {r.sourced_id: r for r in records}
            assert by_id["19529"].family_name == "REYES GARCIA"
            assert all(r.enabled is True and r.role == "student" and r.org_ids == ("2",) for r in records)
