"""Apply a plan: write exactly what ``rules.plan.Plan`` says (DESIGN.md "Flow").

Order (each phase is split into chunks of ``chunk_size`` items; a chunk's items are written in
parallel, chunks one after another):

1. schools (BatchWriteItem puts);
2. reservation releases (conditional DeleteItem: only if we hold it);
3. reservation moves (one TransactWriteItems each: delete the old reservation if ours, put the
   new one if free or ours, put the account with its new username; R5);
4. reservation adds (conditional PutItem: free, or already ours);
5. accounts (BatchWriteItem puts), except accounts whose reservation failed ("blocked") and
   accounts already written by their move transaction;
6. classes; 7. enrolments, except the enrolments of blocked accounts.

A reservation that fails its condition is an R5 ``Issue`` in the result, never an exception
(SPEC R5). BatchWriteItem's ``UnprocessedItems`` and throttling errors are retried with bounded
exponential backoff and jitter (``store.dynamo``). After every chunk the ``ApplyCheckpoint``
(chunks done, blocked accounts, issues) is handed to ``on_checkpoint``; ``apply_plan`` called
again with it skips the chunks done, so a killed or time-boxed apply resumes and ends in the same
state, and re-applying a finished plan with its checkpoint writes nothing. Every write is
idempotent, so a chunk cut in the middle is simply written again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from classlink_sync.rules.plan import AccountState, Issue, Plan, ReservationChange
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.dynamo import TransactionCancelled
from classlink_sync.store.items import (
    Item,
    account_item,
    account_key,
    class_item,
    enrollment_item,
    reservation_item,
    school_item,
)

ENTITIES = ("schools", "reservations", "accounts", "classes", "enrollments")
DEFAULT_CHUNK = 1000
R5_ADVICE = (
    "Use school email addresses as usernames, or add a district prefix to usernames "
    "(e.g. ExampleISD-12345), in ClassLink."
)


def plan_digest(plan: Plan) -> str:
    """Stable digest of a plan (blake2b of its canonical JSON): ties a checkpoint to its plan."""
    data = json.dumps(plan.to_dict(), sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class ApplyCheckpoint:
    """What a resumed apply needs: plain data, JSON-serialisable (``to_dict``/``from_dict``)."""

    plan_digest: str
    done: list[int] = field(default_factory=list)  # chunk indexes fully written
    blocked_accounts: list[str] = field(default_factory=list)  # reservation failed (R5)
    issues: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApplyCheckpoint:
        return cls(
            plan_digest=data["plan_digest"],
            done=list(data.get("done", [])),
            blocked_accounts=list(data.get("blocked_accounts", [])),
            issues=list(data.get("issues", [])),
        )


@dataclass
class ApplyResult:
    """The outcome of one ``apply_plan`` call (this invocation's writes)."""

    complete: bool
    checkpoint: ApplyCheckpoint
    issues: list[Issue]  # R5 conflicts found at apply time (all so far, resumes included)
    roster_writes: dict[str, int]  # items written per entity (SPEC §3 roster writes)
    skipped: dict[str, int]  # accounts/enrollments not written because a reservation failed
    chunks_total: int
    throttled_retries: int = 0
    unprocessed_retries: int = 0
    bookkeeping_writes: int = 0  # apply itself makes none; the caller persists the checkpoint

    @property
    def total_roster_writes(self) -> int:
        return sum(self.roster_writes.values())


@dataclass
class _Chunk:
    phase: str
    items: Sequence[Any]


class _Applier:
    def __init__(self, plan: Plan, store: Store, checkpoint: ApplyCheckpoint, chunk_size: int, threads: int) -> None:
        self.plan = plan
        self.store = store
        self.settings = store.settings
        self.checkpoint = checkpoint
        self.threads = threads
        self.lock = threading.Lock()
        self.blocked = set(checkpoint.blocked_accounts)
        self.written = dict.fromkeys(ENTITIES, 0)
        self.skipped = {"accounts": 0, "enrollments": 0}
        self.states: dict[str, AccountState] = {}
        for items in plan.accounts.values():
            for state in items:
                self.states[state.account_id] = state
        self.moved_with_state = {
            r.account_id
            for r in plan.reservations.get("move", [])
            if r.account_id in self.states and r.previous_norm and r.previous_norm != r.username_norm
        }
        self.chunks = self._chunks(chunk_size)

    # -- chunking -------------------------------------------------------------------------------
    def _chunks(self, size: int) -> list[_Chunk]:
        plan = self.plan
        phases: list[tuple[str, list[Any]]] = [
            ("schools", [s for items in plan.schools.values() for s in items]),
            ("release", list(plan.reservations.get("release", []))),
            ("move", list(plan.reservations.get("move", []))),
            ("add", list(plan.reservations.get("add", []))),
            ("accounts", [a for items in plan.accounts.values() for a in items]),
            ("classes", [c for items in plan.classes.values() for c in items]),
            ("enrollments", [e for items in plan.enrollments.values() for e in items]),
        ]
        chunks: list[_Chunk] = []
        for phase, items in phases:
            for start in range(0, len(items), size):
                chunks.append(_Chunk(phase, items[start : start + size]))
        return chunks

    # -- running --------------------------------------------------------------------------------
    def run(
        self, on_checkpoint: Callable[[ApplyCheckpoint], None] | None, should_stop: Callable[[], bool] | None
    ) -> bool:
        done = set(self.checkpoint.done)
        for index, chunk in enumerate(self.chunks):
            if index in done:
                continue
            if should_stop is not None and should_stop():
                return False
            getattr(self, "_" + chunk.phase)(chunk.items)
            with self.lock:
                done.add(index)
                self.checkpoint.done = sorted(done)
                self.checkpoint.blocked_accounts = sorted(self.blocked)
            if on_checkpoint is not None:
                on_checkpoint(ApplyCheckpoint.from_dict(self.checkpoint.to_dict()))
        return True

    def _parallel(self, fn: Callable[[Any], None], args: Sequence[Any]) -> None:
        if len(args) <= 1 or self.threads <= 1:
            for arg in args:
                fn(arg)
            return
        with ThreadPoolExecutor(max_workers=min(self.threads, len(args))) as pool:
            for _ in pool.map(fn, args):
                pass

    def _count(self, entity: str, n: int) -> None:
        with self.lock:
            self.written[entity] += n

    def _batch_put(self, table: str, entity: str, items: list[Item]) -> None:
        batches = [items[i : i + 25] for i in range(0, len(items), 25)]

        def write(batch: list[Item]) -> None:
            self._count(entity, self.store.calls.batch_write(table, [{"PutRequest": {"Item": i}} for i in batch]))

        self._parallel(write, batches)

    def _block(self, account_id: str, issue: Issue) -> None:
        with self.lock:
            self.blocked.add(account_id)
            self.checkpoint.issues.append(asdict(issue))

    def _issue(self, change: ReservationChange, message: str) -> Issue:
        state = self.states.get(change.account_id)
        return Issue(
            rule="R5",
            entity="user",
            sourced_id=state.sourced_id if state else None,
            message=message,
            field="username",
        )

    # -- phases ---------------------------------------------------------------------------------
    def _schools(self, states: Sequence[Any]) -> None:
        self._check_district(states)
        self._batch_put(self.settings.schools_table, "schools", [school_item(s) for s in states])

    def _release(self, changes: Sequence[ReservationChange]) -> None:
        self._check_district(changes)
        table = self.settings.reservations_table

        def release(change: ReservationChange) -> None:
            ok = self.store.calls.delete(
                table,
                {"pk": {"S": change.username_norm}},
                condition="attribute_not_exists(#pk) OR #a = :a",
                names={"#pk": "pk", "#a": "a"},
                values={":a": {"S": change.account_id}},
            )
            if ok:
                self._count("reservations", 1)

        self._parallel(release, changes)

    def _add(self, changes: Sequence[ReservationChange]) -> None:
        self._check_district(changes)
        table = self.settings.reservations_table

        def add(change: ReservationChange) -> None:
            ok = self.store.calls.put(
                table,
                reservation_item(change.username_norm, change.account_id, change.district_id),
                condition="attribute_not_exists(#pk) OR (#a = :a AND #d = :d)",
                names={"#pk": "pk", "#a": "a", "#d": "d"},
                values={":a": {"S": change.account_id}, ":d": {"S": change.district_id}},
            )
            if ok:
                self._count("reservations", 1)
                return
            state = self.states.get(change.account_id)
            shown = state.username if state else change.username_norm
            self._block(
                change.account_id,
                self._issue(
                    change,
                    f"The username '{shown}' is already used by another account on This is School "
                    f"(another district's, or one that cannot be linked to this user), so this user "
                    f"was not created or updated. {R5_ADVICE}",
                ),
            )

        self._parallel(add, changes)

    def _move(self, changes: Sequence[ReservationChange]) -> None:
        self._check_district(changes)
        self._parallel(self._move_one, changes)

    def _move_one(self, change: ReservationChange) -> None:
        table = self.settings.reservations_table
        previous = change.previous_norm
        state = self.states.get(change.account_id)
        if not previous or previous == change.username_norm:
            return  # nothing moves; the account's own write (accounts phase) carries the change
        owned = {
            "ConditionExpression": "attribute_not_exists(#pk) OR #a = :a",
            "ExpressionAttributeNames": {"#pk": "pk", "#a": "a"},
            "ExpressionAttributeValues": {":a": {"S": change.account_id}},
        }
        items: list[dict[str, Any]] = [
            {"Delete": {"TableName": table, "Key": {"pk": {"S": previous}}, **owned}},
            {
                "Put": {
                    "TableName": table,
                    "Item": reservation_item(change.username_norm, change.account_id, change.district_id),
                    **owned,
                }
            },
        ]
        if state is not None:
            items.append({"Put": {"TableName": self.settings.accounts_table, "Item": account_item(state)}})
        else:  # no account state in the plan: only the reservation key the account holds changes
            items.append(
                {
                    "Update": {
                        "TableName": self.settings.accounts_table,
                        "Key": account_key(change.district_id, change.account_id),
                        "UpdateExpression": "SET #unn = :n",
                        "ConditionExpression": "attribute_exists(#pk)",
                        "ExpressionAttributeNames": {"#unn": "unn", "#pk": "pk"},
                        "ExpressionAttributeValues": {":n": {"S": change.username_norm}},
                    }
                }
            )
        token = hashlib.blake2b(
            f"{self.checkpoint.plan_digest}|{change.account_id}".encode(), digest_size=16
        ).hexdigest()
        try:
            self.store.calls.transact_write(items, token=token)
        except TransactionCancelled as exc:
            lost_old = bool(exc.reasons) and exc.reasons[0] == "ConditionalCheckFailed"
            shown = state.username if state else change.username_norm
            if lost_old:
                message = (
                    f"The username this account held ('{previous}') is now reserved by another "
                    f"account, so its change to '{shown}' was not applied. {R5_ADVICE}"
                )
            else:
                message = (
                    f"The new username '{shown}' is already used by another account on This is "
                    f"School, so this account keeps its previous username '{previous}'. "
                    f"{R5_ADVICE}"
                )
            self._block(change.account_id, self._issue(change, message))
            return
        self._count("reservations", 2)
        self._count("accounts", 1)

    def _accounts(self, states: Sequence[AccountState]) -> None:
        self._check_district(states)
        todo = []
        for state in states:
            if state.account_id in self.blocked:
                with self.lock:
                    self.skipped["accounts"] += 1
            elif state.account_id not in self.moved_with_state:
                todo.append(account_item(state))
        self._batch_put(self.settings.accounts_table, "accounts", todo)

    def _classes(self, states: Sequence[Any]) -> None:
        self._check_district(states)
        self._batch_put(self.settings.classes_table, "classes", [class_item(s) for s in states])

    def _enrollments(self, states: Sequence[Any]) -> None:
        self._check_district(states)
        todo = []
        for state in states:
            if state.account_id in self.blocked:
                with self.lock:
                    self.skipped["enrollments"] += 1
            else:
                todo.append(enrollment_item(state))
        self._batch_put(self.settings.enrollments_table, "enrollments", todo)

    def _check_district(self, states: Sequence[Any]) -> None:
        for state in states:
            if state.district_id != self.plan.district_id:
                raise ValueError(
                    f"plan for district {self.plan.district_id!r} holds an item of district "
                    f"{state.district_id!r}: refusing to write across districts"
                )


def apply_plan(
    plan: Plan,
    store: Store | None = None,
    *,
    checkpoint: ApplyCheckpoint | dict[str, Any] | None = None,
    on_checkpoint: Callable[[ApplyCheckpoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    deadline: float | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    threads: int | None = None,
) -> ApplyResult:
    """Write what ``plan`` says (SPEC R5, R9, §3 roster writes; DESIGN.md resumable apply).

    ``checkpoint`` resumes a previous call of the same plan; ``on_checkpoint`` receives a copy after
    every chunk; ``should_stop`` or ``deadline`` (a ``time.monotonic()`` value) end the call between
    chunks with ``complete=False``. Conditional reservation failures become R5 issues."""
    store = resolve(store)
    digest = plan_digest(plan)
    if isinstance(checkpoint, dict):
        checkpoint = ApplyCheckpoint.from_dict(checkpoint)
    if checkpoint is None:
        checkpoint = ApplyCheckpoint(plan_digest=digest)
    elif checkpoint.plan_digest != digest:
        raise ValueError("the checkpoint belongs to a different plan; apply that plan or start afresh")
    stop = should_stop
    if deadline is not None:

        def stop() -> bool:
            return time.monotonic() >= deadline or (should_stop is not None and should_stop())

    calls = store.calls
    throttled0, unprocessed0 = calls.throttled, calls.unprocessed_retries
    applier = _Applier(plan, store, checkpoint, max(1, chunk_size), threads or store.settings.store_concurrency)
    complete = applier.run(on_checkpoint, stop)
    return ApplyResult(
        complete=complete,
        checkpoint=checkpoint,
        issues=[Issue(**i) for i in checkpoint.issues],
        roster_writes=applier.written,
        skipped=applier.skipped,
        chunks_total=len(applier.chunks),
        throttled_retries=calls.throttled - throttled0,
        unprocessed_retries=calls.unprocessed_retries - unprocessed0,
    )
