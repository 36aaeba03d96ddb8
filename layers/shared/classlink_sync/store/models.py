"""pynamodb models of the store and their key design (docs/store.md).

The classes here are unbound: they carry attributes and keys but no table name or host. ``bind``
makes bound subclasses from ``AppSettings`` at runtime (table names, ``AWS_ENDPOINT_URL``,
region), so nothing is resolved at import time and no AWS resource name lives in the code.

District-scoped roster items are spread over ``SHARDS[entity]`` partition keys
``{district_id}#{shard:02d}`` (shard = blake2b of the item's id), so a 500,000-user district is
read shard by shard in parallel and a first sync's writes spread over many partitions (DESIGN.md
"What moto hides"). Attribute names are short because every read of a large district pays for
them (R15: only what the platform needs is stored).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, LocalSecondaryIndex
from pynamodb.models import Model

from classlink_sync.settings import AppSettings

# Fixed per entity: changing one would orphan items, so a change needs a migration.
SHARDS = {"account": 32, "class": 8, "enrollment": 64, "school": 2}
SIGNIN_INDEX = "signin"
RUNS_BY_START_INDEX = "by_start"
DISTRICT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def shard_of(item_id: str, shards: int) -> int:
    """Stable shard of an id (blake2b, never Python's ``hash()``)."""
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=4).digest(), "big") % shards


def partition(district_id: str, entity: str, item_id: str) -> str:
    """The partition key of a district-scoped roster item."""
    return f"{district_id}#{shard_of(item_id, SHARDS[entity]):02d}"


def partitions(district_id: str, entity: str) -> list[str]:
    """Every partition key of one district's items of one entity."""
    return [f"{district_id}#{s:02d}" for s in range(SHARDS[entity])]


def district_of(pk: str) -> str:
    return pk.rsplit("#", 1)[0]


def signin_key(tenant_id: str, sourced_id: str) -> str:
    """Key of the sign-in index: (ClassLink tenant, sourcedId) -> one account (S2)."""
    return f"{tenant_id}#{sourced_id}"


def enrollment_key(class_id: str, account_id: str) -> str:
    return f"{class_id}#{account_id}"


class SigninIndex(GlobalSecondaryIndex["AccountItem"]):
    """Sparse: only linked accounts carry ``sig``. Projects what the SSO needs (S2, S3)."""

    class Meta:
        index_name = SIGNIN_INDEX
        projection = IncludeProjection(["un", "em", "ro", "ac", "mg"])

    sig = UnicodeAttribute(hash_key=True)


class AccountItem(Model):
    """An account of the directory (SPEC §2); ``sk`` is the account id, which never changes."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # account_id
    sid = UnicodeAttribute(null=True)  # linked ClassLink sourcedId (R6)
    sig = UnicodeAttribute(null=True)  # tenant#sourcedId while linked
    un = UnicodeAttribute()  # username as displayed
    unn = UnicodeAttribute()  # normalised username = the reservation it holds (R5)
    em = UnicodeAttribute(null=True)
    gn = UnicodeAttribute(null=True)
    fn = UnicodeAttribute(null=True)
    ro = UnicodeAttribute()
    ac = BooleanAttribute()  # active: can sign in
    en = BooleanAttribute(default=True)  # ClassLink enabledUser
    sch = ListAttribute(of=UnicodeAttribute, default=list)
    gr = ListAttribute(of=UnicodeAttribute, default=list)
    mg = BooleanAttribute(default=False)  # R13 managed by ClassLink
    dg = UnicodeAttribute(default="")  # content digest as last synced ("" never synced)
    signin = SigninIndex()


class ReservationItem(Model):
    """R5: the item that makes a normalised username unique platform-wide."""

    pk = UnicodeAttribute(hash_key=True)  # username_norm
    a = UnicodeAttribute()  # account_id
    d = UnicodeAttribute()  # district_id


class ClassItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # class_id
    sid = UnicodeAttribute()
    ti = UnicodeAttribute()
    cc = UnicodeAttribute(null=True)
    sc = UnicodeAttribute(null=True)  # school sourcedId
    co = UnicodeAttribute(null=True)  # course sourcedId
    su = UnicodeAttribute(null=True)  # subject (R7)
    te = ListAttribute(of=UnicodeAttribute, default=list)
    gr = ListAttribute(of=UnicodeAttribute, default=list)
    ar = BooleanAttribute(default=False)
    mg = BooleanAttribute(default=True)
    dg = UnicodeAttribute(default="")


class EnrollmentItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # class_id#account_id
    c = UnicodeAttribute()  # class_id
    a = UnicodeAttribute()  # account_id
    sid = UnicodeAttribute()
    csid = UnicodeAttribute(null=True)
    usid = UnicodeAttribute(null=True)
    ro = UnicodeAttribute()
    pr = BooleanAttribute(default=False)
    bd = UnicodeAttribute(null=True)
    ed = UnicodeAttribute(null=True)
    ar = BooleanAttribute(default=False)
    mg = BooleanAttribute(default=True)
    dg = UnicodeAttribute(default="")


class SchoolItem(Model):
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # sourcedId
    nm = UnicodeAttribute(null=True)
    idf = UnicodeAttribute(null=True)
    ar = BooleanAttribute(default=False)
    dg = UnicodeAttribute(default="")


class DistrictItem(Model):
    """``pk = district#{id}``: settings and onboarding state (R1, R2, R7, R10)."""

    pk = UnicodeAttribute(hash_key=True)
    district_id = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    oneroster_url = UnicodeAttribute()
    secret_id = UnicodeAttribute()  # Secrets Manager ARN/name of the credentials, never the secret
    use_proxy = BooleanAttribute(default=False)
    all_schools = BooleanAttribute(default=False)
    schools = ListAttribute(of=UnicodeAttribute, default=list)
    enable_from = UnicodeAttribute()  # ISO date
    thresholds = JSONAttribute(null=True)
    subject_overrides = JSONAttribute(null=True)
    created_at = UnicodeAttribute()
    notice_overridden = BooleanAttribute(default=False)
    reset_at = UnicodeAttribute(null=True)  # R2 done
    first_sync_at = UnicodeAttribute(null=True)


