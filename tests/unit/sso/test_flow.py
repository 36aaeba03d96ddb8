"""The sign-in core (S1-S5) with a fake AccountDirectory and the emulator over MockTransport."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sso_support as s

from classlink_sync.sso.cookies import LOGIN_COOKIE, PURPOSE_SESSION, SESSION_COOKIE, Signer
from classlink_sync.sso.flow import SsoRequest, SsoResult, SsoService, id_text


def run(service: SsoService, sso_app, who: str | None, tenant=s.OAK, return_to: str | None = None) -> SsoResult:
    """Login, authorize at the emulator (in-process), callback with the login cookie."""
    if who:
        sso_app.sign_in_as(who, tenant)
    login = service.login(SsoRequest({"return_to": return_to} if return_to else {}, {}, "cid-1"))
    assert login.status == 302, login.body
    cookie = next(c for c in login.cookies if c.name == LOGIN_COOKIE)
    transport = s.emulator_transport(sso_app)
    with httpx.Client(transport=transport) as http:
        back = http.get(login.headers["Location"]).headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    return service.callback(SsoRequest(query, {LOGIN_COOKIE: cookie.value}, "cid-2"))


def test_login_builds_the_authorize_redirect(service: SsoService) -> None:
    result = service.login(SsoRequest({}, {}, "cid"))
    url = urlsplit(result.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://launchpad.classlink.test/oauth2/v2/auth"
    q = parse_qs(url.query)
    assert q["code_challenge_method"] == ["S256"] and q["scope"] == ["openid profile email oneroster"]
    two = service.login(SsoRequest({}, {}, "cid"))
    assert parse_qs(urlsplit(two.headers["Location"]).query)["state"] != q["state"]  # fresh each time


def test_teacher_signs_in_with_one_account_read(service, sso_app, directory) -> None:
    result = run(service, sso_app, "t-100")
    assert result.outcome == "signed_in" and result.headers["Location"] == s.APP_URL
    session = next(c for c in result.cookies if c.name == SESSION_COOKIE)
    assert session.max_age == service.settings.session_lifetime_seconds and session.path == "/"
    payload = Signer(s.SESSION_KEY.encode(), PURPOSE_SESSION).verify(session.value)
    assert payload and payload["sub"] == "acc-teacher"
    assert [r for r in directory.reads if r[0] == "find"] == [("find", "2", "t-100")]


@pytest.mark.parametrize(
    ("change", "outcome"),
    [
        ({"managed": False}, "not_allowed"),  # an account we did not sync (S3)
        ({"role": "administrator"}, "not_allowed"),
        ({"active": False}, "deactivated"),
        ({"district_id": "d-elm"}, "not_allowed"),  # defence in depth: another district's account
        ({"username": "other", "email": None}, "mismatch"),
        ({"username": "  M.FRANCIS@oak.EXAMPLE ", "email": None}, "signed_in"),  # normalised match
    ],
)
def test_the_account_decides(service, sso_app, directory, change, outcome) -> None:
    key = (str(s.OAK), "t-100")
    directory.accounts[key] = replace(directory.accounts[key], **change)
    assert run(service, sso_app, "t-100").outcome == outcome


def test_login_id_from_userinfo_can_agree_when_the_email_does_not(service, sso_app, directory) -> None:
    key = (str(s.OAK), "t-100")
    directory.accounts[key] = replace(directory.accounts[key], email="different@oak.example")
    assert run(service, sso_app, "t-100").outcome == "signed_in"  # LoginId "mfrancis" == username
    assert sso_app.calls["userinfo"] == 1


def test_callback_without_cookie_restarts_once_then_stops(service) -> None:
    first = service.callback(SsoRequest({"code": "c" * 20, "state": "theirs"}, {}, "cid"))
    assert first.outcome == "restart"
    state = parse_qs(urlsplit(first.headers["Location"]).query)["state"][0]
    assert state.startswith("r.")
    second = service.callback(SsoRequest({"code": "c" * 20, "state": state}, {}, "cid"))
    assert second.outcome == "cookies_blocked" and second.status == 400


def test_tampered_login_cookie_is_treated_as_absent(service) -> None:
    login = service.login(SsoRequest({}, {}, "cid"))
    cookie = login.cookies[0].value
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    state = parse_qs(urlsplit(login.headers["Location"]).query)["state"][0]
    result = service.callback(SsoRequest({"code": "x" * 20, "state": state}, {LOGIN_COOKIE: tampered}, "cid"))
    assert result.outcome == "restart"


def test_directory_failure_gives_a_friendly_page(service, sso_app, directory, monkeypatch) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("throttled")

    monkeypatch.setattr(directory, "find", boom)
    result = run(service, sso_app, "t-100")
    assert result.status == 503 and "cid-2" in result.body


def test_missing_app_url_is_a_friendly_page(service, sso_app) -> None:
    service.settings = service.settings.model_copy(update={"app_url": None})
    result = run(service, sso_app, "t-100")
    assert result.outcome == "misconfigured" and result.status == 503


@pytest.mark.parametrize(("value", "text"), [(2, "2"), (2.0, "2"), (" 7 ", "7"), (True, None), ("", None)])
def test_tenant_ids_are_compared_as_strings(value, text) -> None:
    assert id_text(value) == text


def test_login_route_imports_neither_httpx_nor_jwt_nor_the_store() -> None:
    code = (
        "import sys, os\n"
        "os.environ.update(SSO_REDIRECT_URI='https://a.test/cb', APP_URL='https://a.test/',"
        " CLASSLINK_CLIENT_ID='c', CLASSLINK_CLIENT_SECRET='s', SESSION_KEY='k'*40)\n"
        "from classlink_sync.sso.flow import SsoService, SsoRequest\n"
        "from classlink_sync.sso.settings import load_settings\n"
        "from classlink_sync.sso.ledger import MemoryStateLedger\n"
        "svc = SsoService(load_settings(), directory=lambda: 1/0, ledger=MemoryStateLedger())\n"
        "assert svc.login(SsoRequest({}, {}, 'c')).status == 302\n"
        "bad = [m for m in ('httpx', 'jwt', 'cryptography', 'boto3', 'classlink_sync.store') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_S1_without_a_configured_redirect_uri_the_api_origin_is_used(service) -> None:
    """A stack deployed without a custom domain: the callback is on the API's own domain (SPEC §2)."""
    from urllib.parse import parse_qs, urlsplit

    from classlink_sync.sso.flow import SsoRequest

    service.settings = service.settings.model_copy(update={"redirect_uri": None, "app_url": None})
    result = service.login(SsoRequest(query={}, cookies={}, correlation_id="cid-origin", origin="https://api.example"))
    assert result.status == 302
    query = parse_qs(urlsplit(result.headers["Location"]).query)
    assert query["redirect_uri"] == ["https://api.example/sso/classlink/callback"]
    nowhere = service.login(SsoRequest(query={}, cookies={}, correlation_id="cid-none"))
    assert nowhere.outcome == "misconfigured" and "cid-none" in nowhere.body
