"""``DynamoRosterView``: the planner's read interface (``rules.holdings.RosterView``) on DynamoDB.

Each district-scoped read queries every shard partition of the district (docs/store.md) in
parallel threads, page by page, with a projection of only the attributes the planner needs, and
decodes the raw items straight into the compact ``Held*`` records with ids interned (DESIGN.md
"Memory matters"). Reservations are read with BatchGetItem, 100 keys a request (R5: the planner's
prediction; uniqueness itself is enforced by conditional writes in ``store.apply``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from classlink_sync.rules.holdings import HeldAccount, HeldClass, HeldEnrollment, HeldSchool, Reservation
from classlink_sync.rules.normalise import normalise
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.models import district_of, partitions

T = TypeVar("T")
_intern = sys.intern

# Everything a Held* record carries (a removal, R9, is planned as a full state without a read).
ACCOUNT_PROJECTION = ("sk", "sid", "un", "unn", "em", "gn", "fn", "ro", "ac", "en", "sch", "gr", "dg", "mg")
CLASS_PROJECTION = ("sk", "sid", "sc", "ti", "cc", "co", "te", "gr", "su", "ar", "dg")
ENROLLMENT_PROJECTION = ("c", "a", "sid", "csid", "usid", "ro", "pr", "bd", "ed", "ar", "dg")
SCHOOL_PROJECTION = ("sk", "nm", "idf", "ar", "dg")


def _s(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else value.get("S")


def _b(item: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = item.get(name)
    return default if value is None else bool(value.get("BOOL"))


def _strings(item: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = item.get(name)
    if value is None:
        return ()
    return tuple(_intern(v["S"]) for v in value.get("L", []))


def _i(value: str | None) -> str | None:
    return None if value is None else _intern(value)


def decode_account(item: Mapping[str, Any], district_id: str) -> HeldAccount:
    email = _s(item, "em")
    return HeldAccount(
        account_id=_intern(item["sk"]["S"]),
        district_id=district_id,
        username=item["un"]["S"],
        username_norm=item["unn"]["S"],
        email_norm=normalise(email),
        role=_intern(item["ro"]["S"]),
        active=_b(item, "ac"),
        sourced_id=_i(_s(item, "sid")),
        digest=_s(item, "dg") or "",
        managed=_b(item, "mg"),
        given_name=_s(item, "gn") or "",
        family_name=_s(item, "fn") or "",
        email=email,
        enabled=_b(item, "en", True),
        school_ids=_strings(item, "sch"),
        grades=_strings(item, "gr"),
    )


def decode_class(item: Mapping[str, Any]) -> HeldClass:
    return HeldClass(
        class_id=_intern(item["sk"]["S"]),
        sourced_id=_intern(item["sid"]["S"]),
        school_id=_i(_s(item, "sc")),
        title=item["ti"]["S"],
        term_ids=_strings(item, "te"),
        subject=_i(_s(item, "su")),
        archived=_b(item, "ar"),
        digest=_s(item, "dg") or "",
        class_code=_s(item, "cc"),
        course_id=_i(_s(item, "co")),
        grades=_strings(item, "gr"),
    )


def decode_enrollment(item: Mapping[str, Any]) -> HeldEnrollment:
    return HeldEnrollment(
        class_id=_intern(item["c"]["S"]),
        account_id=_intern(item["a"]["S"]),
        sourced_id=_intern(item["sid"]["S"]),
        archived=_b(item, "ar"),
        digest=_s(item, "dg") or "",
        class_sourced_id=_intern(_s(item, "csid") or ""),
        user_sourced_id=_intern(_s(item, "usid") or ""),
        role=_intern(item["ro"]["S"]),
        primary=_b(item, "pr"),
        begin_date=_s(item, "bd"),
        end_date=_s(item, "ed"),
    )


def decode_school(item: Mapping[str, Any]) -> HeldSchool:
    return HeldSchool(
        sourced_id=_intern(item["sk"]["S"]),
        archived=_b(item, "ar"),
        digest=_s(item, "dg") or "",
        name=_s(item, "nm") or "",
        identifier=_s(item, "idf"),
    )


@dataclass
class ReadStats:
    """What one view read, for the benchmark: items decoded and Query/BatchGet requests made."""

    items: int = 0
    requests: int = 0


class DynamoRosterView:
    """``RosterView`` over the store's tables (R5, R6, R9 inputs of the planner)."""

    def __init__(self, store: Store | None = None, *, threads: int | None = None) -> None:
        self.store = resolve(store)
        self.threads = threads or self.store.settings.store_concurrency
        self.stats = ReadStats()
        self._lock = threading.Lock()

    # -- RosterView -----------------------------------------------------------------------------
    def held_accounts(self, district_id: str) -> list[HeldAccount]:
        did = _intern(district_id)
        return self._read(
            self.store.settings.accounts_table,
            partitions(district_id, "account"),
            ACCOUNT_PROJECTION,
            lambda item: decode_account(item, did),
        )

    def held_classes(self, district_id: str) -> list[HeldClass]:
        return self._read(
            self.store.settings.classes_table,
            partitions(district_id, "class"),
            CLASS_PROJECTION,
            decode_class,
        )

    def held_enrollments(self, district_id: str) -> list[HeldEnrollment]:
        return self._read(
            self.store.settings.enrollments_table,
            partitions(district_id, "enrollment"),
            ENROLLMENT_PROJECTION,
            decode_enrollment,
        )

    def held_schools(self, district_id: str) -> list[HeldSchool]:
        return self._read(
            self.store.settings.schools_table,
            partitions(district_id, "school"),
            SCHOOL_PROJECTION,
            decode_school,
        )

    def reservations(self, usernames_norm: Iterable[str]) -> dict[str, Reservation]:
        """One batch lookup (BatchGetItem, 100 keys a request, in parallel) of reservations."""
        names = sorted(set(usernames_norm))
        table = self.store.settings.reservations_table
        batches = [names[i : i + 100] for i in range(0, len(names), 100)]

        def fetch(batch: list[str]) -> list[dict[str, Any]]:
            items = self.store.calls.batch_get(table, [{"pk": {"S": n}} for n in batch])
            self._count(len(items), 1)
            return items

        out: dict[str, Reservation] = {}
        for items in self._map(fetch, batches):
            for item in items:
                norm = item["pk"]["S"]
                out[norm] = Reservation(norm, _intern(item["a"]["S"]), _intern(item["d"]["S"]))
        return out

    # -- helpers --------------------------------------------------------------------------------
    def _read(
        self,
        table: str,
        pks: list[str],
        projection: tuple[str, ...],
        decode: Callable[[Mapping[str, Any]], T],
    ) -> list[T]:
        def read_partition(pk: str) -> list[T]:
            out: list[T] = []
            for page in self.store.calls.query_pages(table, pk, attributes=projection):
                out.extend(decode(item) for item in page)
                self._count(len(page), 1)
            return out

        result: list[T] = []
        for part in self._map(read_partition, pks):
            result.extend(part)
        return result

    def _map(self, fn: Callable[[Any], T], args: list[Any]) -> list[T]:
        if len(args) <= 1 or self.threads <= 1:
            return [fn(a) for a in args]
        with ThreadPoolExecutor(max_workers=min(self.threads, len(args))) as pool:
            return list(pool.map(fn, args))

    def _count(self, items: int, requests: int) -> None:
        with self._lock:
            self.stats.items += items
            self.stats.requests += requests


def account_district(pk: str) -> str:
    """The district of an account item's partition key."""
    return district_of(pk)
