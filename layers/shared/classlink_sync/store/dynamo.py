"""Low-level DynamoDB calls of the store, through pynamodb's ``Connection.dispatch`` (pynamodb has
no high-level equivalent for BatchWriteItem with ``UnprocessedItems`` control, paged parallel
queries with projections, or a TransactWriteItems with per-item cancellation reasons).

Two things live here:

- ``DynamoCalls``: the injection seam. Every low-level request goes through ``_send``; tests pass
  an ``interceptor`` to return ``UnprocessedItems``, which moto never does (DESIGN.md "What moto
  hides"). Unprocessed batch items are sent again with exponential backoff and full jitter,
  within a bound. Throttling and transient errors are retried by botocore alone (standard retry
  mode, ``aws.DYNAMODB_MAX_ATTEMPTS`` attempts); a request still failing after them raises, and
  the retries botocore made (``ResponseMetadata.RetryAttempts``) are counted in ``sdk_retries``.
- ``ApiMeter``: counts what reached the DynamoDB API, per table (items written, items read,
  requests), hooked into the botocore client's events, so roster writes and bookkeeping writes
  (SPEC §3) are counted where they happen, not assumed.

Every model and ``DynamoCalls`` of one ``AppSettings`` share one pynamodb connection
(``store_connection``), so the process has one DynamoDB client on its one botocore session.
"""

from __future__ import annotations

import random
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pynamodb.connection import Connection

from classlink_sync import aws
from classlink_sync.errors import StoreRetryExhausted as StoreRetryExhausted
from classlink_sync.errors import TransactionCancelled as TransactionCancelled
from classlink_sync.settings import AppSettings

ROSTER_FIELDS = (
    "accounts_table",
    "reservations_table",
    "classes_table",
    "enrollments_table",
    "schools_table",
)

Send = Callable[[str, dict[str, Any]], dict[str, Any]]
Interceptor = Callable[[str, dict[str, Any], Send], dict[str, Any]]


def error_code(exc: BaseException) -> str | None:
    """The DynamoDB error code of a botocore/pynamodb error, wherever it is wrapped."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError):
            return str(current.response.get("Error", {}).get("Code") or "") or None
        code = getattr(current, "cause_response_code", None)
        if code:
            return str(code)
        current = current.__cause__ or getattr(current, "cause", None)
    return None


def retry_attempts(outcome: Mapping[str, Any] | BaseException) -> int:
    """How many times botocore retried the request of a response or of an error (its
    ``ResponseMetadata.RetryAttempts``; pynamodb keeps botocore's error as the cause)."""
    if isinstance(outcome, Mapping):
        return int((outcome.get("ResponseMetadata") or {}).get("RetryAttempts") or 0)
    seen: set[int] = set()
    current: BaseException | None = outcome
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ClientError) and "ResponseMetadata" in current.response:
            return retry_attempts(current.response)
        current = current.__cause__
    return 0


def cancellation_reasons(exc: BaseException) -> list[str]:
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ClientError):
            reasons = current.response.get("CancellationReasons") or []
            if reasons:
                return [str(r.get("Code", "None")) for r in reasons]
            found = getattr(current, "cancellation_reasons", None)
            if found:
                return [r.code if r is not None else "None" for r in found]
        current = current.__cause__
    return []


def projection(attributes: Sequence[str]) -> tuple[str, dict[str, str]]:
    """A ProjectionExpression with a placeholder per attribute (short names may be reserved)."""
    names = {f"#p{i}": name for i, name in enumerate(attributes)}
    return ", ".join(names), names


@dataclass
class TableCount:
    written: int = 0
    read: int = 0
    requests: int = 0
    write_requests: int = 0


