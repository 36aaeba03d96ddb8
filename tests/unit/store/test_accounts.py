"""Import (SPEC §2), R2 reset, the one-read sign-in lookup (S2), export, R13."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from classlink_sync.rules.plan import Plan
from classlink_sync.store import accounts, districts
from classlink_sync.store.apply import apply_plan
from classlink_sync.store.dynamo import METER
from classlink_sync.store.view import DynamoRosterView


def onboard(store, district_id="d1", tenant="T1"):
    districts.add_district(
        district_id,
        tenant_id=tenant,
        oneroster_url="https://x.example/ims/oneroster/v1p1",
        client_id="k",
        client_secret="s",
        schools="all",
        enable_from=dt.date.today() + dt.timedelta(days=20),
        store=store,
    )


def test_import_reserves_usernames_and_reports_rows(store, b, tmp_path):
    onboard(store)
    onboard(store, "d2", "T2")
    taken = tmp_path / "d2.csv"
    taken.write_text("username,email,given_name,family_name,role\nmbrown,mb@x.example,M,Brown,teacher\n")
    assert len(accounts.import_accounts("d2", taken, store).created) == 1
    path = tmp_path / "d1.csv"
    path.write_text(
        "username,email,given_name,family_name,role\n"
        "jsmith,j@x.example,Jo,Smith,teacher\n"
        "JSmith ,j2@x.example,Jo,Smith,student\n"
        "MBrown,m@x.example,Mo,Brown,student\n"
        ",e@x.example,No,Name,student\n"
        "kdoe,k@x.example,Kay,Doe,janitor\n"
        "alee,,Al,Lee,student\n"
    )
    result = accounts.import_accounts("d1", path, store)
    assert [r for r, _ in result.created] == [1, 6]
    assert {e.row: e.message[:2] for e in result.errors} == {2: "R5", 3: "R5", 4: "R4", 5: "R4"}
    held = {a.username_norm: a for a in DynamoRosterView(store).held_accounts("d1")}
    assert set(held) == {"jsmith", "alee"}
    assert held["jsmith"].digest == "" and not held["jsmith"].managed and held["jsmith"].sourced_id is None
    found = DynamoRosterView(store).reservations(["jsmith", "mbrown"])
    assert found["jsmith"].account_id == held["jsmith"].account_id and found["mbrown"].district_id == "d2"


def test_reset_archives_and_deactivates_idempotently(store, b, tmp_path):
    onboard(store)
    apply_plan(b.first_sync_plan("d1"), store)
    result = accounts.reset_district("d1", store)
    assert (result.accounts_deactivated, result.classes_archived, result.enrollments_archived) == (7, 2, 14)
    view = DynamoRosterView(store)
    assert all(not a.active for a in view.held_accounts("d1")) and len(view.held_accounts("d1")) == 7
    assert all(c.archived for c in view.held_classes("d1"))
    assert all(e.archived for e in view.held_enrollments("d1"))
    again = accounts.reset_district("d1", store)
    assert (again.accounts_deactivated, again.classes_archived, again.enrollments_archived) == (0, 0, 0)
    assert districts.get_district("d1", store).reset_done


def test_signin_lookup_is_one_read(store, b):
    plan = b.first_sync_plan("d1", tenant="2")
    apply_plan(plan, store)
    teacher = plan.accounts["create"][0]
    before = METER.reads([store.settings.accounts_table])
    found = accounts.find_signin_account(2, "u0", store)
    _items, requests = (x - y for x, y in zip(METER.reads([store.settings.accounts_table]), before, strict=True))
    assert requests == 1
    assert found == accounts.SigninAccount(
        account_id=teacher.account_id,
        district_id="d1",
        role="teacher",
        active=True,
        managed=True,
        username=teacher.username,
        email=teacher.email,
    )
    assert accounts.find_signin_account("2", "nobody", store) is None
    assert accounts.find_signin_account("3", "u0", store) is None  # another tenant's sourcedId
    off = Plan(district_id="d1", tenant_id="2", today="2026-01-16", fetch_complete=True)
    off.accounts["deactivate"] = [dataclasses.replace(teacher, active=False)]
    apply_plan(off, store)
    assert accounts.find_signin_account("2", "u0", store).active is False


def test_export_lists_synced_records(store, b, tmp_path):
    onboard(store)
    apply_plan(b.first_sync_plan("d1"), store)
    path = tmp_path / "pre.csv"
    path.write_text("username,email,given_name,family_name,role\nold,o@x.example,O,Ld,teacher\n")
    accounts.import_accounts("d1", path, store)
    exported = accounts.export_district("d1", store)
    assert len(exported["accounts"]) == 7  # the imported, unsynced account is not exported
    first = exported["accounts"][0]
    assert set(first) >= {"sourcedId", "username", "role", "active"}
    assert {c["subject"] for c in exported["classes"]} == {"French"}
    assert len(exported["enrollments"]) == 14 and all(e["active"] for e in exported["enrollments"])


def test_r13_managed_items_are_read_only(store, b):
    onboard(store)
    plan = b.first_sync_plan("d1")
    apply_plan(plan, store)
    held = DynamoRosterView(store).held_accounts("d1")[0]
    with pytest.raises(accounts.ReadOnlyError, match="R13: managed by ClassLink: account "):
        accounts.assert_writable(held)
    with pytest.raises(accounts.ReadOnlyError, match="R13"):
        accounts.assert_writable(plan.classes["create"][0])
    with pytest.raises(accounts.ReadOnlyError, match="R13"):
        accounts.assert_writable({"mg": {"BOOL": True}, "sk": {"S": "x"}})
    accounts.assert_writable(dataclasses.replace(held, managed=False))
    with pytest.raises(accounts.ReadOnlyError, match="R13"):
        accounts.assert_can_create_class("d1", store)
    accounts.assert_can_create_class("not-classlink", store)
