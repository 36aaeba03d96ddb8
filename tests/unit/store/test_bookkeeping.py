"""Districts (R1), leases and slots (R14), run records (SPEC §3), settings and tables."""

from __future__ import annotations

import datetime as dt

import pytest

from classlink_local.tables import create_tables, load_template, table_definitions
from classlink_sync.rules.district import GuardThresholds
from classlink_sync.settings import AppSettings, SettingsError, field_for_logical_id
from classlink_sync.store import districts, locks, runs
from classlink_sync.store.dynamo import METER, bookkeeping_tables

TODAY = dt.date(2026, 1, 15)


def onboard(store, district_id="d1", tenant=2, **kwargs):
    args = dict(
        tenant_id=tenant,
        oneroster_url="https://t-us-v2.oneroster.com/ims/oneroster/v1p1",
        client_id="key",
        client_secret="s3cret-value",
        schools=["s1", "s2"],
        enable_from=TODAY + dt.timedelta(days=14),
        today=TODAY,
        store=store,
    )
    args.update(kwargs)
    return districts.add_district(district_id, **args)


def test_onboarding_stores_settings_and_secret_arn_only(store):
    district = onboard(store, thresholds=GuardThresholds(remove_fraction=0.2), subject_overrides={"c9": "French"})
    assert district.tenant_id == "2" and district.secret_id.startswith("arn:")
    raw = store.models.District.get("district#d1").serialize()
    assert "s3cret-value" not in repr(raw)
    settings = districts.to_settings("d1", store)
    assert settings.licensed_schools == frozenset({"s1", "s2"}) and settings.tenant_id == "2"
    assert settings.thresholds.remove_fraction == 0.2 and settings.subject_overrides == {"c9": "French"}
    assert districts.district_for_tenant(2, store) == "d1" and districts.district_for_tenant("2", store) == "d1"
    assert districts.district_for_tenant("3", store) is None
    assert [d.district_id for d in districts.list_districts(store)] == ["d1"]
    shown = districts.show_district("d1", store)
    assert shown["licensed_schools"] == ["s1", "s2"] and not shown["reset_done"]
    assert "s3cret-value" not in repr(shown)
    all_schools = onboard(store, "d2", tenant="9", schools="all")
    assert all_schools.to_settings().licensed_schools is None


def test_one_tenant_per_district(store):
    onboard(store, "d1", tenant=7)
    with pytest.raises(districts.OnboardingError, match="tenant 7 already belongs to district d1"):
        onboard(store, "d2", tenant="7")
    with pytest.raises(districts.OnboardingError, match="already exists"):
        onboard(store, "d1", tenant="8")
    assert districts.district_for_tenant("8", store) is None
    with pytest.raises(districts.DistrictNotFound):
        districts.get_district("d2", store)


def test_fourteen_days_notice(store):
    with pytest.raises(districts.OnboardingError, match="14 days"):
        onboard(store, enable_from=TODAY + dt.timedelta(days=13))
    district = onboard(store, enable_from=TODAY + dt.timedelta(days=3), override_notice=True)
    assert district.notice_overridden and district.enabled_on(TODAY + dt.timedelta(days=3))
    assert not district.enabled_on(TODAY)
    default = onboard(store, "d2", tenant=3, enable_from=None)
    assert default.enable_from == TODAY + dt.timedelta(days=14)


def test_onboarding_state(store):
    onboard(store)
    districts.mark_reset("d1", store)
    first = districts.get_district("d1", store).reset_at
    districts.mark_reset("d1", store)
    again = districts.get_district("d1", store)
    assert again.reset_done and again.reset_at == first and not again.first_sync_done
    districts.mark_first_sync("d1", store)
    assert districts.get_district("d1", store).first_sync_done


def test_lease_exclusion_expiry_and_release(store):
    now = [1000.0]

    def clock():
        return now[0]

    assert locks.acquire_lease("d1", "run-a", 60, store, clock=clock)
    assert not locks.acquire_lease("d1", "run-b", 60, store, clock=clock)
    assert locks.acquire_lease("d2", "run-b", 60, store, clock=clock)  # another district
    assert locks.lease_holder("d1", store, clock=clock) == "run-a"
    assert not locks.release_lease("d1", "run-b", store)
    now[0] += 61  # expired, TTL or not
    assert locks.lease_holder("d1", store, clock=clock) is None
    assert locks.acquire_lease("d1", "run-b", 60, store, clock=clock)
    assert not locks.release_lease("d1", "run-a", store)
    assert locks.release_lease("d1", "run-b", store)
    assert locks.acquire_lease("d1", "run-c", 60, store, clock=clock)


