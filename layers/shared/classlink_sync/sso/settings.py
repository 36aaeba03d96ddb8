"""SSO settings, read from the environment once per cold start (DESIGN: one pydantic model).

ClassLink's endpoints are settings so that a local ``serve`` can point at the emulator or at a
ClassLink sandbox (SPEC §1). The SSO app's client id and secret and the session signing key come
from Secrets Manager (``SSO_SECRET_ARN``, a JSON secret with ``client_id``, ``client_secret`` and
``session_key``) unless ``CLASSLINK_CLIENT_ID`` / ``CLASSLINK_CLIENT_SECRET`` / ``SESSION_KEY`` are
set, which win. The secret is fetched lazily (the first request that needs it) and cached.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from classlink_sync.errors import SsoConfigError as SsoConfigError

DEFAULT_LAUNCHPAD_URL = "https://launchpad.classlink.com"
DEFAULT_NODEAPI_URL = "https://nodeapi.classlink.com"
SCOPE = "openid profile email oneroster"


class SsoSettings(BaseModel):
    """Plain (non-secret) settings. Secrets are resolved by :class:`SecretResolver`."""

    model_config = ConfigDict(frozen=True)

    launchpad_url: str = DEFAULT_LAUNCHPAD_URL
    nodeapi_url: str = DEFAULT_NODEAPI_URL
    redirect_uri: str | None = None
    app_url: str | None = None
    allowed_return_paths: tuple[str, ...] = ()
    secret_arn: str | None = None
    client_id: str | None = None
    client_secret: str | None = Field(default=None, repr=False)
    session_key: str | None = Field(default=None, repr=False)
    session_lifetime_seconds: int = Field(default=8 * 3600, gt=0)
    login_lifetime_seconds: int = Field(default=600, gt=0)
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    jwt_leeway_seconds: int = Field(default=60, ge=0)
    jwks_cache_seconds: int = Field(default=3600, gt=0)
    state_table_name: str | None = None
    secret_cache_seconds: int = Field(default=300, gt=0)

    @field_validator("launchpad_url", "nodeapi_url", "app_url", "redirect_uri")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
        return value.rstrip("/") if parts.path in ("", "/") else value

    @field_validator("allowed_return_paths")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("/") or path.startswith("//"):
                raise ValueError(f"each allowed return path must start with a single '/', got {path!r}")
        return value

    def require(self, name: str) -> str:
        """Return a required plain setting, or raise :class:`SsoConfigError` naming its env var."""
        value = getattr(self, name)
        if not value:
            raise SsoConfigError(ENV_NAMES[name])
        return str(value)


# Field name -> environment variable (also the name used in error messages).
ENV_NAMES: dict[str, str] = {
    "launchpad_url": "CLASSLINK_LAUNCHPAD_URL",
    "nodeapi_url": "CLASSLINK_NODEAPI_URL",
    "redirect_uri": "SSO_REDIRECT_URI",
    "app_url": "APP_URL",
    "allowed_return_paths": "SSO_ALLOWED_RETURN_PATHS",
    "secret_arn": "SSO_SECRET_ARN",  # nosec B105 # a variable's name, not a secret
    "client_id": "CLASSLINK_CLIENT_ID",
    "client_secret": "CLASSLINK_CLIENT_SECRET",  # nosec B105 # a variable's name, not a secret
    "session_key": "SESSION_KEY",
    "session_lifetime_seconds": "SESSION_LIFETIME_SECONDS",
    "login_lifetime_seconds": "SSO_LOGIN_LIFETIME_SECONDS",
    "http_timeout_seconds": "SSO_HTTP_TIMEOUT_SECONDS",
    "jwt_leeway_seconds": "SSO_JWT_LEEWAY_SECONDS",
    "jwks_cache_seconds": "SSO_JWKS_CACHE_SECONDS",
    "state_table_name": "SSO_STATE_TABLE",
    "secret_cache_seconds": "SSO_SECRET_CACHE_SECONDS",  # nosec B105 # a variable's name, not a secret
}


def load_settings(environ: Mapping[str, str] | None = None) -> SsoSettings:
    """Build :class:`SsoSettings` from the environment (S1-S5). Invalid values raise
    :class:`SsoConfigError` naming the variable."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field_name, env_name in ENV_NAMES.items():
        raw = env.get(env_name)
        if raw is None or raw.strip() == "":
            continue
        if field_name == "allowed_return_paths":
            values[field_name] = tuple(p.strip() for p in raw.split(",") if p.strip())
        else:
            values[field_name] = raw.strip()
    try:
        return SsoSettings(**values)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
        field_name = str(errors[0]["loc"][0]) if errors else "?"
        message = errors[0]["msg"] if errors else str(exc)
        raise SsoConfigError(ENV_NAMES.get(field_name, field_name), f"is invalid: {message}") from None


@dataclass(frozen=True, slots=True)
class SsoSecrets:
    """The SSO app's credentials and the session signing key (never logged)."""

    client_id: str
    client_secret: str
    session_key: bytes

    def __repr__(self) -> str:  # never print secrets by accident
        return f"SsoSecrets(client_id={self.client_id!r}, client_secret=***, session_key=***)"


class SecretResolver:
    """Resolves :class:`SsoSecrets`: env vars win, else the JSON secret at ``SSO_SECRET_ARN``
    through Powertools Parameters (cached for ``secret_cache_seconds``). boto3 is imported only
    when the secret is actually needed, to keep the cold start small."""

    def __init__(self, settings: SsoSettings) -> None:
        self._settings = settings

    def get(self) -> SsoSecrets:
        s = self._settings
        stored: Mapping[str, object] = {}
        if not (s.client_id and s.client_secret and s.session_key):
            if not s.secret_arn:
                missing = [ENV_NAMES[n] for n in ("client_id", "client_secret", "session_key") if not getattr(s, n)]
                raise SsoConfigError(f"{' and '.join(missing)} (or SSO_SECRET_ARN)")
            from aws_lambda_powertools.utilities.parameters import get_secret

            try:
                stored = get_secret(s.secret_arn, transform="json", max_age=s.secret_cache_seconds)
            except Exception as exc:  # any SDK or transform failure: name the setting, not the value
                raise SsoConfigError("SSO_SECRET_ARN", f"could not be read ({type(exc).__name__})") from None
            if not isinstance(stored, Mapping):
                raise SsoConfigError("SSO_SECRET_ARN", "is not a JSON object")
        client_id = s.client_id or _text(stored.get("client_id"))
        client_secret = s.client_secret or _text(stored.get("client_secret"))
        session_key = s.session_key or _text(stored.get("session_key"))
        if not client_id:
            raise SsoConfigError("CLASSLINK_CLIENT_ID (or client_id in the SSO_SECRET_ARN secret)")
        if not client_secret:
            raise SsoConfigError("CLASSLINK_CLIENT_SECRET (or client_secret in the SSO_SECRET_ARN secret)")
        if not session_key:
            raise SsoConfigError("SESSION_KEY (or session_key in the SSO_SECRET_ARN secret)")
        if len(session_key) < 32:
            raise SsoConfigError("SESSION_KEY", "is too short (at least 32 characters)")
        return SsoSecrets(client_id, client_secret, session_key.encode())


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
