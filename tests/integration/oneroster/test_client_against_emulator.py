"""The OneRoster client against the ClassLink emulator (a real HTTP server that checks our
OAuth 1.0a signatures with oauthlib): SPEC §1 paging, faults and R9 completeness."""

from __future__ import annotations

from pathlib import Path

import pytest

from classlink_local.emulator.csvload import load_csv_bundle
from classlink_sync.oneroster.auth import BearerAuth, OAuth1Auth
from classlink_sync.oneroster.client import OneRosterClient, RetryPolicy
from classlink_sync.oneroster.errors import CredentialsRejected
from classlink_sync.oneroster.filters import combine, predicate

pytestmark = pytest.mark.integration
CSV_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster-csv"


def client_for(emulator, secret: str | None = None, **options) -> OneRosterClient:
    auth = OAuth1Auth(emulator.client_id, secret or emulator.client_secret)
    options.setdefault("sleep", lambda seconds: None)
    return OneRosterClient(emulator.base_url, auth, **options)


def test_whole_district_is_complete_over_a_capped_limit(emulator_factory) -> None:
    emulator = emulator_factory(users=400, max_limit=37)
    with client_for(emulator, page_size=100, concurrency=4) as client:
        snapshot = client.fetch_snapshot()
    assert snapshot.complete, snapshot.incomplete_reasons
    assert len(snapshot.users) > 300 and snapshot.enrollments and snapshot.classes and snapshot.orgs
    for status in snapshot.collections.values():
        assert status.received == status.total
    assert any(o.type == "district" for o in snapshot.orgs.values())


def test_wrong_secret_is_credentials_rejected(emulator) -> None:
    with client_for(emulator, secret="not-the-secret") as client, pytest.raises(CredentialsRejected) as info:
        client.fetch_collection("users")
    assert info.value.status == 401 and info.value.attempts == 1


def test_filters_with_quotes_spaces_and_non_ascii_are_signed_as_the_server_checks(emulator) -> None:
    filter_ = combine(
        predicate("familyName", "=", "Núñez de la Cruz"), predicate("dateLastModified", ">", "2000-01-01")
    )
    with client_for(emulator) as client:
        _, _, status = client.fetch_collection("users", filter=filter_)
        delta = client.fetch_snapshot(since="2000-01-01T00:00:00Z")
    assert status.complete
    assert delta.users and not delta.complete  # a delta is never complete (R9)


def test_faults_are_retried_and_the_fetch_still_completes(emulator_factory) -> None:
    emulator = emulator_factory(
        users=300,
        max_limit=50,
        faults="429:every=4,retry_after=0;429-no-retry-after:every=9;5xx:every=6;truncate:every=7",
    )
    sleeps: list[float] = []
    with client_for(emulator, page_size=50, sleep=sleeps.append, retry=RetryPolicy(budget=200)) as client:
        snapshot = client.fetch_snapshot()
    assert snapshot.complete, snapshot.incomplete_reasons
    assert sleeps  # it did retry


def test_R9_data_shifting_between_pages_is_incomplete(emulator_factory) -> None:
    emulator = emulator_factory(users=300, max_limit=50, faults="shift:first=3,path=/users,mode=remove")
    with client_for(emulator, page_size=50, concurrency=1) as client:
        _, _, status = client.fetch_collection("users")
    assert not status.complete and "X-Total-Count changed" in status.reason


def test_bearer_token(emulator_factory) -> None:
    emulator = emulator_factory(users=50, bearer_token="proxy-token")
    with OneRosterClient(emulator.base_url, BearerAuth("proxy-token")) as client:
        _, _, status = client.fetch_collection("users")
    assert status.complete and status.received > 0


