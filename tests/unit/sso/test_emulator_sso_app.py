"""The emulator's SSO side (SPEC §1 shapes), called through ``handle(Request)``."""

from __future__ import annotations

import json

import httpx
import jwt
import sso_support as s

from classlink_local.emulator.http import Request


def get(app, path: str, query=(), headers=None) -> tuple[int, dict, bytes]:
    r = app.handle(Request("GET", path, list(query), headers or {}, b"", f"https://launchpad.classlink.test{path}"))
    return r.status, r.headers, r.body


def authorize(app, **extra) -> str:
    params = {"client_id": s.CLIENT_ID, "redirect_uri": s.REDIRECT_URI, "response_type": "code",
              "scope": "openid profile", "state": "st", "nonce": "nn", **extra}  # fmt: skip
    status, headers, _ = get(app, "/oauth2/v2/auth", params.items())
    assert status == 302
    return headers["Location"]


def token(app, code: str, **extra) -> tuple[int, dict]:
    form = {"grant_type": "authorization_code", "code": code, "client_id": s.CLIENT_ID,
            "client_secret": s.CLIENT_SECRET, "redirect_uri": s.REDIRECT_URI, **extra}  # fmt: skip
    body = httpx.QueryParams(form).__str__().encode()
    r = app.handle(Request("POST", "/oauth2/v2/token", [], {}, body, "https://launchpad.classlink.test/x"))
    return r.status, json.loads(r.body)


def test_userinfo_has_classlinks_shape_with_numeric_ids(sso_app, directory) -> None:
    sso_app.sign_in_as("t-300", s.OAK)
    code = str(httpx.URL(authorize(sso_app)).params["code"])
    status, body = token(sso_app, code)
    assert status == 200 and body["token_type"] == "Bearer"
    status, _, raw = get(sso_app, "/v2/my/info", headers={"authorization": f"Bearer {body['access_token']}"})
    info = json.loads(raw)
    assert status == 200 and info["TenantId"] == 2 and isinstance(info["UserId"], int)
    assert info["SourcedId"] == "t-300" and info["LoginId"] == "pprincipal" and info["Role"] == "Tenant Administrator"
    assert get(sso_app, "/v2/my/info", headers={"authorization": "Bearer nope"})[0] == 401


def test_codes_are_single_use_and_pkce_is_checked(sso_app, directory) -> None:
    sso_app.sign_in_as("t-100", s.OAK)
    code = str(httpx.URL(authorize(sso_app)).params["code"])
    assert token(sso_app, code)[0] == 200
    assert token(sso_app, code) == (
        400,
        {"error": "invalid_grant", "error_description": "code unknown, used or expired"},
    )
    from classlink_sync.sso.cookies import pkce_challenge

    code = str(httpx.URL(authorize(sso_app, code_challenge=pkce_challenge("v" * 43),
                                   code_challenge_method="S256")).params["code"])  # fmt: skip
    assert token(sso_app, code, code_verifier="w" * 43)[0] == 400
    assert token(sso_app, str(httpx.URL(authorize(sso_app)).params["code"]), client_secret="bad")[0] == 401


def test_standard_claims_only_mode_and_claims(sso_app, directory) -> None:
    sso_app.sign_in_as("t-100", s.OAK)
    _, full = token(sso_app, str(httpx.URL(authorize(sso_app)).params["code"]))
    claims = jwt.decode(full["id_token"], options={"verify_signature": False})
    assert claims["classLink_sourcedId"] == "t-100" and claims["classLink_role"] == "Teacher"
    assert claims["iss"] == "https://launchpad.classlink.test" and claims["nonce"] == "nn"
    sso_app.faults.standard_claims_only = True
    _, std = token(sso_app, str(httpx.URL(authorize(sso_app)).params["code"]))
    claims = jwt.decode(std["id_token"], options={"verify_signature": False})
    assert not any(k.startswith("classLink_") for k in claims) and claims["email"] == "M.Francis@Oak.example"


def test_deny_picker_jwks_and_discovery(sso_app, directory) -> None:
    sso_app.deny()
    assert "error=access_denied" in authorize(sso_app)
    sso_app.deny(False)
    status, _, page = get(sso_app, "/oauth2/v2/auth", [("client_id", s.CLIENT_ID), ("redirect_uri", s.REDIRECT_URI),
                                                      ("response_type", "code"), ("scope", "openid")])  # fmt: skip
    assert status == 200 and b"as=2%3At-100" in page  # nobody chosen: a picker
    assert "code=" in authorize(sso_app, **{"as": "2:s-200"})
    keys = json.loads(get(sso_app, "/oauth2/v2/jwks")[2])["keys"]
    assert [k["kid"] for k in keys] == [sso_app.current_kid] and keys[0]["alg"] == "RS256"
    old = sso_app.current_kid
    sso_app.rotate_key(keep_old=True)
    assert {k["kid"] for k in json.loads(get(sso_app, "/oauth2/v2/jwks")[2])["keys"]} == {old, sso_app.current_kid}
    disco = json.loads(get(sso_app, "/.well-known/openid-configuration")[2])
    assert disco["issuer"] == "https://launchpad.classlink.test"
    assert disco["jwks_uri"].endswith("/oauth2/v2/jwks") and disco["id_token_signing_alg_values_supported"] == ["RS256"]
    assert sso_app.handle(s.emulator_request(httpx.Request("GET", "https://x/ims/oneroster/v1p1/users"))) is None
