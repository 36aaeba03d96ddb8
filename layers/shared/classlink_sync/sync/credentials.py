"""A district's Roster Server credentials, read from Secrets Manager (SPEC R1: never in plain
config or logs) through Powertools Parameters, cached for a few minutes per warm container."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx

from classlink_sync.oneroster.auth import BearerAuth, OAuth1Auth
from classlink_sync.settings import AppSettings
from classlink_sync.store.districts import District

SECRET_MAX_AGE_SECONDS = 300


class CredentialsMissing(RuntimeError):
    """The district's secret lacks the fields its access mode needs; names the secret, not its value."""


@cache
def _provider(settings: AppSettings) -> Any:
    """One provider per settings (per cold start), so its cache lives across invocations."""
    from aws_lambda_powertools.utilities import parameters

    return parameters.SecretsProvider(boto3_client=_secrets_client(settings))


def read_secret(secret_id: str, settings: AppSettings) -> dict[str, Any]:
    value = _provider(settings).get(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    if not isinstance(value, dict):
        raise CredentialsMissing(f"R1: secret {secret_id} is not a JSON object")
    return value


def _secrets_client(settings: AppSettings) -> Any:
    from classlink_sync.store.districts import secrets_client

    return secrets_client(settings)


def roster_auth(district: District, settings: AppSettings) -> httpx.Auth:
    """OAuth 1.0a for a district's own Roster Server; a bearer token for ClassLink's OneRoster
    proxy (SPEC §1)."""
    secret = read_secret(district.secret_id, settings)
    if district.use_proxy or secret.get("bearer_token"):
        token = secret.get("bearer_token")
        if not token:
            raise CredentialsMissing(f"R1: secret {district.secret_id} has no bearer_token for the proxy")
        return BearerAuth(str(token))
    client_id, client_secret = secret.get("client_id"), secret.get("client_secret")
    if not client_id or not client_secret:
        raise CredentialsMissing(f"R1: secret {district.secret_id} needs client_id and client_secret")
    return OAuth1Auth(str(client_id), str(client_secret))
