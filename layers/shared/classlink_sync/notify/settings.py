"""R19 settings, from the environment once per cold start (``get_notify_settings.cache_clear()``
in tests):

- ``NOTIFY_FROM``: the sender address, an identity verified in SES; unset = notification off
  (one log line, not an error);
- ``PORTAL_URL``: the origin the district portal is served on (the link is ``PORTAL_URL/portal/``);
  unset = the email names the portal without a link;
- ``SES_CONFIGURATION_SET``: optional SES configuration set (event publishing, suppression).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from classlink_sync.errors import SettingsError
from classlink_sync.rules.contacts import contact_problem

VARIABLES = {"notify_from": "NOTIFY_FROM", "portal_url": "PORTAL_URL", "ses_configuration_set": "SES_CONFIGURATION_SET"}


class NotifySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    notify_from: str | None = None
    portal_url: str | None = None
    ses_configuration_set: str | None = None

    @field_validator("notify_from")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and contact_problem(value) is not None:
            raise ValueError("not an email address")
        return value

    @field_validator("portal_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("not an http(s) URL")
        return value

    @property
    def enabled(self) -> bool:
        return self.notify_from is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotifySettings:
        """Blank variables count as unset; an invalid one raises ``SettingsError`` naming it."""
        env = os.environ if environ is None else environ
        values = {field: env[var].strip() for field, var in VARIABLES.items() if env.get(var, "").strip()}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            bad = sorted({VARIABLES[str(err["loc"][0])] for err in exc.errors() if err["loc"]})
            raise SettingsError(f"invalid environment variable(s) {', '.join(bad)}") from None


@cache
def get_notify_settings() -> NotifySettings:
    return NotifySettings.from_env()