class TenantItem(Model):
    """``pk = tenant#{tenant_id}``: one tenant belongs to at most one district (R1)."""

    pk = UnicodeAttribute(hash_key=True)
    district_id = UnicodeAttribute()


class RunsByStart(LocalSecondaryIndex["RunItem"]):
    class Meta:
        index_name = RUNS_BY_START_INDEX
        projection = IncludeProjection(["status", "trigger", "ended"])

    pk = UnicodeAttribute(hash_key=True)
    started = UnicodeAttribute(range_key=True)


class RunItem(Model):
    """SPEC §3 run record: counts and pointers here, the full report in S3."""

    pk = UnicodeAttribute(hash_key=True)  # district_id
    sk = UnicodeAttribute(range_key=True)  # run_id
    started = UnicodeAttribute()
    ended = UnicodeAttribute(null=True)
    trigger = UnicodeAttribute()
    status = UnicodeAttribute()
    counts = JSONAttribute(null=True)
    issue_count = NumberAttribute(default=0)
    roster_writes = NumberAttribute(null=True)
    report_key = UnicodeAttribute(null=True)
    plan_key = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    by_start = RunsByStart()


class LockItem(Model):
    """Bookkeeping: ``lease#{district}`` and ``slot#{district}#{date}`` (R14)."""

    pk = UnicodeAttribute(hash_key=True)
    holder = UnicodeAttribute(null=True)
    expires = NumberAttribute(null=True)  # epoch seconds, checked in code
    ttl = NumberAttribute(null=True)  # DynamoDB TTL: housekeeping only
    at = UnicodeAttribute(null=True)


M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Models:
    """The models bound to one ``AppSettings`` (table names, host, region)."""

    settings: AppSettings
    Account: type[AccountItem]
    Reservation: type[ReservationItem]
    Class: type[ClassItem]
    Enrollment: type[EnrollmentItem]
    School: type[SchoolItem]
    District: type[DistrictItem]
    Tenant: type[TenantItem]
    Run: type[RunItem]
    Lock: type[LockItem]


def _bound(base: type[M], table_name: str, settings: AppSettings) -> type[M]:
    meta: dict[str, Any] = {
        "table_name": table_name,
        "host": settings.aws_endpoint_url,
        "region": settings.region,
        "max_pool_connections": max(10, settings.store_concurrency + 4),
    }
    return type(base.__name__, (base,), {"Meta": type("Meta", (), meta), "__module__": __name__})


@cache
def bind(settings: AppSettings) -> Models:
    """Bound model classes for these settings (cached: one connection pool per table)."""
    return Models(
        settings=settings,
        Account=_bound(AccountItem, settings.accounts_table, settings),
        Reservation=_bound(ReservationItem, settings.reservations_table, settings),
        Class=_bound(ClassItem, settings.classes_table, settings),
        Enrollment=_bound(EnrollmentItem, settings.enrollments_table, settings),
        School=_bound(SchoolItem, settings.schools_table, settings),
        District=_bound(DistrictItem, settings.districts_table, settings),
        Tenant=_bound(TenantItem, settings.districts_table, settings),
        Run=_bound(RunItem, settings.runs_table, settings),
        Lock=_bound(LockItem, settings.locks_table, settings),
    )
