"""Steering a district's sync from the portal (S7, R10, R12): approve or discard a held run, start a
readiness dry run. Who did it is recorded (the run record's ``review``; the lock item's holder).

These follow the staff commands (``classlink-sync approve`` / ``discard``, cli/sync.py) and end in
the same core: an approval is the ``SyncRequest(trigger="approve", approve_run_id=...)`` that
``sync.service.run_sync`` runs (fetch and plan again, apply with the guard waived once, then mark the
held run ``approved``), sent to the sync queue because a sync outlasts an HTTP request; a discard
sets the held run's status to ``discarded`` (the next scheduled sync evaluates again). Both refuse
anything but a held run, as the commands do. The readiness check is a dry run (R12) through the
same queue, at most once an hour per district: a conditional write on the lock item
``portal#dryrun#{district}`` decides, never a read followed by a write.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from classlink_sync.sync.messages import SyncRequest

if TYPE_CHECKING:
    from classlink_sync.portal.backend import PortalBackend
    from classlink_sync.store.runs import RunRecord

log = logging.getLogger("classlink_sync.portal")
HELD = "held"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    kind: str
    message: str
    record: RunRecord | None = None
    retry_at: float | None = None


def approve_lock(district_id: str, run_id: str) -> str:
    return f"approve#{district_id}#{run_id}"


def dry_run_lock(district_id: str) -> str:
    return f"dryrun#{district_id}"


def _iso(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds")


def _holder(actor: Mapping[str, Any], now: float) -> str:
    return json.dumps({"by": dict(actor), "at": _iso(now)}, separators=(",", ":"), sort_keys=True)


def _held(backend: PortalBackend, district_id: str, run_id: str, verb: str) -> RunRecord | Outcome:
    record = backend.run(district_id, run_id)
    if record is None:
        return Outcome(False, "not_found", f"This district has no run {run_id}.")
    if record.status != HELD:
        return Outcome(
            False,
            "not_held",
            f"R10: run {run_id} is {record.status}; only a run held for review can be {verb}.",
            record,
        )
    return record


def approve_held_run(
    backend: PortalBackend, district_id: str, run_id: str, actor: Mapping[str, Any], *, now: float, lock_seconds: int
) -> Outcome:
    """R10: queue the approval of a held run (once: a lock item guards against a double click)."""
    found = _held(backend, district_id, run_id, "approved")
    if isinstance(found, Outcome):
        return found
    lock = approve_lock(district_id, run_id)
    holder = _holder(actor, now)
    if not backend.take_lock(lock, holder, lock_seconds, now=now):
        return Outcome(False, "already_requested", "An approval of this run was already requested.", found)
    review = {"action": "approve", "by": dict(actor), "at": _iso(now)}
    updated = backend.review_run(district_id, run_id, review, status=None)
    if updated is None:  # its status changed in between (a staff command)
        backend.release_lock(lock, holder)
        return Outcome(False, "not_held", f"R10: run {run_id} is no longer held for review.")
    today = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
    request = SyncRequest(district_id=district_id, date=today, trigger="approve", approve_run_id=run_id)
    try:
        backend.send_sync(request)
    except Exception:
        backend.release_lock(lock, holder)
        backend.review_run(district_id, run_id, {**review, "action": "approve_failed"}, status=None)
        raise
    return Outcome(
        True,
        "approval_requested",
        "Approved. The sync fetches and plans again and applies with the guard waived for this one run; "
        "the held run shows as approved when it has finished.",
        updated,
    )


def discard_held_run(
    backend: PortalBackend, district_id: str, run_id: str, actor: Mapping[str, Any], *, now: float
) -> Outcome:
    """R10: drop a held run; nothing was written and the next scheduled sync evaluates again."""
    found = _held(backend, district_id, run_id, "discarded")
    if isinstance(found, Outcome):
        return found
    if backend.lock(approve_lock(district_id, run_id), now=now) is not None:
        return Outcome(False, "already_requested", "This run's approval is already under way.", found)
    review = {"action": "discard", "by": dict(actor), "at": _iso(now)}
    updated = backend.review_run(district_id, run_id, review, status="discarded")
    if updated is None:
        return Outcome(False, "not_held", f"R10: run {run_id} is no longer held for review.")
    return Outcome(
        True,
        "discarded",
        "Discarded. Nothing of this run was written; the next scheduled sync evaluates again.",
        updated,
    )


def start_dry_run(
    backend: PortalBackend, district_id: str, actor: Mapping[str, Any], *, now: float, interval: int
) -> Outcome:
    """R12/S7: queue a readiness dry run, at most once per ``interval`` seconds for the district."""
    lock = dry_run_lock(district_id)
    holder = _holder(actor, now)
    if not backend.take_lock(lock, holder, interval, now=now):
        info = backend.lock(lock, now=now)
        retry_at = info.expires if info is not None else now + interval
        return Outcome(False, "too_soon", "A readiness check was started less than an hour ago.", retry_at=retry_at)
    today = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
    try:
        backend.send_sync(SyncRequest(district_id=district_id, date=today, trigger="manual", dry_run=True))
    except Exception:
        backend.release_lock(lock, holder)
        raise
    return Outcome(
        True,
        "dry_run_started",
        "Readiness check started. It reads your ClassLink data and writes nothing; its result appears here "
        "and in the run history in a few minutes.",
        retry_at=now + interval,
    )
