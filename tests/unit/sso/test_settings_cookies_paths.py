"""Settings (env + Secrets Manager), signed cookies, PKCE and the return-path allow-list."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from classlink_sync.sso.cookies import (
    PURPOSE_LOGIN,
    PURPOSE_SESSION,
    Signer,
    clear_cookie,
    parse_cookies,
    pkce_challenge,
    set_cookie,
)
from classlink_sync.sso.returnpath import safe_return_path
from classlink_sync.sso.settings import SecretResolver, SsoConfigError, load_settings

KEY = b"k" * 40


def test_defaults_are_classlinks_real_hosts() -> None:
    settings = load_settings({})
    assert settings.launchpad_url == "https://launchpad.classlink.com"
    assert settings.nodeapi_url == "https://nodeapi.classlink.com"


def test_env_values_and_allowed_paths() -> None:
    settings = load_settings({"SSO_ALLOWED_RETURN_PATHS": "/home, /classes", "SESSION_LIFETIME_SECONDS": "60"})
    assert settings.allowed_return_paths == ("/home", "/classes")
    assert settings.session_lifetime_seconds == 60


@pytest.mark.parametrize(
    ("env", "name"),
    [({"APP_URL": "not a url"}, "APP_URL"), ({"SSO_ALLOWED_RETURN_PATHS": "//evil"}, "SSO_ALLOWED_RETURN_PATHS"),
     ({"SESSION_LIFETIME_SECONDS": "-1"}, "SESSION_LIFETIME_SECONDS")],
)  # fmt: skip
def test_invalid_setting_is_named(env, name) -> None:
    with pytest.raises(SsoConfigError) as err:
        load_settings(env)
    assert err.value.setting == name


def test_missing_redirect_uri_is_named() -> None:
    with pytest.raises(SsoConfigError, match="SSO_REDIRECT_URI"):
        load_settings({}).require("redirect_uri")


def test_missing_credentials_name_the_settings() -> None:
    with pytest.raises(SsoConfigError, match=r"CLASSLINK_CLIENT_ID.*SSO_SECRET_ARN"):
        SecretResolver(load_settings({})).get()


@mock_aws
def test_secrets_manager_supplies_credentials_and_env_wins(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(
        Name="sso",
        SecretString=json.dumps({"client_id": "from-secret", "client_secret": "s3cr3t-value", "session_key": "s" * 40}),
    )["ARN"]
    resolved = SecretResolver(load_settings({"SSO_SECRET_ARN": arn})).get()
    assert (resolved.client_id, resolved.client_secret, resolved.session_key) == (
        "from-secret",
        "s3cr3t-value",
        b"s" * 40,
    )
    assert "s3cr3t-value" not in repr(resolved)
    env_wins = SecretResolver(load_settings({"SSO_SECRET_ARN": arn, "CLASSLINK_CLIENT_ID": "from-env"})).get()
    assert env_wins.client_id == "from-env" and env_wins.client_secret == "s3cr3t-value"


@mock_aws
def test_unreadable_secret_is_named_without_its_value(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(SsoConfigError, match="SSO_SECRET_ARN could not be read"):
        SecretResolver(load_settings({"SSO_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:nope"})).get()


def test_signer_round_trip_tamper_expiry_and_purpose() -> None:
    login = Signer(KEY, PURPOSE_LOGIN)
    value = login.sign({"a": 1, "exp": 2_000_000_000})
    assert login.verify(value, now=1_000_000_000) == {"a": 1, "exp": 2_000_000_000}
    assert login.verify(value, now=2_000_000_001) is None  # expired
    assert Signer(KEY, PURPOSE_SESSION).verify(value, now=1) is None  # other purpose
    assert Signer(b"x" * 40, PURPOSE_LOGIN).verify(value, now=1) is None  # other key
    body, mac = value.split(".")
    assert login.verify(body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac, now=1) is None
    assert login.verify("garbage", now=1) is None and login.verify(None) is None


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_cookie_headers() -> None:
    header = set_cookie("tis_session", "v", max_age=60).header()
    assert header == "tis_session=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax"
    assert "Max-Age=0" in clear_cookie("x", "/p").header()
    assert parse_cookies(["a=1", "b=2"], "c=3; a=9") == {"a": "1", "b": "2", "c": "3"}


ALLOWED = ("/home", "/classes")


@pytest.mark.parametrize("path", ["/home", "/classes/42", "/classes?tab=2", "/home#top"])
def test_allowed_return_paths(path) -> None:
    assert safe_return_path(path, ALLOWED) == path


@pytest.mark.parametrize(
    "path",
    ["https://evil.example/home", "//evil.example/home", "/\\evil.example", "\\\\evil.example", "/%2F%2Fevil.example",
     "/%5Cevil.example", "/classes/../admin", "/admin", "/homework", "home", "/home\r\nSet-Cookie:x", "",
     "javascript:alert(1)", "/" + "a" * 600],
)  # fmt: skip
def test_refused_return_paths(path) -> None:
    assert safe_return_path(path, ALLOWED) is None
