"""OneRoster 1.1 CSV bundles load into the REST shape the emulator serves (SPEC §1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from classlink_local.emulator.csvload import load_csv_bundle

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster-csv"
BUNDLES = ["lakeview_full", "harbor_crlf"]
# Records per collection (tests/fixtures/README.md).
COUNTS = {
    "lakeview_full": {
        "orgs": 5,
        "academicSessions": 5,
        "courses": 5,
        "classes": 7,
        "users": 13,
        "enrollments": 17,
        "demographics": 3,
    },
    "harbor_crlf": {
        "orgs": 3,
        "academicSessions": 1,
        "courses": 0,
        "classes": 5,
        "users": 6,
        "enrollments": 9,
        "demographics": 0,
    },
}


def test_every_bundle_folder_is_tested() -> None:
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) == sorted(BUNDLES)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_fixture_bundles_load_with_the_readme_counts(bundle: str) -> None:
    ds = load_csv_bundle(FIXTURES / bundle)
    assert ds.counts() == COUNTS[bundle]
    # every reference column became a {href, sourcedId, type} ref to the right collection
    for _, enr in ds.enrollments.iter_records():
        assert enr["user"]["type"] == "user" and enr["user"]["href"].endswith("/users/" + enr["user"]["sourcedId"])
        assert enr["class"]["type"] == "class" and enr["class"]["sourcedId"] in ds.classes
        assert enr["school"]["type"] == "org" and enr["school"]["sourcedId"] in ds.orgs
    for _, klass in ds.classes.iter_records():
        assert klass["school"]["sourcedId"] in ds.orgs
        assert all(t["type"] == "academicSession" and t["sourcedId"] in ds.academic_sessions for t in klass["terms"])
    for _, user in ds.users.iter_records():
        assert user["orgs"] and all(o["type"] == "org" and o["sourcedId"] in ds.orgs for o in user["orgs"])


def test_lakeview_references_and_multi_valued_fields() -> None:
    ds = load_csv_bundle(FIXTURES / "lakeview_full")
    enr = ds.enrollments.record("lv-e-001")
    assert enr["user"]["sourcedId"] == "lv-t-001" and enr["class"]["sourcedId"] == "lv-cls-fre1-a"
    assert enr["school"]["sourcedId"] == "lv-sch-north" and enr["primary"] == "TRUE"
    french = ds.classes.record("lv-cls-fre1-a")
    assert [t["sourcedId"] for t in french["terms"]] == ["lv-t1-2026", "lv-t2-2026"]
    assert (french["course"]["sourcedId"], french["course"]["type"]) == ("lv-crs-fre1", "course")
    assert french["course"]["href"].endswith("/courses/lv-crs-fre1")
    assert french["grades"] == ["09", "10"]
    assert french["subjects"] == ["World Languages", "French"]  # "a, b": comma and space
    assert french["subjectCodes"] == [] and french["periods"] == ["2"]
    spanish = ds.classes.record("lv-cls-spa2-b")
    assert spanish["grades"] == ["10", "11"] and spanish["periods"] == ["4", "5"]
    assert ds.courses.record("lv-crs-spa2")["subjects"] == ["World Languages", "Spanish"]
    assert ds.courses.record("lv-crs-spa2")["subjectCodes"] == ["WL", "SPA"]
    assert ds.courses.record("lv-crs-fre1")["schoolYear"]["sourcedId"] == "lv-sy-2026"
    assert ds.courses.record("lv-crs-hr")["subjects"] == []
    teacher = ds.users.record("lv-t-001")
    assert [o["sourcedId"] for o in teacher["orgs"]] == ["lv-sch-north", "lv-dept-lang"]
    assert teacher["userIds"] == [{"type": "LDAP", "identifier": "adubois"}, {"type": "SIS", "identifier": "T001"}]
    assert teacher["grades"] == ["09", "10", "11"] and teacher["role"] == "teacher"
    assert [o["sourcedId"] for o in ds.users.record("lv-s-105")["orgs"]] == ["lv-sch-south", "lv-sch-north"]
    guardian = ds.users.record("lv-g-901")
    assert [a["sourcedId"] for a in guardian["agents"]] == ["lv-s-101"] and guardian["agents"][0]["type"] == "user"
    # a blank single reference stays "" (the client reads it as null), not a ref to ""
    assert ds.classes.record("lv-cls-ger-s")["course"] == ""


def test_lakeview_values_are_kept_as_the_bundle_has_them() -> None:
    ds = load_csv_bundle(FIXTURES / "lakeview_full")
    enabled = {sid: u["enabledUser"] for sid, u in ds.users.iter_records()}
    assert enabled["lv-t-001"] == "TRUE" and enabled["lv-t-002"] == "true"
    assert enabled["lv-t-004"] == "FALSE" and enabled["lv-s-103"] == "false" and enabled["lv-s-106"] == ""
    primaries = {sid: e["primary"] for sid, e in ds.enrollments.iter_records()}
    assert {primaries[k] for k in ("lv-e-001", "lv-e-005", "lv-e-008", "lv-e-002", "lv-e-004", "lv-e-006")} == {
        "TRUE",
        "true",
        "True",
        "false",
        "FALSE",
        "",
    }
    class_types = {sid: c["classType"] for sid, c in ds.classes.iter_records()}
    assert class_types["lv-cls-fre1-a"] == "Scheduled" and class_types["lv-cls-man-1"] == "SCHEDULED"
    assert class_types["lv-cls-hr-k"] == "homeroom" and class_types["lv-cls-hr-1b"] == "Homeroom"
    assert {c["status"] for _, c in ds.classes.iter_records()} == {"active", "", "tobedeleted", "inactive"}
    assert {s["status"] for _, s in ds.academic_sessions.iter_records()} == {"active", "tobedeleted", "inactive"}
    assert ds.enrollments.record("lv-e-017")["status"] == "Deleted"  # kept; the client rejects it
    south = ds.orgs.record("lv-sch-south")
    assert south["status"] == "" and south["dateLastModified"] == ""
    # mixed date formats in one file are kept as they are
    assert ds.orgs.record("lv-dist")["dateLastModified"] == "2025-08-04T14:30:00.000Z"
    assert ds.orgs.record("lv-sch-north")["dateLastModified"] == "2025-08-04"
    assert ds.enrollments.record("lv-e-015")["beginDate"] == "2025-08-18T00:00:00Z"
    assert ds.orgs.record("lv-sch-annex")["type"] == "School"


def test_quoted_commas_and_an_embedded_newline_stay_in_their_field() -> None:
    ds = load_csv_bundle(FIXTURES / "lakeview_full")
    assert ds.orgs.record("lv-sch-south")["name"] == "Escuela Primaria Peñasco, South Campus"
    assert ds.classes.record("lv-cls-fre1-a")["location"] == "Room 12, East Wing"
    spanish = ds.classes.record("lv-cls-spa2-b")
    assert spanish["location"] == "Portable 3\nbehind the gym"
    assert spanish["school"]["sourcedId"] == "lv-sch-north"  # the columns after it did not shift
    assert len(ds.classes) == 7  # the newline did not start a record


def test_utf8_bom_does_not_reach_the_first_column_name() -> None:
    raw = (FIXTURES / "lakeview_full" / "users.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfsourcedId,")  # the fixture really has a BOM
    ds = load_csv_bundle(FIXTURES / "lakeview_full")
    for sid, user in ds.users.iter_records():
        assert user["sourcedId"] == sid and not sid.startswith("\ufeff")
        assert not any(key.startswith("\ufeff") for key in user)
    assert "lv-t-001" in ds.users and "users-row-1" not in ds.users


def test_non_ascii_names_survive() -> None:
    ds = load_csv_bundle(FIXTURES / "lakeview_full")
    names = {sid: (u["givenName"], u["familyName"]) for sid, u in ds.users.iter_records()}
    assert names["lv-t-001"] == ("Amélie", "Dubois")
    assert names["lv-t-002"] == ("José", "Núñez")
    assert names["lv-t-003"] == ("伟", "李")
    assert names["lv-t-004"] == ("ليلى", "حداد")
    assert names["lv-s-101"] == ("Jürgen", "Müller")
    assert names["lv-s-102"] == ("Chloé", "O'Brien-Smith")
    assert names["lv-s-103"] == ("Mateo", "García López")
    assert ds.classes.record("lv-cls-man-1")["title"] == "Mandarin Chinese (中文) 1"
    assert ds.collection("demographics").record("lv-s-104")["cityOfBirth"] == "北京"
    harbor = load_csv_bundle(FIXTURES / "harbor_crlf")
    assert harbor.users.record("hp-t-2")["familyName"] == "Østergaard"
    assert harbor.users.record("hp-s-3")["familyName"] == "العلي"
    assert harbor.orgs.record("hp-sch-2")["name"] == "Bahía Elementary"


def test_metadata_columns_and_unknown_columns() -> None:
    ds = load_csv_bundle(FIXTURES / "lakeview_full")
    assert ds.orgs.record("lv-dist")["metadata"] == {"ncesId": "0699001"}
    nameless = ds.users.record("lv-s-106")
    assert nameless["username"] == ""  # R4: the loader does not promote metadata either
    assert nameless["metadata"] == {"classlink.schoolCode": "102", "username": "LVUSD-s106-from-metadata"}
    assert ds.users.record("lv-s-101")["legacyStudentNumber"] == "S-000101"  # unknown column kept as is
    assert ds.enrollments.record("lv-e-001")["metadata"] == {}


def test_org_and_session_children_are_derived_from_parents() -> None:
    ds = load_csv_bundle(FIXTURES / "lakeview_full")
    district = ds.orgs.record("lv-dist")
    assert district["parent"] == ""
    assert {c["sourcedId"] for c in district["children"]} == {"lv-sch-north", "lv-sch-south", "lv-sch-annex"}
    assert [c["sourcedId"] for c in ds.orgs.record("lv-sch-north")["children"]] == ["lv-dept-lang"]
    year = ds.academic_sessions.record("lv-sy-2026")
    assert {c["sourcedId"] for c in year["children"]} == {"lv-t1-2026", "lv-t2-2026"}
    assert [c["sourcedId"] for c in ds.academic_sessions.record("lv-t1-2026")["children"]] == ["lv-gp-q1"]
    assert ds.academic_sessions.record("lv-t0-2025")["parent"] == ""


def test_harbor_crlf_line_ends_and_missing_final_newline() -> None:
    bundle = FIXTURES / "harbor_crlf"
    for path in bundle.glob("*.csv"):
        raw = path.read_bytes()
        assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n"), path.name  # CRLF only
    assert not (bundle / "enrollments.csv").read_bytes().endswith(b"\n")
    assert not (bundle / "academicSessions.csv").read_bytes().endswith(b"\n")
    ds = load_csv_bundle(bundle)
    last = ds.enrollments.record("hp-e-9")  # the unterminated last row is read whole
    assert last["user"]["sourcedId"] == "hp-s-3" and last["endDate"] == ""
    assert ds.academic_sessions.record("hp-term-1")["schoolYear"] == "2026"
    for _, record in ds.users.iter_records():  # no \r left on the last column or anywhere
        assert not any(isinstance(v, str) and "\r" in v for v in record.values())
    # a quoted field keeps its own CRLF, and a quoted comma
    assert ds.classes.record("hp-cls-ger")["title"] == "German for Beginners,\r\nafter school"
    assert ds.classes.record("hp-cls-ger")["school"]["sourcedId"] == "hp-sch-1"


def test_harbor_blank_values_and_empty_collections() -> None:
    ds = load_csv_bundle(FIXTURES / "harbor_crlf")
    enr = ds.enrollments.record("hp-e-4")
    assert enr["primary"] == "" and enr["status"] == "" and enr["beginDate"] == "" and enr["endDate"] == ""
    assert ds.users.record("hp-s-1")["userIds"] == [] and ds.users.record("hp-s-1")["grades"] == []
    assert ds.users.record("hp-s-2")["enabledUser"] == "false"
    assert [o["sourcedId"] for o in ds.users.record("hp-t-2")["orgs"]] == ["hp-sch-1", "hp-sch-2"]
    assert ds.academic_sessions.record("hp-term-1")["parent"] == ""
    # courses.csv is a header only (bulk, empty); demographics is absent: both give empty collections,
    # and the classes keep their references to the courses the bundle does not contain
    assert len(ds.courses) == 0 and len(ds.collection("demographics")) == 0
    assert ds.classes.record("hp-cls-ita1")["course"]["sourcedId"] == "hp-crs-ita"
    assert {c["classType"] for _, c in ds.classes.iter_records()} == {"Scheduled", "scheduled", "HOMEROOM", "homeroom"}


def test_bom_metadata_absent_files_and_version(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(
        "propertyName,value\r\noneroster.version,1.1\r\nfile.users,bulk\r\nfile.orgs,absent\r\n"
    )
    (tmp_path / "orgs.csv").write_text(
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\r\no1,active,,X,school,,"
    )
    (tmp_path / "users.csv").write_bytes(
        '\ufeffsourcedId,username,givenName,metadata.nickname,orgSourcedIds\r\nu1,zoë,Zoë,Zo,"o1, o2"'.encode()
    )
    ds = load_csv_bundle(tmp_path)
    assert len(ds.orgs) == 0  # absent in the manifest
    user = ds.users.record("u1")
    assert user["username"] == "zoë" and user["metadata"] == {"nickname": "Zo"}
    assert [o["sourcedId"] for o in user["orgs"]] == ["o1", "o2"]
    (tmp_path / "manifest.csv").write_text("propertyName,value\r\noneroster.version,1.2\r\n")
    with pytest.raises(ValueError, match=r"1\.2"):
        load_csv_bundle(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_csv_bundle(tmp_path / "nope")
