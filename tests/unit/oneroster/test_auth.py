"""OAuth 1.0a HMAC-SHA256 two-legged signing (SPEC §1), verified with oauthlib."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oauthlib.oauth1.rfc5849 import signature, utils

from classlink_sync.oneroster.auth import BearerAuth, OAuth1Auth, signature_base_string
from classlink_sync.oneroster.client import OneRosterClient
from classlink_sync.oneroster.filters import combine, predicate

BASE = "https://tenant-ca-v2.oneroster.com/ims/oneroster/v1p1"


def oauthlib_verifies(request: httpx.Request, secret: str) -> bool:
    """Verify with oauthlib alone: its parameter collection, base string and HMAC."""
    header = request.headers["Authorization"]
    oauth = dict(utils.parse_authorization_header(header))
    assert oauth["oauth_signature_method"] == "HMAC-SHA256"
    params = signature.collect_parameters(
        uri_query=request.url.query.decode("ascii"),
        headers={"Authorization": header},
        exclude_oauth_signature=True,
    )
    checked = SimpleNamespace(
        http_method=request.method,
        uri=str(request.url),
        params=params,
        signature=utils.unescape(oauth["oauth_signature"]),
    )
    return signature.verify_hmac_sha256(checked, client_secret=secret)


def signed_request(url: str, client_id: str = "client-1", secret: str = "secret-1") -> httpx.Request:
    """Send through the real client (its URL building + our signer) and capture what went out."""
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, json={"users": []}, headers={"X-Total-Count": "0"})

    auth = OAuth1Auth(client_id, secret)
    with httpx.Client(auth=auth, transport=httpx.MockTransport(handler)) as http:
        http.get(url)
    return captured[0]


FILTERS = [
    "dateLastModified>'2026-01-01T00:00:00Z'",
    "familyName='Núñez'",
    "status='active'",
    "role='teacher' AND familyName~'de la Cruz'",
    "givenName='Zoë' OR givenName='李'",
    "email='a+b@example.org'",
]


@pytest.mark.parametrize("filter_", FILTERS)
def test_signature_verifies_with_oauthlib_for_filters(filter_: str) -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, json={"users": []}, headers={"X-Total-Count": "0"})

    auth = OAuth1Auth("ck", "s3cr&t ü/+")
    with OneRosterClient(BASE, auth, transport=httpx.MockTransport(handler)) as client:
        _, _, status = client.fetch_collection("users", filter=filter_)
    assert status.complete
    request = captured[0]
    assert oauthlib_verifies(request, "s3cr&t ü/+")
    assert not oauthlib_verifies(request, "another secret")
    # the server reads back exactly the filter we meant (quotes, spaces, non-ASCII intact)
    assert dict(signature.collect_parameters(uri_query=request.url.query.decode()))["filter"] == filter_


def test_signature_covers_the_query() -> None:
    request = signed_request(f"{BASE}/users?limit=10&offset=0")
    tampered = httpx.Request("GET", f"{BASE}/users?limit=10&offset=10", headers=request.headers)
    assert oauthlib_verifies(request, "secret-1")
    assert not oauthlib_verifies(tampered, "secret-1")


def test_signature_with_non_default_port_and_upper_case_host() -> None:
    request = signed_request("http://LOCALHOST:8765/ims/oneroster/v1p1/users?filter=status%3D%27active%27")
    assert oauthlib_verifies(request, "secret-1")


@settings(max_examples=60, deadline=None)
@given(
    value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="'"), max_size=30),
    secret=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
)
def test_any_filter_value_and_secret_verify_with_oauthlib(value: str, secret: str) -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, json={"users": []}, headers={"X-Total-Count": "0"})

    filter_ = combine(predicate("familyName", "=", value), predicate("dateLastModified", ">=", "2026-01-01"))
    with OneRosterClient(BASE, OAuth1Auth("ck", secret), transport=httpx.MockTransport(handler)) as client:
        client.fetch_collection("users", filter=filter_)
    assert oauthlib_verifies(captured[0], secret)


def test_fixed_vector_pins_base_string_and_signature() -> None:
    auth = OAuth1Auth("key-123", "s3cr&t~ü", clock=lambda: 1767225600, nonce=lambda: "n0nce")
    url = httpx.URL(
        f"{BASE.replace('tenant', 'example')}/users?limit=100&offset=0"
        "&filter=dateLastModified%3E%272026-01-01T00%3A00%3A00Z%27"
    )
    oauth = [
        ("oauth_consumer_key", "key-123"),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", "1767225600"),
        ("oauth_nonce", "n0nce"),
        ("oauth_version", "1.0"),
    ]
    assert signature_base_string("GET", url, oauth) == (
        "GET&https%3A%2F%2Fexample-ca-v2.oneroster.com%2Fims%2Foneroster%2Fv1p1%2Fusers&"
        "filter%3DdateLastModified%253E%25272026-01-01T00%253A00%253A00Z%2527%26limit%3D100"
        "%26oauth_consumer_key%3Dkey-123%26oauth_nonce%3Dn0nce%26oauth_signature_method%3DHMAC-SHA256"
        "%26oauth_timestamp%3D1767225600%26oauth_version%3D1.0%26offset%3D0"
    )
    assert auth.authorization("GET", url) == (
        'OAuth oauth_consumer_key="key-123", oauth_nonce="n0nce", '
        'oauth_signature="r5xBG2vJvxLvjak%2BSjx9SJlZOg4NPrbFNUt0xPqy2fo%3D", '
        'oauth_signature_method="HMAC-SHA256", oauth_timestamp="1767225600", oauth_version="1.0"'
    )
    sent = httpx.Request("GET", url, headers={"Authorization": auth.authorization("GET", url)})
    assert oauthlib_verifies(sent, "s3cr&t~ü")


def test_each_request_gets_a_fresh_nonce() -> None:
    first = signed_request(f"{BASE}/users").headers["Authorization"]
    second = signed_request(f"{BASE}/users").headers["Authorization"]
    nonce = lambda h: dict(utils.parse_authorization_header(h))["oauth_nonce"]  # noqa: E731
    assert nonce(first) != nonce(second)


def test_secret_never_in_repr() -> None:
    assert "hunter2" not in repr(OAuth1Auth("ck", "hunter2"))
    assert "tok-xyz" not in repr(BearerAuth("tok-xyz"))


def test_bearer_auth_for_the_proxy() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, json={"users": []}, headers={"X-Total-Count": "0"})

    proxy = "https://oneroster-proxy.classlink.io/app-42/ims/oneroster/v1p1"
    with OneRosterClient(proxy, BearerAuth("tok-xyz"), transport=httpx.MockTransport(handler)) as client:
        client.fetch_collection("users")
    assert captured[0].headers["Authorization"] == "Bearer tok-xyz"
    assert captured[0].url.path == "/app-42/ims/oneroster/v1p1/users"
