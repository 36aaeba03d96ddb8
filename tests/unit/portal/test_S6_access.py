"""S6: who gets into the district portal, and into which district.

A verified ClassLink ``Tenant Administrator`` of an onboarded district's tenant gets that district
and nothing else; teachers, students and administrators of other tenants are refused; staff reach
one district through a signed link that lasts at most 7 days; a session lasts at most 8 hours.
"""

from __future__ import annotations

import time

import portal_support as p
import pytest

from classlink_sync.portal.session import PURPOSE_STAFF_LINK, SESSION_COOKIE, SessionCodec, new_session
from classlink_sync.portal.stafflink import make_staff_link
from classlink_sync.sso.cookies import Signer

KEY = p.PORTAL_KEY.encode()


def session_cookie(result: dict) -> str:
    return next(c for c in result.get("cookies") or [] if c.startswith(SESSION_COOKIE + "="))


def no_session_set(result: dict) -> bool:
    return not any(c.startswith(SESSION_COOKIE + "=") and "Max-Age=0" not in c for c in result.get("cookies") or [])


@pytest.mark.parametrize("standard_claims_only", [False, True], ids=["classlink-claims", "userinfo"])
def test_S6_tenant_administrator_signs_in_to_their_own_district(world, standard_claims_only: bool) -> None:
    world.sso.faults.standard_claims_only = standard_claims_only  # role and tenant from userinfo
    try:
        t = world.district()
        browser = world.browser()
        result = world.sign_in(browser, t)
    finally:
        world.sso.faults.standard_claims_only = False
    assert result["statusCode"] == 302, result.get("body", "")[:300]
    assert result["headers"]["Location"] == f"/portal/districts/{t.district_id}/"
    cookie = session_cookie(result)
    for attribute in ("Path=/portal;", "HttpOnly", "Secure", "SameSite=Lax"):
        assert attribute in cookie
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert 0 < max_age <= 8 * 3600
    session = SessionCodec(KEY).decode(browser.jar[SESSION_COOKIE], time.time())
    assert session is not None
    assert (session.district_id, session.kind, session.tenant_id) == (t.district_id, "classlink", t.tenant_id)
    assert session.name == t.users[t.admin]["givenName"] + " " + t.users[t.admin]["familyName"]
    overview = browser.get(result["headers"]["Location"])
    assert overview["statusCode"] == 200
    assert f"ClassLink sync of {t.district_id}" in p.text_of(overview)


@pytest.mark.parametrize("who", ["teacher", "student"])
def test_S6_teachers_and_students_are_refused(world, who: str) -> None:
    t = world.district()
    browser = world.browser()
    result = world.sign_in(browser, t, getattr(t, who))
    assert result["statusCode"] == 403
    assert "Tenant Administrator" in p.text_of(result)
    assert no_session_set(result)
    assert browser.get(f"/portal/districts/{t.district_id}/")["statusCode"] == 302  # to the sign-in


def test_S6_tenant_administrator_of_a_tenant_not_onboarded_is_refused(world) -> None:
    tenant = 990_001
    world.sso.add_user(tenant, {"sourcedId": "lost-admin", "username": "lost", "givenName": "L", "familyName": "A",
                                "role": "administrator"})  # fmt: skip
    world.sso.sign_in_as("lost-admin", tenant)
    browser = world.browser()
    result = world.sign_in(browser, None)
    assert result["statusCode"] == 403
    assert "not connected to This is School" in p.text_of(result)
    assert no_session_set(result)


def test_S6_administrator_of_one_district_never_reaches_another(world) -> None:
    mine, other = world.district(), world.district()
    held = world.held_run(other.district_id)
    run_id = world.run(other.district_id, issues=p.issues(3))
    browser = world.signed_in(mine)
    for path in ("/", "/runs", f"/runs/{run_id}", f"/runs/{run_id}/issues.csv", f"/runs/{held}", "/readiness",
                 f"/runs/{run_id}/undo"):  # fmt: skip
        result = browser.get(f"/portal/districts/{other.district_id}{path}")
        assert result["statusCode"] == 403, path
        assert other.district_id not in result["body"]
        assert run_id not in result["body"] and held not in result["body"]
    for action in ("approve", "discard"):
        result = browser.post(f"/portal/districts/{other.district_id}/runs/{held}/{action}", {"csrf": browser.csrf()})
        assert result["statusCode"] == 403
    assert (
        browser.post(f"/portal/districts/{other.district_id}/readiness", {"csrf": browser.csrf()})["statusCode"] == 403
    )
    record = world.handler._get_service().backend.run(other.district_id, held)
    assert record.status == "held" and record.review is None
    assert world.messages() == []
    # Their own district's run id under their own path is simply not found (keyed by their district).
    assert browser.get(f"/portal/districts/{mine.district_id}/runs/{run_id}")["statusCode"] == 404


