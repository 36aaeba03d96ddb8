"""Sign-in to the portal with ClassLink (S6): the code flow of S1-S2 with the portal's own state.

The login route puts state, nonce, PKCE verifier and the return path in a signed login cookie on
``/portal/callback`` and redirects to ClassLink. The callback checks the state against that cookie,
consumes it once (a conditional write on ``portal#state#{digest}``), exchanges the code and verifies
the id_token with the SSO's ``ClassLinkOidc`` (signature against ClassLink's JWKS, issuer, audience,
expiry, nonce), completing the identity from userinfo when the id_token lacks the tenant or the
role. Access needs a verified ClassLink role ``Tenant Administrator`` and a tenant bound to an
onboarded district (R1); the session then names that district and no other.

No user account is looked up: district administrators are usually not rostered, and the portal
needs only their tenant, their role, their ClassLink user id and their name.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from classlink_sync.portal.session import KIND_CLASSLINK, PortalSession, SessionCodec, new_session
from classlink_sync.portal.settings import PortalSecrets, PortalSettings
from classlink_sync.sso.cookies import LoginState, pkce_challenge, random_token
from classlink_sync.sso.flow import id_text
from classlink_sync.sso.returnpath import safe_return_path
from classlink_sync.sso.settings import SCOPE

ADMIN_ROLE = "tenant administrator"  # compared case-insensitively, whitespace trimmed
PORTAL_PREFIX = "/portal"


class Refused(Exception):
    """A sign-in that does not go through; ``kind`` names the page, ``fields`` go to the log."""

    def __init__(self, kind: str, **fields: Any) -> None:
        super().__init__(kind)
        self.kind = kind
        self.fields = fields


@dataclass(frozen=True)
class LoginRedirect:
    location: str
    login_cookie: str


@dataclass(frozen=True)
class SignedIn:
    session: PortalSession
    return_path: str | None
    role: str


def state_lock(state: str) -> str:
    return "state#" + hashlib.sha256(b"tis-portal-state:" + state.encode()).hexdigest()


def portal_return_path(candidate: str | None) -> str | None:
    """A return path inside the portal only (no open redirect, S4's allow-list check)."""
    return safe_return_path(candidate, [PORTAL_PREFIX]) if candidate else None


class PortalAuth:
    def __init__(
        self,
        settings: PortalSettings,
        oidc: Callable[[], Any],
        take_state: Callable[[str, float, float], bool],
        district_for_tenant: Callable[[str], str | None],
    ) -> None:
        self.settings = settings
        self._oidc_factory = oidc
        self._oidc: Any = None
        self._take_state = take_state
        self._district_for_tenant = district_for_tenant

    def redirect_uri(self, origin: str | None) -> str:
        if self.settings.redirect_uri:
            return self.settings.redirect_uri
        if not origin:
            from classlink_sync.errors import SettingsError

            raise SettingsError("portal setting PORTAL_REDIRECT_URI is not set")
        return origin + "/portal/callback"

    def login(
        self, secrets: PortalSecrets, codec: SessionCodec, origin: str | None, return_to: str | None, now: float
    ) -> LoginRedirect:
        state, nonce, verifier = random_token(24), random_token(24), random_token(48)
        expires = int(now) + self.settings.login_lifetime_seconds
        login = LoginState(state, nonce, verifier, portal_return_path(return_to), expires)
        params = {
            "client_id": secrets.client_id,
            "redirect_uri": self.redirect_uri(origin),
            "response_type": "code",
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        location = f"{self.settings.launchpad_url.rstrip('/')}/oauth2/v2/auth?{urlencode(params)}"
        return LoginRedirect(location, codec.login.sign(login.to_payload()))

    def callback(
        self,
        secrets: PortalSecrets,
        codec: SessionCodec,
        query: Mapping[str, str],
        login_cookie: str | None,
        origin: str | None,
        now: float,
    ) -> SignedIn:
        """S6: the signed-in administrator's session, or :class:`Refused`."""
        if query.get("error"):
            denied = query["error"] in ("access_denied", "consent_required", "login_required")
            raise Refused("denied" if denied else "classlink_unavailable")
        payload = codec.login.verify(login_cookie, now)
        login = LoginState.from_payload(payload) if payload else None
        state, code = query.get("state") or "", query.get("code") or ""
        if login is None or not state or not code:
            raise Refused("bad_state", reason="no login state or no code")
        if not hmac.compare_digest(state.encode(), login.state.encode()):
            raise Refused("bad_state", reason="state does not match this browser's login", security=True)
        if not self._take_state(state_lock(login.state), float(login.expires_at) - now, now):
            raise Refused("bad_state", reason="state already used", security=True)

        from classlink_sync.sso.oidc import ClassLinkUnavailable, CodeRejected, TokenInvalid
        from classlink_sync.sso.settings import SsoSecrets

        oidc = self._get_oidc()
        sso_secrets = SsoSecrets(secrets.client_id, secrets.client_secret, secrets.key)
        try:
            tokens = oidc.exchange_code(code, login.verifier, sso_secrets, self.redirect_uri(origin))
            claims = oidc.verify_id_token(tokens.id_token, secrets.client_id, login.nonce)
        except CodeRejected:
            raise Refused("code_rejected") from None
        except TokenInvalid as exc:
            raise Refused("token_invalid", reason=exc.reason, security=True) from None
        except ClassLinkUnavailable:
            raise Refused("classlink_unavailable") from None

        identity = _identity(claims)
        if not identity["tenant_id"] or not identity["role"]:
            try:
                info = oidc.userinfo(tokens.access_token)
            except ClassLinkUnavailable:
                raise Refused("classlink_unavailable") from None
            _merge_userinfo(identity, info)
        tenant, role = identity["tenant_id"], identity["role"]
        who = {"tenant_id": tenant, "classlink_user_id": identity["user_id"]}
        if not tenant or not role:
            raise Refused("token_invalid", reason="ClassLink did not name the tenant or the role", **who)
        if role.strip().casefold() != ADMIN_ROLE:
            raise Refused("not_admin", classlink_role=role[:40], **who)
        district_id = self._district_for_tenant(tenant)
        if district_id is None:
            raise Refused("tenant_unknown", **who)
        session = new_session(
            district_id,
            KIND_CLASSLINK,
            identity["name"] or "ClassLink administrator",
            now=int(now),
            lifetime=self.settings.session_lifetime_seconds,
            user_id=identity["user_id"],
            tenant_id=tenant,
        )
        return SignedIn(session, login.return_path, role)

    def _get_oidc(self) -> Any:
        if self._oidc is None:
            self._oidc = self._oidc_factory()
        return self._oidc


def _identity(claims: Mapping[str, Any]) -> dict[str, str | None]:
    given, family = claims.get("given_name"), claims.get("family_name")
    name = " ".join(p for p in (given, family) if isinstance(p, str) and p.strip()).strip()
    role = claims.get("classLink_role")
    return {
        "tenant_id": id_text(claims.get("classLink_tenant_id")),
        "role": role.strip() if isinstance(role, str) and role.strip() else None,
        "user_id": id_text(claims.get("sub")),
        "name": name or None,
    }


def _merge_userinfo(identity: dict[str, str | None], info: Mapping[str, Any]) -> None:
    """Complete the id_token's identity from userinfo; a tenant that disagrees is refused."""
    tenant = id_text(info.get("TenantId"))
    if identity["tenant_id"] and tenant and tenant != identity["tenant_id"]:
        raise Refused("token_invalid", reason="id_token and userinfo name different tenants", security=True)
    identity["tenant_id"] = identity["tenant_id"] or tenant
    role = info.get("Role")
    if not identity["role"] and isinstance(role, str) and role.strip():
        identity["role"] = role.strip()
    identity["user_id"] = identity["user_id"] or id_text(info.get("UserId"))
    if not identity["name"]:
        parts = [info.get("FirstName"), info.get("LastName")]
        identity["name"] = " ".join(p for p in parts if isinstance(p, str) and p.strip()).strip() or None