@dataclass
class ApiMeter:
    """Counts per table what the DynamoDB API accepted (successful responses only)."""

    tables: dict[str, TableCount] = field(default_factory=lambda: defaultdict(TableCount))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _attached: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet, repr=False)

    def attach(self, client: Any) -> None:
        """Hook a botocore DynamoDB client (idempotent)."""
        if client in self._attached:
            return
        self._attached.add(client)
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def reset(self) -> None:
        with self._lock:
            self.tables.clear()

    def snapshot(self) -> dict[str, TableCount]:
        with self._lock:
            return {name: TableCount(**vars(count)) for name, count in self.tables.items()}

    def writes(self, table_names: Sequence[str]) -> int:
        snap = self.snapshot()
        return sum(snap[t].written for t in table_names if t in snap)

    def reads(self, table_names: Sequence[str]) -> tuple[int, int]:
        """(items read, read requests) over these tables."""
        snap = self.snapshot()
        items = sum(snap[t].read for t in table_names if t in snap)
        reqs = sum(snap[t].requests - snap[t].write_requests for t in table_names if t in snap)
        return items, reqs

    @staticmethod
    def _before(params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["meter_params"] = params

    def _after(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if getattr(http_response, "status_code", 500) >= 300:
            return
        count = self._COUNTERS.get(model.name)
        if count is not None:
            with self._lock:
                count(self, context.get("meter_params") or {}, parsed)

    def _count_batch_write(self, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        unprocessed = parsed.get("UnprocessedItems") or {}
        for table, reqs in (params.get("RequestItems") or {}).items():
            count = self.tables[table]
            count.requests += 1
            count.write_requests += 1
            count.written += len(reqs) - len(unprocessed.get(table, []))

    def _count_transact_write(self, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        touched: set[str] = set()
        for item in params.get("TransactItems") or []:
            for kind, body in item.items():
                if kind != "ConditionCheck":
                    self.tables[body["TableName"]].written += 1
                touched.add(body["TableName"])
        for table in touched:
            self.tables[table].requests += 1
            self.tables[table].write_requests += 1

    def _count_single_write(self, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        count = self.tables[params.get("TableName", "?")]
        count.requests += 1
        count.write_requests += 1
        count.written += 1

    def _count_query(self, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        count = self.tables[params.get("TableName", "?")]
        count.requests += 1
        count.read += int(parsed.get("Count", 0))

    def _count_get(self, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        count = self.tables[params.get("TableName", "?")]
        count.requests += 1
        count.read += 1 if parsed.get("Item") else 0

    def _count_batch_get(self, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        for table, items in (parsed.get("Responses") or {}).items():
            self.tables[table].read += len(items)
        for table in params.get("RequestItems") or {}:
            self.tables[table].requests += 1

    def _count_transact_get(self, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        for item in params.get("TransactItems") or []:
            self.tables[item["Get"]["TableName"]].requests += 1

    # DynamoDB operation -> how its requests, reads and writes are counted.
    _COUNTERS: ClassVar[dict[str, Callable[[ApiMeter, Mapping[str, Any], Mapping[str, Any]], None]]] = {
        "BatchWriteItem": _count_batch_write,
        "TransactWriteItems": _count_transact_write,
        "PutItem": _count_single_write,
        "UpdateItem": _count_single_write,
        "DeleteItem": _count_single_write,
        "Query": _count_query,
        "Scan": _count_query,
        "GetItem": _count_get,
        "BatchGetItem": _count_batch_get,
        "TransactGetItems": _count_transact_get,
    }


METER = ApiMeter()
"""The process-wide meter; every client the store creates is attached to it."""


def roster_tables(settings: AppSettings) -> list[str]:
    return [getattr(settings, f) for f in ROSTER_FIELDS]


def bookkeeping_tables(settings: AppSettings) -> list[str]:
    return [settings.districts_table, settings.runs_table, settings.locks_table]


def store_connection(settings: AppSettings) -> Connection:
    """The one pynamodb connection (one botocore client) of the store's models and calls for these
    settings, on the process's botocore session; its pool fits ``store_concurrency`` threads."""
    return aws.dynamodb_connection(
        region=settings.region,
        host=settings.aws_endpoint_url,
        max_pool_connections=max(10, settings.store_concurrency + 4),
    )


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with full jitter, for unprocessed batch items (throttling is
    botocore's to retry)."""

    attempts: int = 10
    base: float = 0.05
    cap: float = 5.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))  # nosec B311 # backoff jitter, not security


class DynamoCalls:
    """The store's low-level calls (the injection seam; see module docstring)."""

    def __init__(
        self,
        settings: AppSettings,
        *,
        interceptor: Interceptor | None = None,
        retry: RetryPolicy | None = None,
        meter: ApiMeter | None = None,
        connection: Connection | None = None,
    ) -> None:
        self.settings = settings
        self.connection = connection or store_connection(settings)
        self.interceptor = interceptor
        self.retry = retry or RetryPolicy()
        self.meter = meter or METER
        self.meter.attach(self.connection.client)  # also creates the client before threads start
        self.sdk_retries = 0  # requests botocore sent again (throttling, 5xx), RetryAttempts
        self.unprocessed_retries = 0  # batch items sent again
        self._lock = threading.Lock()

    # -- the seam -------------------------------------------------------------------------------
    def _dispatch(self, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        return self.connection.dispatch(op, kwargs)

    def _send(self, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.interceptor is not None:
            return self.interceptor(op, kwargs, self._dispatch)
        return self._dispatch(op, kwargs)

    def call(self, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """One request. botocore retries throttling and transient errors (standard mode); an error
        left after its attempts raises. Its retries are added to ``sdk_retries`` either way."""
        try:
            response = self._send(op, kwargs)
        except Exception as exc:
            self._count_sdk_retries(retry_attempts(exc))
            raise
        self._count_sdk_retries(retry_attempts(response))
        return response

    def _count_sdk_retries(self, retries: int) -> None:
        if retries:
            with self._lock:
                self.sdk_retries += retries

    # -- operations -----------------------------------------------------------------------------
    def batch_write(self, table: str, requests: Sequence[dict[str, Any]]) -> int:
        """Write up to 25 Put/Delete requests; retry ``UnprocessedItems``; return items written."""
        if len(requests) > 25:
            raise ValueError("BatchWriteItem takes at most 25 requests")
        pending = list(requests)
        for attempt in range(self.retry.attempts):
            response = self.call("BatchWriteItem", {"RequestItems": {table: pending}})
            pending = list((response.get("UnprocessedItems") or {}).get(table, []))
            if not pending:
                return len(requests)
            with self._lock:
                self.unprocessed_retries += len(pending)
            self.retry.sleep(self.retry.delay(attempt))
        raise StoreRetryExhausted(f"BatchWriteItem on {table}: {len(pending)} items still unprocessed")

    def batch_get(
        self, table: str, keys: Sequence[dict[str, Any]], attributes: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Get up to 100 items by key; retry ``UnprocessedKeys``."""
        out: list[dict[str, Any]] = []
        request: dict[str, Any] = {"Keys": list(keys)}
        if attributes:
            expression, names = projection(attributes)
            request["ProjectionExpression"] = expression
            request["ExpressionAttributeNames"] = names
        pending: dict[str, Any] = {table: request}
        for attempt in range(self.retry.attempts):
            response = self.call("BatchGetItem", {"RequestItems": pending})
            out.extend((response.get("Responses") or {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending.get(table, {}).get("Keys"):
                return out
            self.retry.sleep(self.retry.delay(attempt))
        raise StoreRetryExhausted(f"BatchGetItem on {table}: keys still unprocessed")

    def query_pages(
        self,
        table: str,
        pk: str,
        *,
        attributes: Sequence[str] | None = None,
        index: str | None = None,
        key_name: str = "pk",
        limit: int | None = None,
        forward: bool = True,
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of one partition (a Query per page, ``LastEvaluatedKey`` followed)."""
        names = {"#k": key_name}
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#k = :k",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":k": {"S": pk}},
            "ScanIndexForward": forward,
        }
        if attributes:
            expression, more = projection(attributes)
            kwargs["ProjectionExpression"] = expression
            names.update(more)
        if index:
            kwargs["IndexName"] = index
        if limit:
            kwargs["Limit"] = limit
        while True:
            response = self.call("Query", kwargs)
            yield response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last or limit:
                return
            kwargs = {**kwargs, "ExclusiveStartKey": last}

    def transact_write(self, items: list[dict[str, Any]], token: str | None = None) -> None:
        """All-or-nothing write; a cancellation by a failed condition raises ``TransactionCancelled``
        with reasons. One cancelled only by throttling or a conflict (no ``ConditionalCheckFailed``
        among its reasons) raises as it came: it is a failed write, not a lost race (R5)."""
        kwargs: dict[str, Any] = {"TransactItems": items}
        if token:
            kwargs["ClientRequestToken"] = token
        try:
            self.call("TransactWriteItems", kwargs)
        except Exception as exc:
            code, reasons = error_code(exc), cancellation_reasons(exc)
            if code == "ConditionalCheckFailedException" or (
                code == "TransactionCanceledException" and (not reasons or "ConditionalCheckFailed" in reasons)
            ):
                raise TransactionCancelled(reasons) from exc
            raise

    def put(
        self,
        table: str,
        item: dict[str, Any],
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """A conditional PutItem; False when the condition failed."""
        return self._single("PutItem", {"TableName": table, "Item": item}, condition, names, values)

    def delete(
        self,
        table: str,
        key: dict[str, Any],
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """A conditional DeleteItem; False when the condition failed."""
        return self._single("DeleteItem", {"TableName": table, "Key": key}, condition, names, values)

    def _single(
        self,
        op: str,
        kwargs: dict[str, Any],
        condition: str | None,
        names: dict[str, str] | None,
        values: dict[str, Any] | None,
    ) -> bool:
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self.call(op, kwargs)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True


def attach_models(models: Any, meter: ApiMeter | None = None) -> None:
    """Attach the meter to the clients of bound pynamodb models (``store.models.Models``)."""
    meter = meter or METER
    for name in (
        "Account",
        "Reservation",
        "Class",
        "Enrollment",
        "School",
        "District",
        "Tenant",
        "Run",
        "Lock",
    ):
        model = getattr(models, name)
        meter.attach(model._get_connection().connection.client)
