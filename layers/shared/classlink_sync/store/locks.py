"""R14 bookkeeping: the per-district lease (one sync of a district at a time) and the daily slot
claim (a district's daily sync runs at most once per date). Both are conditional writes on the
locks table; expiry is checked in code (TTL only sweeps old items: DynamoDB deletes them late,
and moto never does)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from classlink_sync.store.context import Store, resolve
from classlink_sync.store.dynamo import error_code

SLOT_RETENTION_DAYS = 35
LEASE_TTL_GRACE = 24 * 3600


def _written(write: Callable[[], object]) -> bool:
    """Run one conditional write: True if it was written, False if its condition failed."""
    try:
        write()
    except (PutError, DeleteError, UpdateError) as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def lease_key(district_id: str) -> str:
    return f"lease#{district_id}"


def slot_key(district_id: str, date: dt.date | str) -> str:
    return f"slot#{district_id}#{date if isinstance(date, str) else date.isoformat()}"


@dataclass(frozen=True)
class Lease:
    """A district's lease as stored: its holder (a run id, or ``reset-...``) and when it expires
    (epoch seconds)."""

    holder: str | None
    expires: float | None

    def expired(self, now: float) -> bool:
        return self.expires is None or self.expires < now


@dataclass(frozen=True)
class LeaseTaken:
    """A lease this holder now holds; ``taken_over`` is the other holder's expired lease it replaced
    (that holder never released it: killed or crashed), None when the lease was free or ours."""

    holder: str
    expires: float
    taken_over: Lease | None = None


def acquire_lease(
    district_id: str,
    holder: str,
    seconds: float,
    store: Store | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Take the district's lease for ``seconds`` if it is free, expired, or already ours (R14).
    Returns False while another holder's lease is unexpired."""
    return take_lease(district_id, holder, seconds, store, clock=clock) is not None


def take_lease(
    district_id: str,
    holder: str,
    seconds: float,
    store: Store | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> LeaseTaken | None:
    """``acquire_lease`` that also says whose expired lease it took over: the write returns the
    item it replaced (``ReturnValues=ALL_OLD``), so the answer is exact even when two takers race.
    None while another holder's lease is unexpired."""
    store = resolve(store)
    Lock = store.models.Lock
    now = clock()
    item = Lock(
        pk=lease_key(district_id),
        holder=holder,
        expires=now + seconds,
        ttl=int(now + seconds + LEASE_TTL_GRACE),
    )
    free_expired_or_ours = Lock.pk.does_not_exist() | (Lock.expires < now) | (Lock.holder == holder)
    replaced: dict[str, object] = {}

    def write() -> None:
        args, kwargs = item._get_save_args(condition=free_expired_or_ours)
        kwargs["return_values"] = "ALL_OLD"
        replaced.update(Lock._get_connection().put_item(*args, **kwargs) or {})

    if not _written(write):
        return None
    old = replaced.get("Attributes")
    taken_over = None
    if isinstance(old, dict) and old:
        previous = Lock.from_raw_data(old)
        if previous.holder is not None and previous.holder != holder:
            taken_over = Lease(previous.holder, None if previous.expires is None else float(previous.expires))
    return LeaseTaken(holder, now + seconds, taken_over)


def read_lease(district_id: str, store: Store | None = None) -> Lease | None:
    """The district's lease item as stored, expired or not; None if there is none."""
    store = resolve(store)
    try:
        item = store.models.Lock.get(lease_key(district_id), consistent_read=True)
    except store.models.Lock.DoesNotExist:
        return None
    return Lease(item.holder, None if item.expires is None else float(item.expires))


def renew_lease(
    district_id: str,
    holder: str,
    seconds: float,
    store: Store | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Extend the lease ``holder`` holds to ``seconds`` from now (R14, R20: a sync continued in a
    follow-up message keeps its district's lease while the message waits). Expired or not, as long
    as nobody else took it; False when another holder has it (or there is none)."""
    store = resolve(store)
    Lock = store.models.Lock
    now = clock()
    item = Lock(pk=lease_key(district_id))
    expires, ttl = Lock.expires.set(now + seconds), Lock.ttl.set(int(now + seconds + LEASE_TTL_GRACE))
    return _written(lambda: item.update(actions=[expires, ttl], condition=Lock.holder == holder))


def release_lease(district_id: str, holder: str, store: Store | None = None) -> bool:
    """Release the lease if ``holder`` holds it; False otherwise (someone else's lease stays)."""
    store = resolve(store)
    Lock = store.models.Lock
    return _written(lambda: Lock(pk=lease_key(district_id)).delete(condition=Lock.holder == holder))


def lease_holder(district_id: str, store: Store | None = None, *, clock: Callable[[], float] = time.time) -> str | None:
    """The holder of the district's unexpired lease, or None."""
    store = resolve(store)
    try:
        item = store.models.Lock.get(lease_key(district_id), consistent_read=True)
    except store.models.Lock.DoesNotExist:
        return None
    if item.expires is None or item.expires < clock():
        return None
    return item.holder


def claim_slot(
    district_id: str,
    date: dt.date | str,
    store: Store | None = None,
    *,
    claimant: str = "",
    clock: Callable[[], float] = time.time,
) -> bool:
    """Claim the district's daily sync slot for ``date`` (R14). True once per (district, date);
    every later claim, however it arrives, returns False."""
    store = resolve(store)
    Lock = store.models.Lock
    now = clock()
    item = Lock(
        pk=slot_key(district_id, date),
        holder=claimant or None,
        at=dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
        ttl=int(now + SLOT_RETENTION_DAYS * 86400),
    )
    return _written(lambda: item.save(condition=Lock.pk.does_not_exist()))


def release_slot(district_id: str, date: dt.date | str, claimant: str, store: Store | None = None) -> bool:
    """Give back a slot this claimant took but could not use (its message was not sent), so the
    next delivery of the schedule can claim it again (R14). False if it is not ours."""
    store = resolve(store)
    Lock = store.models.Lock
    return _written(lambda: Lock(pk=slot_key(district_id, date)).delete(condition=Lock.holder == (claimant or None)))


# R5: how often a district's sync looks for reservations an interrupted apply left without their
# account, when its last applying run finished cleanly. The Reservations table is keyed by
# username (no index on the district: one would be a hot key during a first sync), so the search
# is a Scan of the whole table: bounded to once a week per district, and at once after a run that
# did not finish.
ORPHAN_SCAN_SECONDS = 7 * 86400


def orphan_scan_key(district_id: str) -> str:
    return f"orphan-scan#{district_id}"


def claim_orphan_scan(
    district_id: str,
    store: Store | None = None,
    *,
    after_unfinished_run: bool,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Whether this sync of the district should look for orphan reservations (R5): always after a
    run that did not finish (failed, abandoned, cut off by its time budget), otherwise at most once
    per ``ORPHAN_SCAN_SECONDS`` (a conditional write, so two syncs do not both scan)."""
    store = resolve(store)
    Lock = store.models.Lock
    now = clock()
    item = Lock(
        pk=orphan_scan_key(district_id),
        expires=int(now + ORPHAN_SCAN_SECONDS),
        at=dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
        ttl=int(now + 2 * ORPHAN_SCAN_SECONDS),
    )
    if after_unfinished_run:
        item.save()
        return True
    return _written(lambda: item.save(condition=Lock.pk.does_not_exist() | (Lock.expires < int(now))))
