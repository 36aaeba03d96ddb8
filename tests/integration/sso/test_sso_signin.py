"""S1-S5 end to end: the real handler with API Gateway v2 events, the emulator's SSO side over
HTTP on 127.0.0.1, a fake account directory. The fixture checks every test's logs (S5)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sso_support as s  # on sys.path through conftest

from classlink_sync.sso.cookies import PURPOSE_SESSION, SESSION_COOKIE, Signer

pytestmark = pytest.mark.integration


def session_of(result: dict[str, Any]) -> dict[str, Any]:
    cookie = next(c for c in result["cookies"] if c.startswith(SESSION_COOKIE + "="))
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/;"):
        assert attribute in cookie
    payload = Signer(s.SESSION_KEY.encode(), PURPOSE_SESSION).verify(cookie.split(";")[0].split("=", 1)[1])
    assert payload is not None
    return payload


def assert_page(result: dict[str, Any], status: int, phrase: str, browser: s.Browser) -> None:
    assert result["statusCode"] == status, result["body"][:300]
    assert result["headers"]["Content-Type"].startswith("text/html")
    assert phrase in result["body"]
    assert browser.request_ids[-1] in result["body"]  # the correlation id is on the page (S5)
    assert not any(c.startswith(SESSION_COOKIE + "=") for c in result.get("cookies") or [])


@pytest.mark.parametrize("standard_only", [False, True], ids=["full-claims", "standard-claims"])
@pytest.mark.parametrize(
    ("who", "account", "role"), [("t-100", "acc-teacher", "teacher"), ("s-200", "acc-student", "student")]
)
def test_teacher_and_student_sign_in(world, who: str, account: str, role: str, standard_only: bool) -> None:
    world.sso.faults.standard_claims_only = standard_only
    world.sso.sign_in_as(who, s.OAK)
    result = world.browser.sign_in()
    assert result["statusCode"] == 302
    assert result["headers"]["Location"] == s.APP_URL
    session = session_of(result)
    assert (session["sub"], session["did"], session["role"]) == (account, "d-oak", role)
    assert world.sso.calls["token"] == 1
    # Standard claims only: the ids come from userinfo. The student has no email, so even with full
    # claims her login id (S2) comes from userinfo.
    assert world.sso.calls["userinfo"] == (1 if standard_only or role == "student" else 0)
    assert ("find", "2", who) in world.directory.reads  # tenant compared as a string
    assert "tis_sso_login" not in world.browser.jar  # the login cookie is cleared


def test_launchpad_administrator_whose_account_is_a_teacher_signs_in(world) -> None:
    world.sso.sign_in_as("t-300", s.OAK)  # LaunchPad says "Tenant Administrator"
    result = world.browser.sign_in()
    assert session_of(result)["role"] == "teacher"
    assert '"classlink_role":"Tenant Administrator"' in world.logs.text


def test_launch_that_began_at_classlink_restarts_once_and_signs_in(world) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    # ClassLink sends the user straight to our callback: a code of its own, no state of ours.
    unsolicited = world.browser.authorize(
        f"{world.base_url}/oauth2/v2/auth?client_id={s.CLIENT_ID}&redirect_uri={s.REDIRECT_URI}"
        "&response_type=code&scope=openid"
    )
    restart = world.browser.get(unsolicited)
    assert restart["statusCode"] == 302
    location = restart["headers"]["Location"]
    assert location.startswith(f"{world.base_url}/oauth2/v2/auth?")
    assert parse_qs(urlsplit(location).query)["state"][0].startswith("r.")
    result = world.browser.get(world.browser.authorize(location))
    assert session_of(result)["sub"] == "acc-teacher"
    assert world.sso.calls["token"] == 1  # ClassLink's own code was never exchanged


def test_restart_happens_only_once(world) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    first = world.browser.get("/sso/classlink/callback?code=abc123456789")
    assert first["statusCode"] == 302
    callback = world.browser.authorize(first["headers"]["Location"])
    world.browser.jar.clear()  # a browser that drops our cookie
    result = world.browser.get(callback)
    assert_page(result, 400, "allow cookies", world.browser)


def test_login_redirect_carries_pkce_state_nonce_and_scope(world) -> None:
    result = world.browser.login()
    q = parse_qs(urlsplit(result["headers"]["Location"]).query)
    assert q["scope"] == ["openid profile email oneroster"]
    assert q["code_challenge_method"] == ["S256"] and q["response_type"] == ["code"]
    assert q["client_id"] == [s.CLIENT_ID] and q["redirect_uri"] == [s.REDIRECT_URI]
    assert len(q["state"][0]) >= 32 and len(q["nonce"][0]) >= 32
    cookie = result["cookies"][0]
    assert cookie.startswith("tis_sso_login=") and "HttpOnly" in cookie and "Path=/sso/classlink" in cookie


def test_wrong_state_is_refused(world) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    login = world.browser.login()
    callback = world.browser.authorize(login["headers"]["Location"])
    state = parse_qs(urlsplit(callback).query)["state"][0]
    other = "y" if state[0] == "x" else "x"  # a state that starts with "x" (1 in 64) must still change
    tampered = callback.replace(state, other + state[1:])
    assert tampered != callback
    assert_page(world.browser.get(tampered), 400, "not valid any more", world.browser)
    assert world.sso.calls["token"] == 0


def test_replayed_state_is_refused_even_with_a_copied_cookie(world) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    login = world.browser.login()
    copied_jar = dict(world.browser.jar)
    callback = world.browser.authorize(login["headers"]["Location"])
    assert world.browser.get(callback)["statusCode"] == 302
    replay = world.browser.get(callback, cookies=copied_jar)
    assert_page(replay, 400, "not valid any more", world.browser)
    assert world.sso.calls["token"] == 1


def test_replayed_code_is_refused(world) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    login = world.browser.login()
    callback = world.browser.authorize(login["headers"]["Location"])
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert world.browser.get(callback)["statusCode"] == 302
    # A second login whose callback carries the first, already used code.
    login2 = world.browser.login()
    callback2 = world.browser.authorize(login2["headers"]["Location"])
    replayed = callback2.replace(parse_qs(urlsplit(callback2).query)["code"][0], code)
    assert_page(world.browser.get(replayed), 400, "already used", world.browser)


def test_expired_code_is_refused(world) -> None:
    now = [time.time()]
    world.sso.clock = lambda: now[0]
    world.sso.sign_in_as("t-100", s.OAK)
    login = world.browser.login()
    callback = world.browser.authorize(login["headers"]["Location"])
    now[0] += 301  # ClassLink's codes live 5 minutes
    assert_page(world.browser.get(callback), 400, "took too long", world.browser)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("bad_signature", "bad signature"),
        ("wrong_issuer", "wrong issuer"),
        ("wrong_audience", "wrong audience"),
        ("wrong_nonce", "wrong nonce"),
        ("expired", "expired"),
    ],
)
def test_invalid_id_token_is_refused(world, fault: str, reason: str) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    setattr(world.sso.faults, fault, True)
    result = world.browser.sign_in()
    assert_page(result, 403, "could not verify", world.browser)
    lines = [json.loads(line) for line in world.logs.text.splitlines() if line.startswith("{")]
    assert any(x.get("reason") == reason and x.get("security_event") for x in lines)


def test_key_rotation_refreshes_the_jwks_once(world) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    assert world.browser.sign_in()["statusCode"] == 302
    assert world.browser.sign_in()["statusCode"] == 302
    assert world.sso.calls["jwks"] == 1  # cached
    world.sso.rotate_key()
    assert world.browser.sign_in()["statusCode"] == 302
    assert world.sso.calls["jwks"] == 2  # one refresh on the unknown kid


def test_tenant_not_onboarded(world) -> None:
    world.sso.sign_in_as("t-100", s.ELM)
    assert_page(world.browser.sign_in(), 403, "not set up", world.browser)


def test_same_sourced_id_in_another_district_does_not_sign_in(world) -> None:
    world.sso.sign_in_as("t-100", s.PINE)  # OAK's teacher has the same sourcedId
    assert_page(world.browser.sign_in(), 403, "has not shared your account", world.browser)
    assert ("find", str(s.PINE), "t-100") in world.directory.reads


def test_email_and_login_id_disagreeing_with_the_account_is_refused(world) -> None:
    world.sso.sign_in_as("t-500", s.OAK)
    assert_page(world.browser.sign_in(), 403, "does not match", world.browser)
    assert '"sso_event":"sso.identity_mismatch"' in world.logs.text
    assert '"security_event":true' in world.logs.text


def test_user_classlink_knows_but_we_have_not_synced(world) -> None:
    world.sso.sign_in_as("s-999", s.OAK)
    result = world.browser.sign_in()
    assert_page(result, 403, "Your school has not shared your account with This is School yet", world.browser)
    assert "ask your ClassLink administrator" in result["body"]


def test_deactivated_account(world) -> None:
    world.sso.sign_in_as("s-400", s.OAK)
    assert_page(world.browser.sign_in(), 403, "deactivated", world.browser)


def test_access_denied(world) -> None:
    world.sso.deny()
    assert_page(world.browser.sign_in(), 403, "Sign-in cancelled", world.browser)


@pytest.mark.parametrize(
    "target", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "/%2F%2Fevil.example", "/admin"]
)
def test_return_path_to_another_host_is_refused(world, target: str) -> None:
    from urllib.parse import quote

    result = world.browser.login(return_to=quote(target, safe=""))
    assert_page(result, 400, "outside This is School", world.browser)


def test_allowed_return_path_is_followed(world) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    result = world.browser.sign_in(return_to="/classes/42")
    assert result["headers"]["Location"] == "https://app.thisisschool.test/classes/42"


def test_new_sign_in_replaces_the_existing_session(world) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    first = session_of(world.browser.sign_in())
    world.sso.sign_in_as("s-200", s.OAK)  # a shared classroom device
    second = session_of(world.browser.sign_in())
    assert second["sub"] == "acc-student" and second["sid"] != first["sid"]
    assert '"replaced_session":true' in world.logs.text


@pytest.mark.parametrize("fault", ["token_status", "token_delay", "userinfo_status"])
def test_classlink_answering_500_or_timing_out(world, fault: str) -> None:
    world.sso.sign_in_as("t-100", s.OAK)
    world.sso.faults.standard_claims_only = True
    setattr(world.sso.faults, fault, 500 if fault.endswith("status") else 1.0)
    assert_page(world.browser.sign_in(), 502, "ClassLink did not answer", world.browser)


def test_missing_setting_gives_a_friendly_page_and_names_it_in_the_log(world, monkeypatch) -> None:
    monkeypatch.delenv("CLASSLINK_CLIENT_ID")
    world.handler.configure(ledger=None)
    result = world.browser.login()
    assert_page(result, 503, "not available right now", world.browser)
    assert "CLASSLINK_CLIENT_ID" in world.logs.text and "CLASSLINK_CLIENT_ID" not in result["body"]


def test_without_sso_redirect_uri_the_callback_is_on_the_apis_own_domain(world, monkeypatch) -> None:
    """A stack deployed without a custom domain has no SSO_REDIRECT_URI: the API's domain is used."""
    monkeypatch.delenv("SSO_REDIRECT_URI")
    world.handler.configure(ledger=None)
    result = world.browser.login()
    assert result["statusCode"] == 302
    assert "redirect_uri=https%3A%2F%2F" in result["headers"]["Location"]
