"""Store tests: moto in-process (``mock_aws``) with the tables created from template.yaml, once for
the session (``aws_world`` in tests/conftest.py); every test starts from empty tables."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from classlink_local.inprocess import IN_PROCESS_ENV
from classlink_local.stack import reset_cached_settings
from classlink_sync.rules.normalise import normalise
from classlink_sync.rules.plan import (
    AccountState,
    ClassState,
    EnrollmentState,
    Plan,
    ReservationChange,
    SchoolState,
)
from classlink_sync.store.context import Store


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in IN_PROCESS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("SYNC_QUEUE_URL", raising=False)
    reset_cached_settings()
    yield
    reset_cached_settings()


@pytest.fixture
def store(aws_world: Any) -> Iterator[Store]:
    with aws_world.active() as s:
        yield s


def digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def account(
    district: str,
    n: int,
    *,
    tenant: str = "T1",
    role: str = "student",
    username: str | None = None,
    active: bool = True,
) -> AccountState:
    name = username or f"{district}-user{n}"
    return AccountState(
        account_id=f"{district}-acc{n}",
        district_id=district,
        tenant_id=tenant,
        sourced_id=f"u{n}",
        username=name,
        username_norm=normalise(name) or "",
        email=f"{name}@school.example",
        email_norm=normalise(f"{name}@school.example"),
        given_name="Given",
        family_name=f"Family{n}",
        role=role,
        active=active,
        enabled=True,
        school_ids=("s1",),
        grades=("07",),
        managed=True,
        digest=digest(name, role, n),
    )


def klass(district: str, n: int, *, title: str = "French 1") -> ClassState:
    return ClassState(
        class_id=f"{district}-cls{n}",
        district_id=district,
        sourced_id=f"c{n}",
        title=title,
        class_code=None,
        school_id="s1",
        course_id=None,
        subject="French",
        term_ids=("t1",),
        grades=("07",),
        archived=False,
        managed=True,
        digest=digest(title, n),
    )


def enrolment(district: str, cls: ClassState, acc: AccountState) -> EnrollmentState:
    return EnrollmentState(
        class_id=cls.class_id,
        account_id=acc.account_id,
        district_id=district,
        sourced_id=f"e-{cls.sourced_id}-{acc.sourced_id}",
        class_sourced_id=cls.sourced_id,
        user_sourced_id=acc.sourced_id or "",
        role=acc.role,
        primary=acc.role == "teacher",
        begin_date=None,
        end_date=None,
        archived=False,
        managed=True,
        digest=digest(cls.class_id, acc.account_id),
    )


def school(district: str) -> SchoolState:
    return SchoolState(
        sourced_id="s1",
        district_id=district,
        name="Lincoln High",
        identifier="LHS",
        archived=False,
        digest=digest("s1"),
    )


def first_sync_plan(district: str, *, tenant: str = "T1", students: int = 6, classes: int = 2) -> Plan:
    """A hand-built plan of a district's first sync: a teacher, students, classes, enrolments."""
    plan = Plan(district_id=district, tenant_id=tenant, today="2026-01-15", fetch_complete=True)
    teacher = account(district, 0, tenant=tenant, role="teacher")
    pupils = [account(district, i, tenant=tenant) for i in range(1, students + 1)]
    accounts = [teacher, *pupils]
    plan.accounts["create"] = accounts
    plan.reservations["add"] = [ReservationChange(a.username_norm, a.account_id, district) for a in accounts]
    plan.schools["create"] = [school(district)]
    cls_list = [klass(district, i) for i in range(classes)]
    plan.classes["create"] = cls_list
    plan.enrollments["create"] = [enrolment(district, c, a) for c in cls_list for a in accounts]
    return plan


def dump(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every item of every roster table, sorted (to compare end states)."""
    out = {}
    client = store.calls.connection
    for name in (
        "accounts_table",
        "reservations_table",
        "classes_table",
        "enrollments_table",
        "schools_table",
    ):
        table = getattr(store.settings, name)
        items = client.dispatch("Scan", {"TableName": table}).get("Items", [])
        out[name] = sorted(items, key=repr)
    return out


@pytest.fixture
def b(aws_world: Any) -> SimpleNamespace:
    """Builders for hand-made plans; ``fresh_store(**store_options)`` is a context manager giving a
    store on empty tables (one at a time, and not with the ``store`` fixture)."""
    return SimpleNamespace(
        account=account,
        klass=klass,
        enrolment=enrolment,
        school=school,
        first_sync_plan=first_sync_plan,
        dump=dump,
        fresh_store=aws_world.active,
        digest=digest,
    )
