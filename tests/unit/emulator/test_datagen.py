"""The generated district (SPEC §1 shapes) and its planted problems (R3-R9)."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date

import pytest

from classlink_local.emulator.datagen import PROBLEM_KINDS, generate
from classlink_local.emulator.dataset import Dataset
from classlink_sync.rules.normalise import normalise

LANGUAGES = re.compile(r"\b(spanish|french|german|italian|mandarin|chinese)\b", re.IGNORECASE)


def dump(ds: Dataset) -> str:
    return json.dumps({n: [c.record(i) for i in c.ids()] for n, c in ds.all_collections().items()})


@pytest.fixture(scope="module")
def district() -> Dataset:
    return generate(seed=11, users=1000, problem_share=0.02)


def ref_id(value: object) -> str | None:
    return value.get("sourcedId") if isinstance(value, dict) else None


def test_same_seed_same_district_other_seed_other_district() -> None:
    a, b, c = generate(seed=4, users=300), generate(seed=4, users=300), generate(seed=5, users=300)
    assert dump(a) == dump(b)
    assert a.planted == b.planted
    assert dump(a) != dump(c)


@pytest.mark.parametrize("users", [5, 37, 300, 2500])
def test_user_count_is_exact_from_a_handful_up(users: int) -> None:
    ds = generate(seed=1, users=users, problem_share=0 if users < 50 else 0.01)
    assert len(ds.users) == users
    assert ds.school_ids and ds.classes and ds.enrollments
    roles = {r.get("role") for _, r in ds.users.iter_records()}
    assert {"teacher", "student"} <= roles


def test_district_shape(district: Dataset) -> None:
    orgs = [r for _, r in district.orgs.iter_records()]
    assert [o["type"] for o in orgs].count("district") == 1
    sessions = {r["type"] for _, r in district.academic_sessions.iter_records()}
    assert {"schoolYear", "term"} <= sessions
    titles = [r["title"] for _, r in district.classes.iter_records()]
    language = [t for t in titles if LANGUAGES.search(t)]
    assert len(language) > 0.8 * len(titles)
    assert any(re.fullmatch(r"Spanish \d - Period \d", t) for t in titles)
    # Every reference of an enrolment resolves.
    for _, enr in district.enrollments.iter_records():
        assert ref_id(enr["user"]) in district.users
        assert ref_id(enr["class"]) in district.classes
    # Teachers have their schools in orgs; some classes are co-taught.
    teachers = [r for _, r in district.users.iter_records() if r.get("role") == "teacher"]
    assert all(r["orgs"] for r in teachers)


def test_realistic_quirks(district: Dataset) -> None:
    users = [r for _, r in district.users.iter_records()]
    classes = [r for _, r in district.classes.iter_records()]
    assert {u.get("enabledUser") for u in users} >= {"true", "false", False, "FALSE"}
    assert {c["classType"] for c in classes} >= {"scheduled", "Scheduled", "SCHEDULED"}
    assert any(isinstance(c["subjects"], str) for c in classes)
    assert any(isinstance(c["subjects"], list) for c in classes)
    assert any(u.get("email") == "" for u in users)
    assert all("preferredFirstName" in u for u in users)  # an unknown extra field
    assert any("x_sis_section" in c for c in classes)


def test_planted_counts_follow_the_share(district: Dataset) -> None:
    # share 0.02 of 1000 users -> 20 per user kind; 40 teachers x 4 classes -> 3 per class kind.
    per_user, per_class = 20, 3
    pairs = {"username_collision", "duplicate_person"}
    class_kinds = {
        "unlicensed_school_class",
        "class_missing_school",
        "class_no_subject",
        "class_two_subjects",
        "subject_from_course",
        "class_only_unsynced_teacher",
        "unsynced_teacher",
        "class_without_teacher",
        "co_taught_class",
        "teacher_school_mismatch",
        "teacher_as_student",
        "ended_enrollment",
    }
    assert set(district.planted) == set(PROBLEM_KINDS)
    for kind, ids in district.planted.items():
        expected = 1 if kind == "unlicensed_school" else per_class if kind in class_kinds else per_user
        assert len(ids) == expected * (2 if kind in pairs else 1), kind
        assert len(set(ids)) == len(ids), kind


def test_no_problems_when_share_is_zero() -> None:
    ds = generate(seed=2, users=400, problem_share=0)
    assert all(not ids for ids in ds.planted.values())
    names = [normalise(r["username"]) for _, r in ds.users.iter_records()]
    assert len(set(names)) == len(names)


def test_planted_user_problems_are_real(district: Dataset) -> None:
    p, users = district.planted, district.users
    assert all(
        users.record(u)["role"] in {"administrator", "aide", "guardian", "proctor"} for u in p["role_out_of_scope"]
    )
    assert all(str(users.record(u)["enabledUser"]).lower() == "false" for u in p["disabled_user"])
    assert all(not (users.record(u).get("username") or "").strip() for u in p["blank_username"])
    assert all(
        not users.record(u).get("givenName") or not users.record(u).get("familyName") for u in p["missing_names"]
    )
    assert all(not users.record(u).get("role") for u in p["missing_role"])
    for uid in p["required_in_metadata"]:
        record = users.record(uid)
        hidden = [k for k in ("username", "givenName") if not record.get(k) and record["metadata"].get(k)]
        assert hidden, uid
    unlicensed = district.unlicensed_school_ids
    assert unlicensed == p["unlicensed_school"] and unlicensed[0] not in district.licensed_school_ids
    assert all([o["sourcedId"] for o in users.record(u)["orgs"]] == unlicensed for u in p["unlicensed_school_user"])
    assert all(users.record(u)["status"] in {"tobedeleted", "inactive"} for u in p["tobedeleted_user"])
    enrolled = {ref_id(e["user"]) for _, e in district.enrollments.iter_records()}
    assert not enrolled & set(p["student_without_class"] + p["teacher_without_class"])
    assert set(p["disabled_user"]) <= enrolled


def test_planted_usernames_collide_only_where_planted(district: Dataset) -> None:
    p = district.planted
    collisions = p["username_collision"]
    for a, b in zip(collisions[::2], collisions[1::2], strict=True):
        ua, ub = district.users.record(a)["username"], district.users.record(b)["username"]
        assert ua != ub and normalise(ua) == normalise(ub)
    variants = {unicodedata.is_normalized("NFC", district.users.record(u)["username"]) for u in collisions}
    assert variants == {True, False}  # combining accents are among them
    dups = p["duplicate_person"]
    for a, b in zip(dups[::2], dups[1::2], strict=True):
        ra, rb = district.users.record(a), district.users.record(b)
        assert ra["email"] == rb["email"] and ra["username"] != rb["username"]
    # Everyone else has a district-prefixed username, unique after normalisation.
    exempt = set(
        collisions + p["generic_username"] + p["blank_username"] + p["required_in_metadata"] + p["unsynced_teacher"]
    )
    seen: set[str] = set()
    for uid, record in district.users.iter_records():
        if uid in exempt:
            continue
        name = normalise(record["username"])
        assert name and name.startswith("exampleisd-") and name not in seen, uid
        seen.add(name)
    assert all(not district.users.record(u)["username"].startswith("ExampleISD") for u in p["generic_username"])


def test_planted_class_and_enrolment_problems_are_real(district: Dataset) -> None:
    p, classes, users = district.planted, district.classes, district.users
    enrolments = [e for _, e in district.enrollments.iter_records()]

    def teachers_of(klass: str) -> list[str]:
        return [ref_id(e["user"]) for e in enrolments if ref_id(e["class"]) == klass and e["role"] == "teacher"]

    def course_title(klass: str) -> str:
        return district.courses.record(classes.record(klass)["course"]["sourcedId"])["title"]

    for klass in p["class_no_subject"]:
        assert not LANGUAGES.search(classes.record(klass)["title"]) and not LANGUAGES.search(course_title(klass))
    for klass in p["class_two_subjects"]:
        assert len({m.lower() for m in LANGUAGES.findall(classes.record(klass)["title"])}) == 2
    for klass in p["subject_from_course"]:
        assert not LANGUAGES.search(classes.record(klass)["title"]) and LANGUAGES.search(course_title(klass))
    for klass in p["class_only_unsynced_teacher"]:
        assert teachers_of(klass) and set(teachers_of(klass)) <= set(p["unsynced_teacher"])
    assert all(not teachers_of(k) for k in p["class_without_teacher"])
    assert all(len(set(teachers_of(k))) == 2 for k in p["co_taught_class"])
    for klass in p["class_missing_school"]:
        record = classes.record(klass)
        assert not record.get("school") and record["metadata"]["schoolSourcedId"]
    by_id = {e["sourcedId"]: e for e in enrolments}
    for enr_id in p["teacher_school_mismatch"]:
        enr = by_id[enr_id]
        school = classes.record(ref_id(enr["class"]))["school"]["sourcedId"]
        assert enr["role"] == "teacher"
        assert school not in [o["sourcedId"] for o in users.record(ref_id(enr["user"]))["orgs"]]
    for enr_id in p["teacher_as_student"]:
        enr = by_id[enr_id]
        assert enr["role"] == "student" and users.record(ref_id(enr["user"]))["role"] == "teacher"
    for enr_id in p["ended_enrollment"]:
        assert date.fromisoformat(by_id[enr_id]["endDate"]) < date.today()
    for klass in p["unlicensed_school_class"]:
        assert classes.record(klass)["school"]["sourcedId"] in district.unlicensed_school_ids


def test_generation_stays_fast() -> None:
    import time

    started = time.perf_counter()
    ds = generate(seed=3, users=50_000)
    assert len(ds.users) == 50_000
    assert time.perf_counter() - started < 5  # ~0.5 s on a laptop; 500k users take seconds
