"""Signed cookies: the short-lived login cookie (S1) and the session cookie (S4).

A value is ``base64url(json payload) "." base64url(HMAC-SHA256)``. Each purpose signs with its
own key derived from the session key (``HMAC(session_key, purpose)``), so a login cookie can never
pass as a session cookie. Every payload carries ``exp``; expiry is checked here, not trusted to
the browser's ``Max-Age``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LOGIN_COOKIE = "tis_sso_login"
SESSION_COOKIE = "tis_session"
LOGIN_COOKIE_PATH = "/sso/classlink"

PURPOSE_LOGIN = b"classlink-sso-login-v1"
PURPOSE_SESSION = b"tis-session-v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random value (state, nonce, PKCE verifier, session id)."""
    return secrets.token_urlsafe(nbytes)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding (S1)."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


class Signer:
    """HMAC-SHA256 signer for one purpose."""

    def __init__(self, session_key: bytes, purpose: bytes) -> None:
        self._key = hmac.new(session_key, purpose, hashlib.sha256).digest()

    def sign(self, payload: Mapping[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()
        return f"{body}.{_b64(mac)}"

    def verify(self, value: str | None, now: float | None = None) -> dict[str, Any] | None:
        """The payload if the signature is good and ``exp`` has not passed, else None."""
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        expected = hmac.new(self._key, body.encode("ascii", "replace"), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(mac)):
                return None
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError):
            return None
        if not isinstance(payload, dict):
            return None
        exp = payload.get("exp")
        if not isinstance(exp, int | float) or exp <= (time.time() if now is None else now):
            return None
        return payload


@dataclass(frozen=True, slots=True)
class LoginState:
    """What the login cookie binds to the browser (S1): state, nonce, PKCE verifier, return path."""

    state: str
    nonce: str
    verifier: str
    return_path: str | None
    expires_at: int

    def to_payload(self) -> dict[str, Any]:
        return {
            "s": self.state,
            "n": self.nonce,
            "v": self.verifier,
            "r": self.return_path,
            "exp": self.expires_at,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> LoginState | None:
        state, nonce, verifier, ret = payload.get("s"), payload.get("n"), payload.get("v"), payload.get("r")
        if not all(isinstance(v, str) and v for v in (state, nonce, verifier)):
            return None
        if ret is not None and not isinstance(ret, str):
            return None
        return cls(str(state), str(nonce), str(verifier), ret, int(payload["exp"]))


@dataclass(frozen=True, slots=True)
class CookieSpec:
    """A cookie to set: always HttpOnly, Secure and SameSite=Lax (the callback is a top-level GET
    from ClassLink, so Strict would drop the login cookie). ``max_age`` 0 deletes it (S4)."""

    name: str
    value: str
    path: str = "/"
    max_age: int = 0

    def header(self) -> str:
        """The ``Set-Cookie`` header value."""
        parts = [f"{self.name}={self.value}", f"Path={self.path}", f"Max-Age={max(self.max_age, 0)}"]
        if self.max_age <= 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        parts += ["HttpOnly", "Secure", "SameSite=Lax"]
        return "; ".join(parts)


def set_cookie(name: str, value: str, *, max_age: int, path: str = "/") -> CookieSpec:
    return CookieSpec(name, value, path, max_age)


def clear_cookie(name: str, path: str = "/") -> CookieSpec:
    """A cookie spec that deletes the cookie."""
    return CookieSpec(name, "", path, 0)


def parse_cookies(cookie_values: list[str] | None, header: str | None = None) -> dict[str, str]:
    """Cookies from API Gateway v2's ``cookies`` list and/or a raw ``Cookie`` header. The first
    occurrence of a name wins (the most specific path comes first, RFC 6265 §5.4)."""
    jar: dict[str, str] = {}
    pieces: list[str] = list(cookie_values or [])
    if header:
        pieces.extend(header.split(";"))
    for piece in pieces:
        for part in piece.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name and name not in jar:
                jar[name] = value.strip()
    return jar
