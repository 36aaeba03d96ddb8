"""R14 bookkeeping: the per-district lease (one sync of a district at a time) and the daily slot
claim (a district's daily sync runs at most once per date). Both are conditional writes on the
locks table; expiry is checked in code (TTL only sweeps old items: DynamoDB deletes them late,
and moto never does)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from pynamodb.exceptions import DeleteError, PutError

from classlink_sync.store.context import Store, resolve
from classlink_sync.store.dynamo import error_code

SLOT_RETENTION_DAYS = 35
LEASE_TTL_GRACE = 24 * 3600


def _written(write: Callable[[], object]) -> bool:
    """Run one conditional write: True if it was written, False if its condition failed."""
    try:
        write()
    except (PutError, DeleteError) as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def lease_key(district_id: str) -> str:
    return f"lease#{district_id}"


def slot_key(district_id: str, date: dt.date | str) -> str:
    return f"slot#{district_id}#{date if isinstance(date, str) else date.isoformat()}"


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
    return _written(lambda: item.save(condition=free_expired_or_ours))


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
