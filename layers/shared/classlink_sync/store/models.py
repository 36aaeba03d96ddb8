"""pynamodb models of the store and their key design (docs/store.md).

The classes here are unbound: they carry attributes and keys but no table name or host. ``bind``
makes bound subclasses from ``AppSettings`` at runtime (table names, ``AWS_ENDPOINT_URL``,
region), so nothing is resolved at import time and no AWS resource name lives in the code.

District-scoped roster items are spread over ``SHARDS[entity]`` partition keys
``{district_id}#{shard:02d}`` (shard = blake2b of the item's id), so a 500,000-user district is
read shard by shard in parallel and a first sync's writes spread over many partitions (DESIGN.md
"What moto hides"). Stored attribute names are short because every read of a large district
pays for them (R15: only what the platform needs is stored); the Python names are readable and
map to them with ``attr_name`` (``username`` is stored as ``un``). Raw items (``store.items``,
``store.view``, projections, expressions) use the stored names; model code uses the Python names.
"""

from __future__ import annotations

import hashlib
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

from classlink_sync import aws
from classlink_sync.rules.onboarding import DISTRICT_ID_RE as DISTRICT_ID_RE
from classlink_sync.settings import AppSettings
from classlink_sync.store.dynamo import store_connection

# Fixed per entity: changing one would orphan items, so a change needs a migration.
SHARDS = {"account": 32, "class": 8, "enrollment": 64, "school": 2}
SIGNIN_INDEX = "signin"
RUNS_BY_START_INDEX = "by_start"


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
    """Sparse: only linked accounts carry ``sig``. Projects what the SSO needs (S2, S3); the
    projection names stored attributes."""

    class Meta:
        index_name = SIGNIN_INDEX
        projection = IncludeProjection(["un", "em", "ro", "ac", "mg"])

    signin_key = UnicodeAttribute(hash_key=True, attr_name="sig")


class AccountItem(Model):
    """An account of the directory (SPEC §2); ``account_id`` (``sk``) never changes."""

    pk = UnicodeAttribute(hash_key=True)  # {district_id}#{shard}
    account_id = UnicodeAttribute(range_key=True, attr_name="sk")
    sourced_id = UnicodeAttribute(null=True, attr_name="sid")  # linked ClassLink sourcedId (R6)
    signin_key = UnicodeAttribute(null=True, attr_name="sig")  # tenant#sourcedId while linked
    username = UnicodeAttribute(attr_name="un")  # as displayed
    username_norm = UnicodeAttribute(attr_name="unn")  # = the reservation it holds (R5)
    email = UnicodeAttribute(null=True, attr_name="em")
    given_name = UnicodeAttribute(null=True, attr_name="gn")
    family_name = UnicodeAttribute(null=True, attr_name="fn")
    role = UnicodeAttribute(attr_name="ro")
    active = BooleanAttribute(attr_name="ac")  # can sign in
    enabled = BooleanAttribute(default=True, attr_name="en")  # ClassLink enabledUser
    school_ids = ListAttribute(of=UnicodeAttribute, default=list, attr_name="sch")
    grades = ListAttribute(of=UnicodeAttribute, default=list, attr_name="gr")
    managed = BooleanAttribute(default=False, attr_name="mg")  # R13 managed by ClassLink
    digest = UnicodeAttribute(default="", attr_name="dg")  # content digest as last synced ("" never)
    signin = SigninIndex()


class ReservationItem(Model):
    """R5: the item that makes a normalised username unique platform-wide."""

    username_norm = UnicodeAttribute(hash_key=True, attr_name="pk")
    account_id = UnicodeAttribute(attr_name="a")
    district_id = UnicodeAttribute(attr_name="d")


class ClassItem(Model):
    pk = UnicodeAttribute(hash_key=True)  # {district_id}#{shard}
    class_id = UnicodeAttribute(range_key=True, attr_name="sk")
    sourced_id = UnicodeAttribute(attr_name="sid")
    title = UnicodeAttribute(attr_name="ti")
    class_code = UnicodeAttribute(null=True, attr_name="cc")
    school_id = UnicodeAttribute(null=True, attr_name="sc")  # school sourcedId
    course_id = UnicodeAttribute(null=True, attr_name="co")  # course sourcedId
    subject = UnicodeAttribute(null=True, attr_name="su")  # R7
    term_ids = ListAttribute(of=UnicodeAttribute, default=list, attr_name="te")
    grades = ListAttribute(of=UnicodeAttribute, default=list, attr_name="gr")
    archived = BooleanAttribute(default=False, attr_name="ar")
    managed = BooleanAttribute(default=True, attr_name="mg")
    digest = UnicodeAttribute(default="", attr_name="dg")


