"""The OneRoster 1.1 client: paging, parallel pages, retries and completeness (SPEC §1, R9).

Paging (SPEC §1): ``limit``/``offset``; the offset advances by the records actually received; the
end is ``X-Total-Count`` (or an empty page without it); a short page is not the end. After the
first page the total and the server's real page size are known (servers cap ``limit`` silently),
so the remaining offsets are planned by that size and fetched in parallel with bounded
concurrency over one pooled ``httpx.Client``; any gap a short page leaves is then filled in order.

Completeness: a collection is complete only if it was read to its end: every page carried the
same ``X-Total-Count``, the pages cover ``[0, total)`` and the raw entries received add up to the
total. Otherwise its ``CollectionStatus`` says why. Without ``X-Total-Count`` nothing can be
proved, so the collection is incomplete unless ``trust_end_without_total=True``.

What is wrong with single entries is an R4 issue, not incompleteness (one bad entry must not stop
every removal forever): a sourcedId listed more than once becomes one ``Rejected`` (field
``sourcedId``, naming the id and how often it appeared) and all its copies are dropped, so it is
neither created nor removed; an entry that is not a JSON object becomes a ``Rejected`` with
``sourced_id=None`` and field ``record`` naming the page offset, the index and the JSON type; an
object without a usable sourcedId is rejected by the models as before.

Proven absence (R9): the counts can add up while a record is missed (one deleted from a page
already read while another is inserted further down), so completeness alone never proves that a
record is gone. ``confirm_absent`` looks held records that a complete fetch did not list up by id
(``GET /users/{id}``...; at most ``ABSENCE_LOOKUP_LIMIT``, else one re-read of the collection) and
says which are really gone, which are still shared (their records, to put back) and which it could
not vouch for (those are not removed). The sync service calls it (``sync.service``).

Failures (our choice, per the brief): a collection whose requests fail for good (retry budget
spent, a non-retryable 4xx, an unusable envelope) does not raise; it returns what it has with
``complete=False`` and the error in ``reason``, and ``fetch_snapshot`` marks the collections not
yet read as not fetched. The snapshot is then incomplete, so the sync removes nothing (R9).
Rejected credentials (401/403) are a configuration problem, not a data problem: they raise
``CredentialsRejected`` at once, without retries.
"""

from __future__ import annotations

import functools
import gc
import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from classlink_sync.errors import DeltaAbandoned

from .auth import pct
from .errors import CredentialsRejected, OneRosterError, parse_imsx
from .filters import modified_since
from .models import TupleInterner, collection_info, parse_page
from .records import TOBEDELETED, CollectionStatus, Record, Rejected, RosterSnapshot

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

# R9 proven absence: up to this many ids of one collection are looked up one by one; above it the
# collection is re-read once instead (fewer requests than that many lookups, for large removals).
ABSENCE_LOOKUP_LIMIT = 50

# Collection path -> the key of a single-object envelope (``{"user": {...}}``, SPEC §1).
SINGLE_ENVELOPES: dict[str, str] = {
    "orgs": "org",
    "schools": "org",
    "academicSessions": "academicSession",
    "terms": "academicSession",
    "gradingPeriods": "academicSession",
    "courses": "course",
    "classes": "class",
    "users": "user",
    "teachers": "user",
    "students": "user",
    "enrollments": "enrollment",
}

# R18: ClassLink's revision header; a delta whose value changes between pages is abandoned.
PERM_REV_HEADER = "x-perm-rev"

# JSON type names, for an entry that is not a record object (R4).
_JSON_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", list: "array", type(None): "null"}

_T = TypeVar("_T")

