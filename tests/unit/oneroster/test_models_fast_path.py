"""The fast path of ``parse_page`` gives exactly what the pydantic models give (SPEC §1 quirks, R4,
R15): the same compact records and the same ``Rejected``, record for record, for well-formed data,
for every quirk we know of, for our fixtures (tests/fixtures/) and for arbitrary JSON values in every field."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classlink_local.emulator.csvload import load_csv_bundle
from classlink_local.emulator.datagen import generate
from classlink_sync.oneroster import models
from classlink_sync.oneroster.models import TupleInterner, parse_page
from classlink_sync.oneroster.records import EnrollmentRecord, UserRecord

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SINGULAR = {"user": "users", "class": "classes", "org": "orgs"}
HREF = "https://x.example/ims/oneroster/v1p1"
COLLECTIONS = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")


def ref(collection: str, sourced_id: str, kind: str) -> dict[str, str]:
    return {"href": f"{HREF}/{collection}/{sourced_id}", "sourcedId": sourced_id, "type": kind}


# One well-formed record per collection, as ClassLink sends them (all the fields we read, and some
# we must never read: metadata, password, phone, sms, userIds, children...).
WELL_FORMED: dict[str, dict[str, Any]] = {
    "orgs": {
        "sourcedId": "org-sch-7",
        "status": "active",
        "dateLastModified": "2025-08-19T17:18:33.421Z",
        "metadata": {"name": "from-metadata"},
        "name": "Hillcrest Middle School",
        "type": "School",
        "identifier": "S007",
        "parent": ref("orgs", "org-district-1", "org"),
        "children": [],
    },
    "academicSessions": {
        "sourcedId": "as-t2-2026",
        "status": "active",
        "metadata": {},
        "title": "Spring Semester 2026",
        "type": "term",
        "startDate": "2026-01-05",
        "endDate": "2026-06-15T00:00:00Z",
        "parent": ref("academicSessions", "as-sy-2026", "academicSession"),
        "children": [],
        "schoolYear": "2026",
    },
    "courses": {
        "sourcedId": "crs-1-1",
        "status": "active",
        "metadata": {},
        "title": "Spanish 1",
        "courseCode": "SPA00",
        "schoolYear": ref("academicSessions", "as-sy-2026", "academicSession"),
        "grades": ["06", "07", "08"],
        "subjects": "World Languages",
        "org": ref("orgs", "org-sch-1", "org"),
    },
    "classes": {
        "sourcedId": "cls-1",
        "status": "active",
        "metadata": {},
        "title": "Mandarin Chinese 1",
        "classCode": "C000001",
        "classType": "scheduled",
        "location": "Room 101",
        "grades": ["06", "07", "08"],
        "subjects": ["World Languages"],
        "subjectCodes": "",
        "course": ref("courses", "crs-1-14", "course"),
        "school": ref("orgs", "org-sch-1", "org"),
        "terms": [ref("academicSessions", "as-t1-2026", "academicSession")],
        "periods": ["1"],
    },
    "users": {
        "sourcedId": "usr-100001",
        "status": "active",
        "metadata": {"classlink.schoolCode": "91", "username": "from-metadata"},
        "username": "ExampleISD-100001",
        "userIds": [{"type": "LDAP", "identifier": "ExampleISD-100001"}],
        "enabledUser": "true",
        "givenName": "Daniel",
        "familyName": "Tanaka",
        "middleName": "",
        "role": "teacher",
        "identifier": "100001",
        "email": "daniel.tanaka100001@exampleisd.example.org",
        "sms": "5557654321",
        "phone": "5551234567",
        "password": "pw-123",
        "orgs": [ref("orgs", "org-sch-1", "org")],
        "agents": [],
        "grades": ["09"],
    },
    "enrollments": {
        "sourcedId": "enr-1",
        "status": "active",
        "metadata": {},
        "user": ref("users", "usr-100001", "user"),
        "class": ref("classes", "cls-1", "class"),
        "school": ref("orgs", "org-sch-1", "org"),
        "role": "teacher",
        "primary": "true",
        "beginDate": "2025-08-15",
        "endDate": "2026-06-15",
    },
}

# Values that real servers send, or that must be rejected, for any field. Each one is tried in
# every field of every collection, on top of the well-formed record and alone with a sourcedId.
QUIRKS: list[Any] = [
    None,
    "",
    " ",
    "\t\n",
    "\x1c",  # whitespace to Python's str.strip, not to pydantic's
    "\xa0",
    "x",
    " padded ",
    "trailing\xa0",
    "a\x1c",
    "Teacher",
    "TEACHER",
    "Homeroom",
    " homeRoom ",
    "active",
    "ACTIVE",
    "Active",
    "toBeDeleted",
    "inactive",
    "Inactive",
    "deleted",
    "true",
    "TRUE",
    "True",
    "false",
    "FALSE",
    "yes",
    "no",
    "1",
    "0",
    " true ",
    "perhaps",
    "2026-09-01",
    "2026-09-01T00:00:00Z",
    "2026-09-01T18:25:43.511Z",
    "2026-09-01 08:00",
    "2026-09-01\n",
    " 2026-09-01",
    "2026-13-01",
    "2026-02-30",
    "2026-9-1",
    "٢٠٢٦-09-01",  # Arabic-Indic digits: \d matches them, fromisoformat does not
    "next monday",
    "09,10,11",
    "Science, Physics, Biology",
    "French,",
    ",",
    "usr-1,usr-2",
    "José",
    "Zoë Müller-Łukasz",
    "名前",
    "bad\ud800surrogate",
    0,
    1,
    7,
    18125,
    3.5,
    True,
    False,
    [],
    [""],
    ["French", "Spanish"],
    [" French "],
    ["09", ""],
    [11, "12"],
    [True],
    [None],
    [{"g": 1}],
    ["bad\ud800"],
    {},
    {"a": 1},
    {"sourcedId": "sch-1"},
    {"sourcedId": " sch-1 "},
    {"sourcedId": ""},
    {"sourcedId": "  "},
    {"sourcedId": 3},
    {"sourcedId": True},
    {"sourcedId": None, "href": f"{HREF}/orgs/sch-9"},
    {"href": f"{HREF}/orgs/sch-9/"},
    {"href": "/"},
    {"sourcedId": "bad\ud800"},
    [ref("orgs", "sch-1", "org"), ref("orgs", "sch-2", "org")],
    [ref("orgs", "sch-1", "org"), "sch-2", {"sourcedId": 3}],
    [{"sourcedId": ""}, {"href": f"{HREF}/orgs/sch-5"}],
    [{"type": "org"}],
    ["sch-1"],
]

# Every JSON key the models read, per collection, plus a few they must ignore.
FIELDS: dict[str, list[str]] = {
    "orgs": ["sourcedId", "status", "name", "type", "identifier", "parent"],
    "academicSessions": ["sourcedId", "status", "title", "type", "startDate", "endDate", "parent", "schoolYear"],
    "courses": ["sourcedId", "status", "title", "courseCode", "schoolYear", "org", "subjects"],
    "classes": [
        "sourcedId", "status", "title", "classCode", "classType", "school", "course", "terms", "subjects", "grades",
    ],
    "users": [
        "sourcedId", "status", "username", "enabledUser", "givenName", "familyName", "role", "email",
        "identifier", "orgs", "grades",
    ],
    "enrollments": [
        "sourcedId", "status", "user", "class", "school", "role", "primary", "beginDate", "endDate",
    ],
}  # fmt: skip
IGNORED = ["metadata", "password", "phone", "sms", "sourced_id", "enabled_user", "class_", "dateLastModified"]


def both(collection: str, items: list[Any]) -> tuple[Any, Any]:
    """(fast path, models only), each on its own copy of the raw items."""
    fast = parse_page(collection, json.loads(json.dumps(items)), TupleInterner())
    slow = parse_page(collection, json.loads(json.dumps(items)), TupleInterner(), fast=False)
    return fast, slow


def assert_same(collection: str, items: list[Any]) -> None:
    fast = parse_page(collection, [_copy(i) for i in items], TupleInterner())
    slow = parse_page(collection, [_copy(i) for i in items], TupleInterner(), fast=False)
    assert fast == slow, (collection, items)
    # same types too (True == 1, "1" != 1): the records are what the planner reads
    for a, b in zip(fast[0], slow[0], strict=True):
        assert type(a) is type(b)
        for name in a.__slots__:
            assert type(getattr(a, name)) is type(getattr(b, name)), (collection, name, items)


def _copy(item: Any) -> Any:
    if isinstance(item, dict):
        return {k: _copy(v) for k, v in item.items()}
    if isinstance(item, list):
        return [_copy(v) for v in item]
    return item


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_well_formed_records_take_the_fast_path(collection: str, monkeypatch: pytest.MonkeyPatch) -> None:
    slow: list[Any] = []
    original = models._slow_record
    monkeypatch.setattr(models, "_slow_record", lambda *a: slow.append(a) or original(*a))
    records, rejected = parse_page(collection, [WELL_FORMED[collection]])
    assert slow == [] and rejected == [] and len(records) == 1
    assert_same(collection, [WELL_FORMED[collection]])


@pytest.mark.parametrize("collection", COLLECTIONS)
@pytest.mark.parametrize("quirk", QUIRKS, ids=repr)
def test_every_quirk_in_every_field_gives_the_same_records_and_rejections(collection: str, quirk: Any) -> None:
    base = WELL_FORMED[collection]
    items: list[Any] = []
    for key in FIELDS[collection] + IGNORED:
        items.append({**base, key: quirk})
        bare = {"sourcedId": "x-1", key: quirk} if key != "sourcedId" else {key: quirk}
        items.append(bare)
        items.append({k: v for k, v in base.items() if k != key})  # the field missing
    items += [quirk, base]  # the quirk as a whole record, then a good one after it
    assert_same(collection, items)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_a_rejected_record_never_costs_its_neighbours(collection: str) -> None:
    base = WELL_FORMED[collection]
    page = [base, {**base, "sourcedId": ""}, "not an object", None, {**base, "status": "deleted"}, base]
    (records, rejected), slow = both(collection, page)
    assert (records, rejected) == slow
    assert len(records) == 2 and [r.field for r in rejected] == ["sourcedId", "record", "record", "status"]


def test_generated_district_with_planted_problems_parses_identically(monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = generate(users=600, seed=7)
    for name in COLLECTIONS:
        collection = dataset.collection(name)
        items = [json.loads(collection.json(key)) for key in collection.ids()]
        assert items, name
        assert_same(name, items)
    # and nearly all of it takes the fast path (only the planted problems should not)
    slow: list[Any] = []
    original = models._slow_record
    monkeypatch.setattr(models, "_slow_record", lambda *a: slow.append(a) or original(*a))
    total = 0
    for name in COLLECTIONS:
        collection = dataset.collection(name)
        items = [json.loads(collection.json(key)) for key in collection.ids()]
        parse_page(name, items)
        total += len(items)
    assert len(slow) < total * 0.02, (len(slow), total)


CSV_BUNDLES = sorted(p for p in (FIXTURES / "oneroster-csv").iterdir() if p.is_dir())
JSON_FILES = sorted((FIXTURES / "oneroster-json").glob("*.json"))
SINGLE_FILES = sorted((FIXTURES / "oneroster-json" / "single").glob("*.json"))


def test_the_fixtures_are_there() -> None:
    assert [p.name for p in CSV_BUNDLES] == ["harbor_crlf", "lakeview_full"]
    assert len(JSON_FILES) == 7 and len(SINGLE_FILES) == 3


@pytest.mark.parametrize("bundle", CSV_BUNDLES, ids=lambda p: p.name)
def test_csv_fixtures_parse_identically(bundle: Path) -> None:
    dataset = load_csv_bundle(bundle)
    total = 0
    for name in COLLECTIONS:
        collection = dataset.collection(name)
        items = [json.loads(collection.json(key)) for key in collection.ids()]
        assert_same(name, items)
        total += len(items)
    assert total > 20


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.name)
def test_json_fixtures_parse_identically(path: Path) -> None:
    for collection, items in json.loads(path.read_text(encoding="utf-8")).items():
        assert_same(collection, items)


@pytest.mark.parametrize("path", SINGLE_FILES, ids=lambda p: p.name)
def test_single_object_fixtures_parse_identically(path: Path) -> None:
    ((key, record),) = json.loads(path.read_text(encoding="utf-8")).items()
    assert_same(SINGULAR[key], [record])


def test_fixture_quirks_take_the_fast_path_or_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Booleans as JSON or as strings in any case, mixed-case roles, blanks and unknown fields are
    common enough to stay on the fast path; only rarer shapes (a JSON number for a string, grades
    as one string) may leave it, and those agree with the models (checked above)."""
    slow: list[Any] = []
    original = models._slow_record
    monkeypatch.setattr(models, "_slow_record", lambda *a: slow.append(a) or original(*a))
    items = json.loads((FIXTURES / "oneroster-json" / "users.json").read_text(encoding="utf-8"))["users"]
    records, rejected = parse_page("users", items)
    assert len(records) == 8 and rejected == []
    assert {args[2]["sourcedId"] for args in slow} <= {"rv-s-1", "rv-s-3"}


