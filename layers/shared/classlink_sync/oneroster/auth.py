"""Authentication for the Roster Server (SPEC §1 "Roster Server").

``OAuth1Auth``: OAuth 1.0a, HMAC-SHA256, two-legged (no token), as ClassLink signs. The signature
base string is ``METHOD&pct(base URI)&pct(normalised parameters)`` where the parameters are the
oauth_* parameters and the *decoded* query parameters, each key and value percent-encoded with
strict RFC 3986 rules (UTF-8, only ``A-Z a-z 0-9 - . _ ~`` left as is), sorted by key then value
and joined as ``k=v`` with ``&`` (RFC 5849 §3.4.1). The key is ``pct(secret)&``.

``BearerAuth``: a bearer token, for ClassLink's OneRoster proxy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Generator, Iterable
from urllib.parse import parse_qsl, quote

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}


def pct(value: str) -> str:
    """Strict RFC 3986 percent-encoding of a UTF-8 string (RFC 5849 §3.6)."""
    return quote(value, safe="~")


def base_string_uri(url: httpx.URL) -> str:
    """Scheme and host lower case, default port dropped, path as sent, no query (RFC 5849 §3.4.1.2)."""
    scheme = url.scheme.lower()
    host = url.raw_host.decode("ascii").lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = url.port
    authority = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = url.raw_path.split(b"?", 1)[0].decode("ascii") or "/"
    return f"{scheme}://{authority}{path}"


def signature_base_string(method: str, url: httpx.URL, oauth_params: Iterable[tuple[str, str]]) -> str:
    """The OAuth 1.0a signature base string for a request (RFC 5849 §3.4.1, SPEC §1)."""
    query = url.query.decode("ascii")
    params = [*oauth_params, *parse_qsl(query, keep_blank_values=True)]
    encoded = sorted((pct(k), pct(v)) for k, v in params)
    normalised = "&".join(f"{k}={v}" for k, v in encoded)
    return "&".join((method.upper(), pct(base_string_uri(url)), pct(normalised)))


def sign_hmac_sha256(base_string: str, client_secret: str) -> str:
    """Base64 HMAC-SHA256 of the base string with key ``pct(secret)&`` (two-legged: no token)."""
    key = f"{pct(client_secret)}&".encode()
    digest = hmac.new(key, base_string.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class OAuth1Auth(httpx.Auth):
    """Signs every request with OAuth 1.0a HMAC-SHA256, in the Authorization header (SPEC §1).

    ``clock`` and ``nonce`` are injectable so tests can pin the output; each (re)try is signed
    afresh with a new timestamp and nonce.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._nonce = nonce

    def __repr__(self) -> str:  # never show the secret
        return f"OAuth1Auth(client_id={self._client_id!r}, client_secret=***)"

    def authorization(self, method: str, url: httpx.URL) -> str:
        """The ``Authorization`` header value for one request."""
        oauth = [
            ("oauth_consumer_key", self._client_id),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", str(int(self._clock()))),
            ("oauth_nonce", self._nonce()),
            ("oauth_version", "1.0"),
        ]
        signature = sign_hmac_sha256(signature_base_string(method, url, oauth), self._client_secret)
        oauth.append(("oauth_signature", signature))
        return "OAuth " + ", ".join(f'{pct(k)}="{pct(v)}"' for k, v in sorted(oauth))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self.authorization(request.method, request.url)
        yield request


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>``, for ClassLink's OneRoster proxy (SPEC §1)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request
