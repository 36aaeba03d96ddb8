"""R19: contact emails are checked, normalised and changed (pure), and the notify settings."""

from __future__ import annotations

import pytest

from classlink_sync.errors import OnboardingError, SettingsError
from classlink_sync.notify.settings import NotifySettings
from classlink_sync.rules.contacts import MAX_CONTACTS, change_contacts, check_contacts, contact_problem


@pytest.mark.parametrize(
    "address",
    ["it@district.org", "first.last+sync@mail.k12.tx.us", "o'brien@school.example", "A@xn--bcher-kva.example"],
)
def test_R19_real_addresses_are_contacts(address: str) -> None:
    assert contact_problem(address) is None


@pytest.mark.parametrize(
    "address",
    [
        "",
        "it",
        "it@",
        "@district.org",
        "it@district",
        "it@@district.org",
        "i t@district.org",
        ".it@district.org",
        "it..x@district.org",
        "it@-district.org",
        "it@district.123",
        "it@district.org,other@district.org",
        "Ann <ann@district.org>",
        "élodie@district.org",
    ],
)
def test_R19_malformed_addresses_are_refused_naming_them(address: str) -> None:
    assert contact_problem(address) is not None
    with pytest.raises(OnboardingError, match="R19: contact email"):
        check_contacts(["ok@district.org", address])


def test_R19_contacts_are_trimmed_domain_lowercased_and_kept_once() -> None:
    assert check_contacts([" IT@District.ORG ", "it@district.org", "Head@district.org"]) == (
        "IT@district.org",
        "Head@district.org",
    )
    with pytest.raises(OnboardingError, match=f"at most {MAX_CONTACTS}"):
        check_contacts(f"c{n}@district.org" for n in range(MAX_CONTACTS + 1))


def test_R19_staff_set_add_and_remove_contacts() -> None:
    current = ("a@d.org", "b@d.org")
    assert change_contacts(current, "add", ["c@D.org", "A@d.org"]) == ("a@d.org", "b@d.org", "c@d.org")
    assert change_contacts(current, "remove", ["A@D.ORG"]) == ("b@d.org",)
    assert change_contacts(current, "set", []) == ()
    with pytest.raises(OnboardingError, match=r"x@d\.org: not a contact"):
        change_contacts(current, "remove", ["x@d.org"])


def test_R19_notification_is_off_without_notify_from_and_a_bad_setting_is_named() -> None:
    assert not NotifySettings.from_env({"NOTIFY_FROM": "  ", "PORTAL_URL": ""}).enabled
    on = NotifySettings.from_env({"NOTIFY_FROM": "sync@tis.example", "PORTAL_URL": "https://tis.example"})
    assert on.enabled and on.portal_url == "https://tis.example" and on.ses_configuration_set is None
    with pytest.raises(SettingsError, match="NOTIFY_FROM"):
        NotifySettings.from_env({"NOTIFY_FROM": "not-an-address"})
    with pytest.raises(SettingsError, match="PORTAL_URL"):
        NotifySettings.from_env({"NOTIFY_FROM": "sync@tis.example", "PORTAL_URL": "tis.example"})
