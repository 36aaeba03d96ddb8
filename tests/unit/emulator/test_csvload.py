"""OneRoster 1.1 CSV bundles load into the REST shape the emulator serves (SPEC §1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from classlink_sync.local.emulator.csvload import load_csv_bundle

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "oneroster-csv"
BUNDLES = ["Test_full_data_set", "Test_minimal_data_set"]


@pytest.mark.parametrize("bundle", BUNDLES)
def test_fixture_bundles_load_with_the_readme_counts(bundle: str) -> None:
    ds = load_csv_bundle(FIXTURES / bundle)
    assert ds.counts() == {
        "orgs": 1,
        "academicSessions": 5,
        "courses": 0,
        "classes": 2,
        "users": 6,
        "enrollments": 6,
        "demographics": 0,
    }
    enr = ds.enrollments.record("enr-t-222-12345-123456")
    assert enr["user"]["sourcedId"] == "usr-222-123456" and enr["class"]["type"] == "class"
    assert enr["school"]["sourcedId"] == "org-sch-222-456"
    klass = ds.classes.record("cls-222-123478")
    assert [t["sourcedId"] for t in klass["terms"]] == ["as-trm-222-1234", "as-trm-222-1235"]
    assert klass["course"]["sourcedId"] == "crs-222-2023-456-23456"
    user = ds.users.record("usr-222-987654")
    assert user["orgs"][0]["sourcedId"] == "org-sch-222-456" and user["role"] == "teacher"
    assert user["enabledUser"] == "TRUE"


def test_full_bundle_quirks() -> None:
    ds = load_csv_bundle(FIXTURES / "Test_full_data_set")
    physics = ds.classes.record("cls-222-123456")
    assert physics["grades"] == ["09", "10", "11"]
    assert physics["subjects"] == ["Science", "Physics", "Biology"]
    assert physics["classType"] == "Scheduled"
    assert ds.classes.record("cls-222-123478")["periods"] == ["1", "2", "3"]
    thomas = ds.users.record("usr-222-1234561")
    assert thomas["userIds"] == [
        {"type": "LDAP", "identifier": "12"},
        {"type": "LTI", "identifier": "15"},
        {"type": "Fed", "identifier": "23"},
    ]
    assert thomas["agents"][0]["sourcedId"] == "usr-222-66778899"
    mary = ds.users.record("usr-222-66778899")
    assert mary["status"] == "" and mary["dateLastModified"] == ""
    statuses = {r["status"] for _, r in ds.academic_sessions.iter_records()}
    assert statuses == {"active", "tobedeleted", "inactive"}
    # The parent is not in the bundle: the ref is kept, no children are invented.
    assert ds.orgs.record("org-sch-222-456")["parent"]["sourcedId"] == "org-sch-222-3456"
    term = ds.academic_sessions.record("as-trm-222-1234")
    assert {c["sourcedId"] for c in term["children"]} == {"as-grp-222-23456", "as-grp-222-2345", "as-grp-222-3456"}
    assert ds.users.record("usr-222-567891")["grades"] == ["11"]


def test_minimal_bundle_blank_values() -> None:
    ds = load_csv_bundle(FIXTURES / "Test_minimal_data_set")
    enr = ds.enrollments.record("enr-s-222-12345-987654")
    assert enr["primary"] == "" and enr["status"] == "" and enr["endDate"] == ""
    assert ds.academic_sessions.record("as-trm-222-1234")["parent"] == ""
    assert ds.users.record("usr-222-66778899")["userIds"] == []


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
