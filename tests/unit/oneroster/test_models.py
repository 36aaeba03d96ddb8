"""Record models: real-world quirks (SPEC §1), R4 (no metadata), R15 (no passwords), rejections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classlink_local.emulator.csvload import load_csv_bundle
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

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster-json"
CSV_FIXTURES = FIXTURES.parent / "oneroster-csv"
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


# Records and rejections per JSON fixture (tests/fixtures/README.md).
JSON_COUNTS = {
    "academicSessions.json": (3, []),
    "classes-empty.json": (0, []),
    "classes.json": (5, []),
    "courses.json": (3, []),
    "enrollments.json": (8, [("rv-e-9", "primary")]),
    "orgs.json": (4, []),
    "users.json": (8, []),
}
SINGULAR = {"user": "users", "class": "classes", "org": "orgs"}


def fixture_records(name: str) -> dict[str, object]:
    ((collection, items),) = json.loads((FIXTURES / name).read_text(encoding="utf-8")).items()
    records, rejected = parse_page(collection, items)
    assert rejected == [] or name == "enrollments.json"
    return {r.sourced_id: r for r in records}


def test_every_json_fixture_is_counted() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(JSON_COUNTS)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_every_json_fixture_parses_each_record_or_rejects_it_with_a_reason(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data, path
    expected_records, expected_rejected = JSON_COUNTS[path.name]
    for collection, items in data.items():
        records, rejected = parse_page(collection, items)
        assert len(records) + len(rejected) == len(items)
        assert all(r.field and r.message for r in rejected)
        assert len(records) == expected_records
        assert [(r.sourced_id, r.field) for r in rejected] == expected_rejected


def test_json_users_booleans_strings_numbers_and_names() -> None:
    users = fixture_records("users.json")
    enabled = {sid: u.enabled for sid, u in users.items()}
    # JSON true, "TRUE", JSON false, "false", "true"
    assert (enabled["rv-t-1"], enabled["rv-t-2"], enabled["rv-s-2"], enabled["rv-t-3"], enabled["rv-p-1"]) == (
        True,
        True,
        False,
        False,
        True,
    )
    assert users["rv-t-2"].role == "teacher" and users["rv-s-3"].role == "student"  # "Teacher", "STUDENT"
    assert users["rv-t-2"].org_ids == ("rv-sch-west", "rv-sch-east")
    assert users["rv-s-1"].identifier == "41007"  # a JSON number
    assert users["rv-s-3"].grades == ("07", "08")  # a comma-separated string
    assert (users["rv-s-1"].email, users["rv-s-4"].email) == (None, None)  # "" and " "
    assert users["rv-s-3"].status == "active"  # blank status
    assert users["rv-s-4"].status == "tobedeleted"
    assert (users["rv-t-2"].given_name, users["rv-t-2"].family_name) == ("芳", "王")
    assert (users["rv-t-3"].given_name, users["rv-t-3"].family_name) == ("عمر", "خليل")
    assert (users["rv-s-1"].given_name, users["rv-s-1"].family_name) == ("Inès", "Brûlé")
    assert users["rv-s-2"].family_name == "Peña Ibáñez"


def test_json_users_R4_metadata_and_R15_secrets() -> None:
    users = fixture_records("users.json")
    assert users["rv-s-4"].username is None  # "" in username, the real one only in metadata
    kept = [getattr(u, name) for u in users.values() for name in u.__slots__]
    assert "rla-s4-from-metadata" not in kept and "Ini" not in kept
    assert not any(v in {"5550199001", "not-a-real-password-2"} for v in kept)
    assert users["rv-p-1"].username == "rla-parent-pena"  # unknown favouriteColour ignored


def test_json_classes_class_types_subjects_statuses_and_refs() -> None:
    classes = fixture_records("classes.json")
    assert {sid: c.class_type for sid, c in classes.items()} == {
        "rv-cls-fre2": "scheduled",  # "Scheduled"
        "rv-cls-man": "scheduled",
        "rv-cls-hr": "homeroom",  # "HOMEROOM"
        "rv-cls-spa-old": "homeroom",
        "rv-cls-bio": "scheduled",
    }
    assert classes["rv-cls-man"].subjects == ("World Languages", "Mandarin")  # a plain string
    assert classes["rv-cls-fre2"].subjects == ("World Languages", "French")  # a list
    assert classes["rv-cls-spa-old"].grades == ("11", "12")
    assert {sid: c.status for sid, c in classes.items()} == {
        "rv-cls-fre2": "active",
        "rv-cls-man": "active",  # ""
        "rv-cls-hr": "active",
        "rv-cls-spa-old": "tobedeleted",  # "inactive"
        "rv-cls-bio": "tobedeleted",
    }
    assert classes["rv-cls-fre2"].term_ids == ("rv-t1", "rv-t2") and classes["rv-cls-fre2"].course_id == "rv-crs-fre"
    assert classes["rv-cls-hr"].course_id is None and classes["rv-cls-spa-old"].course_id is None  # null and ""
    assert classes["rv-cls-spa-old"].school_id == "rv-sch-old"  # a bare id
    assert classes["rv-cls-man"].class_code is None and classes["rv-cls-man"].title == "Mandarin Chinese 汉语 1"


def test_json_enrollments_primary_dates_and_the_rejected_record() -> None:
    enrollments = fixture_records("enrollments.json")
    primary = {sid: e.primary for sid, e in enrollments.items()}
    assert primary == {
        "rv-e-1": True,  # true
        "rv-e-2": False,  # "false"
        "rv-e-3": False,  # false
        "rv-e-4": False,  # "FALSE"
        "rv-e-5": True,  # "TRUE"
        "rv-e-6": False,  # ""
        "rv-e-7": False,
        "rv-e-8": True,  # "true"
    }
    assert (enrollments["rv-e-5"].begin_date, enrollments["rv-e-5"].end_date) == ("2025-08-25", "2026-01-16")
    assert enrollments["rv-e-4"].end_date is None and enrollments["rv-e-4"].role == "student"
    assert enrollments["rv-e-6"].school_id == "rv-sch-west" and enrollments["rv-e-6"].status == "active"
    assert enrollments["rv-e-7"].status == "tobedeleted"
    items = json.loads((FIXTURES / "enrollments.json").read_text(encoding="utf-8"))["enrollments"]
    _, rejected = parse_page("enrollments", items)
    assert [(r.collection, r.sourced_id, r.field) for r in rejected] == [("enrollments", "rv-e-9", "primary")]
    assert "rv-e-9" not in enrollments and rejected[0].message.startswith("primary")


def test_json_orgs_sessions_and_courses() -> None:
    orgs = fixture_records("orgs.json")
    assert {o.type for o in orgs.values()} == {"district", "school"}  # "School", "SCHOOL"
    assert orgs["rv-sch-west"].identifier is None and orgs["rv-sch-west"].status == "active"
    assert orgs["rv-sch-old"].status == "tobedeleted" and orgs["rv-sch-old"].parent_id == "rv-dist"
    assert orgs["rv-dist"].parent_id is None and orgs["rv-sch-west"].name == "École Riverside Ouest"
    sessions = fixture_records("academicSessions.json")
    assert sessions["rv-sy-2026"].school_year == "2026"  # a JSON number
    assert sessions["rv-t1"].end_date == "2026-01-16"  # a date-time
    assert sessions["rv-t2"].end_date is None and sessions["rv-t2"].parent_id == "rv-sy-2026"
    assert sessions["rv-t2"].type == "semester" and sessions["rv-t2"].status == "tobedeleted"
    courses = fixture_records("courses.json")
    assert courses["rv-crs-man"].subjects == ("World Languages",) and courses["rv-crs-man"].org_id == "rv-sch-west"
    assert courses["rv-crs-man"].course_code is None and courses["rv-crs-man"].school_year is None
    assert courses["rv-crs-fre"].school_year == "rv-sy-2026"


def test_json_empty_collection() -> None:
    data = json.loads((FIXTURES / "classes-empty.json").read_text(encoding="utf-8"))
    assert data == {"classes": []}
    assert parse_page("classes", data["classes"]) == ([], [])


@pytest.mark.parametrize("path", sorted((FIXTURES / "single").glob("*.json")), ids=lambda p: p.name)
def test_single_object_responses_parse_as_the_same_record_as_in_the_collection(path: Path) -> None:
    ((key, raw),) = json.loads(path.read_text(encoding="utf-8")).items()
    assert isinstance(raw, dict) and key in SINGULAR
    collection = SINGULAR[key]
    record = one(collection, raw)
    in_collection = fixture_records(f"{collection}.json")[record.sourced_id]
    assert record == in_collection


def test_single_object_fixtures_exist() -> None:
    assert sorted(p.name for p in (FIXTURES / "single").glob("*.json")) == ["class.json", "org.json", "user.json"]


def csv_records(bundle: str, collection: str) -> tuple[dict[str, object], list]:
    dataset = load_csv_bundle(CSV_FIXTURES / bundle)
    coll = dataset.collection(collection)
    records, rejected = parse_page(collection, [json.loads(coll.json(key)) for key in coll.ids()])
    return {r.sourced_id: r for r in records}, rejected


def test_csv_booleans_TRUE_true_FALSE_false_and_blank() -> None:
    users, rejected = csv_records("lakeview_full", "users")
    assert rejected == []
    enabled = {sid: u.enabled for sid, u in users.items()}
    assert enabled["lv-t-001"] is True and enabled["lv-t-002"] is True  # TRUE, true
    assert enabled["lv-t-004"] is False and enabled["lv-s-103"] is False  # FALSE, false
    assert enabled["lv-s-106"] is True  # blank: enabled
    assert sum(not e for e in enabled.values()) == 2
    enrollments, rejected = csv_records("lakeview_full", "enrollments")
    primary = {sid: e.primary for sid, e in enrollments.items()}
    assert [primary[k] for k in ("lv-e-001", "lv-e-005", "lv-e-008")] == [True, True, True]  # TRUE true True
    assert [primary[k] for k in ("lv-e-002", "lv-e-004", "lv-e-006")] == [False, False, False]  # false FALSE ""
    harbor, _ = csv_records("harbor_crlf", "users")
    assert {sid: u.enabled for sid, u in harbor.items()} == {
        "hp-t-1": True,
        "hp-t-2": True,
        "hp-s-1": True,
        "hp-s-2": False,
        "hp-s-3": True,
        "hp-p-1": True,
    }


def test_csv_class_types_statuses_roles_and_the_rejected_status() -> None:
    classes, rejected = csv_records("lakeview_full", "classes")
    assert rejected == []
    assert {c.class_type for c in classes.values()} == {"scheduled", "homeroom"}
    assert classes["lv-cls-man-1"].class_type == "scheduled" and classes["lv-cls-hr-1b"].class_type == "homeroom"
    assert classes["lv-cls-man-1"].status == "active"  # blank
    assert classes["lv-cls-ger-s"].status == "tobedeleted"  # inactive
    assert classes["lv-cls-ger-s"].course_id is None  # blank reference
    assert classes["lv-cls-fre1-a"].subjects == ("World Languages", "French")
    assert classes["lv-cls-fre1-a"].term_ids == ("lv-t1-2026", "lv-t2-2026")
    users, _ = csv_records("lakeview_full", "users")
    assert users["lv-t-003"].role == "teacher"  # "Teacher"
    assert {u.role for u in users.values()} == {"teacher", "student", "administrator", "guardian", "aide"}
    assert users["lv-t-001"].org_ids == ("lv-sch-north", "lv-dept-lang")
    assert users["lv-s-106"].username is None  # R4: metadata.username is not read
    assert users["lv-s-101"].grades == ("09",) and users["lv-t-001"].grades == ("09", "10", "11")
    enrollments, rejected = csv_records("lakeview_full", "enrollments")
    assert [(r.sourced_id, r.field) for r in rejected] == [("lv-e-017", "status")]
    assert enrollments["lv-e-007"].role == "student"  # "Student"
    assert enrollments["lv-e-014"].status == "active" and enrollments["lv-e-015"].status == "tobedeleted"
    assert (enrollments["lv-e-015"].begin_date, enrollments["lv-e-015"].end_date) == ("2025-08-18", "2025-10-01")
    orgs, _ = csv_records("lakeview_full", "orgs")
    assert orgs["lv-sch-annex"].type == "school" and orgs["lv-sch-annex"].status == "tobedeleted"
    assert orgs["lv-sch-south"].name == "Escuela Primaria Peñasco, South Campus"


def test_csv_minimal_bundle_blanks_are_nulls() -> None:
    enrollments, rejected = csv_records("harbor_crlf", "enrollments")
    assert rejected == [] and len(enrollments) == 9
    assert all(e.status == "active" and e.primary is False for e in enrollments.values())
    assert all(e.begin_date is None and e.end_date is None for e in enrollments.values())
    users, _ = csv_records("harbor_crlf", "users")
    assert all(u.identifier is None and u.email is None and u.grades == () for u in users.values())
    classes, _ = csv_records("harbor_crlf", "classes")
    assert classes["hp-cls-ger"].title == "German for Beginners,\r\nafter school"
    assert classes["hp-cls-ita1"].course_id == "hp-crs-ita"  # a course the bundle does not contain
    courses, _ = csv_records("harbor_crlf", "courses")
    assert courses == {}
