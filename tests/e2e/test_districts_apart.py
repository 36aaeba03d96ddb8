"""Districts never touch each other's data (sourcedIds are unique only within a tenant), and an
account that existed before onboarding is linked by R6, end to end through the handlers."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from classlink_local.stack import LocalStack
from classlink_sync.store.accounts import find_signin_account, import_accounts

from .conftest import District, changes, day, issues_by_id, sync_via_queue

pytestmark = pytest.mark.e2e


def test_two_districts_with_the_same_sourced_ids_never_touch_each_others_data(
    stack: LocalStack, make_district: Callable[..., District]
) -> None:
    alpha = make_district("apart-alpha", tenant_id="3501", seed=51, users=70, prefix="AlphaISD")
    beta = make_district("apart-beta", tenant_id="3502", seed=51, users=70, prefix="BetaISD")
    assert set(alpha.dataset.users) == set(beta.dataset.users)  # the very same sourcedIds

    assert sync_via_queue(stack, alpha, day(0)).status == "succeeded"
    alpha_export = alpha.export()
    first_beta = sync_via_queue(stack, beta, day(0))
    assert first_beta.status == "succeeded"
    beta_export = beta.export()
    assert alpha.export() == alpha_export

    # Same sourcedIds, different accounts, classes and enrolments.
    assert {a["sourcedId"] for a in beta_export["accounts"]} & {a["sourcedId"] for a in alpha_export["accounts"]}
    assert not {a["account_id"] for a in beta_export["accounts"]} & {a["account_id"] for a in alpha_export["accounts"]}
    assert not {c["class_id"] for c in beta_export["classes"]} & {c["class_id"] for c in alpha_export["classes"]}
    # The generic usernames (no district prefix) are alpha's already: beta's are R5 conflicts,
    # never merged into alpha's accounts (R5).
    generic = beta.dataset.planted["generic_username"]
    beta_issues = issues_by_id(beta.report(first_beta))
    for sid in generic:
        assert [i["rule"] for i in beta_issues[sid]] == ["R5"]
        assert sid not in {a["sourcedId"] for a in beta_export["accounts"]}
    # Sign-in finds each tenant's own account for the same sourcedId (S2 lookup).
    teacher = next(a for a in alpha_export["accounts"] if a["role"] == "teacher" and a["active"])
    in_alpha = find_signin_account(alpha.tenant_id, teacher["sourcedId"])
    in_beta = find_signin_account(int(beta.tenant_id), teacher["sourcedId"])
    assert in_alpha is not None and in_beta is not None
    assert (in_alpha.district_id, in_alpha.account_id) == ("apart-alpha", teacher["account_id"])
    assert in_beta.district_id == "apart-beta" and in_beta.username.startswith("BetaISD-")

    # Beta changes: a class dropped, a class renamed, a student added.
    ds = beta.dataset
    active_classes = [c["sourcedId"] for c in beta_export["classes"] if c["active"]]
    ds.drop("classes", active_classes[0])
    ds.rename_class(active_classes[1], ds.classes.record(active_classes[1])["title"] + " B")
    ds.add_user(
        "student",
        school_ids=[ds.classes.record(active_classes[2])["school"]["sourcedId"]],
        class_ids=[active_classes[2]],
    )
    beta_again = sync_via_queue(stack, beta, day(1))
    alpha_again = sync_via_queue(stack, alpha, day(1))
    assert beta_again.status == alpha_again.status == "succeeded"
    assert changes(beta_again.counts)["class"] == {"update": 1, "archive": 1}
    assert changes(beta_again.counts)["user"] == {"create": 1}
    assert changes(alpha_again.counts) == {} and alpha_again.roster_writes == 0
    assert alpha.export() == alpha_export
    beta_after = {c["sourcedId"]: c["active"] for c in beta.export()["classes"]}
    assert beta_after[active_classes[0]] is False
    assert {c["sourcedId"]: c["active"] for c in alpha.export()["classes"]}[active_classes[0]] is True


def test_R6_pre_existing_imported_account_is_linked_by_username_keeping_its_account_id(
    stack: LocalStack, make_district: Callable[..., District], tmp_path: Path
) -> None:
    district = make_district("apart-r6", tenant_id="3503", seed=53, users=60, prefix="LinkISD", problem_share=0)
    teacher = next(u for _, u in district.dataset.users.iter_records() if u.get("role") == "teacher")
    path = tmp_path / "existing.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["username", "email", "given_name", "family_name", "role"])
        writer.writeheader()
        # Before onboarding the teacher used This is School under the same username, other case.
        writer.writerow(
            {
                "username": teacher["username"].upper(),
                "email": "",
                "given_name": "Old",
                "family_name": "Name",
                "role": "teacher",
            }
        )
        # An account ClassLink does not know: stays deactivated and unlinked (R2, R6).
        writer.writerow(
            {
                "username": "LinkISD-retired-teacher",
                "email": "retired@example.org",
                "given_name": "Rita",
                "family_name": "Retired",
                "role": "teacher",
            }
        )
    imported = import_accounts(district.district_id, path)
    assert not imported.errors and len(imported.created) == 2
    (_, linked_id), (_, unknown_id) = imported.created

    run = sync_via_queue(stack, district, day(0))
    assert run.status == "succeeded"
    export = district.export()
    accounts = {a["sourcedId"]: a for a in export["accounts"]}
    account = accounts[teacher["sourcedId"]]
    assert account["account_id"] == linked_id  # the same account: its learning history is kept
    assert account["active"] and account["role"] == "teacher"
    assert (account["given_name"], account["family_name"]) == (teacher["givenName"], teacher["familyName"])
    counts = changes(run.counts)["user"]
    assert counts["link"] == 1 and counts["create"] == len(accounts) - 1
    assert unknown_id not in {a["account_id"] for a in export["accounts"]}
    assert district.report(run)["recommended_for_removal"] == [unknown_id]
    signin = find_signin_account(district.tenant_id, teacher["sourcedId"])
    assert signin is not None and signin.account_id == linked_id and signin.active
