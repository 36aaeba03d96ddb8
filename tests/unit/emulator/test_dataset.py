"""The Dataset's mutation helpers, which tests and the demo use to script a district's changes (R9, R11)."""

from __future__ import annotations

import json

import pytest

from classlink_local.emulator.datagen import generate
from classlink_local.emulator.dataset import Dataset

LATER = "2030-01-01T00:00:00.000Z"


@pytest.fixture
def ds() -> Dataset:
    data = generate(seed=8, users=200)
    data.clock = lambda: LATER
    return data


def refs_to(ds: Dataset, field: str, sid: str) -> list[str]:
    return [k for k, e in ds.enrollments.iter_records() if (e.get(field) or {}).get("sourcedId") == sid]


def a_language_class(ds: Dataset) -> str:
    return next(k for k, c in ds.classes.iter_records() if c["title"].startswith("Spanish"))


def test_add_user_enrols_in_classes_and_is_stamped(ds: Dataset) -> None:
    klass = a_language_class(ds)
    before = ds.version
    user = ds.add_user("student", class_ids=[klass], givenName="Ana")
    assert ds.users[user["sourcedId"]]["givenName"] == "Ana"
    assert user["dateLastModified"] == LATER and user["username"].startswith("ExampleISD-")
    (enr,) = refs_to(ds, "user", user["sourcedId"])
    assert ds.enrollments.record(enr)["class"]["sourcedId"] == klass
    assert ds.enrollments.record(enr)["role"] == "student"
    assert ds.version > before


def test_rename_update_and_tobedeleted(ds: Dataset) -> None:
    klass = a_language_class(ds)
    ds.rename_class(klass, "Art")
    assert ds.classes.record(klass)["title"] == "Art"
    assert ds.classes.record(klass)["dateLastModified"] == LATER
    assert json.loads(ds.classes.json(klass))["title"] == "Art"  # the served form follows
    user = ds.users.ids()[0]
    ds.mark_tobedeleted("users", user)
    assert ds.users.record(user)["status"] == "tobedeleted"


def test_move_teacher(ds: Dataset) -> None:
    def taught_in(teacher: str) -> set[object]:
        classes = [ds.enrollments.record(e)["class"]["sourcedId"] for e in refs_to(ds, "user", teacher)]
        return {(ds.classes.record(c).get("school") or {}).get("sourcedId") for c in classes}

    teacher, old = next(
        (k, u["orgs"][0]["sourcedId"])
        for k, u in ds.users.iter_records()
        if u.get("role") == "teacher" and len(u["orgs"]) == 1 and taught_in(k) == {u["orgs"][0]["sourcedId"]}
    )
    new = next(s for s in ds.licensed_school_ids if s != old)
    ds.move_teacher(teacher, new)
    assert [o["sourcedId"] for o in ds.users.record(teacher)["orgs"]] == [new]
    taught = [ds.enrollments.record(e)["class"]["sourcedId"] for e in refs_to(ds, "user", teacher)]
    assert all(ds.classes.record(c)["school"]["sourcedId"] == old for c in taught)
    ds.move_teacher(teacher, new, move_classes=True)
    assert all(ds.classes.record(c)["school"]["sourcedId"] == new for c in taught)


def test_drop_cascades_to_enrolments(ds: Dataset) -> None:
    klass = a_language_class(ds)
    enrolments = refs_to(ds, "class", klass)
    assert enrolments
    removed = ds.drop("classes", klass)
    assert removed == 1 + len(enrolments)
    assert klass not in ds.classes and not refs_to(ds, "class", klass)


def test_replace_source_ids_keeps_people_and_references(ds: Dataset) -> None:
    usernames = sorted(str(u.get("username")) for _, u in ds.users.iter_records())
    titles = sorted(c["title"] for _, c in ds.classes.iter_records())
    n_enrolments = len(ds.enrollments)
    planted_user = ds.planted["disabled_user"][0]
    mapping = ds.replace_source_ids()
    assert sorted(str(u.get("username")) for _, u in ds.users.iter_records()) == usernames
    assert sorted(c["title"] for _, c in ds.classes.iter_records()) == titles
    assert all(k.startswith("r11-") for k in ds.users.ids())
    assert ds.planted["disabled_user"][0] == mapping[planted_user] in ds.users
    for _, enr in ds.enrollments.iter_records():
        assert enr["user"]["sourcedId"] in ds.users and enr["class"]["sourcedId"] in ds.classes
        assert enr["user"]["href"].endswith("/" + enr["user"]["sourcedId"])
        assert enr["dateLastModified"] == LATER
    assert len(ds.enrollments) == n_enrolments
    assert all(not k.startswith("r11-") for k in ds.orgs.ids())


def test_shift_inserts_first_or_removes(ds: Dataset) -> None:
    first = ds.users.ids()[0]
    inserted = ds.shift("users", "insert")
    assert inserted and ds.users.ids()[:2] == [inserted, first]
    assert ds.users.record(inserted)["username"] != ds.users.record(first)["username"]
    size = len(ds.users)
    removed = ds.shift("users", "remove", pick=5)
    assert removed not in ds.users and len(ds.users) == size - 1


def test_in_place_edit_through_getitem_is_served(ds: Dataset) -> None:
    user = ds.users.ids()[3]
    ds.users.json(user)  # cached
    ds.users[user]["givenName"] = "Zoë"
    assert json.loads(ds.users.json(user))["givenName"] == "Zoë"
