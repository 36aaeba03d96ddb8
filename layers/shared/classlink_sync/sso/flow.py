"""The ClassLink sign-in: login (S1) and callback (S2-S5). Pure orchestration over injected parts:
settings, secrets, an :class:`AccountDirectory`, a :class:`StateLedger` and the OIDC client.

Browser binding (S1): a signed, HttpOnly, Secure, SameSite=Lax login cookie on ``/sso/classlink``
carries state, nonce, PKCE verifier and the return path for ``SSO_LOGIN_LIFETIME_SECONDS``. It needs
no storage on the login route (fast, no DynamoDB on the LaunchPad launch). Single use (S2): the
callback clears the cookie and consumes the state in the ledger, so a replayed state fails even
when the cookie was copied too. A callback without our cookie (a launch that began at ClassLink)
restarts the login once: the restarted login's state carries the ``r.`` marker, and a second
callback without a cookie whose state has that marker ends at a page instead of looping.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

from classlink_sync.rules.normalise import normalise
from classlink_sync.sso import pages
from classlink_sync.sso.cookies import (
    LOGIN_COOKIE,
    LOGIN_COOKIE_PATH,
    PURPOSE_LOGIN,
    PURPOSE_SESSION,
    SESSION_COOKIE,
    CookieSpec,
    LoginState,
    Signer,
    clear_cookie,
    pkce_challenge,
    random_token,
    set_cookie,
)
from classlink_sync.sso.directory import AccountDirectory, SigninAccountView
from classlink_sync.sso.ledger import StateLedger
from classlink_sync.sso.returnpath import safe_return_path
from classlink_sync.sso.settings import SCOPE, SecretResolver, SsoConfigError, SsoSecrets, SsoSettings

log = logging.getLogger("classlink_sync.sso")

RESTART_MARKER = "r."
SIGNIN_ROLES = frozenset({"teacher", "student"})


@dataclass(slots=True)
class SsoRequest:
    """What the core needs from an HTTP request (the handler builds it from the API Gateway event)."""

    query: Mapping[str, str]
    cookies: Mapping[str, str]
    correlation_id: str
    source_ip: str | None = None
    # https://<the API's domain, as API Gateway saw it>: the default for SSO_REDIRECT_URI and
    # APP_URL when a stack is deployed without a custom domain (SPEC §2).
    origin: str | None = None


@dataclass(slots=True)
class SsoResult:
    """An HTTP answer: a redirect or a page, plus ``Set-Cookie`` values. ``outcome`` names what
    happened ("redirect", "restart", "signed_in" or a page kind from :mod:`pages`)."""

    status: int
    outcome: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[CookieSpec] = field(default_factory=list)
    body: str = ""


class _Refusal(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class SsoService:
    """One per cold start. ``directory`` and ``oidc`` are factories so that the store, httpx and
    PyJWT are imported only by the callback, never by the login route."""

    def __init__(
        self,
        settings: SsoSettings,
        directory: Callable[[], AccountDirectory],
        ledger: StateLedger,
        oidc: Callable[[], Any] | None = None,
        secrets: Callable[[], SsoSecrets] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._directory_factory = directory
        self._ledger = ledger
        self._oidc_factory = oidc or self._default_oidc
        self._secrets_factory = secrets or SecretResolver(settings).get
        self._clock = clock
        self._oidc: Any = None
        self._directory: AccountDirectory | None = None

    def _default_oidc(self) -> Any:
        from classlink_sync.sso.oidc import ClassLinkOidc

        return ClassLinkOidc(self.settings)

    def _setting_or_origin(self, req: SsoRequest, name: str, path: str) -> str:
        """A URL setting, else the same path on the API's own origin; neither is a config error."""
        if getattr(self.settings, name) or not req.origin:
            return self.settings.require(name)
        return req.origin + path

    # -- S1 ------------------------------------------------------------------------------------
    def login(self, req: SsoRequest, *, restart: bool = False) -> SsoResult:
        """S1: redirect to ClassLink's authorize endpoint with fresh state, nonce and PKCE."""
        try:
            secrets = self._secrets_factory()
            redirect_uri = self._setting_or_origin(req, "redirect_uri", "/sso/classlink/callback")
        except SsoConfigError as exc:
            return self._misconfigured(req, exc)
        raw_return = req.query.get("return_to")
        return_path = None
        if raw_return:
            return_path = safe_return_path(raw_return, self.settings.allowed_return_paths)
            if return_path is None:
                _warn(req, "sso.return_path_refused", "return path not on the allow-list (S4)", security=True)
                return _page("bad_return_path", req)
        state = random_token(24)
        if restart:
            state = RESTART_MARKER + state
        nonce, verifier = random_token(24), random_token(48)
        expires_at = int(self._clock()) + self.settings.login_lifetime_seconds
        login_state = LoginState(state, nonce, verifier, return_path, expires_at)
        cookie_value = Signer(secrets.session_key, PURPOSE_LOGIN).sign(login_state.to_payload())
        params = {
            "client_id": secrets.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        location = f"{self.settings.launchpad_url.rstrip('/')}/oauth2/v2/auth?{urlencode(params)}"
        _info(
            req,
            "sso.login_redirect",
            "login started; redirecting to ClassLink",
            restart=restart,
            with_return_path=return_path is not None,
        )
        cookie = set_cookie(
            LOGIN_COOKIE, cookie_value, max_age=self.settings.login_lifetime_seconds, path=LOGIN_COOKIE_PATH
        )
        return SsoResult(302, "restart" if restart else "redirect", _redirect_headers(location), [cookie])

    # -- S2-S5 ---------------------------------------------------------------------------------
    def callback(self, req: SsoRequest) -> SsoResult:
        """S2-S5: check state, exchange the code, verify the id_token, find the account, decide."""
        try:
            return self._callback(req)
        except _Refusal as refusal:
            return _page(refusal.kind, req, clear_login=True)
        except SsoConfigError as exc:
            return self._misconfigured(req, exc)
        except Exception as exc:  # a bug or an AWS outage: friendly page, logged without secrets (S5)
            log.error(
                "sso callback failed unexpectedly",
                extra=_extra(req, "sso.unexpected_error", error_type=type(exc).__name__),
            )
            return _page("unavailable", req, clear_login=True)

    def _callback(self, req: SsoRequest) -> SsoResult:
        """S2-S4, in order: ClassLink's own error, our single-use state (or a restart), the code
        exchange and id_token checks, the identity, then the account decides (S3)."""
        q = req.query
        if q.get("error"):
            self._classlink_error(req, q["error"])
        secrets = self._secrets_factory()
        redirect_uri = self._setting_or_origin(req, "redirect_uri", "/sso/classlink/callback")
        app_url = self._setting_or_origin(req, "app_url", "/")
        state_param = q.get("state") or ""
        payload = Signer(secrets.session_key, PURPOSE_LOGIN).verify(req.cookies.get(LOGIN_COOKIE), self._clock())
        login_state = LoginState.from_payload(payload) if payload else None
        if login_state is None or not state_param:
            return self._restart(req, state_param)
        code = q.get("code")
        if not code:
            raise _Refusal("bad_request")
        self._consume_state(req, state_param, login_state)
        oidc = self._get_oidc()
        tokens, claims = self._exchange(req, oidc, code, login_state, secrets, redirect_uri)
        identity = self._identity(req, oidc, claims, tokens.access_token)
        account = self._admit(req, oidc, identity, tokens.access_token)
        return self._signed_in(req, secrets, account, app_url, login_state.return_path, identity)

    @staticmethod
    def _classlink_error(req: SsoRequest, raw: str) -> NoReturn:
        """S5: ClassLink sent the browser back with an error (denied consent, outage)."""
        error = raw if raw.replace("_", "").isalnum() else "other"
        _info(req, "sso.classlink_error", "ClassLink returned an error to the callback", error=error[:40])
        denied = error in ("access_denied", "consent_required", "login_required")
        raise _Refusal("denied" if denied else "classlink_unavailable")

    def _restart(self, req: SsoRequest, state_param: str) -> SsoResult:
        """S2: a callback without our login state (a launch that began at ClassLink) restarts the
        login once; a second time it is a browser that blocks cookies."""
        if state_param.startswith(RESTART_MARKER):
            _warn(req, "sso.restart_loop_prevented", "callback without login cookie after a restart")
            raise _Refusal("cookies_blocked")
        _info(
            req,
            "sso.restart",
            "callback without our login state (launch began at ClassLink); restarting the login once",
        )
        return self.login(SsoRequest({}, req.cookies, req.correlation_id, req.source_ip), restart=True)

    def _consume_state(self, req: SsoRequest, state_param: str, login_state: LoginState) -> None:
        """S2: the state must be this browser's and is used once (the ledger)."""
        if not hmac.compare_digest(state_param.encode(), login_state.state.encode()):
            _warn(req, "sso.state_mismatch", "state does not match this browser's login", security=True)
            raise _Refusal("bad_state")
        if not self._ledger.consume(login_state.state, login_state.expires_at):
            _warn(req, "sso.state_replayed", "state was already used", security=True)
            raise _Refusal("bad_state")

    @staticmethod
    def _exchange(
        req: SsoRequest, oidc: Any, code: str, login_state: LoginState, secrets: SsoSecrets, redirect_uri: str
    ) -> tuple[Any, Mapping[str, Any]]:
        """S2: the code exchanged once, the id_token verified (signature, issuer, audience, expiry, nonce)."""
        from classlink_sync.sso.oidc import ClassLinkUnavailable, CodeRejected, TokenInvalid

        try:
            tokens = oidc.exchange_code(code, login_state.verifier, secrets, redirect_uri)
            claims = oidc.verify_id_token(tokens.id_token, secrets.client_id, login_state.nonce)
        except CodeRejected as exc:
            _warn(
                req,
                "sso.code_rejected",
                "ClassLink refused the code (replayed or expired)",
                error=str(exc)[:40],
            )
            raise _Refusal("code_rejected") from None
        except TokenInvalid as exc:
            _warn(req, "sso.id_token_invalid", "id_token failed verification", security=True, reason=exc.reason)
            raise _Refusal("token_invalid") from None
        except ClassLinkUnavailable as exc:
            _warn(req, "sso.classlink_unavailable", "ClassLink unavailable", error=str(exc)[:80])
            raise _Refusal("classlink_unavailable") from None
        return tokens, claims

    def _identity(self, req: SsoRequest, oidc: Any, claims: Mapping[str, Any], access_token: str) -> _Identity:
        """S2: who signed in: the id_token's claims, else userinfo (the classLink_* claims are not
        guaranteed)."""
        identity = _Identity.from_claims(claims)
        if identity.tenant_id is None or identity.sourced_id is None:
            identity.merge_userinfo(self._userinfo(req, oidc, access_token))
        if identity.tenant_id is None or identity.sourced_id is None:
            _warn(req, "sso.identity_incomplete", "ClassLink did not name the tenant or the user")
            raise _Refusal("token_invalid")
        return identity

    def _admit(self, req: SsoRequest, oidc: Any, identity: _Identity, access_token: str | None) -> SigninAccountView:
        """S2-S3: one read by (tenant, sourcedId); the sign-in must agree with the account, and the
        account decides: only an active, synced teacher or student of the tenant's district."""
        tenant_id, sourced_id = identity.tenant_id, identity.sourced_id
        assert tenant_id is not None and sourced_id is not None  # nosec B101 -- checked by _identity
        directory = self._get_directory()
        account = directory.find(tenant_id, sourced_id)  # S2: one read by (tenant, sourcedId)
        district_id = directory.district_for_tenant(tenant_id)
        who = {"tenant_id": tenant_id, "sourced_id": sourced_id}
        if district_id is None:
            _info(req, "sso.tenant_unknown", "tenant is not onboarded (S3)", **who)
            raise _Refusal("tenant_unknown")
        if account is None:
            _info(req, "sso.not_synced", "user not synced from ClassLink (S3)", district_id=district_id, **who)
            raise _Refusal("not_synced")
        if account.district_id != district_id:
            _warn(req, "sso.cross_district", "account belongs to another district (S3)", security=True, **who)
            raise _Refusal("not_allowed")
        if not identity.agrees_with(account) and not identity.has_userinfo and access_token:
            identity.merge_userinfo(self._userinfo(req, oidc, access_token))
        if not identity.agrees_with(account):
            _warn(
                req,
                "sso.identity_mismatch",
                "sign-in email/login id disagree with the account (S2)",
                security=True,
                account_id=account.account_id,
                **who,
            )
            raise _Refusal("mismatch")
        self._check_account(req, account)
        return account

    @staticmethod
    def _check_account(req: SsoRequest, account: SigninAccountView) -> None:
        """S3: the account decides, not the sign-in's claims."""
        if not account.managed or (account.role or "").lower() not in SIGNIN_ROLES:
            _info(
                req,
                "sso.not_allowed",
                "account is not a synced teacher or student (S3)",
                account_id=account.account_id,
                role=str(account.role)[:20],
                managed=account.managed,
            )
            raise _Refusal("not_allowed")
        if not account.active:
            _info(req, "sso.deactivated", "account is deactivated (S3)", account_id=account.account_id)
            raise _Refusal("deactivated")

    def _signed_in(
        self,
        req: SsoRequest,
        secrets: SsoSecrets,
        account: SigninAccountView,
        app_url: str,
        return_path: str | None,
        identity: _Identity,
    ) -> SsoResult:
        """S4: a fresh signed session cookie (replacing any other) and a redirect into the app."""
        now = int(self._clock())
        lifetime = self.settings.session_lifetime_seconds
        session = {
            "sub": account.account_id,
            "did": account.district_id,
            "role": account.role.lower(),
            "sid": random_token(16),
            "iat": now,
            "exp": now + lifetime,
            "amr": "classlink",
        }
        value = Signer(secrets.session_key, PURPOSE_SESSION).sign(session)
        target = app_url
        if return_path and safe_return_path(return_path, self.settings.allowed_return_paths):
            origin = urlsplit(app_url)
            target = f"{origin.scheme}://{origin.netloc}{return_path}"
        _info(
            req,
            "sso.signed_in",
            "signed in (S4)",
            account_id=account.account_id,
            district_id=account.district_id,
            role=account.role.lower(),
            classlink_role=str(identity.classlink_role or "")[:30],
            replaced_session=SESSION_COOKIE in req.cookies,
        )
        cookies = [
            set_cookie(SESSION_COOKIE, value, max_age=lifetime, path="/"),
            clear_cookie(LOGIN_COOKIE, LOGIN_COOKIE_PATH),
        ]
        return SsoResult(302, "signed_in", _redirect_headers(target), cookies)

    # -- helpers -------------------------------------------------------------------------------
    def _get_oidc(self) -> Any:
        if self._oidc is None:
            self._oidc = self._oidc_factory()
        return self._oidc

    def _get_directory(self) -> AccountDirectory:
        if self._directory is None:
            self._directory = self._directory_factory()
        return self._directory

    def _userinfo(self, req: SsoRequest, oidc: Any, access_token: str) -> Mapping[str, Any]:
        from classlink_sync.sso.oidc import ClassLinkUnavailable

        try:
            info: Mapping[str, Any] = oidc.userinfo(access_token)
            return info
        except ClassLinkUnavailable as exc:
            _warn(req, "sso.classlink_unavailable", "userinfo unavailable", error=str(exc)[:80])
            raise _Refusal("classlink_unavailable") from None

    def _misconfigured(self, req: SsoRequest, exc: SsoConfigError) -> SsoResult:
        return misconfigured_page(req, exc)


def misconfigured_page(req: SsoRequest, exc: SsoConfigError) -> SsoResult:
    """S5: log which setting is missing (never its value) and show a friendly page."""
    log.error("SSO is misconfigured: %s", exc, extra=_extra(req, "sso.misconfigured", setting=exc.setting))
    return _page("misconfigured", req, clear_login=True)


class _Identity:
    """Who ClassLink says signed in: from the id_token, completed by userinfo when needed."""

    def __init__(self) -> None:
        self.tenant_id: str | None = None
        self.sourced_id: str | None = None
        self.emails: set[str] = set()
        self.login_ids: set[str] = set()
        self.classlink_role: str | None = None
        self.has_userinfo = False

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> _Identity:
        identity = cls()
        identity.tenant_id = id_text(claims.get("classLink_tenant_id"))
        identity.sourced_id = id_text(claims.get("classLink_sourcedId"))
        identity._add(identity.emails, claims.get("email"))
        identity.classlink_role = (
            claims.get("classLink_role") if isinstance(claims.get("classLink_role"), str) else None
        )
        return identity

    def merge_userinfo(self, info: Mapping[str, Any]) -> None:
        self.has_userinfo = True
        self.tenant_id = self.tenant_id or id_text(info.get("TenantId"))
        self.sourced_id = self.sourced_id or id_text(info.get("SourcedId"))
        self._add(self.emails, info.get("Email"))
        self._add(self.login_ids, info.get("LoginId"))
        if not self.classlink_role and isinstance(info.get("Role"), str):
            self.classlink_role = info["Role"]

    @staticmethod
    def _add(bucket: set[str], value: Any) -> None:
        norm = normalise(value) if isinstance(value, str) else None
        if norm:
            bucket.add(norm)

    def agrees_with(self, account: SigninAccountView) -> bool:
        """S2: the sign-in's email or login id equals the account's email or username (normalised)."""
        known = {n for n in (normalise(account.email), normalise(account.username)) if n}
        return bool(known & (self.emails | self.login_ids))


def id_text(value: Any) -> str | None:
    """A ClassLink id as a string (tenant ids arrive as JSON numbers; compared as strings, R1)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _redirect_headers(location: str) -> dict[str, str]:
    return {"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(kind: str, req: SsoRequest, *, clear_login: bool = False) -> SsoResult:
    status, body = pages.render(kind, req.correlation_id)
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Correlation-Id": req.correlation_id,
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    cookies = [clear_cookie(LOGIN_COOKIE, LOGIN_COOKIE_PATH)] if clear_login else []
    return SsoResult(status, kind, headers, cookies, body)


def _extra(req: SsoRequest, event: str, **fields: Any) -> dict[str, Any]:
    return {"correlation_id": req.correlation_id, "sso_event": event, **fields}


def _info(req: SsoRequest, event: str, message: str, **fields: Any) -> None:
    log.info(message, extra=_extra(req, event, **fields), stacklevel=2)


def _warn(req: SsoRequest, event: str, message: str, *, security: bool = False, **fields: Any) -> None:
    log.warning(message, extra=_extra(req, event, security_event=security, **fields), stacklevel=2)