def test_S6_login_state_is_single_use_and_bound_to_the_browser(world) -> None:
    t = world.district()
    browser = world.browser()
    world.sso.sign_in_as(t.admin, int(t.tenant_id))
    login = browser.get("/portal/login")
    login_cookie = browser.jar["tis_portal_login"]
    back = world.oidc_client.get(login["headers"]["Location"])
    target = "/portal/callback?" + back.headers["location"].split("?", 1)[1]
    assert world.browser().get(target)["statusCode"] == 400  # another browser: no login cookie
    assert browser.get(target)["statusCode"] == 302
    replay = world.browser()
    replay.jar["tis_portal_login"] = login_cookie  # a copied cookie and a copied callback URL
    result = replay.get(target)
    assert result["statusCode"] == 400  # the state was consumed
    assert no_session_set(result)


def test_S6_a_session_ends_after_8_hours(world) -> None:
    t = world.district()
    browser = world.signed_in(t)
    assert browser.get(f"/portal/districts/{t.district_id}/runs")["statusCode"] == 200
    world.clock.advance(8 * 3600 + 1)
    result = browser.get(f"/portal/districts/{t.district_id}/runs")
    assert result["statusCode"] == 302
    assert result["headers"]["Location"].startswith("/portal/login?return_to=")


def test_S6_a_new_sign_in_replaces_the_session(world) -> None:
    first, second = world.district(), world.district()
    browser = world.signed_in(first)
    link = make_staff_link(KEY, second.district_id, hours=1)
    browser.get(f"/portal/districts/{second.district_id}/staff?t={link.token}")
    assert browser.get(f"/portal/districts/{first.district_id}/")["statusCode"] == 403
    assert browser.get(f"/portal/districts/{second.district_id}/")["statusCode"] == 200


def test_S6_staff_link_opens_one_district_as_staff_link(world) -> None:
    t = world.district()
    link = make_staff_link(KEY, t.district_id, hours=2)
    browser = world.browser()
    result = browser.get(f"/portal/districts/{t.district_id}/staff?t={link.token}")
    assert result["statusCode"] == 303
    assert result["headers"]["Location"] == f"/portal/districts/{t.district_id}/"
    session = SessionCodec(KEY).decode(browser.jar[SESSION_COOKIE], time.time())
    assert session is not None and session.kind == "staff" and session.name == "staff link"
    assert session.expires_at <= link.expires_at  # never outlives the link
    assert "staff link" in p.text_of(browser.get(result["headers"]["Location"]))


def _forged(district_id: str, *, key: bytes = KEY, iat: int | None = None, exp: int | None = None) -> str:
    now = int(time.time())
    payload = {"d": district_id, "iat": iat if iat is not None else now, "exp": exp or now + 3600, "l": "x"}
    return Signer(key, PURPOSE_STAFF_LINK).sign(payload)


def test_S6_forged_expired_too_long_and_other_district_staff_links_are_refused(world) -> None:
    t, other = world.district(), world.district()
    now = int(time.time())
    good = make_staff_link(KEY, t.district_id, hours=1)
    mac = good.token.split(".")[1]
    cases = {
        "other key": _forged(t.district_id, key=b"another-key-0123456789-abcdefghijklmnop"),
        "tampered": f"{_forged(other.district_id).split('.')[0]}.{mac}",
        "expired": make_staff_link(KEY, t.district_id, hours=1, now=now - 7200).token,
        "longer than 7 days": _forged(t.district_id, iat=now - 60, exp=now + 8 * 24 * 3600),
        "other district": make_staff_link(KEY, other.district_id, hours=1).token,
        "not a token": "hello",
        "a session cookie": SessionCodec(KEY).encode(new_session(t.district_id, "staff", "x", now=now, lifetime=60)),
    }
    for name, token in cases.items():
        browser = world.browser()
        result = browser.get(f"/portal/districts/{t.district_id}/staff?t={token}")
        assert result["statusCode"] == 403, name
        assert "not valid" in p.text_of(result), name
        assert no_session_set(result), name
        assert SESSION_COOKIE not in browser.jar, name
    assert world.browser().get(f"/portal/districts/{t.district_id}/staff")["statusCode"] == 403  # no token
    with pytest.raises(ValueError, match="7 days"):
        make_staff_link(KEY, t.district_id, hours=7 * 24 + 1)


def test_S6_sign_out_ends_the_session(world) -> None:
    t = world.district()
    browser = world.signed_in(t)
    result = browser.post("/portal/logout", {"csrf": browser.csrf()})
    assert result["statusCode"] == 200 and "signed out" in p.text_of(result)
    assert SESSION_COOKIE not in browser.jar
    assert browser.get(f"/portal/districts/{t.district_id}/")["statusCode"] == 302


def test_S6_return_path_stays_inside_the_portal(world) -> None:
    t = world.district()
    browser = world.browser()
    result = world.sign_in(browser, t, query=f"?return_to=/portal/districts/{t.district_id}/runs")
    assert result["headers"]["Location"] == f"/portal/districts/{t.district_id}/runs"
    for evil in ("https://evil.example/", "//evil.example/portal", "/app/home", "/portal/../app"):
        browser = world.browser()
        result = world.sign_in(browser, t, query=f"?return_to={evil}")
        assert result["headers"]["Location"] == f"/portal/districts/{t.district_id}/", evil