# What fetch_snapshot reads: (collection path, RosterSnapshot attribute).
SNAPSHOT_COLLECTIONS: tuple[tuple[str, str], ...] = (
    ("orgs", "orgs"),  # the district org and the schools
    ("academicSessions", "academic_sessions"),
    ("courses", "courses"),
    ("classes", "classes"),
    ("users", "users"),  # all roles; the planner scopes them (R3)
    ("enrollments", "enrollments"),
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter on 429, 5xx, connection/read errors and bad JSON.

    ``max_attempts`` bounds one request (first try included); ``budget`` bounds the retries of a
    whole collection fetch, all its pages together. ``Retry-After`` (seconds or an HTTP date) is
    honoured when present, up to ``max_retry_after`` seconds.
    """

    max_attempts: int = 6
    budget: int = 30
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0


class _Budget:
    def __init__(self, retries: int) -> None:
        self.limit = retries
        self._left = retries
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


@dataclass(slots=True)
class _Page:
    offset: int
    count: int  # raw items received
    total: int | None  # X-Total-Count
    records: list[Record]
    rejected: list[Rejected]
    rev: str | None = None  # ClassLink's ``x-perm-rev`` header (R18), when sent


class _Retryable(Exception):
    def __init__(self, detail: str, status: int | None, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


@dataclass(slots=True)
class AbsenceCheck:
    """What ``OneRosterClient.confirm_absent`` proved about held records a complete fetch did not
    list (R9), and what it cost."""

    collection: str
    checked: int = 0  # distinct ids asked about
    confirmed: set[str] = field(default_factory=set)  # really gone: 404/unknownobject/tobedeleted
    found: dict[str, Record] = field(default_factory=dict)  # still shared: put them back
    unconfirmed: dict[str, str] = field(default_factory=dict)  # sourcedId -> why it could not tell
    requests: int = 0  # HTTP requests made, retries and re-read pages included
    reread: bool = False  # the whole collection was re-read (more ids than the lookup limit)
    reread_problem: str | None = None  # why the re-read was not complete

    def summary(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "checked": self.checked,
            "confirmed": len(self.confirmed),
            "found": len(self.found),
            "unconfirmed": len(self.unconfirmed),
            "requests": self.requests,
            "reread": self.reread,
        }


@dataclass(slots=True)
class _Collector:
    """Merges pages of one collection, sets repeated sourcedIds aside (R4) and judges its
    completeness."""

    name: str
    envelope: str = ""  # the collection ``Rejected`` names ("users", "orgs" for schools...)
    records: dict[str, Record] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    rejected_ids: set[str] = field(default_factory=set)
    occurrences: dict[str, int] = field(default_factory=dict)  # only ids seen more than once
    without_id: int = 0
    raw_count: int = 0
    totals: list[int] = field(default_factory=list)
    revs: list[str] = field(default_factory=list)  # R18: each distinct x-perm-rev, in merge order
    missing_total: bool = False
    covered: list[tuple[int, int]] = field(default_factory=list)  # (offset, count)
    problems: list[str] = field(default_factory=list)
    error: OneRosterError | None = None
    reached_end: bool = False

    def merge(self, page: _Page) -> int:
        """Add a page; return how many sourcedIds it added that were not seen before."""
        before = self.distinct
        self.raw_count += page.count
        self.covered.append((page.offset, page.count))
        if page.total is None:
            self.missing_total = True
        elif not self.totals or self.totals[-1] != page.total:
            self.totals.append(page.total)
        if page.rev is not None and (not self.revs or self.revs[-1] != page.rev):
            self.revs.append(page.rev)
        records = self.records
        keep = records.setdefault
        rejected_ids = self.rejected_ids
        for record in page.records:
            sid = record.sourced_id
            # setdefault: one lookup; another object back means the id was listed before
            if keep(sid, record) is not record or (rejected_ids and sid in rejected_ids):
                records[sid] = record  # the later copy: the fresher one if the data shifted
                self._repeated(sid)
        for rejection in page.rejected:
            self.rejected.append(rejection)
            rejected_id = rejection.sourced_id
            if rejected_id is None:
                self.without_id += 1
            else:
                if rejected_id in rejected_ids or rejected_id in records:
                    self._repeated(rejected_id)
                rejected_ids.add(rejected_id)
        return self.distinct - before

    def _repeated(self, sid: str) -> None:
        self.occurrences[sid] = self.occurrences.get(sid, 1) + 1

    @property
    def repeats(self) -> int:
        """Entries that repeated a sourcedId already received."""
        return sum(self.occurrences.values()) - len(self.occurrences)

    def set_duplicates_aside(self) -> None:
        """R4: in a listing whose X-Total-Count never changed, a sourcedId listed more than once is
        one issue and none of its copies is used: the planner treats it as present but unusable, so
        it is neither created nor removed. When the total changed (or there was none) a repeat is
        more likely the data shifting under the pages: the fetch is incomplete anyway (nothing is
        removed, R9) and the latest copy is kept, as before."""
        if len(self.totals) != 1:
            return
        for sid, times in self.occurrences.items():
            self.records.pop(sid, None)
            self.rejected_ids.add(sid)
            self.rejected.append(
                Rejected(
                    self.envelope or self.name,
                    sid,
                    "sourcedId",
                    f"R4: sourcedId {sid!r} appears {times} times in {self.name}; a sourcedId must be unique,"
                    f" so none of its {times} records is used until ClassLink lists it once",
                )
            )

    @property
    def distinct(self) -> int:
        extra = sum(1 for i in self.rejected_ids if i not in self.records)
        return len(self.records) + extra

    @property
    def total(self) -> int | None:
        return self.totals[-1] if self.totals else None

    def status(self, trust_end_without_total: bool) -> CollectionStatus:
        """Complete only when read to its end (SPEC §1, R9): a steady X-Total-Count, pages covering
        it and the raw entries adding up to it. Repeated ids, junk entries and records without a
        sourcedId are R4 issues (``set_duplicates_aside``, ``Rejected``), not gaps."""
        reasons = []
        if self.error is not None:
            reasons.append(f"fetch failed: {self.error}")
        reasons.extend(self.problems)
        distinct = self.distinct
        if len(self.totals) > 1:
            reasons.append("X-Total-Count changed during the fetch (" + " -> ".join(str(t) for t in self.totals) + ")")
        if not self.totals:
            if not trust_end_without_total:
                reasons.append("the server sent no X-Total-Count, so the fetch cannot be proved complete")
            elif self.repeats:
                # Without a total a repeat cannot be told from data shifting between pages.
                reasons.append(
                    f"no X-Total-Count and {self.repeats} records repeated across pages (data shifted during the fetch)"
                )
        else:
            total = self.totals[-1]
            if self.missing_total:
                reasons.append("some pages had no X-Total-Count")
            if self.raw_count != total:
                reasons.append(
                    f"received {self.raw_count} records ({distinct} distinct sourcedIds), but X-Total-Count is {total}"
                )
            elif not reasons and (gap := _first_gap(self.covered, total)) is not None:
                reasons.append(f"records {gap[0]} to {gap[1] - 1} were never read")
        return CollectionStatus(
            name=self.name,
            complete=not reasons,
            received=distinct,
            total=self.total,
            reason="; ".join(reasons) or None,
        )


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


@contextmanager
def fewer_gc_passes(young_threshold: int = 50_000) -> Iterator[None]:
    """A fetch keeps hundreds of thousands of records alive and makes no reference cycles of its
    own, so the collector's frequent passes over the growing young generations are wasted work
    (measured: ~20% of the client's CPU). Collect less often while fetching, then restore."""
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], young_threshold), *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context of every client in this process: httpx's default (certificates verified
    against certifi's bundle), built once. Building it costs about 20 ms of CPU (the CA bundle),
    which every sync (every fetch makes a client) paid again in the same warm Lambda; a context
    is safe to share between clients and threads."""
    return httpx.create_ssl_context()


class OneRosterClient:
    """Reads one district's Roster Server (SPEC §1). Use as a context manager.

    ``auth`` is ``OAuth1Auth`` or ``BearerAuth``. ``sleep``, ``rng`` and ``clock`` are injectable
    so that tests never sleep; ``transport`` lets tests answer with ``httpx.MockTransport``.
    """

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth | None,
        *,
        page_size: int = 1000,
        concurrency: int = 4,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        trust_end_without_total: bool = False,
        max_pages: int = 100_000,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.trust_end_without_total = trust_end_without_total
        self.max_pages = max_pages
        self._sleep = sleep
        self._rng = rng
        self._clock = clock
        self.requests_made = 0  # HTTP requests sent, retries included (absence checks report it)
        self._count_lock = threading.Lock()
        self._http = httpx.Client(
            verify=tls_context(),
            auth=auth,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"Accept": "application/json"},
        )

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OneRosterClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- public API ------------------------------------------------------------------------------
    def fetch_collection(
        self,
        name: str,
        *,
        filter: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Record], list[Rejected], CollectionStatus]:
        """Read every page of one collection (``users``, ``schools/{id}/classes``, ...) (SPEC §1).

        With ``filter`` the completeness is that of the filtered set. Never raises for a fetch
        that fails part-way (the status says why); raises ``CredentialsRejected`` on 401/403 and
        ``ValueError`` for a collection we do not read.
        """
        collector = self._collect(name, filter, params)
        status = collector.status(self.trust_end_without_total)
        return collector.records, collector.rejected, status

    def fetch_snapshot(self, *, since: datetime | str | None = None) -> RosterSnapshot:
        """Read orgs, academic sessions, courses, classes, users and enrollments (SPEC §1).

        With ``since`` only records changed after it are read (``dateLastModified>``); such a
        delta is never complete, since absence from it proves nothing (R9). After a collection
        fails for good the remaining ones are not fetched and marked so.
        """
        with fewer_gc_passes():
            return self._fetch_snapshot(since)

    def _fetch_snapshot(self, since: datetime | str | None) -> RosterSnapshot:
        snapshot = RosterSnapshot()
        delta = modified_since(since) if since is not None else None
        failed: str | None = None
        for path, attribute in SNAPSHOT_COLLECTIONS:
            if failed is not None:
                snapshot.collections[path] = CollectionStatus(
                    path, False, 0, None, f"not fetched: {failed} failed before it"
                )
                continue
            collector = self._collect(path, delta, None)
            status = collector.status(self.trust_end_without_total)
            if delta is not None:
                note = f"delta fetch ({delta}): a delta never proves absence (R9)"
                status.reason = f"{note}; {status.reason}" if status.reason else note
                status.complete = False
            setattr(snapshot, attribute, collector.records)
            snapshot.rejected.extend(collector.rejected)
            snapshot.collections[path] = status
            if collector.error is not None:
                failed = path
        return snapshot

    def fetch_delta(self, since: datetime | str) -> DeltaSnapshot:
        """R18: read only what changed after ``since`` (``dateLastModified>'...'`` on every collection).

        The snapshot's collections are never complete (absence from a delta proves nothing, R9);
        ``problems`` lists what kept a collection from being read to the end of its filtered set
        (the sync fails on them, removing nothing). If ClassLink signals that its data changed
        while one collection was paged (its ``X-Total-Count`` or its ``x-perm-rev`` header differs
        between pages) the delta raises ``DeltaAbandoned`` and is retried as a whole.
        """
        delta = modified_since(since)
        result = DeltaSnapshot(RosterSnapshot(), delta)
        snapshot = result.snapshot
        # A delta's collections are a page or two each: up to ``concurrency`` are read side by side
        # (the pool's connections still bound the requests in flight), so the pull costs about its
        # slowest collections, not the sum of six. Once one is abandoned, no other starts.
        abandoned = threading.Event()

        def pull(path: str) -> _Collector | None:
            if abandoned.is_set():
                return None
            collector = self._collect(path, delta, None)
            try:
                _check_steady(path, collector)  # R18: raises DeltaAbandoned
            except DeltaAbandoned:
                abandoned.set()
                raise
            return collector

        workers = min(self.concurrency, len(SNAPSHOT_COLLECTIONS))
        with fewer_gc_passes(), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oneroster-delta") as pool:
            pulls = [pool.submit(pull, path) for path, _attribute in SNAPSHOT_COLLECTIONS]
            collected = [p.result() for p in pulls]  # raises the first abandonment, in collection order
            for (path, attribute), collector in zip(SNAPSHOT_COLLECTIONS, collected, strict=True):
                if collector is None:  # not started: another collection was abandoned (raised above)
                    continue
                status = collector.status(self.trust_end_without_total)
                if not status.complete:
                    result.problems.append(f"{path}: {status.reason}")
                note = f"delta fetch ({delta}): a delta never proves absence (R9)"
                status.reason = f"{note}; {status.reason}" if status.reason else note
                status.complete = False
                setattr(snapshot, attribute, collector.records)
                snapshot.rejected.extend(collector.rejected)
                snapshot.collections[path] = status
                if collector.revs:
                    result.revs[path] = collector.revs[0]
                if collector.error is not None:
                    break  # the rest is not read: the run fails and is retried (R18)
        return result

    def confirm_absent(
        self, collection: str, sourced_ids: Iterable[str], *, lookup_limit: int = ABSENCE_LOOKUP_LIMIT
    ) -> AbsenceCheck:
        """Prove that records a complete fetch of ``collection`` did not list are really gone (R9).

        Up to ``lookup_limit`` ids are fetched by id (``GET /users/{id}``...), in parallel like
        pages and with the same retries: a 404 (or an imsx ``unknownobject``) or a record with status
        ``tobedeleted`` confirms the absence; an active record disproves it (``found`` keeps the
        record, to put back into the snapshot); anything else (5xx or timeouts after the retries, a
        malformed body, a record that cannot be used, refused credentials) leaves it unconfirmed.
        Above the limit the collection is re-read once: ids absent from both reads are confirmed,
        ids the re-read lists are found, and if the re-read is not complete none is confirmed.
        Never raises for what the server answers; ``ValueError`` for a collection we do not read.
        """
        path = collection.strip("/")
        if "/" in path or path not in SINGLE_ENVELOPES:
            raise ValueError(f"absence can be proved only in a top-level collection, not {collection!r}")
        ids = sorted(set(sourced_ids))
        check = AbsenceCheck(path, checked=len(ids))
        if not ids:
            return check
        before = self.requests_made
        if len(ids) <= lookup_limit:
            self._confirm_by_id(path, ids, check)
        else:
            with fewer_gc_passes():
                self._confirm_by_reread(path, ids, check)
        for sid in ids:  # whatever was not settled either way stays unconfirmed (never removed)
            if sid not in check.confirmed and sid not in check.found and sid not in check.unconfirmed:
                check.unconfirmed[sid] = "no answer"
        check.requests = self.requests_made - before
        return check

    def _confirm_by_id(self, path: str, ids: list[str], check: AbsenceCheck) -> None:
        single = SINGLE_ENVELOPES[path]
        budget = _Budget(self.retry.budget)
        tuples = TupleInterner()

        def look(sid: str) -> tuple[str, Record | str | None]:
            url = self.url(f"{path}/{pct(sid)}", [])
            try:
                return self._with_retries(
                    url, budget, lambda attempt: self._lookup(url, path, single, sid, tuples, attempt)
                )
            except CredentialsRejected as exc:
                return "unconfirmed", f"the Roster Server refused the credentials (HTTP {exc.status})"
            except OneRosterError as exc:
                return "unconfirmed", str(exc)

        workers = min(self.concurrency, len(ids))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oneroster-absence") as pool:
            outcomes = list(pool.map(look, ids))
        for sid, (verdict, detail) in zip(ids, outcomes, strict=True):
            if verdict == "confirmed":
                check.confirmed.add(sid)
            elif verdict == "found" and detail is not None and not isinstance(detail, str):
                check.found[sid] = detail
            else:
                check.unconfirmed[sid] = str(detail)

    def _lookup(
        self, url: str, path: str, single: str, sid: str, tuples: TupleInterner, attempt: int
    ) -> tuple[str, Record | str | None]:
        """One lookup by id: ("confirmed", why), ("found", record) or ("unconfirmed", why)."""
        response = self._send(url, attempt)
        status = response.status_code
        imsx = parse_imsx(response.content) if status != 200 else None
        if status == 404 or (imsx and "unknownobject" in imsx.lower()):
            return "confirmed", f"HTTP {status}" + (f" ({imsx})" if imsx else "")
        if status != 200:
            return "unconfirmed", f"HTTP {status}" + (f" ({imsx})" if imsx else "")
        try:
            data = json.loads(response.content)
        except ValueError as exc:  # truncated or malformed JSON: retried like a page
            raise _Retryable(f"malformed JSON ({exc})", status) from None
        item = _single_item(data, single)
        if item is None:
            imsx = parse_imsx(response.content)
            if imsx and "unknownobject" in imsx.lower():
                return "confirmed", imsx
            return "unconfirmed", f"unexpected response envelope (no {single!r} object)"
        records, rejected = parse_page(path, [item], tuples)
        if rejected:
            return "unconfirmed", f"listed but unusable: {rejected[0].message}"
        record = records[0]
        if record.sourced_id != sid:
            return "unconfirmed", f"asked for {sid!r}, the server answered with {record.sourced_id!r}"
        if record.status == TOBEDELETED:
            return "confirmed", "status tobedeleted"
        return "found", record

    def _confirm_by_reread(self, path: str, ids: list[str], check: AbsenceCheck) -> None:
        check.reread = True
        collector = self._collect(path, None, None)
        status = collector.status(self.trust_end_without_total)
        if not status.complete:
            check.reread_problem = status.reason
            why = f"the re-read of {path} was not complete: {status.reason}"
            check.unconfirmed.update((sid, why) for sid in ids)
            return
        for sid in ids:
            record = collector.records.get(sid)
            if record is not None:
                if record.status == TOBEDELETED:
                    check.confirmed.add(sid)
                else:
                    check.found[sid] = record
            elif sid in collector.rejected_ids:
                check.unconfirmed[sid] = "listed by the re-read, but unusable or repeated (R4)"
            else:
                check.confirmed.add(sid)

    # -- paging ----------------------------------------------------------------------------------
    def _collect(self, path: str, filter: str | None, params: Mapping[str, str] | None) -> _Collector:
        _model, envelope = collection_info(path)  # ValueError for an unsupported collection
        path = path.strip("/")
        collector = _Collector(name=path, envelope=envelope)
        budget = _Budget(self.retry.budget)
        tuples = TupleInterner()
        pages = 0

        def get(offset: int, limit: int) -> _Page:
            return self._get_page(path, envelope, offset, limit, filter, params, budget, tuples)

        try:
            first = get(0, self.page_size)
            pages += 1
            collector.merge(first)
            if first.count == 0:
                collector.reached_end = True
            elif first.total is None:
                offset = first.count
                while True:  # without a total: in order, until an empty page (SPEC §1)
                    if pages >= self.max_pages:
                        collector.problems.append(f"stopped after {pages} pages")
                        break
                    page = get(offset, self.page_size)
                    pages += 1
                    new = collector.merge(page)
                    if page.count == 0:
                        collector.reached_end = True
                        break
                    if new == 0:
                        collector.problems.append(
                            f"the page at offset {offset} repeated records already received"
                            " (does the server ignore offset?)"
                        )
                        break
                    offset += page.count
            elif first.count < first.total:
                step = first.count  # the server's real page size (it may cap limit silently)
                offsets = list(range(step, first.total, step))
                pages += self._fetch_parallel(offsets, step, get, collector)
                pages += self._fill_gaps(step, get, collector, pages)
        except CredentialsRejected:
            raise
        except OneRosterError as exc:
            collector.error = exc
        collector.set_duplicates_aside()
        return collector

    def _fetch_parallel(
        self, offsets: list[int], limit: int, get: Callable[[int, int], _Page], collector: _Collector
    ) -> int:
        if not offsets:
            return 0
        results: dict[int, _Page] = {}
        error: BaseException | None = None
        workers = min(self.concurrency, len(offsets))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oneroster") as pool:
            futures: dict[Future[_Page], int] = {pool.submit(get, o, limit): o for o in offsets}
            _done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
            for future in not_done:
                future.cancel()
            wait(not_done)
            for future, offset in futures.items():
                if future.cancelled():
                    continue
                exc = future.exception()
                if exc is None:
                    results[offset] = future.result()
                elif error is None or isinstance(exc, CredentialsRejected):
                    error = exc
        for offset in sorted(results):  # merge in offset order: deterministic
            collector.merge(results[offset])
        if error is not None:
            raise error
        return len(results)

    def _fill_gaps(self, step: int, get: Callable[[int, int], _Page], collector: _Collector, pages: int) -> int:
        """Read, in order, whatever short pages (or a grown total) left uncovered."""
        fetched = 0
        while True:
            target = max(collector.totals) if collector.totals else 0
            gap = _first_gap(collector.covered, target)
            if gap is None:
                return fetched
            offset, end = gap
            while offset < end:
                if pages + fetched >= self.max_pages:
                    collector.problems.append(f"stopped after {pages + fetched} pages")
                    return fetched
                page = get(offset, min(step, end - offset))
                fetched += 1
                collector.merge(page)
                if page.count == 0:
                    collector.problems.append(
                        f"the server returned an empty page at offset {offset}, before X-Total-Count"
                    )
                    return fetched
                offset += page.count

    # -- one page, with retries ------------------------------------------------------------------
    def url(self, path: str, query: list[tuple[str, str]]) -> str:
        """The request URL, its query strictly percent-encoded (so the signature matches, SPEC §1)."""
        text = "&".join(f"{pct(k)}={pct(v)}" for k, v in query)
        return f"{self.base_url}/{path}?{text}" if text else f"{self.base_url}/{path}"

    def _get_page(
        self,
        path: str,
        envelope: str,
        offset: int,
        limit: int,
        filter: str | None,
        params: Mapping[str, str] | None,
        budget: _Budget,
        tuples: TupleInterner,
    ) -> _Page:
        query = [("limit", str(limit)), ("offset", str(offset))]
        if filter:
            query.append(("filter", filter))
        if params:
            query.extend((k, v) for k, v in params.items())
        url = self.url(path, query)
        items, total, rev = self._with_retries(url, budget, lambda attempt: self._request(url, envelope, attempt))
        records, rejected = parse_page(path, items, tuples)
        if rejected and any(r.sourced_id is None for r in rejected):
            records, rejected = _set_junk_aside(path, envelope, offset, items, tuples, records, rejected)
        return _Page(offset, len(items), total, records, rejected, rev)

    def _with_retries(self, url: str, budget: _Budget, call: Callable[[int], _T]) -> _T:
        """``call(attempt)`` until it does not raise ``_Retryable``, within ``max_attempts`` and
        the ``budget`` (SPEC §1: exponential backoff with full jitter, Retry-After honoured)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(attempt)
            except _Retryable as failure:
                if attempt >= self.retry.max_attempts:
                    raise OneRosterError(
                        f"GET gave up: {failure.detail}", url=url, status=failure.status, attempts=attempt
                    ) from None
                if not budget.take():
                    raise OneRosterError(
                        f"GET gave up, the retry budget of {budget.limit} retries for this collection"
                        f" is spent: {failure.detail}",
                        url=url,
                        status=failure.status,
                        attempts=attempt,
                    ) from None
                self._sleep(self._delay(attempt, failure.retry_after))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        policy = self.retry
        if retry_after is not None:
            return min(retry_after, policy.max_retry_after)
        return self._rng() * min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))

    def _send(self, url: str, attempt: int) -> httpx.Response:
        """One GET: the response, ``_Retryable`` (429, 408, 5xx, transport errors) or
        ``CredentialsRejected`` (401/403). Every other status is the caller's to judge."""
        with self._count_lock:
            self.requests_made += 1
        try:
            response = self._http.get(url)
        except httpx.TransportError as exc:  # connect/read timeouts, refused, reset, truncated body
            raise _Retryable(f"{type(exc).__name__}: {exc}", None) from None
        status = response.status_code
        if status in (401, 403):
            raise CredentialsRejected(
                "the Roster Server rejected the credentials",
                url=url,
                status=status,
                attempts=attempt,
                imsx=parse_imsx(response.content),
            )
        if status == 429 or status == 408 or status >= 500:
            imsx = parse_imsx(response.content)
            detail = f"HTTP {status}" + (f" ({imsx})" if imsx else "")
            raise _Retryable(detail, status, _retry_after(response.headers.get("Retry-After"), self._clock()))
        return response

    def _request(self, url: str, envelope: str, attempt: int) -> tuple[list[Any], int | None, str | None]:
        response = self._send(url, attempt)
        status = response.status_code
        if status != 200:
            raise OneRosterError(
                f"GET refused with HTTP {status}",
                url=url,
                status=status,
                attempts=attempt,
                imsx=parse_imsx(response.content),
            )
        try:
            data = json.loads(response.content)
        except ValueError as exc:  # truncated or malformed JSON
            raise _Retryable(f"malformed JSON ({exc})", status) from None
        items = _envelope_items(data, envelope)
        if items is None:
            imsx = parse_imsx(response.content)
            raise OneRosterError(
                f"unexpected response envelope (no {envelope!r} list)",
                url=url,
                status=status,
                attempts=attempt,
                imsx=imsx,
            )
        total_header = response.headers.get("X-Total-Count")
        total: int | None = None
        if total_header is not None:
            try:
                total = int(total_header.strip())
            except ValueError:
                total = None
        rev = response.headers.get(PERM_REV_HEADER)  # httpx headers are case-insensitive (R18)
        return items, total, rev.strip() if rev is not None else None


