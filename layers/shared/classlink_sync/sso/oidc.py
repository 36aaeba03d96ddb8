"""Talking to ClassLink's OpenID provider (S2): code exchange, id_token verification, userinfo.

httpx and PyJWT (with cryptography) are imported on first use, never on the login route.
The id_token is verified with PyJWT: RS256 only, signature against ClassLink's JWKS (cached for
``jwks_cache_seconds``, refreshed once when a token names an unknown ``kid``), issuer = the
launchpad URL, audience = our client id, ``exp``/``iat`` with a small leeway, and the nonce.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from classlink_sync.errors import ClassLinkUnavailable as ClassLinkUnavailable
from classlink_sync.errors import CodeRejected as CodeRejected
from classlink_sync.errors import TokenInvalid as TokenInvalid
from classlink_sync.sso.settings import SsoSecrets, SsoSettings

if TYPE_CHECKING:
    import httpx
    from jwt import PyJWK


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    id_token: str

    def __repr__(self) -> str:
        return "TokenSet(***)"


class JwksCache:
    """ClassLink's signing keys, fetched with httpx and parsed by PyJWT's ``PyJWKSet``. Cached for
    ``ttl`` seconds; an unknown ``kid`` forces one refresh per lookup, at most once every
    ``min_refresh_interval`` seconds (the id_token comes from the token endpoint over TLS, not from
    the browser, so a forged kid cannot be used to hammer ClassLink)."""

    def __init__(self, url: str, client: httpx.Client, ttl: float, min_refresh_interval: float = 0.0) -> None:
        self.url, self._client, self._ttl = url, client, ttl
        self._min_refresh = min_refresh_interval
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self.fetch_count = 0

    def _fetch(self) -> None:
        from jwt import PyJWKSet
        from jwt.exceptions import PyJWKSetError

        data = _get_json(self._client, self.url)
        try:
            jwk_set = PyJWKSet.from_dict(data)
        except PyJWKSetError as exc:
            raise ClassLinkUnavailable(f"JWKS unusable: {exc}") from None
        self._keys = {k.key_id: k for k in jwk_set.keys if k.key_id and k.public_key_use in ("sig", None)}
        self._fetched_at = time.monotonic()
        self.fetch_count += 1

    def key_for(self, kid: str) -> PyJWK:
        with self._lock:
            fetched = False
            if not self._keys or time.monotonic() - self._fetched_at > self._ttl:
                self._fetch()
                fetched = True
            key = self._keys.get(kid)
            if key is None and not fetched and time.monotonic() - self._fetched_at >= self._min_refresh:
                self._fetch()  # one refresh on an unknown kid (ClassLink rotated its key)
                key = self._keys.get(kid)
            if key is None:
                raise TokenInvalid("unknown signing key id")
            return key


def _get_json(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> Any:
    import httpx

    try:
        response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise ClassLinkUnavailable(f"{type(exc).__name__} on GET {_path(url)}") from None
    if response.status_code >= 400:
        raise ClassLinkUnavailable(f"HTTP {response.status_code} on GET {_path(url)}")
    try:
        return response.json()
    except ValueError:
        raise ClassLinkUnavailable(f"invalid JSON from GET {_path(url)}") from None


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


class ClassLinkOidc:
    """One per cold start: an httpx client with short timeouts and the JWKS cache."""

    def __init__(self, settings: SsoSettings, client: httpx.Client | None = None) -> None:
        import httpx

        self._settings = settings
        timeout = httpx.Timeout(settings.http_timeout_seconds, connect=min(2.0, settings.http_timeout_seconds))
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        base = settings.launchpad_url.rstrip("/")
        self.issuer = settings.launchpad_url
        self.token_url = f"{base}/oauth2/v2/token"
        self.userinfo_url = f"{settings.nodeapi_url.rstrip('/')}/v2/my/info"
        self.jwks = JwksCache(f"{base}/oauth2/v2/jwks", self._client, ttl=settings.jwks_cache_seconds)

    def exchange_code(self, code: str, verifier: str, secrets: SsoSecrets, redirect_uri: str) -> TokenSet:
        """POST the code once to the token endpoint (form, client secret, PKCE verifier)."""
        import httpx

        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": secrets.client_id,
            "client_secret": secrets.client_secret,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        try:
            response = self._client.post(self.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ClassLinkUnavailable(f"{type(exc).__name__} on POST /oauth2/v2/token") from None
        if response.status_code >= 500 or response.status_code in (429,):
            raise ClassLinkUnavailable(f"HTTP {response.status_code} on POST /oauth2/v2/token")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if error in ("invalid_grant", "invalid_request", None):
                raise CodeRejected(str(error or f"HTTP {response.status_code}"))
            raise ClassLinkUnavailable(f"token endpoint error {error!s:.40}")
        if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            raise ClassLinkUnavailable("token response without an id_token")
        return TokenSet(access_token=str(body.get("access_token") or ""), id_token=body["id_token"])

    def verify_id_token(self, id_token: str, client_id: str, nonce: str) -> dict[str, Any]:
        """The verified claims, or :class:`TokenInvalid` with a loggable reason (S2)."""
        import jwt

        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise TokenInvalid("malformed id_token") from None
        if header.get("alg") != "RS256":
            raise TokenInvalid(f"unexpected algorithm {str(header.get('alg'))[:10]}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenInvalid("id_token without a key id")
        key = self.jwks.key_for(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=["RS256"],
                audience=client_id,
                issuer=self.issuer,
                leeway=self._settings.jwt_leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidSignatureError:
            raise TokenInvalid("bad signature") from None
        except jwt.ExpiredSignatureError:
            raise TokenInvalid("expired") from None
        except jwt.InvalidIssuerError:
            raise TokenInvalid("wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise TokenInvalid("wrong audience") from None
        except jwt.PyJWTError as exc:
            raise TokenInvalid(type(exc).__name__) from None
        if not isinstance(claims.get("nonce"), str) or not _equal(claims["nonce"], nonce):
            raise TokenInvalid("wrong nonce")
        return claims

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """``GET /v2/my/info`` with the Bearer token (PascalCase fields, numeric ids)."""
        if not access_token:
            raise ClassLinkUnavailable("no access token for userinfo")
        data = _get_json(self._client, self.userinfo_url, {"Authorization": f"Bearer {access_token}"})
        if not isinstance(data, dict):
            raise ClassLinkUnavailable("userinfo is not a JSON object")
        return data


def _equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())