def test_slot_claimed_once(store):
    before = METER.writes(bookkeeping_tables(store.settings))
    assert locks.claim_slot("d1", dt.date(2026, 1, 15), store)
    assert not locks.claim_slot("d1", "2026-01-15", store)
    assert locks.claim_slot("d1", dt.date(2026, 1, 16), store)
    assert locks.claim_slot("d2", dt.date(2026, 1, 15), store)
    assert METER.writes(bookkeeping_tables(store.settings)) - before == 3


def test_run_records(store, b):
    plan = b.first_sync_plan("d1")
    plan.counts = {"user": {"create": 7}}
    older = runs.create_run("d1", "schedule", store, run_id="20260114T020000Z-aaaaaa")
    runs.finish_run("d1", older.run_id, "succeeded", store, plan=plan, roster_writes=30)
    held = runs.create_run("d1", "manual", store)
    with pytest.raises(Exception):  # noqa: B017 - the same run id cannot be created twice
        runs.create_run("d1", "manual", store, run_id=held.run_id)
    record = runs.finish_run("d1", held.run_id, "held", store, plan=plan)
    assert record.plan_key and record.report_key and record.issue_count == 0
    listed = runs.list_runs("d1", store)
    assert [r.run_id for r in listed] == [held.run_id, older.run_id]
    assert runs.list_runs("d2", store) == []
    report = runs.load_report(record, store)
    assert report["run"]["status"] == "held" and report["counts"] == {"user": {"create": 7}}
    assert report["plan"]["actions"]["accounts"]["create"] == 7
    assert runs.load_held_plan(record, store).to_dict() == plan.to_dict()
    assert runs.set_status("d1", held.run_id, "discarded", store).status == "discarded"
    assert runs.get_run("d1", held.run_id, store).status == "discarded"
    assert runs.get_run("d1", "nope", store) is None
    with pytest.raises(ValueError):
        runs.finish_run("d1", older.run_id, "great", store)


def test_settings_name_the_missing_variable(monkeypatch):
    monkeypatch.delenv("ENROLLMENTS_TABLE")
    with pytest.raises(SettingsError, match="ENROLLMENTS_TABLE"):
        AppSettings.from_env()
    monkeypatch.setenv("ENROLLMENTS_TABLE", "e")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("PAGE_CONCURRENCY", "0")
    with pytest.raises(SettingsError, match="PAGE_CONCURRENCY"):
        AppSettings.from_env()
    monkeypatch.setenv("PAGE_CONCURRENCY", "8")
    settings = AppSettings.from_env()
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000" and settings.page_concurrency == 8
    with pytest.raises(SettingsError, match="SYNC_QUEUE_URL"):
        settings.require("sync_queue_url")


def test_tables_follow_the_template(store):
    template = load_template()
    definitions = table_definitions(template)
    assert set(map(field_for_logical_id, definitions)) >= set(store.settings.table_names())
    assert create_tables(store.settings) == []  # idempotent
    client = store.calls.connection.client
    accounts = client.describe_table(TableName=store.settings.accounts_table)["Table"]
    assert [g["IndexName"] for g in accounts["GlobalSecondaryIndexes"]] == ["signin"]
    ttl = client.describe_time_to_live(TableName=store.settings.locks_table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "ttl"
    bucket = template["Resources"]["ReportBucket"]["Properties"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] > 365
    policy = template["Resources"]["ReportBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ReportBucket"}  # CloudFormation tags load
    for props in definitions.values():
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True


def test_R1_a_refused_onboarding_leaves_the_existing_districts_credentials_alone(store):
    """Re-running `districts add` for an onboarded district (or its tenant) must not overwrite the
    credentials the daily sync uses."""
    import json

    first = onboard(store, "d1", tenant=7)
    for retry in (dict(tenant="7"), dict(tenant="8")):
        with pytest.raises(districts.OnboardingError):
            onboard(store, "d1", client_id="other-key", client_secret="other-secret", **retry)
    secret = districts.secrets_client(store.settings).get_secret_value(SecretId=first.secret_id)
    assert json.loads(secret["SecretString"]) == {"client_id": "key", "client_secret": "s3cret-value"}
