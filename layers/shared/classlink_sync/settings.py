"""The application's settings: one pydantic model read from environment variables once per cold
start (DESIGN.md "Conventions": no AWS resource names in the core).

Naming convention (the store's, documented in docs/store.md): a DynamoDB table whose logical id in
template.yaml is ``FooBarTable`` is named by the environment variable ``FOO_BAR_TABLE`` and the
settings field ``foo_bar_table``; the reports bucket ``ReportBucket`` by ``REPORT_BUCKET``.
the local tooling relies on the same convention to create the tables locally.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from classlink_sync.errors import SettingsError as SettingsError

# settings field -> environment variable (required ones first).
TABLE_FIELDS = (
    "districts_table",
    "accounts_table",
    "reservations_table",
    "classes_table",
    "enrollments_table",
    "schools_table",
    "runs_table",
    "locks_table",
)
REQUIRED_FIELDS = (*TABLE_FIELDS, "report_bucket")
OPTIONAL_FIELDS = (
    "sync_queue_url",
    "aws_endpoint_url",
    "page_concurrency",
    "store_concurrency",
    "district_secret_prefix",
)
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def env_name(field_name: str) -> str:
    """The environment variable of a settings field (``accounts_table`` -> ``ACCOUNTS_TABLE``)."""
    return field_name.upper()


def field_for_logical_id(logical_id: str) -> str:
    """template.yaml logical id -> settings field (``EnrollmentsTable`` -> ``enrollments_table``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", logical_id).lower()


class AppSettings(BaseModel):
    """Everything the core needs to find its AWS resources (SPEC §3, R14)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    districts_table: str = Field(min_length=1)
    accounts_table: str = Field(min_length=1)
    reservations_table: str = Field(min_length=1)
    classes_table: str = Field(min_length=1)
    enrollments_table: str = Field(min_length=1)
    schools_table: str = Field(min_length=1)
    runs_table: str = Field(min_length=1)
    locks_table: str = Field(min_length=1)
    report_bucket: str = Field(min_length=1)
    region: str = Field(min_length=1)
    # The sync queue is needed by the dispatcher and "sync now" only; see ``require``.
    sync_queue_url: str | None = None
    # The standard AWS variable: when set, boto3 and pynamodb talk to it (moto, sam local).
    aws_endpoint_url: str | None = None
    # R14: ClassLink pages fetched in parallel by one sync.
    page_concurrency: int = Field(default=4, ge=1, le=64)
    # R1: districts' Roster Server credentials are secrets under this name prefix; the functions'
    # IAM policy grants exactly this prefix (template.yaml DistrictSecretPrefix output).
    district_secret_prefix: str = Field(default="classlink-sync/local/district/", pattern=r"^[\w/+=.@-]+/$")
    # Parallel DynamoDB requests of one store read or apply (shards, batches).
    store_concurrency: int = Field(default=16, ge=1, le=128)

    @field_validator("sync_queue_url", "aws_endpoint_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppSettings:
        """Read the settings from ``environ`` (default ``os.environ``); a missing required
        variable raises ``SettingsError`` naming it."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        missing = [env_name(f) for f in REQUIRED_FIELDS if not env.get(env_name(f), "").strip()]
        region = next((env[v] for v in REGION_VARIABLES if env.get(v, "").strip()), None)
        if region is None:
            missing.append("AWS_REGION")
        if missing:
            raise SettingsError("missing required environment variable(s): " + ", ".join(missing))
        for name in REQUIRED_FIELDS + OPTIONAL_FIELDS:
            if env.get(env_name(name), "").strip():
                values[name] = env[env_name(name)].strip()
        values["region"] = region
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            bad = sorted({env_name(str(err["loc"][0])) for err in exc.errors() if err["loc"]})
            raise SettingsError(f"invalid environment variable(s) {', '.join(bad)}: {exc}") from exc

    def require(self, field_name: str) -> str:
        """The value of an optional setting that this caller needs, or ``SettingsError``."""
        value = getattr(self, field_name)
        if not value:
            raise SettingsError(f"missing required environment variable: {env_name(field_name)}")
        return str(value)

    def table_names(self) -> dict[str, str]:
        """settings field -> table name, for every DynamoDB table."""
        return {name: getattr(self, name) for name in TABLE_FIELDS}


@cache
def get_settings() -> AppSettings:
    """The settings of this process, read once per cold start (``get_settings.cache_clear()`` in
    tests)."""
    return AppSettings.from_env()