@dataclass(slots=True)
class DeltaSnapshot:
    """What ``OneRosterClient.fetch_delta`` read (R18): the changed records (a snapshot whose
    collections are never complete, R9), the filter sent, the problems that kept a collection from
    being read to its end, and the ``x-perm-rev`` each collection carried."""

    snapshot: RosterSnapshot
    filter: str
    problems: list[str] = field(default_factory=list)
    revs: dict[str, str] = field(default_factory=dict)

    @property
    def read_through(self) -> bool:
        """Every collection was read to the end of its filtered set."""
        return not self.problems and len(self.snapshot.collections) == len(SNAPSHOT_COLLECTIONS)


def _check_steady(path: str, collector: _Collector) -> None:
    """R18: a delta is abandoned when ClassLink signals a change while one collection was paged:
    ``X-Total-Count`` or ``x-perm-rev`` differed between its pages."""
    if len(collector.totals) > 1:
        raise DeltaAbandoned(path, "X-Total-Count", [str(t) for t in collector.totals])
    if len(set(collector.revs)) > 1:
        raise DeltaAbandoned(path, PERM_REV_HEADER, collector.revs)


def _envelope_items(data: Any, key: str) -> list[Any] | None:
    """The page's records: the expected key, else the one list-valued key (SPEC §1, lenient)."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    if key in data:
        value = data[key]
        if isinstance(value, list):
            return value
        if value is None:
            return []
        return None
    lists = [v for v in data.values() if isinstance(v, list)]
    if len(lists) == 1 and not any(k.lower().startswith("imsx_") or k == "statusInfoSet" for k in data):
        return lists[0]
    if not data:
        return []
    return None


def _first_gap(covered: list[tuple[int, int]], target: int) -> tuple[int, int] | None:
    """The first stretch of [0, target) no page covered, or None."""
    position = 0
    for offset, count in sorted(covered):
        if position >= target:
            return None
        if offset > position:
            return position, min(offset, target)
        position = max(position, offset + count)
    return (position, target) if position < target else None


def _single_item(data: Any, key: str) -> Any:
    """The record of a single-object response (``{"user": {...}}``), lenient about the key (SPEC
    §1): the expected key, a bare record, the one object-valued key, or a one-record list."""
    if not isinstance(data, dict):
        return None
    if key in data:
        value = data[key]
        return value if isinstance(value, dict) else None
    if "sourcedId" in data:
        return data
    if any(k.lower().startswith("imsx_") or k == "statusInfoSet" for k in data):
        return None
    objects = [v for v in data.values() if isinstance(v, dict)]
    if len(objects) == 1:
        return objects[0]
    lists = [v for v in data.values() if isinstance(v, list)]
    if len(lists) == 1 and len(lists[0]) == 1 and isinstance(lists[0][0], dict):
        return lists[0][0]
    return None


def _set_junk_aside(
    path: str,
    envelope: str,
    offset: int,
    items: list[Any],
    tuples: TupleInterner,
    records: list[Record],
    rejected: list[Rejected],
) -> tuple[list[Record], list[Rejected]]:
    """R4: entries that are not JSON objects, each a ``Rejected`` naming the collection, the page
    offset, the index and the JSON type. Only pages with a rejection without sourcedId get here
    (a junk entry always makes one), so a clean page pays nothing."""
    junk = [(index, item) for index, item in enumerate(items) if not isinstance(item, dict)]
    if not junk:
        return records, rejected
    records, rejected = parse_page(path, [item for item in items if isinstance(item, dict)], tuples)
    for index, item in junk:
        kind = _JSON_TYPES.get(type(item), type(item).__name__)
        rejected.append(
            Rejected(
                envelope,
                None,
                "record",
                f"R4: {path} page at offset {offset}, index {index}: a JSON {kind} where a record object"
                " was expected; skipped",
            )
        )
    return records, rejected
