"""Helpers for the emulator's protocol tests: requests signed by oauthlib, independent of our signer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_QUERY, Client

Get = Callable[..., httpx.Response]


def signed_get(
    url: str,
    key: str,
    secret: str,
    params: dict[str, Any] | None = None,
    *,
    in_query: bool = False,
    **client_options: Any,
) -> httpx.Response:
    """GET ``url`` signed with OAuth 1.0a HMAC-SHA256 by oauthlib (header, or query string)."""
    full = str(httpx.URL(url, params=params)) if params else url
    client = Client(
        key,
        client_secret=secret,
        signature_method=SIGNATURE_HMAC_SHA256,
        signature_type=SIGNATURE_TYPE_QUERY if in_query else "AUTH_HEADER",
        **client_options,
    )
    uri, headers, _ = client.sign(full)
    return httpx.get(uri, headers=headers, timeout=10)


@pytest.fixture
def get(emulator: Any) -> Get:
    """``get("/users", limit=5)``: a signed GET against the ``emulator`` fixture."""

    def call(path: str, **params: Any) -> httpx.Response:
        return signed_get(emulator.base_url + path, emulator.client_id, emulator.client_secret, params)

    return call
