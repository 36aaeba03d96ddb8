"""Single-use state ledger (memory and DynamoDB), the serve event bridge, and the OIDC client."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import httpx
import pytest
import sso_support as s
from moto import mock_aws

from classlink_local.serve import event_from_http, http_from_result
from classlink_sync.sso.ledger import DynamoStateLedger, MemoryStateLedger, state_digest
from classlink_sync.sso.oidc import ClassLinkOidc, ClassLinkUnavailable, CodeRejected, TokenInvalid
from classlink_sync.sso.settings import SsoSecrets

ROOT = Path(__file__).resolve().parents[3]


def test_memory_ledger_is_single_use() -> None:
    ledger = MemoryStateLedger()
    assert ledger.consume("abc", int(time.time()) + 60)
    assert not ledger.consume("abc", int(time.time()) + 60)
    assert ledger.consume("abd", int(time.time()) + 60)


@mock_aws
def test_dynamo_ledger_is_single_use_and_stores_only_a_digest(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    dynamo = boto3.client("dynamodb", region_name="us-east-1")
    dynamo.create_table(
        TableName="sso-states", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )  # fmt: skip
    ledger = DynamoStateLedger("sso-states")
    assert ledger.consume("the-state", 2_000_000_000)
    assert not ledger.consume("the-state", 2_000_000_000)
    items = dynamo.scan(TableName="sso-states")["Items"]
    assert items == [{"pk": {"S": f"sso-state#{state_digest('the-state')}"}, "expires_at": {"N": "2000000000"}}]


def test_event_from_http_has_the_http_api_v2_shape() -> None:
    event = event_from_http(
        "GET", "/sso/classlink/callback?code=a&state=b", {"Cookie": "x=1; y=2", "Host": "h"}, request_id="r1"
    )
    sample = json.loads((ROOT / "events" / "sso_callback.json").read_text())
    assert set(sample) <= set(event) | {"body", "pathParameters", "stageVariables"}
    assert event["cookies"] == ["x=1", "y=2"] and event["queryStringParameters"] == {"code": "a", "state": "b"}
    assert event["requestContext"]["requestId"] == "r1" and event["rawPath"] == "/sso/classlink/callback"
    assert event["routeKey"] == "GET /sso/classlink/callback" and event["version"] == "2.0"


def test_http_from_result_sends_one_set_cookie_per_cookie() -> None:
    status, headers, body = http_from_result(
        {"statusCode": 302, "headers": {"Location": "/x"}, "cookies": ["a=1; Path=/", "b=2; Path=/"], "body": ""}
    )
    assert status == 302 and body == b""
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1; Path=/", "b=2; Path=/"]


@pytest.fixture
def oidc(settings, sso_app) -> ClassLinkOidc:
    return ClassLinkOidc(settings, client=httpx.Client(transport=s.emulator_transport(sso_app)))


SECRETS = SsoSecrets(s.CLIENT_ID, s.CLIENT_SECRET, s.SESSION_KEY.encode())


def _code(sso_app, oidc: ClassLinkOidc, nonce: str = "n" * 20) -> str:
    from classlink_sync.sso.cookies import pkce_challenge

    sso_app.sign_in_as("t-100", s.OAK)
    sso_app.add_user(s.OAK, s.USERS["teacher"])
    client = httpx.Client(transport=s.emulator_transport(sso_app))
    r = client.get(
        f"{oidc.issuer}/oauth2/v2/auth",
        params={"client_id": s.CLIENT_ID, "redirect_uri": s.REDIRECT_URI, "response_type": "code",
                "scope": "openid", "state": "st", "nonce": nonce, "code_challenge": pkce_challenge("v" * 50),
                "code_challenge_method": "S256"},
    )  # fmt: skip
    return str(httpx.URL(r.headers["location"]).params["code"])


def test_code_exchange_and_verification(oidc, sso_app) -> None:
    tokens = oidc.exchange_code(_code(sso_app, oidc), "v" * 50, SECRETS, s.REDIRECT_URI)
    claims = oidc.verify_id_token(tokens.id_token, s.CLIENT_ID, "n" * 20)
    assert claims["classLink_sourcedId"] == "t-100" and claims["classLink_tenant_id"] == 2
    assert "***" in repr(tokens)
    with pytest.raises(TokenInvalid, match="wrong nonce"):
        oidc.verify_id_token(tokens.id_token, s.CLIENT_ID, "other-nonce")
    with pytest.raises(TokenInvalid, match="wrong audience"):
        oidc.verify_id_token(tokens.id_token, "another-client", "n" * 20)


def test_pkce_verifier_mismatch_and_wrong_secret_are_refused(oidc, sso_app) -> None:
    with pytest.raises(CodeRejected):
        oidc.exchange_code(_code(sso_app, oidc), "w" * 50, SECRETS, s.REDIRECT_URI)
    bad_secret = SsoSecrets(s.CLIENT_ID, "nope", SECRETS.session_key)
    with pytest.raises(ClassLinkUnavailable):  # invalid_client: our configuration, not the user
        oidc.exchange_code(_code(sso_app, oidc), "v" * 50, bad_secret, s.REDIRECT_URI)


def test_algorithm_none_and_hs256_are_refused(oidc, sso_app) -> None:
    import jwt

    for token in (
        jwt.encode({"sub": "x"}, key=None, algorithm="none"),
        jwt.encode({"sub": "x"}, key="k" * 32, algorithm="HS256", headers={"kid": sso_app.current_kid}),
    ):
        with pytest.raises(TokenInvalid, match="unexpected algorithm"):
            oidc.verify_id_token(token, s.CLIENT_ID, "n")


def test_unknown_kid_is_refreshed_once_then_refused(oidc, sso_app) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    tokens = oidc.exchange_code(_code(sso_app, oidc), "v" * 50, SECRETS, s.REDIRECT_URI)
    oidc.verify_id_token(tokens.id_token, s.CLIENT_ID, "n" * 20)
    assert sso_app.calls["jwks"] == 1
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"sub": "x"}, stranger, algorithm="RS256", headers={"kid": "never-published"})
    with pytest.raises(TokenInvalid, match="unknown signing key"):
        oidc.verify_id_token(forged, s.CLIENT_ID, "n" * 20)
    assert sso_app.calls["jwks"] == 2  # exactly one refresh
