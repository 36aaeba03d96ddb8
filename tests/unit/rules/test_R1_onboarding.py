"""R1: the onboarding request's own rules, pure (no store): id format, tenant ids as strings, the
Roster Server URL and credentials, an explicit school list or "all", two weeks' notice."""

import datetime as dt

import pytest

from classlink_sync.errors import OnboardingError
from classlink_sync.rules.onboarding import (
    NOTICE_DAYS,
    check_district_id,
    check_onboarding,
    earliest_enable_date,
    enable_date,
    licensed_schools,
    tenant_key,
)

TODAY = dt.date(2026, 1, 15)


def request(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "tenant_id": 7,
        "oneroster_url": "https://example.oneroster.com/ims/oneroster/v1p1",
        "client_id": "key",
        "client_secret": "secret",
        "schools": ["s2", " s1 ", "s2", ""],
        "enable_from": None,
        "today": TODAY,
    }
    return {**base, **overrides}


def test_R1_a_valid_request_is_normalised_as_the_store_keeps_it():
    onboarding = check_onboarding("Example-ISD.1", **request())  # type: ignore[arg-type]
    assert onboarding.tenant_id == "7"  # a JSON number from ClassLink, kept as a string
    assert (onboarding.schools, onboarding.all_schools) == (("s1", "s2"), False)
    assert onboarding.enable_from == TODAY + dt.timedelta(days=14)
    assert not onboarding.notice_overridden


@pytest.mark.parametrize("tenant", [7, "7", " 7 "])
def test_R1_tenant_ids_are_compared_as_strings(tenant):
    assert tenant_key(tenant) == "7"


@pytest.mark.parametrize("tenant", ["", "  "])
def test_R1_an_empty_tenant_id_is_refused(tenant):
    with pytest.raises(OnboardingError, match="R1: the ClassLink tenant id is empty"):
        tenant_key(tenant)


@pytest.mark.parametrize("district_id", ["d1", "Example-ISD", "a.b_c", "x" * 64])
def test_R1_district_ids_of_letters_digits_dot_dash_underscore_pass(district_id):
    assert check_district_id(district_id) == district_id


@pytest.mark.parametrize("district_id", ["", "-d1", "d 1", "d#1", "d/1", "x" * 65])
def test_R1_other_district_ids_are_refused(district_id):
    with pytest.raises(OnboardingError, match="R1: district id"):
        check_district_id(district_id)


def test_R1_all_schools_must_be_explicit():
    assert licensed_schools("d1", "all") is None
    with pytest.raises(OnboardingError, match="licenses no school"):
        licensed_schools("d1", [])
    with pytest.raises(OnboardingError, match="licenses no school"):
        licensed_schools("d1", [" ", ""])
    with pytest.raises(OnboardingError, match="explicitly 'all'"):
        licensed_schools("d1", "s1")  # one id as a string is not a list (nor "all")


def test_R1_enable_date_needs_14_days_notice_unless_overridden():
    assert NOTICE_DAYS == 14
    earliest = earliest_enable_date(TODAY)
    assert earliest == dt.date(2026, 1, 29)
    assert enable_date("d1", None, TODAY) == (earliest, False)
    assert enable_date("d1", earliest, TODAY) == (earliest, False)
    assert enable_date("d1", earliest + dt.timedelta(days=30), TODAY) == (dt.date(2026, 2, 28), False)
    too_soon = earliest - dt.timedelta(days=1)
    with pytest.raises(OnboardingError, match=r"from 2026-01-29 at the earliest \(14 days' notice\)"):
        enable_date("d1", too_soon, TODAY)
    assert enable_date("d1", too_soon, TODAY, override_notice=True) == (too_soon, True)
    assert enable_date("d1", TODAY, TODAY, override_notice=True) == (TODAY, True)


def test_R1_an_override_is_recorded_only_when_it_was_needed():
    later = check_onboarding("d1", **request(enable_from=dt.date(2026, 3, 1)), override_notice=True)  # type: ignore[arg-type]
    assert (later.enable_from, later.notice_overridden) == (dt.date(2026, 3, 1), False)
    now = check_onboarding("d1", **request(enable_from=TODAY), override_notice=True)  # type: ignore[arg-type]
    assert (now.enable_from, now.notice_overridden) == (TODAY, True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"oneroster_url": "ftp://example.com"}, "R1: the OneRoster URL of d1 must be an http"),
        ({"oneroster_url": "example.com/ims"}, "R1: the OneRoster URL of d1 must be an http"),
        ({"client_id": ""}, "R1: the ClassLink client id and secret of d1 are required"),
        ({"client_secret": ""}, "R1: the ClassLink client id and secret of d1 are required"),
        ({"tenant_id": " "}, "R1: the ClassLink tenant id is empty"),
        ({"schools": []}, "R1: d1 licenses no school"),
        ({"enable_from": TODAY}, "R1: the daily sync of d1 can be enabled from 2026-01-29"),
    ],
)
def test_R1_each_refusal_names_the_rule_and_the_district(overrides, message):
    with pytest.raises(OnboardingError, match=message):
        check_onboarding("d1", **request(**overrides))  # type: ignore[arg-type]


def test_R1_refusals_never_carry_the_credentials():
    with pytest.raises(OnboardingError) as refused:
        check_onboarding("d1", **request(client_id="the-key", client_secret="", schools="all"))  # type: ignore[arg-type]
    assert "the-key" not in str(refused.value)
