"""Portal settings (S6-S8), read from the environment once per cold start, and its secrets.

ClassLink's endpoints use the SSO's variables (``CLASSLINK_LAUNCHPAD_URL``, ``CLASSLINK_NODEAPI_URL``)
so both functions talk to the same ClassLink. The portal's own secret (``PORTAL_SECRET_ARN``, JSON
with ``client_id``, ``client_secret`` and ``portal_key``) is separate from the SSO's: the portal
never reads the key that signs the app's sessions, and staff who make portal links read only the
portal secret. ``CLASSLINK_CLIENT_ID`` / ``CLASSLINK_CLIENT_SECRET`` / ``PORTAL_KEY`` win when set
(local ``serve``, tests). Every error names the variable, never a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from classlink_sync.errors import SettingsError
from classlink_sync.sso.settings import DEFAULT_LAUNCHPAD_URL, DEFAULT_NODEAPI_URL, SsoSettings

MAX_SESSION_SECONDS = 8 * 3600  # S8: a portal session lasts 8 hours at most
MIN_DRY_RUN_INTERVAL_SECONDS = 3600  # S7: a readiness dry run at most once an hour
MIN_KEY_LENGTH = 32
PLACEHOLDER = "REPLACE_ME"  # nosec B105 # template.yaml's value until staff fill in the secret


class PortalSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    launchpad_url: str = DEFAULT_LAUNCHPAD_URL
    nodeapi_url: str = DEFAULT_NODEAPI_URL
    redirect_uri: str | None = None  # default: /portal/callback on the API's own origin
    secret_arn: str | None = None
    client_id: str | None = None
    client_secret: str | None = Field(default=None, repr=False)
    portal_key: str | None = Field(default=None, repr=False)
    session_lifetime_seconds: int = Field(default=MAX_SESSION_SECONDS, gt=0, le=MAX_SESSION_SECONDS)
    login_lifetime_seconds: int = Field(default=600, gt=0, le=3600)
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    jwt_leeway_seconds: int = Field(default=60, ge=0)
    jwks_cache_seconds: int = Field(default=3600, gt=0)
    secret_cache_seconds: int = Field(default=300, gt=0)
    dry_run_interval_seconds: int = Field(default=MIN_DRY_RUN_INTERVAL_SECONDS, ge=MIN_DRY_RUN_INTERVAL_SECONDS)
    approval_lock_seconds: int = Field(default=3600, gt=0)
    history_days: int = Field(default=35, ge=30)
    history_limit: int = Field(default=500, ge=30, le=2000)
    page_size: int = Field(default=200, ge=10, le=2000)
    # A CSV up to this size is answered inline, base64 (4/3 of it) inside Lambda's 6 MB response.
    inline_csv_bytes: int = Field(default=3_000_000, ge=10_000, le=4_000_000)
    schedule_expression: str | None = None
    schedule_timezone: str = "UTC"

    @field_validator("launchpad_url", "nodeapi_url", "redirect_uri")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
        return value.rstrip("/") if parts.path in ("", "/") else value

    def oidc_settings(self) -> SsoSettings:
        """What ``classlink_sync.sso.oidc.ClassLinkOidc`` needs (the same code as the SSO's, S2)."""
        return SsoSettings(
            launchpad_url=self.launchpad_url,
            nodeapi_url=self.nodeapi_url,
            http_timeout_seconds=self.http_timeout_seconds,
            jwt_leeway_seconds=self.jwt_leeway_seconds,
            jwks_cache_seconds=self.jwks_cache_seconds,
        )


ENV_NAMES: dict[str, str] = {
    "launchpad_url": "CLASSLINK_LAUNCHPAD_URL",
    "nodeapi_url": "CLASSLINK_NODEAPI_URL",
    "redirect_uri": "PORTAL_REDIRECT_URI",
    "secret_arn": "PORTAL_SECRET_ARN",  # nosec B105 # a variable's name, not a secret
    "client_id": "CLASSLINK_CLIENT_ID",
    "client_secret": "CLASSLINK_CLIENT_SECRET",  # nosec B105 # a variable's name, not a secret
    "portal_key": "PORTAL_KEY",
    "session_lifetime_seconds": "PORTAL_SESSION_SECONDS",
    "login_lifetime_seconds": "PORTAL_LOGIN_SECONDS",
    "http_timeout_seconds": "PORTAL_HTTP_TIMEOUT_SECONDS",
    "jwt_leeway_seconds": "PORTAL_JWT_LEEWAY_SECONDS",
    "jwks_cache_seconds": "PORTAL_JWKS_CACHE_SECONDS",
    "secret_cache_seconds": "PORTAL_SECRET_CACHE_SECONDS",  # nosec B105 # a variable's name, not a secret
    "dry_run_interval_seconds": "PORTAL_DRY_RUN_INTERVAL_SECONDS",
    "approval_lock_seconds": "PORTAL_APPROVAL_LOCK_SECONDS",
    "history_days": "PORTAL_HISTORY_DAYS",
    "history_limit": "PORTAL_HISTORY_LIMIT",
    "page_size": "PORTAL_PAGE_SIZE",
    "inline_csv_bytes": "PORTAL_INLINE_CSV_BYTES",
    "schedule_expression": "SCHEDULE_EXPRESSION",
    "schedule_timezone": "SCHEDULE_TIMEZONE",
}


def load_portal_settings(environ: Mapping[str, str] | None = None) -> PortalSettings:
    """Build :class:`PortalSettings` from the environment; an invalid value raises
    ``SettingsError`` naming the variable (never its value)."""
    env = os.environ if environ is None else environ
    values = {name: env[var].strip() for name, var in ENV_NAMES.items() if env.get(var, "").strip()}
    try:
        return PortalSettings(**values)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
        name = str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else "?"
        message = errors[0]["msg"] if errors else "invalid"
        raise SettingsError(f"portal setting {ENV_NAMES.get(name, name)} is invalid: {message}") from None


@dataclass(frozen=True, slots=True)
class PortalSecrets:
    """The ClassLink client credentials and the portal key (never logged)."""

    client_id: str
    client_secret: str
    key: bytes  # signs the portal's cookies, CSRF tokens and staff links (each with its own purpose)

    def __repr__(self) -> str:
        return f"PortalSecrets(client_id={self.client_id!r}, client_secret=***, key=***)"


class PortalSecretResolver:
    """Env variables win; otherwise the JSON secret at ``PORTAL_SECRET_ARN`` through Powertools
    Parameters (cached for ``secret_cache_seconds``), read on the first request that needs it."""

    def __init__(self, settings: PortalSettings) -> None:
        self._settings = settings

    def stored(self) -> Mapping[str, Any]:
        s = self._settings
        if s.client_id and s.client_secret and s.portal_key:
            return {}
        if not s.secret_arn:
            missing = [ENV_NAMES[n] for n in ("client_id", "client_secret", "portal_key") if not getattr(s, n)]
            raise SettingsError(f"missing portal setting(s) {', '.join(missing)} (or PORTAL_SECRET_ARN)")
        from aws_lambda_powertools.utilities.parameters import get_secret

        try:
            stored = get_secret(s.secret_arn, transform="json", max_age=s.secret_cache_seconds)
        except Exception as exc:  # any SDK or transform failure: name the setting, not the value
            raise SettingsError(f"portal setting PORTAL_SECRET_ARN could not be read ({type(exc).__name__})") from None
        if not isinstance(stored, Mapping):
            raise SettingsError("portal setting PORTAL_SECRET_ARN is not a JSON object")
        return stored

    def key(self) -> bytes:
        """The portal key alone (what the staff command needs to sign a link)."""
        s = self._settings
        return _key(s.portal_key or _text(self.stored().get("portal_key")))

    def get(self) -> PortalSecrets:
        s = self._settings
        stored = self.stored()
        client_id = s.client_id or _text(stored.get("client_id"))
        client_secret = s.client_secret or _text(stored.get("client_secret"))
        if not client_id or client_id == PLACEHOLDER:
            raise SettingsError("portal setting CLASSLINK_CLIENT_ID (or client_id in PORTAL_SECRET_ARN) is not set")
        if not client_secret or client_secret == PLACEHOLDER:
            raise SettingsError(
                "portal setting CLASSLINK_CLIENT_SECRET (or client_secret in PORTAL_SECRET_ARN) is not set"
            )
        return PortalSecrets(client_id, client_secret, _key(s.portal_key or _text(stored.get("portal_key"))))


def _key(value: str | None) -> bytes:
    if not value:
        raise SettingsError("portal setting PORTAL_KEY (or portal_key in PORTAL_SECRET_ARN) is not set")
    if len(value) < MIN_KEY_LENGTH:
        raise SettingsError(f"portal setting PORTAL_KEY is too short (at least {MIN_KEY_LENGTH} characters)")
    return value.encode()


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
