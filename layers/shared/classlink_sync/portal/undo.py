"""Undo of a recent run from the portal (S7, R17), with the protections of an approval (a POST with
the session's CSRF token, a lock item against a double click, who asked recorded in the run record's
``review``) and a confirmation step (the form's ``confirm`` box).

The same core as ``classlink-sync undo``: the portal checks the run can be undone
(``sync.undo.check_undoable``: which run, nothing later blocks it) and queues
``SyncRequest(trigger="undo", undo_run_id=...)``, which the district-sync worker runs with
``sync.undo.undo_run`` under the district's lease. Queued, not run in the request, because an undo
writes as many records as the run did and may outlast an HTTP request (as an approval does).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from classlink_sync.sync.messages import SyncRequest

if TYPE_CHECKING:
    from classlink_sync.portal.backend import PortalBackend
    from classlink_sync.store.runs import RunRecord

CONFIRM_FIELD = "confirm"
CONFIRM_VALUE = "yes"


@dataclass(frozen=True)
class UndoCheck:
    """Whether a run can be undone now: the run the undo targets, or why not."""

    ok: bool
    message: str
    target: RunRecord | None = None
    blocking: tuple[str, ...] = ()


@dataclass(frozen=True)
class UndoOutcome:
    ok: bool
    kind: str  # undo_requested | refused | not_confirmed | already_requested
    message: str
    target: str | None = None


def undo_lock(district_id: str, run_id: str) -> str:
    return f"undo#{district_id}#{run_id}"


def check(backend: PortalBackend, district_id: str, run_id: str) -> UndoCheck:
    """R17: can ``run_id`` be undone now (and which run the undo targets)?"""
    from classlink_sync.sync.undo import UndoRefused

    try:
        target = backend.undo_target(district_id, run_id)
    except UndoRefused as refused:
        return UndoCheck(False, str(refused), blocking=tuple(refused.blocking))
    return UndoCheck(True, "", target)


def request_undo(
    backend: PortalBackend,
    district_id: str,
    run_id: str,
    form: Mapping[str, str],
    actor: Mapping[str, Any],
    *,
    now: float,
    lock_seconds: int,
) -> UndoOutcome:
    """R17/S7: queue the undo of ``run_id`` once the administrator confirmed it."""
    if form.get(CONFIRM_FIELD) != CONFIRM_VALUE:
        return UndoOutcome(False, "not_confirmed", "Tick the box to confirm the undo, then press Undo again.")
    found = check(backend, district_id, run_id)
    if not found.ok or found.target is None:
        return UndoOutcome(False, "refused", found.message)
    target = found.target.run_id
    at = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds")
    lock = undo_lock(district_id, target)
    holder = json.dumps({"by": dict(actor), "at": at}, separators=(",", ":"), sort_keys=True)
    if not backend.take_lock(lock, holder, lock_seconds, now=now):
        return UndoOutcome(False, "already_requested", "An undo of this run was already requested.", target)
    review = {"action": "undo", "by": dict(actor), "at": at}
    backend.review_run(district_id, target, review, status=None, expect_status=found.target.status)
    today = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
    try:
        backend.send_sync(SyncRequest(district_id=district_id, date=today, trigger="undo", undo_run_id=target))
    except Exception:
        backend.release_lock(lock, holder)
        backend.review_run(
            district_id, target, {**review, "action": "undo_failed"}, status=None, expect_status=found.target.status
        )
        raise
    return UndoOutcome(
        True,
        "undo_requested",
        "Undo started. Everything this run changed is put back as it was just before it; the undo shows in the "
        "run history as a run of its own when it has finished.",
        target,
    )
