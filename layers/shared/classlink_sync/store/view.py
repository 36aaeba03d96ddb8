"""``DynamoRosterView``: the planner's read interface (``rules.holdings.RosterView``) on DynamoDB.

Each district-scoped read queries every shard partition of the district (docs/store.md) in
parallel threads, page by page, with a projection of only the attributes the planner needs, and
decodes the raw items straight into the compact ``Held*`` records with ids interned (DESIGN.md
"Memory matters"). Reservations are read with BatchGetItem, 100 keys a request (R5: the planner's
prediction; uniqueness itself is enforced by conditional writes in ``store.apply``).

Reading ahead (issue 10): the district-wide reads (accounts, classes, enrolments, schools) do not
depend on what the fetch returns, so ``read_ahead(district_id)`` starts them while the sync fetches
from ClassLink; the ``held_*`` calls of ``rules.holdings.gather`` then take their results. Only
the reservations of the fetched usernames wait for the fetch.

Decoding cheaply (issue 10): botocore's response parser walks every attribute value through the
service model (about 50 us of CPU per item, over ten times what decoding it costs), yet for a
DynamoDB item without binary values it returns exactly the JSON it received. So the view's own
Queries (and only them, a thread-local flag) take a page's ``Items`` as the JSON decoder gives
them (``_raw_items``, a ``before-parse`` hook): botocore still parses everything else of the
response (``Count``, ``LastEvaluatedKey``, metadata), errors and any page holding a binary value
(``B``/``BS``) are parsed by botocore as before, and a page whose item count disagrees with
DynamoDB's ``Count`` is an error, never a shorter read. The decoders then build each record
positionally from the projected attributes, with no intermediate objects; one read thread decodes
at a time, and the cyclic garbage collector is paused while partitions are being read
(``_collector_paused``: the pages' short-lived dicts make no cycles, and its passes over them
cost as much as the rest of the read).

``orphan_reservations`` finds the district's reservations whose account does not exist (left by
an apply killed between a reservation and its account), for ``store.apply`` to release: the
Reservations table is keyed by username only, so this is a parallel Scan filtered on the
reservation's district (``d``), compared with the account ids ``held_accounts`` read (docs/store.md
"Orphan reservations" has its cost).
"""

from __future__ import annotations

import gc
import json
import operator
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from typing import Any, TypeVar

from classlink_sync.rules.holdings import HeldAccount, HeldClass, HeldEnrollment, HeldSchool, Reservation
from classlink_sync.rules.normalise import normalise
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.dynamo import projection
from classlink_sync.store.models import district_of, enrollment_key, partition, partitions

T = TypeVar("T")
_intern = sys.intern
SCAN_SEGMENTS = 16  # at most; fewer when the view has fewer threads

# Everything a Held* record carries (a removal, R9, is planned as a full state without a read).
ACCOUNT_PROJECTION = ("sk", "sid", "un", "unn", "em", "gn", "fn", "ro", "ac", "en", "sch", "gr", "dg", "mg")
CLASS_PROJECTION = ("sk", "sid", "sc", "ti", "cc", "co", "te", "gr", "su", "ar", "dg")
ENROLLMENT_PROJECTION = ("c", "a", "sid", "csid", "usid", "ro", "pr", "bd", "ed", "ar", "dg")
SCHOOL_PROJECTION = ("sk", "nm", "idf", "ar", "dg")
RESERVATION_PROJECTION = ("pk", "a", "d")

# -- decoding ---------------------------------------------------------------------------------------
# An item is raw DynamoDB JSON: {"sk": {"S": "..."}, "ac": {"BOOL": true}, "sch": {"L": [{"S": ..}]}}.
# An absent attribute reads as ``_ABSENT`` (every ``.get`` is None), a NULL value likewise; a
# missing ``en`` (enabledUser) is True, as a record written before the field was.
_ABSENT: Mapping[str, Any] = {}
_ENABLED: Mapping[str, Any] = {"BOOL": True}
_text = operator.itemgetter("S")


def _string_list(value: Mapping[str, Any] | None) -> tuple[str, ...]:
    """A list of strings (an attribute value, or None when absent), interned: ids and grades."""
    if value is None:
        return ()
    values = value.get("L")
    return tuple(map(_intern, map(_text, values))) if values else ()


# One attribute of a raw item, for readers of single items (``store.accounts``).
def _s(item: Mapping[str, Any], name: str) -> str | None:
    return item.get(name, _ABSENT).get("S")