class EnrollmentItem(Model):
    pk = UnicodeAttribute(hash_key=True)  # {district_id}#{shard}
    enrollment_key = UnicodeAttribute(range_key=True, attr_name="sk")  # class_id#account_id
    class_id = UnicodeAttribute(attr_name="c")
    account_id = UnicodeAttribute(attr_name="a")
    sourced_id = UnicodeAttribute(attr_name="sid")
    class_sourced_id = UnicodeAttribute(null=True, attr_name="csid")
    user_sourced_id = UnicodeAttribute(null=True, attr_name="usid")
    role = UnicodeAttribute(attr_name="ro")
    primary = BooleanAttribute(default=False, attr_name="pr")
    begin_date = UnicodeAttribute(null=True, attr_name="bd")
    end_date = UnicodeAttribute(null=True, attr_name="ed")
    archived = BooleanAttribute(default=False, attr_name="ar")
    managed = BooleanAttribute(default=True, attr_name="mg")
    digest = UnicodeAttribute(default="", attr_name="dg")


class SchoolItem(Model):
    pk = UnicodeAttribute(hash_key=True)  # {district_id}#{shard}
    sourced_id = UnicodeAttribute(range_key=True, attr_name="sk")
    name = UnicodeAttribute(null=True, attr_name="nm")
    identifier = UnicodeAttribute(null=True, attr_name="idf")
    archived = BooleanAttribute(default=False, attr_name="ar")
    digest = UnicodeAttribute(default="", attr_name="dg")


class DistrictItem(Model):
    """``pk = district#{id}``: settings and onboarding state (R1, R2, R7, R10, R19)."""

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
    contacts = ListAttribute(of=UnicodeAttribute, default=list)  # R19: emailed about its syncs
    timezone = UnicodeAttribute(null=True)  # IANA zone of its dates and hours (R16, R18); None: UTC
    pause = JSONAttribute(null=True)  # R16: {"from", "until", "reason"} (dates; "until" may be null)
    blackouts = JSONAttribute(null=True)  # R16: [{"from", "until", "reason"}]
    additions_only = JSONAttribute(null=True)  # R16: [{"from", "until", "reason"}]
    delta = JSONAttribute(null=True)  # R18: {"every_minutes", "from_hour", "until_hour"}; None: off
    paused_since = UnicodeAttribute(null=True)  # R16: date of the first paused slot since the last applied sync
    paused_last = UnicodeAttribute(null=True)  # R16: date of the latest paused slot since then


class TenantItem(Model):
    """``pk = tenant#{tenant_id}``: one tenant belongs to at most one district (R1)."""

    pk = UnicodeAttribute(hash_key=True)
    district_id = UnicodeAttribute()


class RunsByStart(LocalSecondaryIndex["RunItem"]):
    class Meta:
        index_name = RUNS_BY_START_INDEX
        projection = IncludeProjection(["status", "trigger", "ended"])

    district_id = UnicodeAttribute(hash_key=True, attr_name="pk")
    started = UnicodeAttribute(range_key=True)


class RunItem(Model):
    """SPEC §3 run record: counts and pointers here, the full report in S3."""

    district_id = UnicodeAttribute(hash_key=True, attr_name="pk")
    run_id = UnicodeAttribute(range_key=True, attr_name="sk")
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
    review = JSONAttribute(null=True)  # R10/S7: who approved or discarded a held run, and when
    mode = UnicodeAttribute(null=True)  # full (None on older records) | delta (R18) | undo (R17)
    deferred = NumberAttribute(null=True)  # R16/R18: removals deferred to the next normal sync
    undoes = UnicodeAttribute(null=True)  # R17: the run an undo run undoes
    undone_by = UnicodeAttribute(null=True)  # R17: the undo run that undid this run
    reason = UnicodeAttribute(null=True)  # R16: why a run is paused
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
    bound = type(base.__name__, (base,), {"Meta": type("Meta", (), meta), "__module__": __name__})
    aws.use_connection(bound, store_connection(settings))
    return bound


@cache
def bind(settings: AppSettings) -> Models:
    """Bound model classes for these settings (cached), all sending through the store's one
    connection (``store.dynamo.store_connection``: one botocore client on the process's session)."""
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
