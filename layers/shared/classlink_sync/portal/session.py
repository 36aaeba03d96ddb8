"""The portal's signed cookies (S6, S8): its session, its login state and its CSRF token.

Values are signed with ``classlink_sync.sso.cookies.Signer`` (HMAC-SHA256, ``exp`` checked in code),
each purpose with its own key derived from the portal key, so none can pass for another, for an
SSO cookie or for a staff link. Every portal cookie is HttpOnly and Secure on ``Path=/portal``:
the app's pages never see it. The session lasts at most 8 hours (S8).

CSRF (S8): a double-submit token bound to the session. The token is ``HMAC(csrf key, session id)``;
it is set as a cookie and written into every form, and a POST is accepted only when the form's
token, the cookie's token and the token of the session in the request are all the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from classlink_sync.sso.cookies import Signer, random_token

SESSION_COOKIE = "tis_portal"
CSRF_COOKIE = "tis_portal_csrf"
LOGIN_COOKIE = "tis_portal_login"
PORTAL_PATH = "/portal"
CALLBACK_PATH = "/portal/callback"
CSRF_FIELD = "csrf"

PURPOSE_SESSION = b"tis-portal-session-v1"
PURPOSE_LOGIN = b"tis-portal-login-v1"
PURPOSE_CSRF = b"tis-portal-csrf-v1"
PURPOSE_STAFF_LINK = b"tis-portal-staff-link-v1"

KIND_CLASSLINK = "classlink"
KIND_STAFF = "staff"
STAFF_NAME = "staff link"


@dataclass(frozen=True, slots=True)
class PortalCookie:
    """A cookie to set (``max_age`` 0 deletes it). Always HttpOnly and Secure."""

    name: str
    value: str
    path: str = PORTAL_PATH
    max_age: int = 0
    same_site: str = "Lax"  # the session arrives on a redirect from ClassLink: Strict would drop it

    def header(self) -> str:
        parts = [f"{self.name}={self.value}", f"Path={self.path}", f"Max-Age={max(self.max_age, 0)}"]
        if self.max_age <= 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        return "; ".join([*parts, "HttpOnly", "Secure", f"SameSite={self.same_site}"])


@dataclass(frozen=True, slots=True)
class PortalSession:
    """Who is signed in to which district, until when."""

    district_id: str
    kind: str  # KIND_CLASSLINK or KIND_STAFF
    name: str  # the administrator's name from ClassLink, or "staff link"
    sid: str
    issued_at: int
    expires_at: int
    user_id: str | None = None  # ClassLink user id (``sub`` / ``UserId``)
    tenant_id: str | None = None

    def actor(self) -> dict[str, Any]:
        """Who did something, as the run record and the audit log keep it (S7)."""
        if self.kind == KIND_STAFF:
            return {"kind": KIND_STAFF, "name": STAFF_NAME, "link": self.user_id}
        return {"kind": KIND_CLASSLINK, "user_id": self.user_id, "name": self.name, "tenant_id": self.tenant_id}

    def to_payload(self) -> dict[str, Any]:
        return {
            "d": self.district_id,
            "k": self.kind,
            "n": self.name,
            "sid": self.sid,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "u": self.user_id,
            "t": self.tenant_id,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> PortalSession | None:
        d, k, n, sid = payload.get("d"), payload.get("k"), payload.get("n"), payload.get("sid")
        iat, exp = payload.get("iat"), payload.get("exp")
        if not all(isinstance(v, str) and v for v in (d, k, n, sid)) or k not in (KIND_CLASSLINK, KIND_STAFF):
            return None
        if not isinstance(iat, int) or not isinstance(exp, int):
            return None
        u, t = payload.get("u"), payload.get("t")
        return cls(
            str(d), str(k), str(n), str(sid), iat, exp,
            u if isinstance(u, str) else None, t if isinstance(t, str) else None,
        )  # fmt: skip


def new_session(
    district_id: str,
    kind: str,
    name: str,
    *,
    now: int,
    lifetime: int,
    user_id: str | None = None,
    tenant_id: str | None = None,
    not_after: int | None = None,
) -> PortalSession:
    """A fresh session (new id, so a new CSRF token) that ends after ``lifetime`` seconds, or at
    ``not_after`` if that comes first (a staff link's own expiry)."""
    expires = now + lifetime if not_after is None else min(now + lifetime, not_after)
    return PortalSession(district_id, kind, name, random_token(16), now, expires, user_id, tenant_id)


class SessionCodec:
    """Signs and checks the portal's cookies with keys derived from the portal key."""

    def __init__(self, key: bytes) -> None:
        self._session = Signer(key, PURPOSE_SESSION)
        self.login = Signer(key, PURPOSE_LOGIN)
        self._csrf_key = hmac.new(key, PURPOSE_CSRF, hashlib.sha256).digest()

    def encode(self, session: PortalSession) -> str:
        return self._session.sign(session.to_payload())

    def decode(self, value: str | None, now: float) -> PortalSession | None:
        payload = self._session.verify(value, now)
        return PortalSession.from_payload(payload) if payload else None

    def csrf_token(self, session: PortalSession) -> str:
        mac = hmac.new(self._csrf_key, session.sid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def csrf_ok(self, session: PortalSession, form_token: str | None, cookie_token: str | None) -> bool:
        """S8: the form's token equals the cookie's, and both are the token of this session."""
        if not form_token or not cookie_token:
            return False
        expected = self.csrf_token(session).encode()
        form_ok = hmac.compare_digest(form_token.encode("utf-8", "replace"), expected)
        cookie_ok = hmac.compare_digest(cookie_token.encode("utf-8", "replace"), expected)
        return form_ok and cookie_ok

    def session_cookies(self, session: PortalSession, now: int) -> list[PortalCookie]:
        """The session and CSRF cookies of a new sign-in (replacing any earlier session)."""
        max_age = max(session.expires_at - now, 1)
        return [
            PortalCookie(SESSION_COOKIE, self.encode(session), max_age=max_age),
            PortalCookie(CSRF_COOKIE, self.csrf_token(session), max_age=max_age, same_site="Strict"),
        ]


def clear_session_cookies() -> list[PortalCookie]:
    return [PortalCookie(SESSION_COOKIE, ""), PortalCookie(CSRF_COOKIE, "", same_site="Strict")]