def _b(item: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = item.get(name)
    return default if value is None else bool(value.get("BOOL"))


def _strings(item: Mapping[str, Any], name: str) -> tuple[str, ...]:
    return _string_list(item.get(name))


def decode_account(item: Mapping[str, Any], district_id: str) -> HeldAccount:
    get = item.get
    email = get("em", _ABSENT).get("S")
    sourced_id = get("sid", _ABSENT).get("S")
    return HeldAccount(  # positional, in the field order of HeldAccount (tests/unit/store/test_view_decode.py)
        _intern(item["sk"]["S"]),  # account_id
        district_id,
        item["un"]["S"],  # username
        item["unn"]["S"],  # username_norm
        normalise(email),  # email_norm
        _intern(item["ro"]["S"]),  # role
        bool(get("ac", _ABSENT).get("BOOL")),  # active
        None if sourced_id is None else _intern(sourced_id),
        get("dg", _ABSENT).get("S") or "",  # digest
        bool(get("mg", _ABSENT).get("BOOL")),  # managed
        get("gn", _ABSENT).get("S") or "",  # given_name
        get("fn", _ABSENT).get("S") or "",  # family_name
        email,
        bool(get("en", _ENABLED).get("BOOL")),  # enabled
        _string_list(get("sch")),  # school_ids
        _string_list(get("gr")),  # grades
    )


def decode_class(item: Mapping[str, Any]) -> HeldClass:
    get = item.get
    school_id = get("sc", _ABSENT).get("S")
    subject = get("su", _ABSENT).get("S")
    course_id = get("co", _ABSENT).get("S")
    return HeldClass(  # positional, in the field order of HeldClass
        _intern(item["sk"]["S"]),  # class_id
        _intern(item["sid"]["S"]),  # sourced_id
        None if school_id is None else _intern(school_id),
        item["ti"]["S"],  # title
        _string_list(get("te")),  # term_ids
        None if subject is None else _intern(subject),
        bool(get("ar", _ABSENT).get("BOOL")),  # archived
        get("dg", _ABSENT).get("S") or "",  # digest
        get("cc", _ABSENT).get("S"),  # class_code
        None if course_id is None else _intern(course_id),
        _string_list(get("gr")),  # grades
    )


def decode_enrollment(item: Mapping[str, Any]) -> HeldEnrollment:
    get = item.get
    return HeldEnrollment(  # positional, in the field order of HeldEnrollment
        _intern(item["c"]["S"]),  # class_id
        _intern(item["a"]["S"]),  # account_id
        _intern(item["sid"]["S"]),  # sourced_id
        bool(get("ar", _ABSENT).get("BOOL")),  # archived
        get("dg", _ABSENT).get("S") or "",  # digest
        _intern(get("csid", _ABSENT).get("S") or ""),  # class_sourced_id
        _intern(get("usid", _ABSENT).get("S") or ""),  # user_sourced_id
        _intern(item["ro"]["S"]),  # role
        bool(get("pr", _ABSENT).get("BOOL")),  # primary
        get("bd", _ABSENT).get("S"),  # begin_date
        get("ed", _ABSENT).get("S"),  # end_date
    )


def decode_school(item: Mapping[str, Any]) -> HeldSchool:
    get = item.get
    return HeldSchool(  # positional, in the field order of HeldSchool
        _intern(item["sk"]["S"]),  # sourced_id
        bool(get("ar", _ABSENT).get("BOOL")),  # archived
        get("dg", _ABSENT).get("S") or "",  # digest
        get("nm", _ABSENT).get("S") or "",  # name
        get("idf", _ABSENT).get("S"),  # identifier
    )


# -- raw items (botocore's parser skipped for the view's own Query pages) ----------------------------
RAW_ITEMS_EVENT = "before-parse.dynamodb.Query"
_RAW_ITEMS_ID = "classlink_sync.store.view.raw_items"
# A binary value is an attribute value keyed "B" or "BS"; in JSON text an unescaped quote, B, an
# unescaped quote and a colon can only be such a key (inside a string every quote is escaped).
_BINARY = re.compile(rb'"BS?"\s*:')
_raw = threading.local()  # .on: this thread's running Query is one of the view's
# Decoding (JSON, then records) holds the GIL: one read thread at a time does it, so that the many
# read threads waiting on DynamoDB do not queue for the GIL ahead of the fetch's threads, which
# overlap them (read_ahead). Throughput is the same: two threads cannot decode at once anyway.
_decoding = threading.Lock()


def _raw_items(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """botocore ``before-parse`` hook: hand a successful Query page's ``Items`` over as decoded
    JSON (identical to botocore's result for items without binary values) and let botocore parse
    the rest of the response. Inactive outside the view's own Queries."""
    if not getattr(_raw, "on", False) or response_dict.get("status_code") != 200:
        return
    body = response_dict.get("body")
    if not isinstance(body, bytes) or _BINARY.search(body):
        return
    try:
        with _decoding:
            data = json.loads(body)
    except ValueError:  # botocore's parser says what it makes of it, as before
        return
    items = data.pop("Items", None) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return
    response_dict["body"] = json.dumps(data).encode()
    customized_response_dict["Items"] = items


# The cyclic collector is paused while any district-wide partition read runs: a page is about
# thirteen JSON dicts per item, freed once decoded, and the collector's passes over them while they
# live (about 1,500 passes at 20,000 users) cost as much CPU as the rest of the read. Neither the
# pages nor the records make reference cycles; the collector runs again as soon as no read runs.
_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while any caller is inside (counted across threads)."""
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def install_raw_items(client: Any) -> None:
    """Register ``_raw_items`` on a botocore DynamoDB client (idempotent)."""
    client.meta.events.register(RAW_ITEMS_EVENT, _raw_items, unique_id=_RAW_ITEMS_ID)


@dataclass
class ReadStats:
    """What one view read, for the benchmark: items decoded and Query/BatchGet requests made."""

    items: int = 0
    requests: int = 0
    scanned: int = 0  # items DynamoDB read to answer Scans (what the orphan sweep pays for)
    ahead_s: float = 0.0  # wall time of the reads started by read_ahead (they overlap the fetch)


@dataclass(frozen=True)
class _Kind:
    """One district-wide read: its table (a settings field), shard entity and projection."""

    table: str
    entity: str
    projection: tuple[str, ...]


_ACCOUNTS = _Kind("accounts_table", "account", ACCOUNT_PROJECTION)
_CLASSES = _Kind("classes_table", "class", CLASS_PROJECTION)
_ENROLLMENTS = _Kind("enrollments_table", "enrollment", ENROLLMENT_PROJECTION)
_SCHOOLS = _Kind("schools_table", "school", SCHOOL_PROJECTION)
_DISTRICT_WIDE = (_ACCOUNTS, _CLASSES, _ENROLLMENTS, _SCHOOLS)


class DynamoRosterView:
    """``RosterView`` over the store's tables (R5, R6, R9 inputs of the planner)."""

    def __init__(self, store: Store | None = None, *, threads: int | None = None) -> None:
        self.store = resolve(store)
        self.threads = threads or self.store.settings.store_concurrency
        self.stats = ReadStats()
        self._lock = threading.Lock()
        # Account ids held_accounts read, per district: what orphan_reservations compares with.
        self._held_ids: dict[str, frozenset[str]] = {}
        # Reads started by read_ahead, per (district, entity): one future per partition.
        self._ahead: dict[tuple[str, str], list[Future[list[Any]]]] = {}
        client = getattr(getattr(self.store.calls, "connection", None), "client", None)
        if client is not None:
            install_raw_items(client)

    # -- reading ahead (issue 10) -----------------------------------------------------------------
    @contextmanager
    def read_ahead(self, district_id: str) -> Iterator[None]:
        """Start the district-wide reads now (in this view's threads) for ``held_*`` to take later.

        Use around work that does not change the district's items (the fetch): the reads see the
        store as it is when they run. If the block raises, the reads not started are cancelled and
        those running are waited for; otherwise they go on, and the ``held_*`` calls wait for them.
        """
        did = _intern(district_id)
        pool = ThreadPoolExecutor(max_workers=max(1, self.threads), thread_name_prefix="store-read")
        started = time.perf_counter()

        def read(kind: _Kind, pk: str) -> list[Any]:
            part = self._read_partition(kind, pk, did)
            with self._lock:  # the last partition read sets it: the read-ahead's whole duration
                self.stats.ahead_s = round(time.perf_counter() - started, 3)
            return part

        for kind in _DISTRICT_WIDE:
            self._ahead[(district_id, kind.entity)] = [
                pool.submit(read, kind, pk) for pk in partitions(district_id, kind.entity)
            ]
        try:
            yield
        except BaseException:
            for kind in _DISTRICT_WIDE:
                self._ahead.pop((district_id, kind.entity), None)
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=False)  # the workers end once the submitted reads are done

    # -- RosterView -----------------------------------------------------------------------------
    def held_accounts(self, district_id: str) -> list[HeldAccount]:
        accounts: list[HeldAccount] = self._district_wide(_ACCOUNTS, district_id)
        self._held_ids[district_id] = frozenset(a.account_id for a in accounts)
        return accounts

    def held_classes(self, district_id: str) -> list[HeldClass]:
        return self._district_wide(_CLASSES, district_id)

    def held_enrollments(self, district_id: str) -> list[HeldEnrollment]:
        return self._district_wide(_ENROLLMENTS, district_id)

    def held_schools(self, district_id: str) -> list[HeldSchool]:
        return self._district_wide(_SCHOOLS, district_id)

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

    # -- R18: targeted reads of a delta (sync/delta_reads.py) -----------------------------------
    def accounts_by_id(self, district_id: str, account_ids: Iterable[str]) -> list[HeldAccount]:
        """The district's accounts with these ids (BatchGetItem by key); absent ids are skipped."""
        did = _intern(district_id)
        keys = [{"pk": {"S": partition(did, "account", i)}, "sk": {"S": i}} for i in sorted(set(account_ids))]
        items = self._batch_get(self.store.settings.accounts_table, keys, ACCOUNT_PROJECTION)
        return [decode_account(item, did) for item in items]

    def classes_by_id(self, district_id: str, class_ids: Iterable[str]) -> list[HeldClass]:
        """The district's classes with these ids (BatchGetItem by key); absent ids are skipped."""
        keys = [{"pk": {"S": partition(district_id, "class", i)}, "sk": {"S": i}} for i in sorted(set(class_ids))]
        return [
            decode_class(item) for item in self._batch_get(self.store.settings.classes_table, keys, CLASS_PROJECTION)
        ]

    def enrollments_by_key(self, district_id: str, pairs: Iterable[tuple[str, str]]) -> list[HeldEnrollment]:
        """The district's enrolments of these (class id, account id) pairs (BatchGetItem by key)."""
        keys = []
        for class_id, account_id in sorted(set(pairs)):
            key = enrollment_key(class_id, account_id)
            keys.append({"pk": {"S": partition(district_id, "enrollment", key)}, "sk": {"S": key}})
        items = self._batch_get(self.store.settings.enrollments_table, keys, ENROLLMENT_PROJECTION)
        return [decode_enrollment(item) for item in items]

    def account_ids_signed_in_as(self, district_id: str, tenant_id: str, sourced_ids: Iterable[str]) -> dict[str, str]:
        """sourcedId -> account id of the district's accounts linked to these sourcedIds: S2's
        lookup (``store.accounts.find_signin_account``, one Query of the ``signin`` index each),
        in parallel. Eventually consistent on AWS, like every index: only for an account not found
        under its deterministic id."""
        from classlink_sync.store.accounts import find_signin_account  # it reads items with this module's helpers

        def lookup(sid: str) -> tuple[str, str | None]:
            found = find_signin_account(tenant_id, sid, self.store)
            self._count(0 if found is None else 1, 1)
            return sid, (found.account_id if found is not None and found.district_id == district_id else None)

        return {sid: found for sid, found in self._map(lookup, sorted(set(sourced_ids))) if found is not None}

    # -- R5: orphan reservations --------------------------------------------------------------
    def orphan_reservations(self, district_id: str) -> list[Reservation]:
        """This district's reservations whose account does not exist, sorted by username.

        A reservation names its account (``a``) and district (``d``); one of ``district_id`` whose
        account is not among the accounts ``held_accounts`` read (or, if it was not called, the
        district's account ids read now) is an orphan. The Reservations table has no index on
        ``d``, so its items are scanned (parallel segments, filtered on ``d``, only ``pk a d``
        returned): DynamoDB reads every reservation of the platform (``stats.scanned``), this
        process receives only the district's. Releasing is ``store.apply``'s, conditionally."""
        held = self._held_ids.get(district_id)
        if held is None:
            held = frozenset(
                self._read(
                    self.store.settings.accounts_table,
                    partitions(district_id, "account"),
                    ("sk",),
                    lambda item: _intern(item["sk"]["S"]),
                )
            )
        table = self.store.settings.reservations_table
        expression, names = projection(RESERVATION_PROJECTION)
        names["#district"] = "d"
        segments = max(1, min(self.threads, SCAN_SEGMENTS))

        def scan(segment: int) -> list[Reservation]:
            kwargs: dict[str, Any] = {
                "TableName": table,
                "Segment": segment,
                "TotalSegments": segments,
                "FilterExpression": "#district = :d",
                "ProjectionExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":d": {"S": district_id}},
            }
            found: list[Reservation] = []
            while True:
                response = self.store.calls.call("Scan", kwargs)
                items = response.get("Items", [])
                self._count(len(items), 1, scanned=int(response.get("ScannedCount", 0)))
                for item in items:
                    if item["d"]["S"] == district_id and item["a"]["S"] not in held:
                        found.append(Reservation(item["pk"]["S"], item["a"]["S"], item["d"]["S"]))
                last = response.get("LastEvaluatedKey")
                if not last:
                    return found
                kwargs = {**kwargs, "ExclusiveStartKey": last}

        orphans = [r for part in self._map(scan, list(range(segments))) for r in part]
        return sorted(orphans, key=lambda r: r.username_norm)

    # -- helpers --------------------------------------------------------------------------------
    def _district_wide(self, kind: _Kind, district_id: str) -> list[Any]:
        """The district's items of one kind: from read_ahead if it started them, else read now."""
        futures = self._ahead.pop((district_id, kind.entity), None)
        if futures is None:
            did = _intern(district_id)
            parts = self._map(lambda pk: self._read_partition(kind, pk, did), partitions(district_id, kind.entity))
        else:
            parts = [future.result() for future in futures]
        result: list[Any] = []
        for part in parts:
            result.extend(part)
        return result

    def _read_partition(self, kind: _Kind, pk: str, district_id: str) -> list[Any]:
        """Every page of one partition of a district-wide read, decoded."""
        table = getattr(self.store.settings, kind.table)
        out: list[Any] = []
        with _collector_paused():
            for page in self._query_pages(table, pk, kind.projection):
                with _decoding:
                    if kind is _ACCOUNTS:
                        out.extend(map(decode_account, page, repeat(district_id)))
                    elif kind is _ENROLLMENTS:
                        out.extend(map(decode_enrollment, page))
                    elif kind is _CLASSES:
                        out.extend(map(decode_class, page))
                    else:
                        out.extend(map(decode_school, page))
                del page  # freed before the next Query, not after it
        return out

    def _query_pages(self, table: str, pk: str, attributes: tuple[str, ...]) -> Iterator[list[dict[str, Any]]]:
        """Every page of one partition (a Query per page, ``LastEvaluatedKey`` followed), its
        items as raw JSON (``_raw_items``); a page's item count is checked against ``Count``."""
        expression, names = projection(attributes)
        names["#k"] = "pk"
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#k = :k",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":k": {"S": pk}},
            "ProjectionExpression": expression,
        }
        while True:
            _raw.on = True
            try:
                response = self.store.calls.call("Query", kwargs)
            finally:
                _raw.on = False
            items = response.get("Items", [])
            count = response.get("Count")
            if count is not None and count != len(items):
                raise RuntimeError(f"Query of {table} partition {pk}: {len(items)} items for a Count of {count}")
            self._count(len(items), 1)
            last = response.get("LastEvaluatedKey")
            del response
            yield items
            del items  # a page is freed once decoded, before the next Query
            if not last:
                return
            kwargs = {**kwargs, "ExclusiveStartKey": last}

    def _read(
        self,
        table: str,
        pks: list[str],
        attributes: tuple[str, ...],
        decode: Callable[[Mapping[str, Any]], T],
    ) -> list[T]:
        def read_partition(pk: str) -> list[T]:
            out: list[T] = []
            for page in self._query_pages(table, pk, attributes):
                out.extend(map(decode, page))
            return out

        result: list[T] = []
        for part in self._map(read_partition, pks):
            result.extend(part)
        return result

    def _batch_get(self, table: str, keys: list[dict[str, Any]], attributes: tuple[str, ...]) -> list[dict[str, Any]]:
        """Items by key, 100 keys a BatchGetItem, the batches in parallel."""

        def fetch(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
            items = self.store.calls.batch_get(table, batch, attributes)
            self._count(len(items), 1)
            return items

        batches = [keys[i : i + 100] for i in range(0, len(keys), 100)]
        return [item for items in self._map(fetch, batches) for item in items]

    def _map(self, fn: Callable[[Any], T], args: list[Any]) -> list[T]:
        if len(args) <= 1 or self.threads <= 1:
            return [fn(a) for a in args]
        with ThreadPoolExecutor(max_workers=min(self.threads, len(args))) as pool:
            return list(pool.map(fn, args))

    def _count(self, items: int, requests: int, *, scanned: int = 0) -> None:
        with self._lock:
            self.stats.items += items
            self.stats.requests += requests
            self.stats.scanned += scanned


def account_district(pk: str) -> str:
    """The district of an account item's partition key."""
    return district_of(pk)