def test_fast_path_interns_ids_and_shares_tuples_as_the_models_do() -> None:
    page = [
        {**WELL_FORMED["enrollments"], "sourcedId": f"enr-{i}", "user": {"sourcedId": "".join(["usr-", "7"])}}
        for i in range(3)
    ]
    records, _ = parse_page("enrollments", json.loads(json.dumps(page)))
    assert records[0].user_id is records[1].user_id is records[2].user_id
    assert records[0].school_id is records[2].school_id and records[0].role is records[1].role
    assert records[0].begin_date is records[1].begin_date
    users, _ = parse_page("users", json.loads(json.dumps([WELL_FORMED["users"], WELL_FORMED["users"]])))
    assert users[0].org_ids is users[1].org_ids and users[0].grades is users[1].grades
    assert users[0].sourced_id is users[1].sourced_id


def test_fast_records_are_the_frozen_records_of_records_py() -> None:
    (records, _), _slow = both("users", [WELL_FORMED["users"]])
    user = records[0]
    assert type(user) is UserRecord and dataclasses.is_dataclass(user)
    assert user == UserRecord(**{f.name: getattr(user, f.name) for f in dataclasses.fields(UserRecord)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.username = "changed"  # type: ignore[misc]
    assert not hasattr(user, "__dict__")
    assert "pw-123" not in repr(user) and "555" not in repr(user)  # R15 on the fast path
    assert user.username == "ExampleISD-100001"  # R4: not "from-metadata"
    (enrollments, _), _slow = both("enrollments", [WELL_FORMED["enrollments"]])
    assert isinstance(enrollments[0], EnrollmentRecord) and enrollments[0].primary is True


# Arbitrary JSON in any field: whatever it is, both paths agree.
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["true", "False", " ", "2026-01-31", "2026-01-31T10:00:00Z", "inactive", "a,b", "é"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["sourcedId", "href", "type"]), children, max_size=3),
    max_leaves=6,
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collection=st.sampled_from(COLLECTIONS), data=st.data())
def test_arbitrary_values_in_any_field_give_the_same_result(collection: str, data: st.DataObject) -> None:
    keys = st.sampled_from(FIELDS[collection] + IGNORED)
    changes = data.draw(st.dictionaries(keys, _json, max_size=4))
    assert_same(collection, [{**WELL_FORMED[collection], **changes}])