# Per bundle (tests/fixtures/README.md): records per collection, the rejected record, disabled users.
BUNDLES = {
    "lakeview_full": {
        "received": {"orgs": 5, "academicSessions": 5, "courses": 5, "classes": 7, "users": 13, "enrollments": 17},
        "rejected": [("enrollments", "lv-e-017", "status")],
        "disabled": {"lv-t-004", "lv-s-103"},  # FALSE, false
    },
    "harbor_crlf": {
        "received": {"orgs": 3, "academicSessions": 1, "courses": 0, "classes": 5, "users": 6, "enrollments": 9},
        "rejected": [],
        "disabled": {"hp-s-2"},  # false
    },
}


def test_every_csv_fixture_is_listed() -> None:
    assert sorted(p.name for p in CSV_FIXTURES.iterdir() if p.is_dir()) == sorted(BUNDLES)


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_every_csv_fixture_fetches_each_record_parsed_or_rejected_with_a_reason(emulator_factory, bundle) -> None:
    expected = BUNDLES[bundle]
    emulator = emulator_factory(load_csv_bundle(CSV_FIXTURES / bundle))
    with client_for(emulator) as client:
        snapshot = client.fetch_snapshot()
    assert snapshot.complete, snapshot.incomplete_reasons  # an empty collection (courses) is complete too
    for name, status in snapshot.collections.items():
        assert status.received == status.total, (name, status)
    assert {name: status.received for name, status in snapshot.collections.items()} == expected["received"]
    assert all(r.field and r.message for r in snapshot.rejected)
    assert [(r.collection, r.sourced_id, r.field) for r in snapshot.rejected] == expected["rejected"]
    assert snapshot.users and snapshot.enrollments and snapshot.classes
    # quirks of these bundles (tests/fixtures/README.md): TRUE/true/false, Scheduled/HOMEROOM,
    # inactive and blank status, BOM, CRLF, quoted newlines
    assert {sid for sid, u in snapshot.users.items() if not u.enabled} == expected["disabled"]
    assert {c.class_type for c in snapshot.classes.values()} == {"scheduled", "homeroom"}
    assert {s.status for s in snapshot.academic_sessions.values()} <= {"active", "tobedeleted"}
    assert {c.status for c in snapshot.classes.values()} <= {"active", "tobedeleted"}
    assert all(u.sourced_id == sid and not sid.startswith("\ufeff") for sid, u in snapshot.users.items())


def test_lakeview_quirks_arrive_through_the_client(emulator_factory) -> None:
    dataset = load_csv_bundle(CSV_FIXTURES / "lakeview_full")
    emulator = emulator_factory(dataset)
    with client_for(emulator, page_size=4) as client:  # several pages per collection
        snapshot = client.fetch_snapshot()
    assert snapshot.complete, snapshot.incomplete_reasons
    users, classes = snapshot.users, snapshot.classes
    assert (users["lv-t-003"].given_name, users["lv-t-003"].family_name) == ("伟", "李")
    assert (users["lv-t-004"].given_name, users["lv-t-004"].family_name) == ("ليلى", "حداد")
    assert users["lv-t-002"].family_name == "Núñez" and users["lv-s-101"].family_name == "Müller"
    assert users["lv-t-001"].org_ids == ("lv-sch-north", "lv-dept-lang")
    assert users["lv-s-106"].username is None  # R4: metadata.username is not read
    assert users["lv-s-105"].status == "tobedeleted" and users["lv-t-004"].status == "active"  # inactive, blank
    assert classes["lv-cls-man-1"].title == "Mandarin Chinese (中文) 1"
    assert classes["lv-cls-man-1"].status == "active" and classes["lv-cls-ger-s"].status == "tobedeleted"
    assert classes["lv-cls-fre1-a"].term_ids == ("lv-t1-2026", "lv-t2-2026")
    assert snapshot.orgs["lv-sch-south"].name == "Escuela Primaria Peñasco, South Campus"
    enrollments = snapshot.enrollments
    assert enrollments["lv-e-001"].primary is True and enrollments["lv-e-006"].primary is False
    assert "lv-e-017" not in enrollments
    # R15: the emulator serves the bundle's demographics, the client never asks for them
    assert len(dataset.collection("demographics")) == 3
    assert "demographics" not in snapshot.collections and not hasattr(snapshot, "demographics")
